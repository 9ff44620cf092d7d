"""Reliability and security, short versions (`make test`); the long ones are in tests/stress/.

Re-indexing under load, SIGKILL in the middle of a build, two builds at once, hostile seed
files, fuzzed and oversized requests, many clients, web safety headers, the bind address and
the bearer token. Most use the fake embedder in real processes and a real uvicorn server; the
token and bind checks use `newsdesk serve` with the real model.
"""

from __future__ import annotations

import http.client
import shutil
import sys
import threading

import httpx
import pytest
from conftest import SEED, TREATY_QUESTION, index_seed_folder, run_cli
from fakes import FakeEmbedder
from reliability_support import (
    ServeProcess, ThreadServer, assert_same_index, check_reindex, crash_scene, crowd, failures,
    index_snapshot, judge_hostile_run, kill_and_recover, listening_addresses, make_hostile_seeds,
    reindex_under_load, run_index, start_index, synthetic_articles, traced_operations,
    wait_for_lock_holder, write_articles,
)

from newsdesk.server.app import create_app
from newsdesk.settings import Settings
from newsdesk.index.build import build_index
from newsdesk.index.store import load_generation, write_lock
from newsdesk.server.security import CONTENT_SECURITY_POLICY, MAX_BODY_BYTES, exposure_warning
from newsdesk.service import Newsdesk

# ---------------------------------------------------------------- 1. hot re-index under load


def test_hot_reindex_under_load_answers_wholly_from_one_generation(tmp_path):
    seeds, embeddings = tmp_path / "seeds", tmp_path / "embeddings"
    write_articles(seeds, synthetic_articles(range(40)))
    settings = Settings(seeds=(seeds,), embeddings=embeddings, abstain_below=0.0)
    build_index(settings, FakeEmbedder())
    server = ThreadServer(create_app(settings, Newsdesk(settings, embedder=FakeEmbedder())))
    try:
        outcomes, readings, before, after = reindex_under_load(
            seeds, embeddings, server.url, index=lambda: run_index(seeds, embeddings, fake=True))
    finally:
        server.stop()
    check_reindex(outcomes, readings, before, after, embeddings)
    assert len(outcomes) <= 8 * 400


# ---------------------------------------------------------------- 2. SIGKILL during a build


def test_sigkill_at_each_kind_of_write_leaves_a_served_index_and_a_clean_rebuild(tmp_path):
    def build(seeds, embeddings):
        assert run_index(seeds, embeddings, fake=True).returncode == 0

    seeds, pristine, clean = crash_scene(tmp_path, build)
    probe = tmp_path / "probe"
    shutil.copytree(pristine, probe, symlinks=True)
    assert run_index(seeds, probe, fake=True, trace=tmp_path / "trace").returncode == 0
    operations = traced_operations(tmp_path / "trace")
    wanted = [next(n for n, op in enumerate(operations, 1) if op.startswith("open generations/.tmp-")),
              next(n for n, op in enumerate(operations, 1) if op.startswith("os.rename generations/.tmp-")),
              next(n for n, op in enumerate(operations, 1) if op.startswith("os.rename .CURRENT.tmp")),
              next(n for n, op in enumerate(operations, 1) if op.startswith("shutil.rmtree"))]
    for n in wanted:
        assert kill_and_recover(pristine, clean, tmp_path / f"killed-at-{n}", FakeEmbedder(),
                                kill=lambda work, n=n: run_index(seeds, work, fake=True, kill_at=n),
                                finish=lambda work: build(seeds, work))


# ---------------------------------------------------------------- 3. two builds at once


def test_a_second_index_run_is_refused_in_one_line_and_the_first_finishes_whole(tmp_path):
    seeds, embeddings, clean = tmp_path / "seeds", tmp_path / "embeddings", tmp_path / "clean"
    write_articles(seeds, synthetic_articles(range(30)))
    trace = tmp_path / "trace"
    assert run_index(seeds, tmp_path / "probe", fake=True, trace=trace).returncode == 0
    staging = next(n for n, op in enumerate(traced_operations(trace), 1) if "/.tmp-" in op)
    resume = tmp_path / "resume"
    first = start_index(seeds, embeddings, fake=True, pause_at=staging, resume_file=resume)
    wait_for_lock_holder(embeddings, first)  # and it is held there, half a generation written
    second = run_index(seeds, embeddings, fake=True)
    resume.touch()
    out, err = first.communicate(timeout=120)
    assert second.returncode == 1
    assert second.stderr.strip().count("\n") == 0
    assert f"is being indexed by pid {first.pid}" in second.stderr and "try again" in second.stderr
    assert first.returncode == 0, err
    assert run_index(seeds, clean, fake=True).returncode == 0
    assert_same_index(index_snapshot(embeddings), index_snapshot(clean))
    assert len(list((embeddings / "generations").iterdir())) == 1


