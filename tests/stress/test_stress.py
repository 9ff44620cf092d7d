"""The long reliability checks, with the real model in real processes (`make stress`).

Each check adds a row to the table printed at the end of the run (tests/stress/conftest.py),
recorded before its assertions so a failing check shows its numbers too.
"""

from __future__ import annotations

import statistics
import subprocess
import threading
import time

import httpx
import pytest
from conftest import SEED, TREATY_QUESTION, run_cli
from reliability_support import (
    RESULTS, ServeProcess, StressRow, assert_same_index, check_reindex, crash_scene, crowd, failures,
    index_snapshot, judge_hostile_run, kill_and_recover, listening_addresses, make_hostile_seeds,
    reindex_under_load, run_index, seeded, start_index, synthetic_article,
    synthetic_articles, traced_operations, wait_for_lock_holder, write_articles,
)

from newsdesk.evaluation.metrics import percentile
from newsdesk.settings import Settings
from newsdesk.index.build import build_index
from newsdesk.index.store import load_generation

pytestmark = pytest.mark.stress

LOAD_SECONDS = 60
WARM_UP_SECONDS = 15
FUZZ_EXAMPLES_PER_OPERATION = 250
KILLS_AT_WRITES = 12
KILLS_AT_TIMES = 8


def cli_index(seeds, embeddings) -> subprocess.CompletedProcess:
    return run_cli("index", "--seeds", str(seeds), "--embeddings", str(embeddings), "--quiet")


def build_in_process(embedder):
    def build(seeds, embeddings):
        build_index(Settings(seeds=(seeds,), embeddings=embeddings), embedder)
    return build


def ms(outcomes) -> float:
    return 1000 * percentile([o.seconds for o in outcomes], 95)


# ---------------------------------------------------------------- 1. hot re-index


def test_hot_reindex_with_the_real_model_and_the_real_cli(tmp_path, real_embedder):
    seeds, embeddings = tmp_path / "seeds", tmp_path / "embeddings"
    write_articles(seeds, synthetic_articles(range(40)))
    build_in_process(real_embedder)(seeds, embeddings)
    server = ServeProcess(embeddings)
    try:
        outcomes, readings, before, after = reindex_under_load(
            seeds, embeddings, server.url, index=lambda: cli_index(seeds, embeddings))
    finally:
        server.stop()
    switches = sum(1 for r, previous in zip(readings[1:], readings) if r != previous)
    RESULTS.record(StressRow("hot re-index: 8 clients; `newsdesk index` +100 −10 ~5", len(outcomes),
                             len(failures(outcomes)), ms(outcomes),
                             note=f"{before} → {after}; /health switched {switches}×"))
    check_reindex(outcomes, readings, before, after, embeddings)


# ---------------------------------------------------------------- 2. SIGKILL at 20 moments


def kill_after(seeds, seconds: float):
    """A kill function: SIGKILL `newsdesk index` `seconds` after it took the lock."""
    def kill(work):
        process = start_index(seeds, work)
        wait_for_lock_holder(work, process)
        time.sleep(seconds)
        process.kill()
        out, err = process.communicate()
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)
    return kill


def test_sigkill_at_twenty_moments_of_a_rebuild(tmp_path, real_embedder):
    build = build_in_process(real_embedder)
    seeds, pristine, clean = crash_scene(tmp_path, build)
    # One whole run, traced and timed, to choose the moments from.
    probe, trace = tmp_path / "probe", tmp_path / "trace"
    import shutil

    shutil.copytree(pristine, probe, symlinks=True)
    whole = start_index(seeds, probe, trace=trace)
    wait_for_lock_holder(probe, whole)
    locked = time.monotonic()
    assert whole.wait(600) == 0, whole.stderr.read()
    build_seconds = time.monotonic() - locked
    operations = traced_operations(trace)
    last = len(operations)
    at_writes = sorted({1 + round(i * (last - 1) / (KILLS_AT_WRITES - 1)) for i in range(KILLS_AT_WRITES)})
    random = seeded(6)
    at_times = sorted(round(random.uniform(0.05, 0.9) * build_seconds, 2) for _ in range(KILLS_AT_TIMES))
    survived, moments = 0, []
    for n in at_writes:
        if kill_and_recover(pristine, clean, tmp_path / f"op-{n}", real_embedder,
                            kill=lambda work, n=n: run_index(seeds, work, kill_at=n),
                            finish=lambda work: build(seeds, work)):
            survived += 1
            moments.append(f"before write {n} ({operations[n - 1].split()[0]})")
    for number, delay in enumerate(at_times):
        for attempt in range(3):  # a kill that came after the run ended is tried again, sooner
            work = tmp_path / f"time-{number}-{attempt}"
            if kill_and_recover(pristine, clean, work, real_embedder, kill=kill_after(seeds, delay),
                                finish=lambda work: build(seeds, work)):
                survived += 1
                moments.append(f"{delay:.2f} s into the build")
                break
            delay /= 2
    RESULTS.record(StressRow("SIGKILL during `newsdesk index`", crashes_survived=survived,
                             note=f"{len(operations)} writes per build; build {build_seconds:.1f} s "
                                  "after the lock; killed before 12 writes and at 8 seeded times"))
    print("\n".join(moments))
    assert survived == len(at_writes) + KILLS_AT_TIMES >= 20


# ---------------------------------------------------------------- 3. two builds at once


