"""Keeping the index current, measured (issue 16's goals):

1. a file landing in a watched 10,000-article seeds folder until the first /ask citing it
   (p50 ≤ 5 s, p95 ≤ 10 s): `newsdesk serve --watch` in this process (a real uvicorn server,
   the real watcher), the 10,000 indexed with stand-in vectors (benchmarks/indexing.py), each
   new article embedded by the real model;
2. a burst of 500 new articles: how many builds, and the throughput against a manual build of
   the same files from the same index (goal ≥ 0.9×).

    .venv/bin/python benchmarks/watch.py [--articles 10000] [--landings 20]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import httpx  # noqa: E402
from corpus import prepare  # noqa: E402
from indexing import StandInVectors  # noqa: E402

from newsdesk.embeddings import load_embedder  # noqa: E402
from newsdesk.evaluation.metrics import percentile  # noqa: E402
from newsdesk.index.build import build_index  # noqa: E402
from newsdesk.index.store import current_folder, read_manifest  # noqa: E402
from newsdesk.service import Newsdesk  # noqa: E402
from newsdesk.settings import Settings  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "realtimeqa"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DATA / "corpus_10k.jsonl.gz")
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--landings", type=int, default=20, help="single files dropped in, one at a time")
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".cache" / "bench-watch")
    args = parser.parse_args()

    from reliability_support import ThreadServer

    from newsdesk.server.app import create_app

    corpus = prepare(args.corpus, args.articles, args.workdir / "inputs")
    records = [json.loads(line) for line in open(corpus.base, encoding="utf-8")]
    work = args.workdir / f"run-{corpus.articles}"
    shutil.rmtree(work, ignore_errors=True)
    seeds = work / "seeds"
    seeds.mkdir(parents=True)
    shutil.copy(corpus.base, seeds / "base.jsonl")
    # torch, named: `auto` would choose for the empty folder here, not for the stand-in index
    # copied into it, and a backend unlike the stand-in's re-embeds all 10,000 articles.
    settings = Settings(seeds=(seeds,), embeddings=work / "embeddings", abstain_below=0.0, watch=True,
                        backend="torch")
    embedder = StandInVectors(load_embedder(settings))
    stand_in = args.workdir / f"stand-in-{corpus.articles}"  # built once: minutes of chunking
    if not (stand_in / "CURRENT").exists():
        started = time.perf_counter()
        built = build_index(settings.with_(embeddings=stand_in), embedder, full=True)
        print(f"stand-in index: {built.summary()} in {time.perf_counter() - started:.0f} s", flush=True)
    embedder.real = True
    for copy in (settings.embeddings, work / "pristine"):
        shutil.copytree(stand_in, copy, symlinks=True)
    pristine = work / "pristine"
    passages = read_manifest(current_folder(stand_in))["counts"]["passages"]

    desk = Newsdesk(settings, embedder=embedder)
    app = create_app(settings, desk)
    watcher = app.state.keeping.watcher
    server = ThreadServer(app)
    try:
        assert watcher.wait_until_idle(600)
        latencies = [_land_one(server.url, seeds, records, n) for n in range(args.landings)]
        for n, seconds in enumerate(latencies):
            print(f"landing {n}: {seconds:.2f} s", flush=True)
        assert watcher.wait_until_idle(600)
        burst_seconds, builds = _burst(server.url, seeds / "burst", records, args.burst, watcher)
        served_generation = desk.generation.name
    finally:
        server.stop()
        app.state.keeping.close()
    # The same 500 files (and the landings) from the index as it was before them, by hand.
    manual_started = time.perf_counter()
    manual = build_index(settings.with_(embeddings=pristine), embedder)
    manual_seconds = time.perf_counter() - manual_started
    manual_rate = (manual.new) / manual_seconds
    watch_rate = args.burst / burst_seconds
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.node()}, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}",
        "articles": corpus.articles, "passages": passages, "landings": len(latencies),
        "landing_p50_s": percentile(latencies, 50), "landing_p95_s": percentile(latencies, 95),
        "landing_max_s": max(latencies), "burst": args.burst, "burst_builds": builds,
        "burst_seconds": burst_seconds, "burst_rate": watch_rate, "manual_new": manual.new,
        "manual_seconds": manual_seconds, "manual_rate": manual_rate, "rate_ratio": watch_rate / manual_rate,
        "generation": served_generation,
    }
    print(json.dumps(result, indent=1))
    (work / "result.json").write_text(json.dumps(result, indent=1))
    # Beside the other runs, so a published figure can be traced to its run (docs/performance.md).
    stamp = result["date"].replace(":", "").replace("+0000", "Z")
    (ROOT / "benchmarks" / "results").mkdir(exist_ok=True)
    (ROOT / "benchmarks" / "results" / f"watch-{stamp}.json").write_text(json.dumps(result, indent=1))
    return 0


def _new_article(records: list[dict], n: int, tag: str) -> dict:
    record = records[(n * 37) % len(records)]
    title = f"{tag} {n}: {record.get('title', '')}"
    return {"doc_id": f"{tag}-{n:04d}", "title": title,
            "text": f"{tag} {n} to an earlier report.\n\n{record.get('text', '')}"}


def _land_one(url: str, seeds: Path, records: list[dict], n: int) -> float:
    """Seconds from the file landing to the first /ask that cites it."""
    article = _new_article(records, n, "landing")
    path = seeds / f"{article['doc_id']}.jsonl"
    started = time.perf_counter()
    path.write_text(json.dumps(article) + "\n", encoding="utf-8")
    with httpx.Client(base_url=url, timeout=60) as client:
        while True:
            answer = client.post("/ask", json={"question": article["title"]}).json()
            if any(c["article_id"] == article["doc_id"] for c in answer.get("citations", [])):
                return time.perf_counter() - started
            time.sleep(0.2)  # a client's pace; asking nonstop would slow the build it waits for


def _burst(url: str, folder: Path, records: list[dict], count: int, watcher) -> tuple[float, int]:
    """Seconds from the first of `count` files landing until all are served; builds it took."""
    builds_before = watcher.status().builds
    folder.mkdir()
    articles = [_new_article(records, n, "burst") for n in range(count)]
    started = time.perf_counter()
    for article in articles:
        (folder / f"{article['doc_id']}.jsonl").write_text(json.dumps(article) + "\n", encoding="utf-8")
    last = articles[-1]["doc_id"]
    with httpx.Client(base_url=url, timeout=60) as client:
        while client.get(f"/articles/{last}").status_code != 200 or watcher.status().pending_count:
            time.sleep(0.2)
        seconds = time.perf_counter() - started
        missing = [a["doc_id"] for a in articles if client.get(f"/articles/{a['doc_id']}").status_code != 200]
    assert not missing, missing[:5]
    return seconds, watcher.status().builds - builds_before


if __name__ == "__main__":
    sys.exit(main())