def test_a_held_lock_refuses_before_the_model_is_loaded(tmp_path):
    seeds, embeddings = tmp_path / "seeds", tmp_path / "embeddings"
    write_articles(seeds, synthetic_articles(range(3)))
    embeddings.mkdir()
    with write_lock(embeddings):
        # A model path that cannot load: only a refusal that comes first gives the lock message.
        refused = run_cli("index", "--seeds", str(seeds), "--embeddings", str(embeddings),
                          env={"NEWSDESK_MODEL_PATH": str(tmp_path / "no-model")})
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert f"{embeddings} is being indexed by pid" in refused.stderr


# ---------------------------------------------------------------- 4. hostile seed files


def test_hostile_seed_files_are_reported_by_name_and_the_good_ones_indexed(tmp_path):
    seeds, embeddings = tmp_path / "seeds", tmp_path / "embeddings"
    inputs = make_hostile_seeds(seeds)
    done = run_index(seeds, embeddings, fake=True)
    assert done.returncode == 0, done.stderr
    problems = [line for line in done.stderr.splitlines() if line.startswith("skipped ")]
    assert len(problems) == len(done.stderr.splitlines())  # nothing else, no traceback
    indexed = set(load_generation(embeddings).articles)
    assert judge_hostile_run(inputs, problems, indexed, folder=seeds) == []
    assert indexed == {a for item in inputs for a in item.article_ids}
    # Whole files: empty, binary, Latin-1, 50 MB, both links of the loop, the link out of the
    # seeds; lines: broken, duplicate.
    assert "; 9 inputs skipped (7 whole files)" in done.stdout
    assert "leak" not in indexed and "root:x" not in done.stdout + done.stderr
    (seeds / "huge.txt").unlink()


# ---------------------------------------------------------------- 5. fuzzing and oversized bodies


@pytest.fixture
def fake_app(tmp_path, seeds, fake_embedder):
    settings = Settings(seeds=(seeds,), embeddings=tmp_path / "embeddings", abstain_below=0.0)
    build_index(settings, fake_embedder)
    return create_app(settings, Newsdesk(settings, embedder=fake_embedder), watch=False)


def test_schemathesis_finds_no_5xx_and_no_schema_mismatch(fake_app):
    from fuzzing import fuzz_app

    report = fuzz_app(fake_app, examples_per_operation=40)
    assert report.requests >= 200
    assert report.server_errors == [] and report.failures == [], report.summary()


def test_oversized_bodies_get_413_with_or_without_content_length(fake_app):
    server = ThreadServer(fake_app)
    try:
        big = b'{"question": "' + b"x" * (MAX_BODY_BYTES + 10) + b'"}'

        def chunks():
            for start in range(0, len(big), 4096):
                yield big[start:start + 4096]
        json_type = {"content-type": "application/json"}
        declared = httpx.post(server.url + "/ask", content=big, headers=json_type)
        chunked = httpx.post(server.url + "/ask", content=chunks(), headers=json_type)
        form = httpx.post(server.url + "/", content=chunks(),
                          headers={"content-type": "application/x-www-form-urlencoded"})
        small = httpx.post(server.url + "/ask", content=(p for p in [b'{"question": ', b'"treaty"}']),
                           headers=json_type)
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.putrequest("POST", "/ask")
        connection.putheader("Content-Length", "-1")
        connection.endheaders(b"{}")
        lying = connection.getresponse().status
        connection.close()
    finally:
        server.stop()
    assert declared.status_code == chunked.status_code == form.status_code == 413
    assert chunked.json()["detail"] == "request body over 64 KB"
    assert small.status_code == 200  # a small chunked body still reaches the route whole
    assert lying in (400, 413)


# ---------------------------------------------------------------- 6. many clients