def test_two_index_runs_started_together_never_interleave(tmp_path, real_embedder):
    seeds, embeddings, clean = tmp_path / "seeds", tmp_path / "embeddings", tmp_path / "clean"
    write_articles(seeds, synthetic_articles(range(60)))
    first, second = start_index(seeds, embeddings), start_index(seeds, embeddings)
    results = [(p.pid, *p.communicate(timeout=600), p.returncode) for p in (first, second)]
    build_in_process(real_embedder)(seeds, clean)
    codes = sorted(code for *_, code in results)
    refused = [err for _, out, err, code in results if code == 1]
    said = refused[0].strip().replace(str(embeddings), "embeddings") if refused else ""
    RESULTS.record(StressRow("two `newsdesk index` at once", note=f"exit codes {codes}: "
                             + (f"one refused: `{said}`" if refused else "the second found nothing to do")))
    if codes == [0, 1]:
        assert refused[0].count("\n") == 1 and "is being indexed by pid" in refused[0]
    else:
        assert codes == [0, 0] and any(out.startswith("0 new, 0 changed") for _, out, _, _ in results)
    assert_same_index(index_snapshot(embeddings), index_snapshot(clean))
    assert len(list((embeddings / "generations").iterdir())) == 1


# ---------------------------------------------------------------- 4. hostile inputs


def test_hostile_seed_files_with_the_real_cli(tmp_path):
    seeds, embeddings = tmp_path / "seeds", tmp_path / "embeddings"
    inputs = make_hostile_seeds(seeds, thorough=True)
    done = cli_index(seeds, embeddings)
    problems = [line for line in done.stderr.splitlines() if line.startswith("skipped ")]
    indexed = set(load_generation(embeddings).articles) if done.returncode == 0 else set()
    wrong = judge_hostile_run(inputs, problems, indexed, folder=seeds)
    before_the_cut = {a for a in indexed if a.startswith("gz-")}  # cut.jsonl.gz's whole lines
    RESULTS.hostile = inputs
    RESULTS.record(StressRow("hostile seed files (`newsdesk index`)", inputs_tried=len(inputs),
                             failures=len(wrong), note=done.stdout.strip().split("; ")[-1]))
    assert done.returncode == 0, done.stderr
    assert len(problems) == len(done.stderr.splitlines()), done.stderr
    assert wrong == []
    assert indexed - before_the_cut == {a for item in inputs for a in item.article_ids}
    assert before_the_cut == {f"gz-{n}" for n in range(len(before_the_cut))}


# ---------------------------------------------------------------- 5, 6. fuzzing and load


@pytest.fixture(scope="module")
def served(tmp_path_factory, real_embedder):
    """`newsdesk serve` (real model, default bind) over the seed and 60 synthetic articles."""
    root = tmp_path_factory.mktemp("served")
    seeds = root / "seeds"
    write_articles(seeds, synthetic_articles(range(60)))
    (seeds / SEED.name).write_bytes(SEED.read_bytes())
    build_in_process(real_embedder)(seeds, root / "embeddings")
    server = ServeProcess(root / "embeddings")
    yield server
    server.stop()


def test_schemathesis_1000_requests_against_the_real_server(served):
    from fuzzing import fuzz_url

    report = fuzz_url(served.url, FUZZ_EXAMPLES_PER_OPERATION)
    big = b'{"question": "' + b"x" * (70 * 1024) + b'"}'
    oversized = []
    for path in ("/ask", "/ask/stream", "/v1/chat/completions", "/"):
        oversized.append(httpx.post(served.url + path, content=big).status_code)
        oversized.append(httpx.post(served.url + path, content=(big[i:i + 8192] for i in range(0, len(big), 8192)))
                         .status_code)
    RESULTS.record(StressRow("schemathesis on /openapi.json (+ 8 oversized bodies)",
                             report.requests + len(oversized),
                             len(report.server_errors) + len(report.failures)
                             + sum(1 for s in oversized if s != 413),
                             note="statuses " + ", ".join(f"{k}×{v}" for k, v in sorted(report.statuses.items()))))
    assert report.requests >= 1000, report.summary()
    assert report.server_errors == [] and report.failures == [], report.summary()
    assert oversized == [413] * 8


def test_32_clients_for_a_minute_without_errors_or_memory_growth(served):
    assert listening_addresses(served.port) == {"127.0.0.1"}
    questions = [synthetic_article(n).question for n in range(60)] + [TREATY_QUESTION]

    def plan(client, n):
        if n % 10 == 0:
            return "GET", "/health", None
        if n % 10 == 1:
            return "GET", f"/articles/art-{(client + n) % 60:04d}", None
        return "POST", "/ask", {"question": questions[(client * 13 + n * 7) % len(questions)]}

    crowd(served.url, 32, plan, seconds=WARM_UP_SECONDS)  # every worker thread and cache in use once
    samples, outcomes = [], []
    load = threading.Thread(target=lambda: outcomes.extend(crowd(served.url, 32, plan, seconds=LOAD_SECONDS)))
    load.start()
    while load.is_alive():
        samples.append(served.rss_bytes())
        time.sleep(1)
    # RSS swings by tens of MB with the requests in flight: compare the first and last 10 s.
    warm, final = statistics.median(samples[:10]), statistics.median(samples[-10:])
    growth = final / warm - 1
    print("RSS MB every 5 s:", [round(rss / 2**20) for rss in samples[::5]])
    asks = [o for o in outcomes if o.request == "POST /ask"]
    RESULTS.record(StressRow(f"load: 32 clients × {LOAD_SECONDS} s on 127.0.0.1", len(outcomes),
                             len(failures(outcomes)), ms(outcomes),
                             note=f"/ask p95 {ms(asks):,.0f} ms; RSS (median of 10 s) "
                                  f"{warm / 2**20:,.0f} MB in the first 10 s after a "
                                  f"{WARM_UP_SECONDS} s warm-up, {final / 2**20:,.0f} MB in the "
                                  f"last 10 s ({growth:+.1%})"))
    assert not failures(outcomes), failures(outcomes)[:3]
    assert growth <= 0.10
