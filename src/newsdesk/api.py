"""HTTP API and web pages: thin FastAPI routes over the Newsdesk library object."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field, field_validator

from .answers import Answer
from .config import Settings
from .conversation import MAX_HISTORY_TURNS, Turn
from . import pages
from .index import IndexError_
from .openai_api import openai_router
from .security import SafetyLayer
from .service import Newsdesk

MAX_QUESTION_CHARS = 2000
WEB_ROOT = Path(__file__).resolve().parents[2] / "web"


class AskRequest(BaseModel):
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS,
                          description="The question, 1 to 2,000 characters")
    k: int = Field(5, ge=1, le=50, description="How many passages to cite")
    as_of: date | None = Field(None, description="Prefer articles published in the days up to this "
                               "date (YYYY-MM-DD), for questions about 'this week'")
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
    templates.env.globals.update(
        answer_parts=pages.answer_parts, passage_pieces=pages.passage_pieces,
        source_groups=pages.source_groups, article_link=pages.article_link, card_link=pages.card_link,
        published_label=pages.published_label, domain_of=pages.domain_of, count_label=pages.count_label)
    app.mount("/static", StaticFiles(directory=str(WEB_ROOT / "static")), name="static")

    # Token, 413 and safety headers for every route, including ones added later (security.py).
    app.add_middleware(SafetyLayer, token=settings.api_token)

    @app.post("/ask", response_model=Answer)
    def ask(request: AskRequest) -> Answer:
        return _answer(desk, request.question, request.k, request.as_of, request.history)

    @app.post("/ask/stream", response_class=StreamingResponse,
              responses={200: {"content": {"text/event-stream": {}}}})
    def ask_stream(request: AskRequest) -> StreamingResponse:
        """Server-sent events: `citations` first, then `answer` pieces, then `done` with timing."""
        try:
            events = desk.ask_stream(request.question, request.k, request.as_of, request.history)
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

    @app.get("/", response_class=HTMLResponse)
    def chat_page(request: Request):
        return templates.TemplateResponse(request, "chat.html", chat_context())

    def chat_context(**extra) -> dict:
        generation = desk.generation
        latest = pages.latest_articles(generation.articles.values()) if generation else []
        return {"health": desk.health(), "latest": latest, "result": None, **extra}

    # A blank question gets the page back with the error (HTML); a malformed form, FastAPI's JSON.
    @app.post("/", response_class=HTMLResponse,
              responses={422: {"description": "Blank question (the page, with the error) or a malformed form",
                               "content": {"text/html": {}, "application/json": {
                                   "schema": {"$ref": "#/components/schemas/HTTPValidationError"}}}}})
    def chat_form(request: Request, question: Annotated[str, Form(max_length=MAX_QUESTION_CHARS)] = ""):
        # The page without JavaScript: a plain form post gets a whole answer page back.
        result, error, status = None, None, 200
        if question.strip():
            try:
                result = _answer(desk, question.strip(), 5)
            except HTTPException as refused:
                error, status = refused.detail, refused.status_code
        else:
            error, status = "Please type a question.", 422
        return templates.TemplateResponse(
            request, "chat.html", chat_context(result=result, question=question.strip(), error=error),
            status_code=status)

    @app.get("/articles/{article_id}/view", response_class=HTMLResponse)
    def article_page(request: Request, article_id: str,
                     start: Annotated[int | None, Query(ge=0, description="cited passage start")] = None,
                     end: Annotated[int | None, Query(ge=0, description="cited passage end")] = None,
                     sentence_start: Annotated[int | None, Query(ge=0, description="quoted sentence start")] = None,
                     sentence_end: Annotated[int | None, Query(ge=0, description="quoted sentence end")] = None):
        found = desk.article(article_id)
        if found is None:
            raise HTTPException(404, f"no article with id {article_id!r}")
        view = pages.article_view(found, (start, end), (sentence_start, sentence_end))
        return templates.TemplateResponse(request, "article.html", {"view": view, "health": desk.health()})

    return app


def _answer(desk: Newsdesk, question: str, k: int, as_of: date | None = None,
            history: list[Turn] | None = None) -> Answer:
    try:
        return desk.ask(question, k, as_of=as_of, history=history)
    except IndexError_ as error:
        raise HTTPException(503, str(error)) from None