class _InFlight:
    """ASGI middleware: the most HTTP requests the app was handling at one moment."""

    def __init__(self, app):
        self.app, self.now, self.most, self.lock = app, 0, 0, threading.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            await self.app(scope, receive, send)
        finally:
            with self.lock:
                self.now -= 1


def test_32_clients_at_once_all_get_answers(fake_app):
    app = _InFlight(fake_app)
    server = ThreadServer(app)
    questions = [TREATY_QUESTION, "Who checks passports in Dover?", "What happened in Calais?"]
    try:
        outcomes = crowd(server.url, 32, lambda c, n: (
            ("POST", "/ask", {"question": questions[(c + n) % 3]}) if n % 3 else ("GET", "/health", None)),
            requests_each=6)
    finally:
        server.stop()
    assert not failures(outcomes), failures(outcomes)[:3]
    assert app.most > 1  # the requests overlapped: the server handled several at once
    asked = [o for o in outcomes if o.request == "POST /ask"]
    assert asked and all(o.body["answer"] and o.body["citations"] and not o.body["abstained"]
                         for o in asked)
    assert all(c["article_id"] == SEED.stem for o in asked for c in o.body["citations"])
    assert all(o.body["status"] == "ok" for o in outcomes if o.request == "GET /health")


# ---------------------------------------------------------------- 7. web safety


def test_every_response_carries_the_safety_headers(fake_app):
    from fastapi.testclient import TestClient

    client = TestClient(fake_app)
    for response in (client.get("/"), client.get(f"/articles/{SEED.stem}/view?start=0&end=10"),
                     client.get("/health"), client.get("/static/style.css"), client.get("/nope"),
                     client.post("/ask", json={})):
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
    policy = dict(part.strip().split(" ", 1) for part in CONTENT_SECURITY_POLICY.split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


SAFETY = ("content-security-policy", "x-content-type-options", "referrer-policy")


@pytest.mark.parametrize("path, body", [
    ("/ask", rb'{"question": "\ud800"}'),
    ("/ask/stream", b'{"question": "treaty \xed\xa0\x80"}'),  # a surrogate as raw bytes
    ("/ask", rb'{"question": "treaty", "history": [{"role": "user", "content": "\udfff"}]}'),
    ("/v1/chat/completions", rb'{"messages": [{"role": "user", "content": "\ud800"}]}'),
    ("/v1/chat/completions", rb'{"messages": [{"role": "user", "content": [{"type": "text", "text": "\udc00"}]}]}'),
    ("/v1/chat/completions", rb'{"messages": [{"role": "user", "content": "a \ud800"}, '
                             rb'{"role": "assistant", "content": "b"}, {"role": "user", "content": "treaty?"}]}'),
    ("/ask", b'{"question": "treaty", "k": NaN}'), ("/ask", b'{"question": "treaty", "k": Infinity}'),
    ("/ask", b'{"question": "treaty", "k": 1e400}'), ("/ask", b'{"question": -Infinity}'),
    ("/ask", b'{"question": "treaty", "as_of": NaN}'), ("/v1/chat/completions", b'{"messages": NaN}'),
    ("/v1/chat/completions", b'{"messages": [{"role": "user", "content": "x"}], "stream": NaN}'),
])
def test_surrogates_and_non_finite_numbers_get_a_readable_422_with_the_safety_headers(fake_app, path, body):
    from fastapi.testclient import TestClient

    response = TestClient(fake_app).post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    message = response.json()["detail"][0]["msg"]
    assert "surrogate" in message or "not a JSON number" in message or "beyond the range" in message
    assert all(name in response.headers for name in SAFETY)


def test_paired_surrogates_are_text_and_a_crash_still_gets_the_safety_headers(fake_app):
    from fastapi.testclient import TestClient

    from newsdesk.server.security import readable

    @fake_app.get("/crash")
    def crash():
        raise RuntimeError("boom")
    client = TestClient(fake_app, raise_server_exceptions=False)
    emoji = client.post("/ask", content=rb'{"question": "\ud83d\udcf0 Treaty of Le Touquet?"}',
                        headers={"content-type": "application/json"})
    assert emoji.status_code == 200
    crashed = client.get("/crash")
    assert crashed.status_code == 500 and crashed.json() == {"detail": "internal server error"}
    assert all(name in crashed.headers for name in SAFETY)
    # what a 422 echoes back is made encodable whatever reached the validator
    assert readable({"input": [float("nan"), "\ud800"]}) == {"input": ["nan", "\\ud800"]}


def test_pages_escape_article_text_and_templates_autoescape(tmp_path, fake_embedder):
    from fastapi.testclient import TestClient

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "evil.txt").write_text('<script>alert("title")</script> Harbour news\n\n'
                                    'The <img src=x onerror=alert(1)> harbour reopened on Monday.\n')
    settings = Settings(seeds=(seeds,), embeddings=tmp_path / "embeddings", abstain_below=0.0)
    build_index(settings, fake_embedder)
    app = create_app(settings, Newsdesk(settings, embedder=fake_embedder), watch=False)
    client = TestClient(app)
    page = client.get("/articles/evil/view").text
    answer = client.post("/", data={"question": "When did the harbour reopen?"}).text
    for html in (page, answer):
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html or "&lt;script&gt;" in html
    from fastapi.templating import Jinja2Templates

    from newsdesk.server.app import WEB_ROOT

    env = Jinja2Templates(directory=str(WEB_ROOT / "templates")).env
    assert env.autoescape is True or env.autoescape("chat.html")


