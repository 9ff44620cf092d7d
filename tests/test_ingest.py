"""The ingest API: POST /articles and DELETE /articles/{id} write durably into the seeds' inbox,
the watcher builds them, ?wait=true answers once they are served; the token and the bind
address guard it; and a server SIGKILLed at chosen steps of ingesting loses nothing it
acknowledged."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, SEED_ID, free_port
from fakes import FakeEmbedder
from reliability_support import synthetic_article, synthetic_articles, write_articles
from starlette.testclient import TestClient

from newsdesk.articles import read_articles
from newsdesk.index.build import build_index
from newsdesk.index.store import load_generation
from newsdesk.server.app import create_app
from newsdesk.service import Newsdesk
from newsdesk.settings import Settings

WAIT = 60.0


def record(n: int, version: int = 0) -> dict:
    article = synthetic_article(n, version)
    return {"doc_id": article.id, "title": article.title, "text": article.body, "publish_date": "2026-11-30"}


@pytest.fixture
def scene(tmp_path):
    """A seeds folder with three articles, built; an app over it that watches the seeds."""
    seeds = tmp_path / "seeds"
    write_articles(seeds, synthetic_articles(range(3)))
    settings = Settings(seeds=(seeds,), embeddings=tmp_path / "embeddings", abstain_below=0.0,
                        watch=True, watch_settle=0.5)
    build_index(settings, FakeEmbedder())
    app = create_app(settings, Newsdesk(settings, embedder=FakeEmbedder()))
    with TestClient(app) as client:
        yield client, settings, app
    app.state.keeping.close()


def test_one_article_is_saved_in_the_inbox_and_answerable_after_the_watchers_build(scene):
    client, settings, app = scene
    posted = client.post("/articles", json=record(10))
    assert posted.status_code == 202, posted.text
    reply = posted.json()
    assert reply["articles"] == ["art-0010"] and not reply["served"]
    assert reply["expected_seconds"] > 0 and "once the watcher's next build is served" in reply["answerable"]
    saved = list((settings.seeds[0] / "inbox").glob("*.jsonl"))
    assert len(saved) == 1 and json.loads(saved[0].read_text())["doc_id"] == "art-0010"
    deadline = time.monotonic() + WAIT
    while client.get("/articles/art-0010").status_code != 200:
        assert time.monotonic() < deadline, client.get("/health").json()
        time.sleep(0.1)
    answer = client.post("/ask", json={"question": synthetic_article(10).question}).json()
    assert answer["citations"][0]["article_id"] == "art-0010"
    assert answer["citations"][0]["published"] == "2026-11-30"


def test_an_array_and_a_jsonl_body_with_wait_answer_once_served(scene):
    client, settings, _ = scene
    array = client.post("/articles?wait=true", json=[record(20), record(21)])
    assert array.status_code == 200 and array.json()["served"], array.text
    lines = b"".join(json.dumps({"id": f"line-{n}", "body": synthetic_article(n).body}).encode() + b"\n"
                     for n in (22, 23))
    jsonl = client.post("/articles?wait=true", content=lines, headers={"content-type": "application/x-ndjson"})
    assert jsonl.status_code == 200 and jsonl.json()["articles"] == ["line-22", "line-23"], jsonl.text
    generation = jsonl.json()["generation"]
    for article_id in ("art-0020", "art-0021", "line-22", "line-23"):
        assert client.get(f"/articles/{article_id}").status_code == 200
    assert client.get("/health").json()["generation"] == generation


def test_a_posted_article_replaces_its_earlier_version_and_delete_removes_it(scene):
    client, settings, _ = scene
    assert client.post("/articles?wait=true", json=record(30)).json()["served"]
    corrected = client.post("/articles?wait=true", json=record(30, version=1))
    assert corrected.status_code == 200
    assert synthetic_article(30, 1).answer_fact in client.get("/articles/art-0030").json()["text"]
    assert len(list((settings.seeds[0] / "inbox").glob("*.jsonl"))) == 1

    removed = client.delete("/articles/art-0030?wait=true")
    assert removed.status_code == 200 and removed.json()["served"], removed.text
    assert client.get("/articles/art-0030").status_code == 404
    assert list((settings.seeds[0] / "inbox").glob("*.jsonl")) == []
    assert client.delete("/articles/art-0030").status_code == 404


def test_a_full_rebuild_from_the_seeds_reproduces_what_was_ingested(scene, tmp_path):
    client, settings, _ = scene
    assert client.post("/articles?wait=true", json=[record(40), record(41)]).status_code == 200
    served = _served_articles(settings)
    rebuilt = settings.with_(embeddings=tmp_path / "rebuilt")
    build_index(rebuilt, FakeEmbedder(), full=True)
    again = _served_articles(rebuilt)
    assert again["art-0040"].text == served["art-0040"].text
    assert {k: (v.title, v.text, v.published) for k, v in again.items()} == \
        {k: (v.title, v.text, v.published) for k, v in served.items()}


def _served_articles(settings: Settings) -> dict:
    generation = load_generation(settings.embeddings)
    return {article_id: generation.articles[article_id] for article_id in generation.articles}


def test_records_that_are_not_articles_are_refused_whole_and_nothing_is_saved(scene):
    client, settings, _ = scene
    refused = client.post("/articles", json=[record(50), {"doc_id": "no-text"}, {"text": "no id"}])
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert "article 2: missing or empty text" in detail and "article 3: missing or invalid doc_id" in detail
    assert client.post("/articles", content=b"{not json", headers={"content-type": "application/json"}).status_code == 422
    nan = client.post("/articles", content=b'{"doc_id": "n", "text": "t", "score": NaN}',
                      headers={"content-type": "application/json"})
    assert nan.status_code == 422
    assert not (settings.seeds[0] / "inbox").exists() or list((settings.seeds[0] / "inbox").iterdir()) == []


def test_articles_of_other_seed_files_are_not_taken_over_by_the_api(scene):
    client, _, _ = scene
    taken = client.post("/articles", json={"doc_id": "art-0001", "text": "Another text for this id."})
    assert taken.status_code == 409 and "outside the inbox" in taken.json()["detail"]
    deleted = client.delete("/articles/art-0001")
    assert deleted.status_code == 409 and "art-0001.txt" in deleted.json()["detail"]
    assert client.get("/articles/art-0001").status_code == 200


def test_without_watch_the_reply_says_a_build_is_needed(tmp_path, seeds, fake_embedder):
    settings = Settings(seeds=(seeds,), embeddings=tmp_path / "embeddings")
    build_index(settings, fake_embedder)
    client = TestClient(create_app(settings, Newsdesk(settings, embedder=fake_embedder), watch=False))
    reply = client.post("/articles?wait=true", json=record(60))
    assert reply.status_code == 202 and "newsdesk index" in reply.json()["answerable"]
    assert client.get("/health").json()["updates"]["watching"] is False


def test_the_token_guards_the_ingest_api(tmp_path, seeds, fake_embedder):
    settings = Settings(seeds=(seeds,), embeddings=tmp_path / "embeddings", api_token="s3cret")
    build_index(settings, fake_embedder)
    client = TestClient(create_app(settings, Newsdesk(settings, embedder=fake_embedder), watch=False))
    assert client.post("/articles", json=record(61)).status_code == 401
    assert client.delete(f"/articles/{SEED_ID}").status_code == 401
    allowed = client.post("/articles", json=record(61), headers={"Authorization": "Bearer s3cret"})
    assert allowed.status_code == 202


def test_a_server_bound_beyond_loopback_without_a_token_refuses_ingest(tmp_path, seeds, fake_embedder):
    settings = Settings(seeds=(seeds,), embeddings=tmp_path / "embeddings", host="0.0.0.0")
    build_index(settings, fake_embedder)
    client = TestClient(create_app(settings, Newsdesk(settings, embedder=fake_embedder), watch=False))
    for response in (client.post("/articles", json=record(62)), client.delete(f"/articles/{SEED_ID}")):
        assert response.status_code == 403
        assert "NEWSDESK_API_TOKEN" in response.json()["detail"]
    assert not (seeds / "inbox").exists()
    with_token = settings.with_(api_token="s3cret")
    client = TestClient(create_app(with_token, Newsdesk(with_token, embedder=fake_embedder), watch=False))
    assert client.post("/articles", json=record(62), headers={"Authorization": "Bearer s3cret"}).status_code == 202


# ---------------------------------------------------------------- SIGKILL while ingesting

SERVE = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from fakes import FakeEmbedder
import uvicorn
from newsdesk.settings import Settings
from newsdesk.service import Newsdesk
from newsdesk.server.app import create_app

# SIGKILL right before the KILL_AT-th rename whose source holds KILL_MATCH (os.replace raises the
# os.rename audit event, before it renames): a crash on an exact step, not after a guessed sleep.
match, kill_at, seen = os.environ.get("KILL_MATCH", ""), int(os.environ.get("KILL_AT", "0")), [0]
def hook(event, args):
    if kill_at and event == "os.rename" and match in os.fsdecode(args[0]):
        seen[0] += 1
        if seen[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
sys.addaudithook(hook)
settings = Settings.from_env()
uvicorn.run(create_app(settings, Newsdesk(settings, embedder=FakeEmbedder())), host="127.0.0.1",
            port=int(sys.argv[1]), log_level="warning")
"""


