"""Errors as pages for browsers, JSON for API clients: an old citation link to a removed article,
a cut `?start=`, a mistyped address get a page with the reason and a way back to the chat
(web/templates/error.html) when the request asks for HTML; everything else keeps FastAPI's JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException

from newsdesk.server.security import validation_error_response


@dataclass(frozen=True)
class ErrorPage:
    status: int
    title: str
    reason: str
    hint: str


def wants_page(method: str, accept: str) -> bool:
    """A browser's navigation: a GET or HEAD whose Accept takes text/html at least as gladly as
    JSON (`*/*` alone, as httpx, curl and fetch() send, keeps JSON)."""
    if method not in ("GET", "HEAD"):
        return False
    weights: dict[str, float] = {}
    for part in accept.split(","):
        kind, *params = [piece.strip() for piece in part.split(";")]
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[kind.lower()] = max(weight, weights.get(kind.lower(), 0.0))
    html = weights.get("text/html", 0.0)
    return html > 0 and html >= weights.get("application/json", 0.0)


def error_page(status: int, detail: str, path: str) -> ErrorPage:
    """What the page says for an HTTP error on path (detail: the JSON's `detail`)."""
    back = "Ask in the chat again: its answers link the articles in the index now."
    if status == 404 and path.startswith("/articles/"):
        return ErrorPage(status, "Article not found", f"{_sentence(detail)}",
                         "It may have been removed from the index since the answer that linked "
                         f"to it was given. {back}")
    if status == 404:
        return ErrorPage(status, "Page not found", "There is no page at this address.",
                         "Check the address, or go back to the chat.")
    if status in (400, 422):
        return ErrorPage(status, "This link is not right", _sentence(detail),
                         f"The link may have been cut or changed on its way here. {back}")
    if status == 503:
        return ErrorPage(status, "Not ready yet", _sentence(detail), "Try again in a moment.")
    return ErrorPage(status, "Something went wrong", _sentence(detail), "Go back to the chat and try again.")


def validation_reason(error: RequestValidationError) -> str:
    """'start: input should be a valid integer, unable to parse string as an integer'."""
    problem = (error.errors() or [{}])[0]
    where = [str(part) for part in problem.get("loc", ()) if part not in ("query", "path", "body")]
    message = str(problem.get("msg", "the request is not valid"))
    message = message[:1].lower() + message[1:]
    given = problem.get("input")
    if isinstance(given, str) and len(given) <= 40:
        message += f" (got {given!r})"
    return f"{'.'.join(where)}: {message}" if where else message


def _sentence(text: str) -> str:
    text = str(text).strip() or "no reason given"
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def install(app: FastAPI, templates: Jinja2Templates, page_context: Callable[[], dict]) -> None:
    """Serve errors as pages to browsers on app; page_context: what base.html needs (health)."""
    def page(request: Request, shown: ErrorPage, headers: dict | None = None):
        return templates.TemplateResponse(request, "error.html", {**page_context(), "error": shown},
                                          status_code=shown.status, headers=headers)

    async def http_error(request: Request, error: HTTPException):
        if wants_page(request.method, request.headers.get("accept", "")):
            return page(request, error_page(error.status_code, str(error.detail), request.url.path),
                        getattr(error, "headers", None))  # a 405's Allow, say
        return await http_exception_handler(request, error)

    async def invalid_request(request: Request, error: RequestValidationError):
        if wants_page(request.method, request.headers.get("accept", "")):
            return page(request, error_page(422, validation_reason(error), request.url.path))
        return await validation_error_response(request, error)

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