def test_article_ids_never_reach_the_filesystem(fake_app):
    opened: list[str] = []
    recording = threading.Event()

    def hook(event, args):
        if recording.is_set() and event == "open" and isinstance(args[0], str):
            opened.append(args[0])
    sys.addaudithook(hook)  # audit hooks stay for the process; this one only records when asked
    server = ThreadServer(fake_app)
    try:
        statuses = {}
        recording.set()
        for path in ("/articles/../../etc/passwd", "/articles/..%2F..%2Fetc%2Fpasswd",
                     "/articles/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/articles/....//....//etc/passwd",
                     "/articles/..%5c..%5cetc%5cpasswd", "/articles/%00", "/articles/..%2F..%2Fetc%2Fpasswd/view"):
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            connection.request("GET", path)  # sent exactly as written, no client-side cleanup
            response = connection.getresponse()
            statuses[path] = (response.status, response.read())
            connection.close()
        recording.clear()
    finally:
        server.stop()
    for path, (status, body) in statuses.items():
        assert status == 404, (path, status)
        assert b"root:" not in body
    assert not [p for p in opened if "passwd" in p or p.startswith("/etc")], opened


# ---------------------------------------------------------------- 8. bind address and token


def test_serving_beyond_loopback_without_a_token_warns(tmp_path):
    assert exposure_warning("127.0.0.1", "") is None and exposure_warning("::1", "") is None
    assert exposure_warning("localhost", "") is None and exposure_warning("0.0.0.0", "s3cret") is None
    assert "NEWSDESK_API_TOKEN" in exposure_warning("0.0.0.0", "")
    assert Settings.from_env({}).host == "127.0.0.1"
    import subprocess

    from conftest import free_port

    serve = subprocess.Popen([sys.executable, "-m", "newsdesk.cli", "serve", "--embeddings",
                              str(tmp_path / "none"), "--host", "0.0.0.0", "--port", str(free_port())],
                             stderr=subprocess.PIPE, text=True,
                             env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    try:
        first_line = serve.stderr.readline()
    finally:
        serve.kill()
        serve.wait()
    assert first_line.startswith("warning: serving on 0.0.0.0 without NEWSDESK_API_TOKEN")


@pytest.fixture(scope="module")
def token_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("token")
    index_seed_folder(root)
    server = ServeProcess(root / "embeddings", env={"NEWSDESK_API_TOKEN": "s3cret-token"})
    yield server
    server.stop()


@pytest.mark.slow
def test_serve_binds_to_loopback_by_default(token_server):
    assert listening_addresses(token_server.port) == {"127.0.0.1"}


@pytest.mark.slow
def test_with_a_token_everything_but_health_needs_the_bearer(token_server):
    url, good = token_server.url, {"Authorization": "Bearer s3cret-token"}
    assert httpx.get(url + "/health").status_code == 200
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-token"},
                    {"Authorization": "Basic czNjcmV0LXRva2Vu"}):
        assert httpx.post(url + "/ask", json={"question": TREATY_QUESTION}, headers=headers).status_code == 401
    for path in ("/", f"/articles/{SEED.stem}", f"/articles/{SEED.stem}/view"):
        refused = httpx.get(url + path)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert httpx.get(url + path, headers=good).status_code == 200
    answer = httpx.post(url + "/ask", json={"question": TREATY_QUESTION}, headers=good, timeout=60).json()
    assert "passports" in answer["answer"]