class IngestServer:
    """The app with the fake embedder and --watch on, in a process of its own that can die."""

    def __init__(self, tmp_path: Path, settings_env: dict, kill: dict | None = None):
        script = tmp_path / "serve.py"
        script.write_text(SERVE.format(tests=str(Path(__file__).parent)))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / f"server-{self.port}.log"
        self.process = subprocess.Popen(
            [sys.executable, str(script), str(self.port)], stdout=open(self.log, "w"), stderr=subprocess.STDOUT,
            env={**os.environ, "HF_HUB_OFFLINE": "1", **settings_env, **(kill or {})}, cwd=ROOT)
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


def _ingest_until_killed(server: IngestServer, numbers: range) -> list[int]:
    """Post one article at a time until the server dies; the numbers acknowledged with a 2xx.
    Every third post waits until it is served, so the posts span several builds."""
    acknowledged = []
    with httpx.Client(base_url=server.url, timeout=WAIT) as client:
        for n in numbers:
            wait = n % 3 == 2
            try:
                response = client.post(f"/articles?wait={str(wait).lower()}", json=record(n))
            except httpx.HTTPError:
                break
            assert response.status_code == (200 if wait else 202), response.text
            acknowledged.append(n)
    server.process.wait(WAIT)  # a kill point in a build: it dies once the build reaches it
    return acknowledged


