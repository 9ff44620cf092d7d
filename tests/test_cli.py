"""What `newsdesk` says to a new user (issue 15, items 1, 2 and 6): where the server is, a busy
port in one line, progress and summaries in our words, an index run with nothing to do that
never loads the model, and an uncovered question's passages labelled as not an answer.

The commands run as real processes with the tests' fake embedder (tests/fake_newsdesk.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import SEED_ID, TREATY_QUESTION, Server, free_port

from newsdesk.index.build import BuildReport, build_index
from newsdesk.server.running import ready_line

FAKE = str(Path(__file__).resolve().parent / "fake_newsdesk.py")
NEWSDESK = (sys.executable, FAKE)


def newsdesk(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*NEWSDESK, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})


@pytest.fixture
def indexed(settings, fake_embedder):
    build_index(settings, fake_embedder)
    return settings


# -- 1. where is it?

def test_serve_says_where_it_is_in_one_line_and_nothing_else(indexed):
    server = Server(indexed.embeddings, newsdesk=NEWSDESK)
    try:
        assert httpx.get(server.url + "/health").json()["articles"] == 1
    finally:
        server.stop()
    lines = server.log.read_text().splitlines()
    # Nothing before it: no FAISS "Could not load library with AVX512 support", no uvicorn
    # banner, no "serving index generation"; after it only the request log (one line a request).
    assert lines[0] == f"newsdesk: serving 1 article at http://127.0.0.1:{server.port} (Ctrl+C to stop)"
    assert all(line.startswith("INFO: GET /health 200 ") for line in lines[1:]), lines


def _started(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    """command, its output in log, once it printed its ready line (or exited)."""
    process = subprocess.Popen(command, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                               env={**os.environ, "HF_HUB_OFFLINE": "1", **env})
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None and "serving" not in log.read_text():
        time.sleep(0.1)
    return process


def test_serve_takes_its_address_from_the_settings_and_tells_more_when_verbose(indexed, tmp_path):
    port = free_port()
    log = tmp_path / "serve.log"
    process = _started([*NEWSDESK, "serve", "--embeddings", str(indexed.embeddings), "--verbose"],
                       {"NEWSDESK_HOST": "127.0.0.1", "NEWSDESK_PORT": str(port)}, log)
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=30).status_code == 200
        time.sleep(0.5)  # the ready line follows uvicorn's start by a moment
    finally:
        process.terminate()
        process.wait(10)
    text = log.read_text()
    assert f"newsdesk: serving 1 article at http://127.0.0.1:{port} (Ctrl+C to stop)" in text
    assert "INFO: serving index generation gen-000001" in text  # what --verbose adds
    assert "faiss" in text.lower()


def test_a_busy_port_is_one_line_naming_the_flag_and_setting_before_any_model_loads(indexed, tmp_path):
    loads = tmp_path / "loads"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = newsdesk("serve", "--embeddings", str(indexed.embeddings), "--port", str(port),
                        env={"FAKE_MODEL_LOADS": str(loads)})
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"newsdesk: port {port} on 127.0.0.1 is already in use (another newsdesk serve?): "
        "choose another port with --port or NEWSDESK_PORT"]
    assert not loads.exists()  # said at once, not after seconds of loading


def test_the_ready_line_counts_articles_for_people():
    assert ready_line(1234, "http://127.0.0.1:8000", True, "embeddings") == (
        "newsdesk: serving 1,234 articles at http://127.0.0.1:8000 (Ctrl+C to stop)")
    assert "run `newsdesk index`" in ready_line(0, "http://127.0.0.1:8000", False, "embeddings")


# -- 2. progress in our words, and no model for nothing to do

def test_an_index_run_with_nothing_to_do_never_loads_the_model(settings, seeds, tmp_path):
    loads = tmp_path / "loads"
    env = {"FAKE_MODEL_LOADS": str(loads)}
    args = ("index", "--seeds", str(seeds), "--embeddings", str(settings.embeddings))

    def run(*extra: str) -> str:
        done = newsdesk(*args, *extra, env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def loaded() -> int:
        return len(loads.read_text().splitlines()) if loads.exists() else 0

    assert run().startswith("1 new, 0 changed, 0 removed, 0 unchanged — ") and loaded() == 1
    assert run().startswith("0 new, 0 changed, 0 removed, 1 unchanged — 0 passages embedded in ")
    assert loaded() == 1  # nothing to embed: the model stayed on disk
    (seeds / "bins.txt").write_text("Bins\n\nThe council changes the day bins are collected.\n")
    assert run().startswith("1 new, 0 changed, 0 removed, 1 unchanged — 1 passage embedded in ")
    assert loaded() == 2
    (seeds / "bins.txt").unlink()
    assert run().startswith("0 new, 0 changed, 1 removed, 1 unchanged — 0 passages embedded")
    assert loaded() == 2  # a removal embeds nothing either
    assert run("--full").startswith("1 new,") and loaded() == 3


def test_the_summary_formats_numbers_for_people():
    report = BuildReport(new=1200, changed=3, removed=0, unchanged=45_000, passages_embedded=3874,
                         seconds=1234.5)
    assert report.summary() == ("1,200 new, 3 changed, 0 removed, 45,000 unchanged — 3,874 passages "
                                "embedded in 1,234.5 s")


def test_the_progress_bar_counts_articles_and_passages_in_our_words(settings, seeds, fake_embedder,
                                                                    monkeypatch, capsys):
    from newsdesk.embeddings import progress

    monkeypatch.setattr(progress, "SHOW_AFTER_SECONDS", 0)  # a bar even for this quick build
    for n in range(40):
        (seeds / f"story-{n}.txt").write_text(f"Story {n}\n\nThe council met for the {n}th time.\n")
    report = build_index(settings, fake_embedder, progress=True)
    bar = capsys.readouterr().err.replace("\r", "\n").splitlines()
    last = [line for line in bar if line.strip()][-1]
    assert last.startswith("Indexing 100% |")
    assert f"41/41 articles · {report.passages_embedded:,} passages · " in last
    assert "articles/s · done in " in last and "Batches" not in "".join(bar)
    build_index(settings, fake_embedder, progress=False, full=True)
    assert capsys.readouterr().err == ""


def test_the_corpus_readers_notes_are_said(settings, seeds):
    (seeds / "corpus.jsonl").write_text('{"id": "b1", "title": "Bins", "body": "Bins are collected on '
                                        'Thursdays from now on."}\n', encoding="utf-8")
    done = newsdesk("index", "--seeds", str(seeds), "--embeddings", str(settings.embeddings))
    assert done.returncode == 0, done.stderr
    assert "corpus.jsonl: " in done.stderr and "text from 'body'" in done.stderr


# -- 6. an uncovered question

def test_ask_labels_the_passages_of_an_uncovered_question_as_not_an_answer(indexed):
    where = ("--embeddings", str(indexed.embeddings))
    declined = newsdesk("ask", *where, "Which xylophone did the quokka play?",
                        env={"NEWSDESK_ABSTAIN_BELOW": "1"})  # the fake's cosines run high: decline
    assert declined.returncode == 0, declined.stderr
    lines = declined.stdout.splitlines()
    assert lines[0] == "The indexed articles don't cover this question."
    assert lines[1:3] == ["", "Closest passages found (not an answer):"]
    assert lines[3].startswith("[1] ") and SEED_ID in lines[3]

    answered = newsdesk("ask", *where, TREATY_QUESTION, env={"NEWSDESK_ABSTAIN_BELOW": "0"})
    assert "[1]" in answered.stdout and "not an answer" not in answered.stdout


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["torch"])
def test_the_models_files_say_what_the_loaded_model_is(real_embedder, backend):
    """What a build decides reuse on without loading the model equals the loaded model's own."""
    from newsdesk.embeddings import embedder_on_demand
    from newsdesk.settings import Settings

    on_demand = embedder_on_demand(Settings(backend=backend))
    assert not on_demand.loaded
    assert (on_demand.identity, on_demand.max_tokens) == (real_embedder.identity, real_embedder.max_tokens)


def test_serve_without_verbose_lets_through_our_lines_and_libraries_warnings_only():
    # bm25s sets its own logger to DEBUG when imported: its lines must still not reach the
    # terminal of a quiet `newsdesk serve` (a watcher's build printed "Building index from IDs").
    import logging

    from newsdesk.server.running import _ours_or_a_warning

    def record(name: str, level: int) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, "message", None, None)

    assert not _ours_or_a_warning(record("bm25s", logging.DEBUG))
    assert not _ours_or_a_warning(record("faiss.loader", logging.INFO))
    assert _ours_or_a_warning(record("bm25s", logging.WARNING))
    assert _ours_or_a_warning(record("newsdesk.access", logging.INFO))
    assert not _ours_or_a_warning(record("newsdeskish", logging.INFO))