@pytest.mark.slow
def test_the_real_server_refuses_chunked_floods_and_path_tricks(token_server):
    good = {"Authorization": "Bearer s3cret-token", "content-type": "application/json"}
    flood = (b"x" * 8192 for _ in range(100))
    assert httpx.post(token_server.url + "/ask", content=flood, headers=good).status_code == 413
    connection = http.client.HTTPConnection("127.0.0.1", token_server.port, timeout=10)
    connection.request("GET", "/articles/../../etc/passwd", headers={"Authorization": good["Authorization"]})
    response = connection.getresponse()
    assert response.status == 404 and b"root:" not in response.read()


def test_the_token_guards_websockets_and_routes_added_later(tmp_path, seeds, fake_embedder):
    from fastapi.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    settings = Settings(seeds=(seeds,), embeddings=tmp_path / "embeddings", api_token="t0ken")
    build_index(settings, fake_embedder)
    app = create_app(settings, Newsdesk(settings, embedder=fake_embedder), watch=False)

    @app.get("/added-later")
    def added_later():
        return {"ok": True}
    client, bearer = TestClient(app), {"Authorization": "Bearer t0ken"}
    assert client.get("/added-later").status_code == 401
    assert client.get("/added-later", headers=bearer).json() == {"ok": True}
    assert client.get("/health").status_code == 200 and client.get("/openapi.json").status_code == 200
    with pytest.raises(WebSocketDisconnect) as refused:
        with client.websocket_connect("/anything"):
            pass
    assert refused.value.code == 1008  # policy violation: no token; with one, the router's own close


# ---------------------------------------------------------------- 9. a damaged index (issue 13.2)


def _damage_current_bytes(embeddings, folder):
    (embeddings / "CURRENT").write_bytes(b"\xff\xfe gen\n")
    return True


def _damage_current_outside(embeddings, folder):
    outside = embeddings.parent / "outside"  # a whole generation, but not inside generations/
    shutil.copytree(folder, outside, dirs_exist_ok=True)
    (embeddings / "CURRENT").write_text("../../outside\n")
    return True


def _damage_current_folder(embeddings, folder):
    (embeddings / "CURRENT").write_text(".\n")
    return True


