"""The request log (issue 19): one line per request with its route template, status, latency and
generation; JSON lines with NEWSDESK_LOG_FORMAT=json; no question text unless asked for."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import httpx
from conftest import SEED_ID, Server
from starlette.testclient import TestClient

from newsdesk.index.build import build_index
from newsdesk.server.access_log import JSONLines, question_in
from newsdesk.server.app import create_app
from newsdesk.service import Newsdesk
from newsdesk.settings import Settings

FAKE_CLI = (sys.executable, str(Path(__file__).resolve().parent / "fake_cli.py"))
# Words no log line would hold unless the question itself were logged.
SECRET_QUESTION = "Did the ombudsman Xylophanes Quibbleworth leave the Calais talks?"


def _client(tmp_path, seeds, fake_embedder, **changes) -> TestClient:
    settings = Settings(seeds=(seeds,), embeddings=tmp_path / "embeddings", **changes)
    build_index(settings, fake_embedder)
    return TestClient(create_app(settings, Newsdesk(settings, embedder=fake_embedder), watch=False))


def _access(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "newsdesk.access"]


def test_one_line_per_request_with_route_status_latency_and_generation_and_no_question(
        tmp_path, seeds, fake_embedder, caplog):
    client = _client(tmp_path, seeds, fake_embedder, api_token="t0ken")
    auth = {"Authorization": "Bearer t0ken"}
    caplog.set_level(logging.INFO)
    assert client.post("/ask", json={"question": SECRET_QUESTION}, headers=auth).status_code == 200
    assert client.get(f"/articles/{SEED_ID}", headers=auth).status_code == 200
    assert client.post("/ask/stream", json={"question": SECRET_QUESTION}, headers=auth).status_code == 200
    assert client.post("/v1/chat/completions", headers=auth, json={
        "messages": [{"role": "user", "content": SECRET_QUESTION}]}).status_code == 200
    assert client.post("/ask", json={"question": SECRET_QUESTION}).status_code == 401

    lines = _access(caplog)
    assert [(r.request["method"], r.request["route"], r.request["status"]) for r in lines] == [
        ("POST", "/ask", 200), ("GET", "/articles/{article_id}", 200), ("POST", "/ask/stream", 200),
        ("POST", "/v1/chat/completions", 200), ("POST", "/ask", 401)]
    for record in lines:
        assert record.request["generation"] == "gen-000001" and record.request["ms"] > 0
        assert "question" not in record.request
    assert lines[0].getMessage().startswith("POST /ask 200 ") and "generation=gen-000001" in lines[0].getMessage()
    assert SEED_ID not in lines[1].getMessage()  # the template, not the path asked for
    # Nothing any logger wrote holds the question.
    assert "Quibbleworth" not in caplog.text
    assert all("Quibbleworth" not in r.getMessage() for r in caplog.records)


def test_the_question_is_logged_only_when_the_setting_asks_for_it(tmp_path, seeds, fake_embedder, caplog):
    client = _client(tmp_path, seeds, fake_embedder, log_questions=True)
    caplog.set_level(logging.INFO)
    client.post("/ask", json={"question": SECRET_QUESTION})
    client.post("/", data={"question": "What about Calais?"})
    client.post("/v1/chat/completions", json={"messages": [
        {"role": "user", "content": "first"}, {"role": "assistant", "content": "reply"},
        {"role": "user", "content": "And Dover?"}]})
    asked = [r.request.get("question") for r in _access(caplog)]
    assert asked == [SECRET_QUESTION, "What about Calais?", "And Dover?"]
    assert 'question="Did the ombudsman' in _access(caplog)[0].getMessage()


def test_question_in_reads_each_body_that_asks_and_nothing_else():
    assert question_in(b'{"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "search_articles", '
                       b'"arguments": {"query": "bridges", "k": 3}}}', "application/json") == "bridges"
    assert question_in(b'{"id": "a", "text": "an article"}', "application/json") is None
    assert question_in(b"not json", "application/json") is None
    assert question_in(b"", "application/json") is None


def test_json_lines_format_a_request_and_any_other_record_as_one_object_each():
    formatter = JSONLines()
    request = logging.LogRecord("newsdesk.access", logging.INFO, __file__, 1, "GET /health 200", None, None)
    request.request = {"method": "GET", "route": "/health", "status": 200, "ms": 1.5, "generation": None}
    line = json.loads(formatter.format(request))
    assert line["route"] == "/health" and line["status"] == 200 and line["level"] == "info"
    other = logging.LogRecord("newsdesk", logging.WARNING, __file__, 1, "a\nb %s", ("c",), None)
    assert json.loads(formatter.format(other))["message"] == "a\nb c"


def test_newsdesk_serve_writes_json_lines_for_log_shippers(tmp_path, seeds, fake_embedder):
    settings = Settings(seeds=(seeds,), embeddings=tmp_path / "embeddings")
    build_index(settings, fake_embedder)
    server = Server(settings.embeddings, env={"NEWSDESK_LOG_FORMAT": "json"}, newsdesk=FAKE_CLI)
    try:
        assert httpx.post(server.url + "/ask", json={"question": SECRET_QUESTION}, timeout=30).status_code == 200
        assert httpx.get(server.url + f"/articles/{SEED_ID}", timeout=30).status_code == 200
    finally:
        server.stop()
    log = server.log.read_text()
    assert "Quibbleworth" not in log
    objects = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    requests = [o for o in objects if o.get("logger") == "newsdesk.access"]
    assert [(o["method"], o["route"], o["status"]) for o in requests if o["route"] != "/health"] == [
        ("POST", "/ask", 200), ("GET", "/articles/{article_id}", 200)]
    assert all(o["generation"] == "gen-000001" and o["ms"] > 0 and o["time"] for o in requests)
