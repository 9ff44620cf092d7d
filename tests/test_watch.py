"""The watched seeds (`newsdesk serve --watch`): a real watcher (watchfiles, inotify or polling)
over a temporary seeds folder, the fake embedder, and the generations it builds."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from conftest import SEED, Server, run_cli
from fakes import FakeEmbedder
from reliability_support import ThreadServer, synthetic_article, synthetic_articles, write_articles

from newsdesk.index.build import build_index
from newsdesk.index.store import write_lock
from newsdesk.ingest.watch import SeedsWatcher
from newsdesk.server.app import create_app
from newsdesk.service import Newsdesk
from newsdesk.settings import Settings

WAIT = 60.0  # seconds a test waits for the watcher before failing (never a measured time)


class Watched:
    """A seeds folder, its index, the desk serving it and a running watcher; every generation
    the watcher had served is recorded (old ones are pruned from disk)."""

    def __init__(self, tmp_path: Path, articles: int = 3, **settings):
        self.seeds = tmp_path / "seeds"
        write_articles(self.seeds, synthetic_articles(range(articles)))
        self.settings = Settings(seeds=(self.seeds,), embeddings=tmp_path / "embeddings",
                                 abstain_below=0.0, **{"watch_settle": 0.5, **settings})
        self.embedder = FakeEmbedder()
        build_index(self.settings, self.embedder)
        self.desk = Newsdesk(self.settings, embedder=self.embedder)
        self.served: list[dict[str, str]] = []  # article id -> text, per generation served
        self.watcher = SeedsWatcher(self.settings, self.embedder, self._built).start()
        self.wait_for(lambda: self.watcher.status().builds >= 1, "its start-up build")  # watching

    def _built(self) -> None:
        self.desk.refresh()
        self.served.append({a.id: a.text for a in self.desk.generation.articles.values()})

    def wait_for(self, condition, what: str) -> None:
        deadline = time.monotonic() + WAIT
        while not condition():
            assert time.monotonic() < deadline, f"the watcher never served {what}: {self.watcher.status()}"
            time.sleep(0.05)

    def article(self, article_id: str):
        return self.desk.article(article_id)

    def stop(self) -> None:
        self.watcher.stop()


@pytest.fixture
def watched(tmp_path):
    scene = Watched(tmp_path)
    yield scene
    scene.stop()


def test_a_burst_of_files_is_one_build_or_a_few(watched):
    watched.wait_for(lambda: watched.watcher.status().builds >= 1, "its start-up build")
    builds_before = watched.watcher.status().builds
    write_articles(watched.seeds, synthetic_articles(range(100, 400)))
    watched.wait_for(lambda: all(watched.article(f"art-{n:04d}") for n in range(100, 400)), "the burst")
    assert watched.watcher.wait_until_idle(WAIT)
    assert watched.watcher.status().builds - builds_before <= 3
    assert len(watched.desk.generation.articles) == 303


def test_adds_changes_deletes_and_renames_are_served(watched):
    new = synthetic_article(50)
    write_articles(watched.seeds, [new])
    watched.wait_for(lambda: watched.article(new.id), "an added file")

    changed = synthetic_article(1, version=1)
    write_articles(watched.seeds, [changed])
    watched.wait_for(lambda: changed.answer_fact in watched.article(changed.id).text, "a changed file")
    assert f"cost {synthetic_article(1).answer_fact}" not in watched.article(changed.id).text

    (watched.seeds / "art-0002.txt").unlink()
    watched.wait_for(lambda: watched.article("art-0002") is None, "a deleted file")

    (watched.seeds / f"{new.id}.txt").rename(watched.seeds / "renamed.txt")
    watched.wait_for(lambda: watched.article("renamed") and watched.article(new.id) is None, "a rename")
    assert watched.article("renamed").text == new.text.strip()
    answer = watched.desk.ask(new.question)
    assert answer.citations and answer.citations[0].article_id == "renamed"


def test_a_file_being_written_is_not_indexed_until_it_is_complete(tmp_path):
    scene = Watched(tmp_path, watch_settle=1.5)
    try:
        scene.wait_for(lambda: scene.watcher.status().builds >= 1, "its start-up build")
        article = synthetic_article(60)
        path = scene.seeds / f"{article.id}.txt"
        text = article.text
        pieces = [text[start:start + 40] for start in range(0, len(text), 40)]
        with open(path, "w", encoding="utf-8") as handle:  # a slow copy: a piece every 0.3 s
            for piece in pieces:
                handle.write(piece)
                handle.flush()
                time.sleep(0.3)
        scene.wait_for(lambda: scene.article(article.id), "the completed file")
        versions = [served[article.id] for served in scene.served if article.id in served]
        assert versions and set(versions) == {scene.article(article.id).text}, versions  # never a part
        assert article.answer_fact in versions[0] and versions[0].endswith(text.strip()[-30:])
    finally:
        scene.stop()


def test_a_file_that_fails_is_reported_and_retried_when_it_changes_and_never_blocks_others(watched):
    bad, good = watched.seeds / "bad.txt", synthetic_article(70)
    bad.write_bytes("Café société\n\nÉté à Zürich.".encode("latin-1"))
    write_articles(watched.seeds, [good])
    watched.wait_for(lambda: watched.article(good.id), "the good file next to a bad one")
    watched.wait_for(lambda: watched.watcher.status().failed_inputs, "the bad file's failure")
    failures = watched.watcher.status().failed_inputs
    assert [f.input for f in failures] == [str(bad)] and "not UTF-8" in failures[0].reason

    bad.write_text("Café société\n\nÉté à Zürich, written again as UTF-8.", encoding="utf-8")
    watched.wait_for(lambda: watched.article("bad"), "the fixed file")
    assert watched.watcher.status().failed_inputs == ()


def test_the_watcher_waits_for_a_build_that_holds_the_lock_and_then_builds(watched):
    watched.wait_for(lambda: watched.watcher.status().builds >= 1, "its start-up build")
    article = synthetic_article(80)
    with write_lock(watched.settings.embeddings):  # as a manual `newsdesk index` holds it
        write_articles(watched.seeds, [article])
        watched.wait_for(lambda: watched.watcher.status().state == "waiting for the lock", "a wait")
        assert watched.article(article.id) is None
        assert watched.watcher.status().pending_count >= 1
    watched.wait_for(lambda: watched.article(article.id), "the article once the lock was free")


def test_a_manual_index_during_watching_is_refused_or_finds_nothing_to_do_never_a_collision(watched):
    write_articles(watched.seeds, synthetic_articles(range(200, 260)))
    manual = run_cli("index", "--seeds", str(watched.seeds), "--embeddings",
                     str(watched.settings.embeddings), "--quiet",
                     env={"NEWSDESK_MODEL_PATH": "/nonexistent-model"})  # never gets to embed
    watched.wait_for(lambda: all(watched.article(f"art-{n:04d}") for n in range(200, 260)), "the new files")
    # Either the watcher held the lock (refused in one line) or the manual run saw the index up to
    # date or had to embed (and failed for its missing model after taking the lock, harmlessly).
    assert manual.returncode in (0, 1), manual.stderr
    if "is being indexed by" in manual.stderr:
        assert manual.stderr.count("\n") == 1
    assert watched.watcher.wait_until_idle(WAIT)
    assert len(watched.desk.generation.articles) == 63


def test_seeds_inside_a_hidden_folder_are_watched_though_hidden_files_in_them_are_not(tmp_path):
    hidden_parent = tmp_path / ".cache"  # e.g. a checkout's .cache/: only hidden names inside count
    hidden_parent.mkdir()
    scene = Watched(hidden_parent)
    try:
        (scene.seeds / ".draft.txt").write_text("Draft\n\nNot for publishing yet.", encoding="utf-8")
        article = synthetic_article(95)
        write_articles(scene.seeds, [article])
        scene.wait_for(lambda: scene.article(article.id), "a file in seeds under a hidden folder")
        assert scene.article(".draft") is None
    finally:
        scene.stop()


def test_a_polling_watcher_sees_changes_where_events_do_not_arrive(tmp_path):
    scene = Watched(tmp_path, watch_polling=True)
    try:
        article = synthetic_article(90)
        write_articles(scene.seeds, [article])
        scene.wait_for(lambda: scene.article(article.id), "a file seen by polling")
        (scene.seeds / f"{article.id}.txt").unlink()
        scene.wait_for(lambda: scene.article(article.id) is None, "a removal seen by polling")
    finally:
        scene.stop()


def test_the_server_answers_from_the_served_generation_while_the_watcher_builds(tmp_path):
    scene = Watched(tmp_path, articles=20)
    app = create_app(scene.settings, scene.desk)
    server = ThreadServer(app)
    asked = synthetic_article(3)
    statuses: list[int] = []
    stop = threading.Event()

    def ask_all_along():
        with httpx.Client(base_url=server.url, timeout=60) as client:
            while not stop.is_set():
                response = client.post("/ask", json={"question": asked.question})
                statuses.append(response.status_code)
                assert response.json()["citations"][0]["article_id"] == asked.id

    asker = threading.Thread(target=ask_all_along)
    asker.start()
    try:
        for round_ in range(3):  # three bursts: three or more builds while questions are asked
            write_articles(scene.seeds, synthetic_articles(range(300 + 100 * round_, 380 + 100 * round_)))
            scene.wait_for(lambda r=round_: scene.article(f"art-{379 + 100 * r:04d}"), f"burst {round_}")
    finally:
        stop.set()
        asker.join(60)
        server.stop()
        scene.stop()
    assert len(scene.served) >= 3
    assert statuses and set(statuses) == {200}


@pytest.mark.slow
def test_serve_watch_makes_a_dropped_file_answerable_with_the_real_model(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / SEED.name).write_bytes(SEED.read_bytes())
    assert run_cli("index", "--seeds", str(seeds), "--embeddings", str(tmp_path / "embeddings"),
                   "--quiet").returncode == 0
    server = Server(tmp_path / "embeddings", env={"NEWSDESK_SEEDS": str(seeds), "NEWSDESK_WATCH": "true"})
    try:
        article = synthetic_article(5)
        write_articles(seeds, [article])
        deadline = time.monotonic() + 120
        while True:
            cited = httpx.post(server.url + "/ask", json={"question": article.question}, timeout=60).json()
            if any(c["article_id"] == article.id for c in cited["citations"]):
                break
            assert time.monotonic() < deadline, httpx.get(server.url + "/health").json()
            time.sleep(0.5)
        health = httpx.get(server.url + "/health").json()
        assert health["updates"]["watching"] and health["updates"]["last_build"]["generation"]
    finally:
        server.stop()
