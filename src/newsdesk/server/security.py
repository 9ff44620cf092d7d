"""Web safety around the app: the bearer token, the request size limit and the safety headers.

One ASGI layer, outside every route, so a route added later is covered without remembering to;
and the JSON every route reads is strict: no NaN or Infinity, no number beyond a float, no lone
surrogate (text that cannot be UTF-8), each refused with a 422 that says which.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import math
import re
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import SecretStr
from starlette.requests import Request

log = logging.getLogger("newsdesk.server")

MAX_BODY_BYTES = 64 * 1024

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SAFETY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "content-security-policy": CONTENT_SECURITY_POLICY,
}
_SAFETY_HEADER_BYTES = tuple((name.encode(), value.encode()) for name, value in SAFETY_HEADERS.items())
# With a token set these stay open: a load balancer's health check, the stylesheet and icons,
# and the API's description (no data in any of them).
OPEN_PATHS = ("/health", "/openapi.json")
OPEN_PREFIXES = ("/static/",)


class NotJSONText(json.JSONDecodeError):
    """A body that json.loads would take but RFC 8259 JSON text does not allow."""


_LONE_SURROGATE = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])|[\ud800-\udfff]"
                             r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}")


def strict_json(body: bytes | str) -> Any:
    """The body parsed as JSON text, refusing what Python's json module lets through: NaN,
    Infinity, numbers that overflow a float (1e400) and lone surrogates ("\\ud800")."""
    try:
        text = body.decode("utf-8", "surrogatepass") if isinstance(body, bytes) else body
    except UnicodeDecodeError as error:
        raise NotJSONText("the body is not UTF-8", "", error.start) from None

    def no_constant(name: str):
        raise NotJSONText(f"{name} is not a JSON number", text, text.find(name))

    def finite(number: str) -> float:
        value = float(number)
        if not math.isfinite(value):
            raise NotJSONText(f"{number} is beyond the range of a number", text, text.find(number))
        return value
    value = json.loads(text, parse_constant=no_constant, parse_float=finite)
    if not _all_text(value):
        found = _LONE_SURROGATE.search(text)
        raise NotJSONText("a lone surrogate (\\ud800-\\udfff) is not text", text, found.start() if found else 0)
    return value


def _all_text(value: Any) -> bool:
    """True when every string in the parsed value (keys too) encodes as UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_all_text(key) and _all_text(item) for key, item in value.items())
    if isinstance(value, list):
        return all(_all_text(item) for item in value)
    return True


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = strict_json(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """A route whose JSON body is read by strict_json (FastAPI turns its error into a 422)."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def strict_handler(request: Request):
            return await handler(StrictJSONRequest(request.scope, request.receive, request._send))
        return strict_handler


def readable(value: Any) -> Any:
    """A validation error's echoed input made encodable: non-finite numbers as their names,
    lone surrogates as backslash escapes."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {readable(key): readable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [readable(item) for item in value]
    return value


async def validation_error_response(request: Request, error: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 (detail: a list of errors), whatever the input it echoes; a body that is
    not JSON text says why in its message."""
    from fastapi.encoders import jsonable_encoder

    details = []
    for detail in error.errors():
        detail = dict(detail)
        if detail.get("type") == "json_invalid" and detail.get("ctx", {}).get("error"):
            detail["msg"] = f"JSON decode error: {detail['ctx']['error']}"
        details.append(detail)
    return JSONResponse(status_code=422, content={"detail": readable(jsonable_encoder(details))})


def token_accepted(authorization: bytes | str, token: str) -> bool:
    """True when no token is configured or the header is `Bearer <token>`: the scheme in any
    case (RFC 9110), the token exactly, compared as UTF-8 bytes (so a non-ASCII token matches
    a client that sends it UTF-8 encoded; ASCII tokens are the safe choice)."""
    if not token:
        return True
    if isinstance(authorization, str):
        authorization = authorization.encode("utf-8", "surrogateescape")
    scheme, _, credentials = authorization.strip(b" \t").partition(b" ")
    right_scheme = scheme.lower() == b"bearer"
    return hmac.compare_digest(credentials.lstrip(b" "), token.encode("utf-8")) and right_scheme


def needs_token(path: str) -> bool:
    return path not in OPEN_PATHS and not path.startswith(OPEN_PREFIXES)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# Names that always mean this machine (RFC 6761). With IP addresses, the hosts a loopback
# server answers to by default: a page on another site can make its own name resolve to
# 127.0.0.1 (DNS rebinding), but its requests then carry that name, and are refused.
LOOPBACK_NAMES = ("localhost", "*.localhost")


def served_hosts(bind_host: str, allowed: str = "") -> tuple[str, ...]:
    """The Host names answered: loopback names, the name served on and NEWSDESK_ALLOWED_HOSTS
    (comma-separated; `*.example.org` for its subdomains, `*` for any)."""
    listed = [name.strip().lower().rstrip(".") for name in allowed.split(",") if name.strip()]
    return tuple(dict.fromkeys([*LOOPBACK_NAMES, bind_host.lower().strip("[]"), *listed]))


def host_of(host_header: str) -> str:
    """The host of a Host header, without port, brackets or a final dot, lower case."""
    host = host_header.strip().lower()
    if host.count(":") > 1 and not host.startswith("["):  # an IPv6 address without brackets
        return host
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    name, _, port = host.rpartition(":")
    if name and (port.isdigit() or not port):
        host = name
    return host.rstrip(".")


def host_accepted(host_header: str, served: tuple[str, ...]) -> bool:
    """True for an IP address (DNS rebinding needs a name), or a name among the served ones.
    A request without Host (no browser sends one) is let through."""
    host = host_of(host_header)
    if not host_header or "*" in served:
        return True
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    return any(host == name or (name.startswith("*.") and host.endswith(name[1:])) for name in served)


def exposure_warning(host: str, token: SecretStr | str) -> str | None:
    """What `newsdesk serve` says when it listens beyond this machine without a token."""
    if is_loopback(host) or _secret(token).get_secret_value():
        return None
    return (f"warning: serving on {host} without NEWSDESK_API_TOKEN: anyone who can reach this "
            "address can ask questions and read the articles")


def _secret(token: SecretStr | str) -> SecretStr:
    return token if isinstance(token, SecretStr) else SecretStr(token)


class SafetyLayer:
    """ASGI middleware: Host check (a 400 for names not served), token check, 413 for bodies
    over the limit (declared or chunked), and nosniff, no-referrer and a same-origin-only
    Content-Security-Policy on every response."""

    def __init__(self, app, token: SecretStr | str = "", max_body_bytes: int = MAX_BODY_BYTES,
                 hosts: tuple[str, ...] = served_hosts("127.0.0.1")):
        self.app = app
        self.token = _secret(token)  # a SecretStr: not shown in a repr or a log line
        self.max_body_bytes = max_body_bytes
        self.hosts = hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {name.lower(): value for name, value in scope["headers"]}
        host = headers.get(b"host", b"").decode("latin-1")
        known_host = host_accepted(host, self.hosts)
        # Two Authorization headers are refused: servers and proxies disagree on which one wins.
        single = sum(name.lower() == b"authorization" for name, _ in scope["headers"]) <= 1
        token = self.token.get_secret_value()
        allowed = not token or (single and (not needs_token(scope["path"]) or token_accepted(
            headers.get(b"authorization", b""), token)))
        if scope["type"] == "websocket":
            if allowed and known_host:
                await self.app(scope, receive, send)
            else:  # closing before accepting refuses the handshake (403)
                await send({"type": "websocket.close", "code": 1008})
            return
        send = _with_safety_headers(send)
        if not known_host:
            await _refuse(send, 400, f"this server does not answer to the host {host_of(host)!r}; "
                          "add it to NEWSDESK_ALLOWED_HOSTS to serve it")
            return
        if not allowed and not single:
            await _refuse(send, 400, "more than one Authorization header")
            return
        if not allowed:
            await _refuse(send, 401, "missing or wrong bearer token",
                          {"www-authenticate": "Bearer"})
            return
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.max_body_bytes:
                await _refuse(send, 413, f"request body over {self.max_body_bytes // 1024} KB")
                return
        elif b"transfer-encoding" in headers:
            # A chunked body declares no length: read it here, up to the limit, and hand the
            # app the whole of it, so nothing downstream ever buffers more than the limit.
            body = await _read_limited(receive, self.max_body_bytes)
            if body is None:
                await _refuse(send, 413, f"request body over {self.max_body_bytes // 1024} KB")
                return
            receive = _replay(body, receive)
        started = False

        async def send_noting_start(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)
        try:
            await self.app(scope, receive, send_noting_start)
        except Exception:
            # Starlette's own 500 is sent from outside this layer, without the safety headers:
            # send it here (the server still logs the exception, raised again below).
            if not started:
                await _refuse(send, 500, "internal server error")
            raise


async def _read_limited(receive, limit: int) -> bytes | None:
    """The whole request body, or None once it passes the limit (or the client leaves)."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        if not message.get("more_body", False):
            return bytes(body)


def _replay(body: bytes, receive):
    delivered = False

    async def replay():
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}
    return replay


def _with_safety_headers(send):
    async def send_with_headers(message):
        if message["type"] == "http.response.start":
            present = {name.lower() for name, _ in message.get("headers", [])}
            extra = [(name, value) for name, value in _SAFETY_HEADER_BYTES if name not in present]
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)
    return send_with_headers


async def _refuse(send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        *[(name.encode(), value.encode()) for name, value in (headers or {}).items()]]})
    await send({"type": "http.response.body", "body": body})