@pytest.mark.parametrize("kill_match, kill_at", [
    ("/inbox/.tmp-", 1),  # the first article's file, before its rename: nothing acknowledged yet
    ("/inbox/.tmp-", 4),  # the fourth article's rename: three acknowledged, not yet built
    ("/generations/.tmp-gen-", 1),  # the first watcher build, its generation half in place
    (".CURRENT.tmp", 2),  # the second watcher build, as it swaps CURRENT
], ids=["first-article", "fourth-article", "generation-rename", "current-swap"])
def test_sigkill_while_ingesting_loses_nothing_acknowledged(tmp_path, kill_match, kill_at):
    seeds, embeddings = tmp_path / "seeds", tmp_path / "embeddings"
    write_articles(seeds, synthetic_articles(range(3)))
    build_index(Settings(seeds=(seeds,), embeddings=embeddings), FakeEmbedder())
    env = {"NEWSDESK_SEEDS": str(seeds), "NEWSDESK_EMBEDDINGS": str(embeddings), "NEWSDESK_WATCH": "true",
           "NEWSDESK_WATCH_SETTLE": "0.2", "NEWSDESK_ABSTAIN_BELOW": "0"}
    server = IngestServer(tmp_path, env, {"KILL_MATCH": kill_match, "KILL_AT": str(kill_at)})
    try:
        acknowledged = _ingest_until_killed(server, range(100, 112))
    finally:
        server.stop()
    assert server.process.returncode == -signal.SIGKILL, server.log.read_text()
    if kill_match.startswith("/inbox"):
        assert len(acknowledged) == kill_at - 1
    else:  # killed in a build: articles were acknowledged before it, and are not served yet
        assert acknowledged

    restarted = IngestServer(tmp_path, env)
    try:
        with httpx.Client(base_url=restarted.url, timeout=30) as client:
            deadline = time.monotonic() + WAIT
            for n in acknowledged:
                while client.get(f"/articles/art-{n:04d}").status_code != 200:
                    assert time.monotonic() < deadline, client.get("/health").json()
                    time.sleep(0.1)
                answer = client.post("/ask", json={"question": synthetic_article(n).question}).json()
                assert answer["citations"][0]["article_id"] == f"art-{n:04d}"
            health = client.get("/health").json()
            assert health["status"] == "ok" and health["updates"]["failed_inputs"] == [], health
    finally:
        restarted.stop()
    inbox = seeds / "inbox"
    assert not [p.name for p in inbox.iterdir() if p.name.startswith(".tmp-")]  # leftovers removed
    read = read_articles([seeds])
    assert read.problems == [] and {f"art-{n:04d}" for n in acknowledged} <= {a.id for a in read.articles}


