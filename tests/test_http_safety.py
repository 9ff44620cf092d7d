"""HTTP hardening (issue 13): the Host check against DNS rebinding, the docs page under the CSP,
and the bearer token's edge cases."""

from __future__ import annotations

import http.client

import pytest
from reliability_support import ThreadServer
from starlette.websockets import WebSocket

from newsdesk.server.app import create_app
from newsdesk.settings import Settings
from newsdesk.index.build import build_index
from newsdesk.server.security import SAFETY_HEADERS, host_accepted, host_of, served_hosts
from newsdesk.service import Newsdesk


def _app(tmp_path, seeds, fake_embedder, **changes):
    settings = Settings(seeds=(seeds,), embeddings=tmp_path / "embeddings", abstain_below=0.0, **changes)
    build_index(settings, fake_embedder)
    return create_app(settings, Newsdesk(settings, embedder=fake_embedder), watch=False)


def _get(port: int, path: str, headers: list[tuple[str, str | bytes]] | None = None, host: str | None = None):
    """A GET sent as written: the Host header too (http.client would add its own), headers as
    (name, value) pairs (a name may repeat; a bytes value goes as is)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest("GET", path, skip_host=host is not None)
    if host is not None:
        connection.putheader("Host", host)
    for name, value in headers or []:
        connection.putheader(name, value)
    connection.endheaders()
    response = connection.getresponse()
    result = response.status, dict(response.getheaders()), response.read()
    connection.close()
    return result


# ---------------------------------------------------------------- DNS rebinding


def test_hosts_parse_and_match_like_a_host_check_should():
    assert host_of("LocalHost.:8000") == "localhost" and host_of("[::1]:80") == "::1"
    assert host_of("news.example.org") == "news.example.org" and host_of("::1") == "::1"
    served = served_hosts("127.0.0.1", " news.example.org , *.corp.example,")
    assert all(host_accepted(h, served) for h in (
        "localhost", "localhost:8000", "app.localhost", "127.0.0.1:1", "[::1]:8000", "10.1.2.3",
        "News.Example.Org", "a.corp.example", "news.example.org.:443", ""))
    assert not any(host_accepted(h, served) for h in (
        "evil.example", "corp.example", "evil-corp.example", "localhost.evil.example", "news.example.org.evil"))
    assert host_accepted("anything.example", served_hosts("127.0.0.1", "*"))
    assert host_accepted("desk.lan", served_hosts("desk.lan"))  # the name served on
    assert Settings.from_env({"NEWSDESK_ALLOWED_HOSTS": "a.example"}).allowed_hosts == "a.example"


def test_a_rebound_name_is_refused_and_loopback_names_and_addresses_are_answered(tmp_path, seeds, fake_embedder):
    server = ThreadServer(_app(tmp_path, seeds, fake_embedder, allowed_hosts="news.example.org"))
    try:
        for host in ("evil.example", f"evil.example:{server.port}", "127.0.0.1.evil.example", "localhost.evil"):
            status, headers, body = _get(server.port, "/health", host=host)
            assert status == 400 and b"NEWSDESK_ALLOWED_HOSTS" in body, host
            assert all(name in {k.lower() for k in headers} for name in SAFETY_HEADERS), headers
            assert _get(server.port, "/", host=host)[0] == 400
        for host in (f"localhost:{server.port}", f"127.0.0.1:{server.port}", "[::1]", "news.example.org"):
            assert _get(server.port, "/health", host=host)[0] == 200, host
    finally:
        server.stop()


def test_websockets_from_a_rebound_name_are_refused(tmp_path, seeds, fake_embedder):
    from fastapi.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    app = _app(tmp_path, seeds, fake_embedder)

    @app.websocket("/echo")
    async def echo(socket: WebSocket):
        await socket.accept()
        await socket.send_text("hello")
        await socket.close()
    with TestClient(app).websocket_connect("ws://localhost/echo") as socket:
        assert socket.receive_text() == "hello"
    with pytest.raises(WebSocketDisconnect) as refused:
        with TestClient(app).websocket_connect("ws://evil.example/echo"):
            pass
    assert refused.value.code == 1008


# ---------------------------------------------------------------- /docs


def test_no_blank_docs_page_and_the_api_description_stays_open(tmp_path, seeds, fake_embedder):
    """/docs and /redoc need a CDN script the CSP refuses, so they are gone; /openapi.json stays,
    open without the token, and no page of the app loads anything from outside."""
    from fastapi.testclient import TestClient

    client = TestClient(_app(tmp_path, seeds, fake_embedder, api_token="t0ken"))
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert client.get(path, headers={"Authorization": "Bearer t0ken"}).status_code == 404, path
    description = client.get("/openapi.json")
    assert description.status_code == 200 and "/ask" in description.json()["paths"]
    page = client.get("/", headers={"Authorization": "Bearer t0ken"}).text
    assert "cdn." not in page and "https://" not in page.split("<body")[0]


# ---------------------------------------------------------------- the token's edge cases


def test_the_bearer_scheme_is_case_insensitive_and_two_authorization_headers_are_refused(
        tmp_path, seeds, fake_embedder):
    token = "t\u00f6k\u20acn-42"  # non-ASCII: sent UTF-8 encoded, as the README says
    server = ThreadServer(_app(tmp_path, seeds, fake_embedder, api_token=token))
    utf8 = token.encode("utf-8")
    try:
        def status(*values) -> int:
            return _get(server.port, "/articles/nope", [("Authorization", v) for v in values])[0]
        for value in (b"Bearer " + utf8, b"bearer " + utf8, b"BEARER " + utf8, b"Bearer   " + utf8 + b"  "):
            assert status(value) == 404, value  # past the token: no such article
        for value in (b"Bearer " + token.encode("latin-1", "replace"), b"Basic " + utf8, b"Bearerx " + utf8,
                      utf8, b"Bearer " + utf8 + b"x", b"Bearer", b""):
            assert status(value) == 401, value
        for values in ((b"Bearer " + utf8, b"Bearer wrong"), (b"Bearer wrong", b"Bearer " + utf8),
                       (b"Bearer " + utf8, b"Bearer " + utf8)):
            code, headers, body = _get(server.port, "/articles/nope", [("Authorization", v) for v in values])
            assert code == 400 and b"more than one Authorization header" in body
            assert all(name.lower() in {k.lower() for k in headers} for name in SAFETY_HEADERS)
        assert _get(server.port, "/health", [("Authorization", "Bearer a"), ("Authorization", "Bearer b")])[0] == 400
    finally:
        server.stop()
