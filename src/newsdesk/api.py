"""HTTP API and web pages: thin FastAPI routes over the Newsdesk library object."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field, field_validator

from .answers import Answer
from .config import Settings
from .conversation import MAX_HISTORY_TURNS, Turn
from .index import IndexError_
from .openai_api import openai_router
from .security import SafetyLayer, token_accepted
from .service import Newsdesk

MAX_QUESTION_CHARS = 2000
WEB_ROOT = Path(__file__).resolve().parents[2] / "web"


class AskRequest(BaseModel):
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS,
                          description="The question, 1 to 2,000 characters")
    k: int = Field(5, ge=1, le=50, description="How many passages to cite")
    history: list[Turn] = Field(default_factory=list, max_length=MAX_HISTORY_TURNS,
                                description="The earlier turns, oldest first (at most "
                                f"{MAX_HISTORY_TURNS}), so a follow-up like 'Who wants to change it?' "
                                "is understood")

    @field_validator("question")
    @classmethod
    def question_has_words(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question must not be blank")
        return value.strip()


class ArticleOut(BaseModel):
    id: str
    title: str
    text: str
    url: str | None
    published: str | None


class HealthOut(BaseModel):
    status: str
    articles: int
    passages: int
    model: str
    built_at: str | None
    generation: str | None


def create_app(settings: Settings, desk: Newsdesk | None = None, watch: bool = True) -> FastAPI:
    desk = desk or Newsdesk(settings)
    if watch:
        desk.watch()
    app = FastAPI(title="newsdesk", version="0.1.0",
                  description="Questions over a folder of news articles, answered with cited passages.")
    app.state.desk = desk
    templates = Jinja2Templates(directory=str(WEB_ROOT / "templates"))  # autoescapes .html
    app.mount("/static", StaticFiles(directory=str(WEB_ROOT / "static")), name="static")
    require_token = _token_check(settings.api_token)

    # Token, 413 and safety headers for every route, including ones added later (security.py).
    app.add_middleware(SafetyLayer, token=settings.api_token)

    @app.post("/ask", response_model=Answer, dependencies=[Depends(require_token)])
    def ask(request: AskRequest) -> Answer:
        return _answer(desk, request.question, request.k, request.history)

    @app.post("/ask/stream", dependencies=[Depends(require_token)],
              response_class=StreamingResponse, responses={200: {"content": {"text/event-stream": {}}}})
    def ask_stream(request: AskRequest) -> StreamingResponse:
        """Server-sent events: `citations` first, then `answer` pieces, then `done` with timing."""
        try:
            events = desk.ask_stream(request.question, request.k, history=request.history)
        except IndexError_ as error:
            raise HTTPException(503, str(error)) from None
        return StreamingResponse((event.sse() for event in events), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    app.include_router(openai_router(desk))

    @app.get("/articles/{article_id}", response_model=ArticleOut)
    def article(article_id: str) -> ArticleOut:
        found = desk.article(article_id)
        if found is None:
            raise HTTPException(404, f"no article with id {article_id!r}")
        return ArticleOut(id=found.id, title=found.title, text=found.text, url=found.url,
                          published=found.published)

    @app.get("/health", response_model=HealthOut)
    def health() -> HealthOut:
        return HealthOut(**desk.health().__dict__)

    @app.get("/", response_class=HTMLResponse, dependencies=[Depends(require_token)])
    def chat_page(request: Request):
        return templates.TemplateResponse(request, "chat.html", {"health": desk.health(), "result": None})

    # A blank question gets the page back with the error (HTML); a malformed form, FastAPI's JSON.
    @app.post("/", response_class=HTMLResponse, dependencies=[Depends(require_token)],
              responses={422: {"description": "Blank question (the page, with the error) or a malformed form",
                               "content": {"text/html": {}, "application/json": {
                                   "schema": {"$ref": "#/components/schemas/HTTPValidationError"}}}}})
    def chat_form(request: Request, question: Annotated[str, Form(max_length=MAX_QUESTION_CHARS)] = ""):
        # The page without JavaScript: a plain form post gets a whole answer page back.
        result, error = None, None
        if question.strip():
            result = _answer(desk, question.strip(), 5)
        else:
            error = "Please type a question."
        return templates.TemplateResponse(request, "chat.html", {
            "health": desk.health(), "result": result, "question": question, "error": error})

    @app.get("/articles/{article_id}/view", response_class=HTMLResponse)
    def article_page(request: Request, article_id: str, start: int | None = None, end: int | None = None):
        found = desk.article(article_id)
        if found is None:
            raise HTTPException(404, f"no article with id {article_id!r}")
        return templates.TemplateResponse(request, "article.html", {
            "article": found, "blocks": article_blocks(found, start, end), "health": desk.health()})

    return app


def _answer(desk: Newsdesk, question: str, k: int, history: list[Turn] | None = None) -> Answer:
    try:
        return desk.ask(question, k, history=history)
    except IndexError_ as error:
        raise HTTPException(503, str(error)) from None


def _token_check(token: str):
    def check(request: Request) -> None:
        if not token:
            return
        if not token_accepted(request.headers.get("authorization", ""), token):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})
    return check


def article_blocks(article, start: int | None, end: int | None) -> list[dict]:
    """The article as blocks of (kind, pieces), each piece marked when inside the cited span."""
    from .articles import _blocks

    blocks = []
    for block_start, block_end in _blocks(article.text):
        kind = "header" if block_start < article.body_start else "paragraph"
        if start is not None and end is not None and start < block_end and block_start < end:
            cut_start, cut_end = max(start, block_start), min(end, block_end)
            pieces = [(article.text[block_start:cut_start], False),
                      (article.text[cut_start:cut_end], True),
                      (article.text[cut_end:block_end], False)]
        else:
            pieces = [(article.text[block_start:block_end], False)]
        blocks.append({"kind": kind, "start": block_start,
                       "pieces": [(text, marked) for text, marked in pieces if text]})
    return blocks