# ---------------------------------------------------------------- status


def test_health_and_the_status_page_say_what_is_served_pending_built_and_failed(tmp_path):
    from newsdesk.index.store import write_lock

    seeds = tmp_path / "seeds"
    write_articles(seeds, synthetic_articles(range(3)))
    (seeds / "broken.txt").write_bytes(b"")
    settings = Settings(seeds=(seeds,), embeddings=tmp_path / "embeddings", abstain_below=0.0,
                        watch=True, watch_settle=0.5, feeds=("http://127.0.0.1:9/feed.xml",))
    build_index(settings, FakeEmbedder())
    app = create_app(settings, Newsdesk(settings, embedder=FakeEmbedder()))
    client = TestClient(app)
    try:
        deadline = time.monotonic() + WAIT
        while not (client.get("/health").json()["updates"] or {}).get("failed_feeds"):
            assert time.monotonic() < deadline, client.get("/health").json()
            time.sleep(0.1)
        assert app.state.keeping.watcher.wait_until_idle(WAIT)
        with write_lock(settings.embeddings):  # a build now has to wait: the change stays pending
            write_articles(seeds, [synthetic_article(7)])
            while client.get("/health").json()["updates"]["state"] != "waiting for the lock":
                assert time.monotonic() < deadline
                time.sleep(0.1)
            updates = client.get("/health").json()["updates"]
            page = client.get("/status")
        assert updates["watching"] and updates["pending_count"] >= 1
        assert str(seeds / "art-0007.txt") in updates["pending"]
        assert updates["failed_inputs"] == [{"input": str(seeds / "broken.txt"), "reason": "empty file"}]
        assert updates["failed_feeds"][0]["input"] == "http://127.0.0.1:9/feed.xml"
        assert "cannot be reached" in updates["failed_feeds"][0]["reason"]
        assert updates["last_build"]["summary"].startswith("0 new, 0 changed, 0 removed, 3 unchanged")
        assert page.status_code == 200
        health = client.get("/health").json()
        for shown in (health["generation"], "waiting for the lock", "art-0007.txt", "broken.txt",
                      "empty file", "cannot be reached"):
            assert shown in page.text, shown
        assert 'href="/status"' in client.get("/").text  # linked from the chat's header
    finally:
        app.state.keeping.close()