def _damage_passages_cut(embeddings, folder):
    data = (folder / "passages.npz").read_bytes()
    (folder / "passages.npz").write_bytes(data[: len(data) // 2])


def _damage_bm25_empty(embeddings, folder):
    next((folder / "bm25").glob("*.npy")).write_bytes(b"")


def _damage_bm25_vocabulary(embeddings, folder):
    (folder / "bm25" / "vocabulary.json").write_text('{"unknown_key": ')


def _damage_articles_line(embeddings, folder):
    (folder / "articles.jsonl").write_text('["not", "an", "object"]\n')


DAMAGE = {"CURRENT not UTF-8": _damage_current_bytes, "CURRENT outside generations/": _damage_current_outside,
          "CURRENT names a folder": _damage_current_folder, "passages.npz cut short": _damage_passages_cut,
          "empty bm25 .npy": _damage_bm25_empty, "bm25 vocabulary cut short": _damage_bm25_vocabulary,
          "articles.jsonl line not an object": _damage_articles_line}
DAMAGE_SAYS = {"CURRENT not UTF-8": "not UTF-8", "CURRENT outside generations/": "refused",
               "CURRENT names a folder": "refused", "passages.npz cut short": "passages.npz",
               "empty bm25 .npy": "bm25", "bm25 vocabulary cut short": "bm25",
               # texts are read when cited: a load checks where each article's line starts
               "articles.jsonl line not an object": "articles.jsonl: its size is not the one written"}


def _damaged_copy(embeddings, name: str, damage) -> None:
    """A copy of the served generation as generation `name`, damaged, then CURRENT pointing at
    it (damages of CURRENT itself write it and say so)."""
    import os

    from newsdesk.index.store import current_folder

    folder = embeddings / "generations" / name
    shutil.copytree(current_folder(embeddings), folder)
    if damage(embeddings, folder):
        return
    pointer = embeddings / ".CURRENT.tmp"
    pointer.write_text(name + "\n")
    os.replace(pointer, embeddings / "CURRENT")


def _wait_for(condition, timeout: float = 20.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_a_damaged_generation_keeps_the_last_good_one_serving_and_the_watcher_alive(tmp_path, monkeypatch):
    import newsdesk.service as service

    monkeypatch.setattr(service, "WATCH_SECONDS", 0.02)
    monkeypatch.setattr(service, "WATCH_BACKOFF_MAX", 0.1)
    loads: list[str] = []
    real_load = service.load_generation
    monkeypatch.setattr(service, "load_generation", lambda root, **kw: loads.append("load") or real_load(root, **kw))
    died: list = []
    monkeypatch.setattr(threading, "excepthook", lambda hook_args: died.append(hook_args))

    seeds, embeddings = tmp_path / "seeds", tmp_path / "embeddings"
    write_articles(seeds, synthetic_articles(range(6)))
    settings = Settings(seeds=(seeds,), embeddings=embeddings, abstain_below=0.0)
    build_index(settings, FakeEmbedder())
    desk = Newsdesk(settings, embedder=FakeEmbedder())
    desk.watch()
    try:
        for n, (kind, damage) in enumerate(DAMAGE.items(), 1):
            good = desk.generation.name
            _damaged_copy(embeddings, f"broken-{n}", damage)
            assert _wait_for(lambda: desk.health().status == "degraded"), kind
            health = desk.health()
            assert health.generation == good, kind  # the last good generation still serves
            assert DAMAGE_SAYS[kind] in health.problem and "newsdesk index --full" in health.problem, (kind, health)
            assert desk.ask(synthetic_articles([0])[0].question).generation == good
            # Not read again while CURRENT stays as it is, though the watcher goes on looking.
            tried = len(loads)
            assert not _wait_for(lambda: len(loads) > tried, timeout=0.5), kind
            # The next good generation is picked up.
            write_articles(seeds, synthetic_articles([100 + n]))
            build_index(settings, FakeEmbedder())
            assert _wait_for(lambda: desk.health().status == "ok"), (kind, desk.health())
            assert desk.generation.name != good and desk.health().problem is None
        assert desk._watcher.is_alive() and died == []
    finally:
        desk.close()


def test_the_watcher_survives_an_unexpected_error_and_backs_off(tmp_path, monkeypatch):
    import newsdesk.service as service

    monkeypatch.setattr(service, "WATCH_SECONDS", 0.01)
    monkeypatch.setattr(service, "WATCH_BACKOFF_MAX", 0.16)
    settings = Settings(seeds=(tmp_path / "seeds",), embeddings=tmp_path / "embeddings")
    write_articles(tmp_path / "seeds", synthetic_articles(range(2)))
    build_index(settings, FakeEmbedder())
    desk = Newsdesk(settings, embedder=FakeEmbedder())
    calls: list[float] = []

    def broken():
        import time

        calls.append(time.monotonic())
        raise MemoryError("no memory for the new generation")
    monkeypatch.setattr(desk, "_refresh", broken)
    desk.watch()
    try:
        assert _wait_for(lambda: len(calls) >= 7)
        assert desk._watcher.is_alive()
        assert desk.health().status == "degraded" and "watcher failed" in desk.health().problem
        gaps = [b - a for a, b in zip(calls, calls[1:])]
        assert gaps[-1] >= 0.12 and gaps[-1] > 4 * gaps[0]  # doubling up to the cap
    finally:
        desk.close()


def test_index_and_ask_facing_a_damaged_generation_say_so_in_one_line(tmp_path):
    seeds, embeddings = tmp_path / "seeds", tmp_path / "embeddings"
    write_articles(seeds, synthetic_articles(range(4)))
    for n, (kind, damage) in enumerate(DAMAGE.items(), 1):
        work = tmp_path / f"work-{n}"
        assert run_index(seeds, work, fake=True).returncode == 0
        _damaged_copy(work, "gen-000009", damage)
        asked = run_cli("ask", "How much?", "--embeddings", str(work),
                        env={"NEWSDESK_MODEL_PATH": str(tmp_path / "no-model")}) if n == 1 else None
        if asked is not None:  # CURRENT is refused before the model is loaded
            assert asked.returncode == 1 and asked.stderr.count("\n") == 1, asked.stderr
            assert "not UTF-8" in asked.stderr and "Traceback" not in asked.stderr
        rebuilt = run_index(seeds, work, fake=True)
        assert rebuilt.returncode == 0 and rebuilt.stderr == "", (kind, rebuilt.stderr)
        assert "(full rebuild: the previous index could not be read: " in rebuilt.stdout, kind
        assert DAMAGE_SAYS[kind] in rebuilt.stdout, (kind, rebuilt.stdout)
        assert len(load_generation(work).articles) == 4


@pytest.mark.slow
def test_serve_facing_a_damaged_generation_says_so_in_one_line_and_reports_it(tmp_path):
    seeds, embeddings = tmp_path / "seeds", tmp_path / "embeddings"
    write_articles(seeds, synthetic_articles(range(3)))
    assert run_index(seeds, embeddings, fake=True).returncode == 0
    _damaged_copy(embeddings, "gen-000009", _damage_passages_cut)
    (embeddings / "generations" / "gen-000001").rename(embeddings / "generations" / "gone")
    server = ServeProcess(embeddings)
    try:
        health = httpx.get(server.url + "/health").json()
    finally:
        server.stop()
    log = server.log.read_text()
    assert "Traceback" not in log
    said = [line for line in log.splitlines() if " is damaged " in line]
    assert len(said) == 1 and "passages.npz" in said[0] and "newsdesk index --full" in said[0], log
    assert health["status"] == "no index" and "passages.npz" in health["problem"]
    assert "Warning" not in log and "with no index: the one in " in log, log


# ---------------------------------------------------------------- 10. out of disk, read-only (issue 20)


class _CountingEmbedder(FakeEmbedder):
    def __init__(self):
        super().__init__()
        self.texts = 0

    def embed(self, texts, progress=False):
        self.texts += len(texts)
        return super().embed(texts, progress=progress)


def test_a_build_that_would_not_fit_is_refused_before_embedding_and_health_says_so(tmp_path, monkeypatch):
    from newsdesk.index import store
    from newsdesk.index.errors import DiskSpaceShort

    seeds, embeddings = tmp_path / "seeds", tmp_path / "embeddings"
    write_articles(seeds, synthetic_articles(range(20)))
    settings = Settings(seeds=(seeds,), embeddings=embeddings, abstain_below=0.0)
    build_index(settings, FakeEmbedder())
    desk = Newsdesk(settings, embedder=FakeEmbedder())
    served = desk.generation.name
    write_articles(seeds, synthetic_articles(range(20, 400)))
    monkeypatch.setattr(store, "free_bytes", lambda folder: 900_000)
    embedder = _CountingEmbedder()
    with pytest.raises(DiskSpaceShort) as refused:
        build_index(settings, embedder)
    message = str(refused.value)
    assert embedder.texts == 0  # refused before any embedding
    assert f"not enough space in {embeddings}" in message and "878.9 KB is free" in message
    assert "needs about" in message and "--embeddings" in message and "\n" not in message
    assert store.current_name(embeddings) == served
    health = desk.health()
    assert health.status == "degraded" and health.generation == served
    assert health.last_build_error == message and health.last_build_failed_at
    assert desk.ask(synthetic_articles([3])[0].question).citations  # still answering
    monkeypatch.setattr(store, "free_bytes", lambda folder: 10**12)
    assert build_index(settings, FakeEmbedder()).wrote
    assert store.last_build_failure(embeddings) is None


def test_a_build_that_fills_the_disk_removes_its_files_and_says_which_file(tmp_path, monkeypatch):
    """A stubbed full disk (numpy's own words); the tmpfs test below fills a real one."""
    import numpy as np

    from newsdesk.index import store
    from newsdesk.index.errors import DiskFull

    seeds, embeddings = tmp_path / "seeds", tmp_path / "embeddings"
    write_articles(seeds, synthetic_articles(range(10)))
    settings = Settings(seeds=(seeds,), embeddings=embeddings, abstain_below=0.0)
    build_index(settings, FakeEmbedder())
    before = index_snapshot(embeddings)
    write_articles(seeds, synthetic_articles(range(10, 30)))
    real_save = np.save

    def full_disk(path, array, *args, **kwargs):
        if str(path).endswith("vectors.npy"):
            store.free_bytes = lambda folder: 0
            raise OSError(f"{array.nbytes} requested and {array.nbytes // 3} written")
        return real_save(path, array, *args, **kwargs)
    monkeypatch.setattr(np, "save", full_disk)
    monkeypatch.setattr(store, "free_bytes", lambda folder: 10**12)  # the estimate lets it through
    with pytest.raises(DiskFull) as full:
        build_index(settings, FakeEmbedder())
    assert str(full.value).startswith("disk full while writing generations/.tmp-gen-000002-")
    assert "vectors.npy in " + str(embeddings) in str(full.value)
    assert list((embeddings / "generations").iterdir()) == [embeddings / "generations" / "gen-000001"]
    assert sorted(p.name for p in embeddings.iterdir()) == [".lock", "CURRENT", "generations",
                                                          store.LAST_BUILD]
    assert_same_index(index_snapshot(embeddings), before)
    monkeypatch.setattr(np, "save", real_save)
    monkeypatch.setattr(store, "free_bytes", lambda folder: 10**12)
    assert build_index(settings, FakeEmbedder()).generation == "gen-000002"


def test_on_a_small_filesystem_index_refuses_or_cleans_up_and_serve_goes_on(tmp_path):
    """A real 3 MB tmpfs (skipped where mounting is not allowed): a second build that cannot fit
    is refused in one line; one that the disk fills up while it writes removes its temporary
    folder and says which file; the next build starts clean; read-only, index says so."""
    from newsdesk.index.store import current_name, last_build_failure

    from reliability_support import fill_filesystem, remount_read_only, small_filesystem

    seeds = tmp_path / "seeds"
    write_articles(seeds, synthetic_articles(range(20)))
    with small_filesystem(tmp_path / "disk", 3 * 2**20) as disk:
        embeddings = disk / "embeddings"
        assert run_index(seeds, embeddings, fake=True).returncode == 0
        write_articles(seeds, [a for a in synthetic_articles(range(20, 400))])
        # 1. The estimate: 380 more articles of a few passages each do not fit in what is left.
        (disk / "ballast.bin").write_bytes(b"\0" * (2 * 2**20))
        refused = run_index(seeds, embeddings, fake=True)
        assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
        assert f"newsdesk: not enough space in {embeddings}" in refused.stderr
        assert "is free" in refused.stderr and "--embeddings" in refused.stderr
        assert current_name(embeddings) == "gen-000001"
        (disk / "ballast.bin").unlink()
        # 2. The estimate passes, then the disk fills while the generation is written.
        trace = tmp_path / "trace"
        probe = tmp_path / "probe"
        assert run_index(seeds, probe, fake=True, trace=trace).returncode == 0
        staging = next(n for n, op in enumerate(traced_operations(trace), 1) if "/.tmp-" in op)
        resume = tmp_path / "resume"
        writer = start_index(seeds, embeddings, fake=True, pause_at=staging + 1, resume_file=resume)
        wait_for_lock_holder(embeddings, writer)
        deadline = __import__("time").monotonic() + 60
        while not list((embeddings / "generations").glob(".tmp-*")):
            assert __import__("time").monotonic() < deadline
        filler = fill_filesystem(disk)
        resume.touch()
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 1 and err.count("\n") == 1, err
        assert err.startswith("newsdesk: disk full while writing generations/.tmp-gen-000002-"), err
        assert f" in {embeddings} " in err and "Traceback" not in err
        assert not list((embeddings / "generations").glob(".tmp-*"))  # the space is given back
        assert current_name(embeddings) == "gen-000001"
        assert "disk full while writing" in last_build_failure(embeddings)["error"]
        settings = Settings(seeds=(seeds,), embeddings=embeddings)
        health = Newsdesk(settings, embedder=FakeEmbedder()).health()
        assert health.generation == "gen-000001" and "disk full" in health.problem
        filler.unlink()
        # 3. The next build starts clean and finishes.
        done = run_index(seeds, embeddings, fake=True)
        assert done.returncode == 0, done.stderr
        assert current_name(embeddings) == "gen-000002" and last_build_failure(embeddings) is None
        # 4. Read-only: serving works, indexing says so in one line.
        remount_read_only(disk)
        assert Newsdesk(settings, embedder=FakeEmbedder()).health().status == "ok"
        read_only = run_index(seeds, embeddings, fake=True)
        assert read_only.returncode == 1 and read_only.stderr.count("\n") == 1, read_only.stderr
        assert f"newsdesk: {embeddings} is on a read-only file system" in read_only.stderr
        assert "Errno" not in read_only.stderr
