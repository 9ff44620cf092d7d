"""HTTP API and web pages: thin FastAPI routes over the Newsdesk library object."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import unquote

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi import Query as InQuery  # a URL query parameter; Query is newsdesk's question
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field, ValidationError
from starlette.convertors import PathConvertor, register_url_convertor

from newsdesk.answers.extractive import Answer
from newsdesk.index.errors import IndexError_
from newsdesk.query import MAX_HISTORY_TURNS, MAX_QUESTION_CHARS, Query, Turn, first_problem
from newsdesk.server import error_pages, markdown, mcp_server, pages
from newsdesk.server.access_log import RequestLog
from newsdesk.server.ingest_routes import UpdatesOut, ingest_router
from newsdesk.server.metrics import ServerMetrics
from newsdesk.server.openai_routes import openai_router
from newsdesk.server.security import SafetyLayer, StrictJSONRoute, served_hosts, validation_error_response
from newsdesk.service import Newsdesk
from newsdesk.settings import Settings

# web/ stays at the top of the checkout (the layout the user asked for); a wheel carries it as
# newsdesk/web (pyproject's force-include), so an installed `newsdesk serve` finds it there.
_PACKAGED_WEB = Path(__file__).resolve().parents[1] / "web"
WEB_ROOT = _PACKAGED_WEB if _PACKAGED_WEB.is_dir() else Path(__file__).resolve().parents[3] / "web"


class ArticleOut(BaseModel):
    id: str
    title: str
    text: str
    url: str | None
    published: str | None


class HealthOut(BaseModel):
    status: str = Field(description='"ok"; "degraded": answering from `generation`, but see '
                        '`problem`; "no index"')
    articles: int
    passages: int
    model: str
    built_at: str | None
    generation: str | None = Field(description="the generation actually served")
    problem: str | None = Field(None, description="why the generation CURRENT names is not "
                                "served, or that the last build failed")
    last_build_failed_at: str | None = None
    last_build_error: str | None = None
    updates: UpdatesOut | None = Field(None, description="keeping the index current: the watcher, "
                                       "what is pending, the last build, what failed and why")


class SourceOut(BaseModel):
    source: str = Field(description="the outlet's domain (its articles' URL host without www.)")
    articles: int


class SourcesOut(BaseModel):
    sources: list[SourceOut] = Field(description="most articles first; any of these, or an "
                                     "outlet's name, goes in /ask's `sources`")
    without_source: int = Field(description="articles without a URL: no `sources` filter keeps them")


def create_app(settings: Settings, desk: Newsdesk | None = None, watch: bool = True) -> FastAPI:
    desk = desk or Newsdesk(settings)
    if watch:
        desk.watch()
    # No /docs or /redoc: Swagger UI and ReDoc load their scripts from a CDN (unreachable offline,
    # and refused by the Content-Security-Policy); /openapi.json describes the API.
    app = FastAPI(title="newsdesk", version="0.1.0", docs_url=None, redoc_url=None,
                  description="Questions over a folder of news articles, answered with cited passages.")
    app.state.desk = desk
    app.router.route_class = StrictJSONRoute  # NaN, 1e400 and lone surrogates get a 422 (security.py)
    app.add_exception_handler(RequestValidationError, validation_error_response)
    templates = Jinja2Templates(directory=str(WEB_ROOT / "templates"))  # autoescapes .html
    templates.env.globals.update(
        answer_parts=pages.answer_parts, passage_pieces=pages.passage_pieces,
        source_groups=pages.source_groups, article_link=pages.article_link, card_link=pages.card_link,
        published_label=pages.published_label, domain_of=pages.domain_of, count_label=pages.count_label,
        # the page's own limits are the query's (query.py), handed to chat.js through data-*
        max_question_chars=MAX_QUESTION_CHARS, max_history_turns=MAX_HISTORY_TURNS)
    # A browser's GET that fails (a removed article, a cut ?start=) gets a page; API clients JSON.
    error_pages.install(app, templates, lambda: {"health": desk.health()})
    app.mount("/static", StaticFiles(directory=str(WEB_ROOT / "static")), name="static")

    # Token, 413 and safety headers for every route, including ones added later (security.py).
    app.add_middleware(SafetyLayer, token=settings.api_token,
                       hosts=served_hosts(settings.host, settings.allowed_hosts))
    # Outside the safety layer, so refused requests (401, 413) are logged and counted too.
    metrics = ServerMetrics(desk)
    app.add_middleware(RequestLog, generation=lambda: desk.generation_name,
                       log_questions=settings.log_questions, observers=[metrics.observe])
    app.include_router(metrics.router())  # /metrics: behind the token like the rest
    mcp_server.mount(app, desk, settings.public_url)  # /mcp, the streamable-HTTP transport

    @app.post("/ask", response_model=Answer,
              responses={200: {"content": {"text/markdown": {}},
                               "description": "The answer (JSON), or as Markdown with its sources as "
                               "links for `Accept: text/markdown` or `?format=markdown`"}})
    def ask(query: Query, request: Request,
            format: Annotated[Literal["json", "markdown"] | None, InQuery(
                description="`markdown`: the answer as Markdown; unset: by the Accept header")] = None):
        answer = _answer(desk, query)
        if markdown.wants_markdown(format, request.headers.get("accept")):
            return Response(markdown.answer_markdown(answer, settings.public_url or str(request.base_url)),
                            media_type=markdown.MEDIA_TYPE)
        return answer

    @app.post("/ask/stream", response_class=StreamingResponse,
              responses={200: {"content": {"text/event-stream": {}}}})
    def ask_stream(query: Query) -> StreamingResponse:
        """Server-sent events: `citations` first, then `answer` pieces, then `done` with timing."""
        try:
            events = desk.ask_stream(query)
        except IndexError_ as error:
            raise HTTPException(503, str(error)) from None
        return StreamingResponse((event.sse() for event in events), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    app.include_router(openai_router(desk, settings.public_url))
    ingest = ingest_router(desk, settings)  # POST/DELETE /articles; the watcher with --watch
    app.include_router(ingest)
    app.state.keeping = ingest.keeping

    @app.get("/health", response_model=HealthOut)
    def health() -> HealthOut:
        return HealthOut(**desk.health().__dict__, updates=ingest.keeping.updates())

    @app.get("/sources", response_model=SourcesOut)
    def sources() -> SourcesOut:
        """The outlets of the served articles with their article counts."""
        outlets, without = desk.sources()
        return SourcesOut(sources=[SourceOut(source=o.source, articles=o.articles) for o in outlets],
                          without_source=without)

    @app.get("/status", response_class=HTMLResponse)
    def status_page(request: Request):
        """The generation served, what is pending, the last build, what failed and why."""
        return templates.TemplateResponse(request, "status.html", {
            "health": desk.health(), "updates": ingest.keeping.updates()})

    @app.get("/", response_class=HTMLResponse)
    def chat_page(request: Request):
        return templates.TemplateResponse(request, "chat.html",
                                          chat_context(as_of=date.today(), as_of_default=True))

    def chat_context(as_of: date | None = None, earlier: list[Turn] | None = None, **extra) -> dict:
        generation = desk.generation
        latest = pages.latest_articles(generation.articles.cards()) if generation else []
        earlier = earlier or []
        return {"health": desk.health(), "latest": latest, "result": None, "question": "", "draft": "",
                "error": None, "notice": None, "as_of_default": False,
                "as_of_value": as_of.isoformat() if as_of else "", "any_time": as_of is None,
                "earlier": pages.exchanges(earlier), "carried": pages.history_fields(earlier), **extra}

    # The page without JavaScript: a plain form post gets the whole conversation back, its earlier
    # turns carried in hidden fields. A blank question, a bad day or unreadable history fields get
    # the page back with the error and the question still in the box (HTML, 422); a form FastAPI
    # cannot parse at all gets its JSON 422.
    @app.post("/", response_class=HTMLResponse,
              responses={422: {"description": "Blank question, bad as_of or unreadable history (the page, "
                                              "with the error) or a malformed form",
                               "content": {"text/html": {}, "application/json": {
                                   "schema": {"$ref": "#/components/schemas/HTTPValidationError"}}}}})
    def chat_form(
        request: Request,
        question: Annotated[str, Form(description="the question; over the limit or blank: the "
                                      "page, with the error")] = "",
        # A list because FastAPI reads an empty form value as absent, and here they differ:
        # absent is today (the server's date), empty is any time.
        as_of: Annotated[list[str], Form(description="YYYY-MM-DD: prefer articles published in the "
                                          "days up to it; empty: any time; absent: today")] = [],
        any_time: Annotated[bool, Form(description="the 'Any time' box: no as_of")] = False,
        history_role: Annotated[list[str], Form(description="'user' or 'assistant' of each earlier "
                                                "turn, alternating from 'user'")] = [],
        history_content: Annotated[list[str], Form(description="the text of each earlier turn")] = [],
    ):
        question, today = question.strip(), date.today()

        def page(status: int = 200, **context):
            return templates.TemplateResponse(request, "chat.html", chat_context(**context), status_code=status)

        problem = None
        try:
            day = pages.form_as_of(as_of, any_time, today)
        except pages.FormProblem as bad_day:
            problem, day = bad_day, today
        try:
            earlier = pages.form_history(history_role, history_content)
        except pages.FormProblem as bad_history:
            problem, earlier = bad_history, []
        if problem is not None:
            return page(422, error=str(problem), draft=question, earlier=earlier, as_of=day)
        if not question:
            return page(422, error="Please type a question.", earlier=earlier, as_of=day)
        try:
            result = _answer(desk, Query(question=question, as_of=day, history=earlier))
        except ValidationError as refused:  # the query's own rules (query.py): too long, say
            return page(422, error=_readable(refused), draft=question, earlier=earlier, as_of=day)
        except HTTPException as refused:
            return page(refused.status_code, error=refused.detail, draft=question, earlier=earlier, as_of=day)
        carried, dropped = pages.carried_history(earlier, question, result)
        notice = (f"Older questions are no longer shown: the page keeps the last {len(carried) // 2}."
                  if dropped else None)
        return page(result=result, question=question, as_of=day, notice=notice,
                    earlier=carried[:-2], carried=pages.history_fields(carried))

    # Ids may hold slashes (2020/03/16/story). Links encode them (%2F), but the server decodes
    # the path before routing, so these routes take the rest of it and read the id from the raw
    # path (requested_article). The view route comes first: the other would take /view too.
    @app.get("/articles/{article_id:article_path}/view", response_class=HTMLResponse,
             description="The article as a page. An id with slashes is sent encoded (%2F) or as is.")
    def article_page(request: Request, article_id: str,
                     start: Annotated[int | None, InQuery(ge=0, description="cited passage start")] = None,
                     end: Annotated[int | None, InQuery(ge=0, description="cited passage end")] = None,
                     sentence_start: Annotated[int | None, InQuery(ge=0, description="quoted sentence start")] = None,
                     sentence_end: Annotated[int | None, InQuery(ge=0, description="quoted sentence end")] = None):
        article_id, wants_view = requested_article(request, article_id)
        if not wants_view:  # /articles/a%2Fview: the JSON of the article whose id is a/view
            return JSONResponse(article(request, article_id).model_dump())
        found = desk.article(article_id)
        if found is None:
            raise HTTPException(404, f"no article with id {article_id!r}")
        view = pages.article_view(found, (start, end), (sentence_start, sentence_end))
        return templates.TemplateResponse(request, "article.html", {"view": view, "health": desk.health()})

    @app.get("/articles/{article_id:article_path}", response_model=ArticleOut,
             description="The article. An id with slashes is sent encoded (%2F) or as is.")
    def article(request: Request, article_id: str) -> ArticleOut:
        article_id, _ = requested_article(request, article_id)
        found = desk.article(article_id)
        if found is None:
            raise HTTPException(404, f"no article with id {article_id!r}")
        return ArticleOut(id=found.id, title=found.title, text=found.text, url=found.url,
                          published=found.published)

    return app


class ArticlePath(PathConvertor):
    """The rest of the path, newlines included (ids may hold any character)."""

    regex = "(?s:.+)"


register_url_convertor("article_path", ArticlePath())


def requested_article(request: Request, decoded_id: str) -> tuple[str, bool]:
    """(the article id, whether its page is asked for) as the client wrote the path: an id sent
    as one encoded segment (slashes as %2F, as the pages link it) is taken whole, even one that
    ends in /view; an id sent with bare slashes is what the route matched."""
    raw = (request.scope.get("raw_path") or b"").decode("latin-1")
    rest = raw[len(request.scope.get("root_path", "")):].removeprefix("/articles/")
    wants_view = rest.endswith("/view") or (not raw and request.url.path.endswith("/view"))
    segment = rest.removesuffix("/view") if wants_view else rest
    if raw and segment and "/" not in segment:
        return unquote(segment), wants_view
    return decoded_id, wants_view


def _answer(desk: Newsdesk, query: Query) -> Answer:
    try:
        return desk.ask(query)
    except IndexError_ as error:
        raise HTTPException(503, str(error)) from None


def _readable(error: ValidationError) -> str:
    """The first problem for the page: 'The question: string should have at most 2000 characters.'"""
    where, message = first_problem(error)
    return f"The {where or 'query'}: {message}."
