"""Web safety around the app: the bearer token, the request size limit and the safety headers.

One ASGI layer, outside every route, so a route added later is covered without remembering to.
"""

from __future__ import annotations

import hmac
import ipaddress
import json

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
# With a token set these stay open: a load balancer's health check, the stylesheet and icons,
# and the API's description (no data in any of them).
OPEN_PATHS = ("/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")
OPEN_PREFIXES = ("/static/",)


def token_accepted(authorization: str, token: str) -> bool:
    """True when no token is configured or the header is exactly `Bearer <token>`."""
    if not token:
        return True
    return hmac.compare_digest(authorization.encode("utf-8", "replace"), f"Bearer {token}".encode())


def needs_token(path: str) -> bool:
    return path not in OPEN_PATHS and not path.startswith(OPEN_PREFIXES)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, token: str) -> str | None:
    """What `newsdesk serve` says when it listens beyond this machine without a token."""
    if is_loopback(host) or token:
        return None
    return (f"warning: serving on {host} without NEWSDESK_API_TOKEN: anyone who can reach this "
            "address can ask questions and read the articles")


class SafetyLayer:
    """ASGI middleware: token check, 413 for bodies over the limit (declared or chunked), and
    nosniff, no-referrer and a same-origin-only Content-Security-Policy on every response."""

    def __init__(self, app, token: str = "", max_body_bytes: int = MAX_BODY_BYTES):
        self.app = app
        self.token = token
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {name.lower(): value for name, value in scope["headers"]}
        allowed = not self.token or not needs_token(scope["path"]) or token_accepted(
            headers.get(b"authorization", b"").decode("latin-1"), self.token)
        if scope["type"] == "websocket":
            if allowed:
                await self.app(scope, receive, send)
            else:  # closing before accepting refuses the handshake (403)
                await send({"type": "websocket.close", "code": 1008})
            return
        send = _with_safety_headers(send)
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
        await self.app(scope, receive, send)


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
            extra = [(name.encode(), value.encode()) for name, value in SAFETY_HEADERS.items()
                     if name.encode() not in present]
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)
    return send_with_headers


async def _refuse(send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        *[(name.encode(), value.encode()) for name, value in (headers or {}).items()]]})
    await send({"type": "http.response.body", "body": body})
