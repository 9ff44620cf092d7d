"""The request log: one line per request with its route, status, latency and the generation
served, as text or as JSON lines for log shippers (NEWSDESK_LOG_FORMAT); no question text
unless NEWSDESK_LOG_QUESTIONS asks for it.

The line names the route's template (`/articles/{article_id}`), never the path asked for: an
article id, a typo or a scanner's probe would otherwise be a new value in every line, and the
metrics (metrics.py), which take the same record, would grow a series per path.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Callable, Iterable
from urllib.parse import parse_qs

from starlette.routing import Match, Mount

from newsdesk.server.security import MAX_BODY_BYTES

log = logging.getLogger("newsdesk.access")

UNMATCHED = "(unmatched)"  # the route of a request no route takes: one value for all of them


@dataclass(frozen=True)
class RequestRecord:
    """One request as the log line and the metrics see it."""

    method: str
    route: str  # the route's template, or UNMATCHED
    status: int
    seconds: float
    generation: str | None  # the index generation served when the request finished
    question: str | None = None  # only with NEWSDESK_LOG_QUESTIONS

    def line(self) -> str:
        text = (f"{self.method} {self.route} {self.status} {self.seconds * 1000:.1f} ms "
                f"generation={self.generation or '-'}")
        return text + (f" question={json.dumps(self.question, ensure_ascii=False)}" if self.question else "")

    def fields(self) -> dict:
        fields = {**asdict(self), "ms": round(self.seconds * 1000, 2)}
        del fields["seconds"]
        if self.question is None:
            del fields["question"]
        return fields


class RequestLog:
    """ASGI middleware: after each HTTP request, one log line and the record to each observer."""

    def __init__(self, app, generation: Callable[[], str | None], log_questions: bool = False,
                 observers: Iterable[Callable[[RequestRecord], None]] = ()):
        self.app = app
        self.generation = generation
        self.log_questions = log_questions
        self.observers = tuple(observers)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app fails before answering
        body = bytearray()

        async def receive_copying():
            message = await receive()
            if message["type"] == "http.request" and len(body) <= MAX_BODY_BYTES:
                body.extend(message.get("body", b""))
            return message

        async def send_noting_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)
        try:
            await self.app(scope, receive_copying if self.log_questions else receive, send_noting_status)
        finally:
            question = question_in(bytes(body), _header(scope, b"content-type")) if self.log_questions else None
            record = RequestRecord(scope["method"], route_of(scope), status,
                                   time.perf_counter() - started, self.generation(), question)
            log.info(record.line(), extra={"request": record.fields()})
            for observe in self.observers:
                observe(record)


def route_of(scope) -> str:
    """The template of the route that took the request (or would have: a request refused before
    routing, a 401 say, is named by the route it asked for), else UNMATCHED."""
    route = scope.get("route") or _matching(getattr(scope.get("app"), "routes", ()), scope)
    if route is None:
        return UNMATCHED
    if isinstance(route, Mount):  # /static, not /static/{path}
        return route.path or UNMATCHED
    return getattr(route, "path_format", None) or getattr(route, "path", None) or UNMATCHED


def _matching(routes, scope):
    for candidate in routes:
        if candidate.matches(scope)[0] != Match.NONE:
            inner = getattr(candidate, "original_router", None)  # an included router (FastAPI)
            return _matching(inner.routes, scope) if inner is not None else candidate
    return None


def question_in(body: bytes, content_type: str) -> str | None:
    """The question a request body asks, for NEWSDESK_LOG_QUESTIONS: /ask's `question`, the
    OpenAI route's last user message, the chat form's field, an MCP tool's question or query."""
    if not body:
        return None
    if content_type.startswith("application/x-www-form-urlencoded"):
        return (parse_qs(body.decode("utf-8", "replace")).get("question") or [None])[0]
    try:
        value = json.loads(body)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    arguments = value.get("params", {}).get("arguments", {}) if isinstance(value.get("params"), dict) else {}
    if isinstance(arguments, dict) and (arguments.get("question") or arguments.get("query")):
        return str(arguments.get("question") or arguments.get("query"))
    if isinstance(value.get("question"), str):
        return value["question"]
    users = [m for m in value.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"]
    if users and isinstance(users[-1].get("content"), str):
        return users[-1]["content"]
    return None


def _header(scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


class JSONLines(logging.Formatter):
    """Each log record as one JSON object: time, level, logger, message, and a request's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        line.update(getattr(record, "request", None) or {})
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def use_log_format(log_format: str) -> None:
    """NEWSDESK_LOG_FORMAT on the handlers logging was configured with (the root logger's):
    `json` makes each line one JSON object; `text` keeps their format."""
    if log_format == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JSONLines())
