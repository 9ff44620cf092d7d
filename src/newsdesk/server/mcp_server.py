"""newsdesk for AI assistants, over the Model Context Protocol (the official `mcp` SDK): the tools
`search_articles`, `ask` and `get_article`, and the articles as resources
(`newsdesk://articles/{id}`). `newsdesk mcp` speaks it on stdio; `newsdesk serve` at /mcp
(streamable HTTP, behind the same token as the rest).

Each tool is one call of the Newsdesk library; its result is typed, so the SDK sends it as
structured content too (the citations with their ids, offsets and links, for exact quotes).
`search_articles` and `ask` take the query's filters (published_after, published_before, sources).
"""

from __future__ import annotations

import contextlib
from datetime import date
from typing import AsyncIterator
from urllib.parse import quote, unquote

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.server.mcpserver.resources.templates import ResourceSecurity
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import Resource
from pydantic import BaseModel, Field, ValidationError
from starlette.responses import JSONResponse
from starlette.routing import Route

from newsdesk.index.errors import IndexError_
from newsdesk.query import DEFAULT_K, MAX_K, Query, Turn, first_problem
from newsdesk.server.citations import LinkedCitation, linked
from newsdesk.server.links import article_view_link, web_url
from newsdesk.service import Newsdesk

RESOURCE_PREFIX = "newsdesk://articles/"
INSTRUCTIONS = ("Answers questions from a folder of news articles, with citations. Use `ask` for a "
                "cited answer (it says when the articles do not cover a question), `search_articles` "
                "for the passages themselves, `get_article` for an article's whole text.")


class Found(BaseModel):
    """The passages that best match a query, best first."""

    passages: list[LinkedCitation]
    generation: str | None = Field(description="the index generation searched")


class Answered(BaseModel):
    """A cited answer: each [n] in `answer` is the citation numbered n."""

    answer: str
    abstained: bool = Field(description="true when the articles do not cover the question")
    confidence: float = Field(description="0..1: that the cited articles answer the question")
    citations: list[LinkedCitation]
    note: str | None = None
    generation: str | None = None


class ArticleText(BaseModel):
    id: str
    title: str
    text: str
    published: str | None
    url: str | None = Field(description="the article's own address, when it has one")
    link: str = Field(description="the article's own address, else this server's page for it")
    resource: str = Field(description="the article as an MCP resource")


class NewsdeskMCP(MCPServer):
    """An MCPServer whose resource list is the articles of the generation served."""

    def __init__(self, desk: Newsdesk, public_url: str = ""):
        super().__init__("newsdesk", instructions=INSTRUCTIONS, version="0.1.0",
                         # article ids are not file paths: `..` or a leading `/` is just an id
                         resource_security=ResourceSecurity(reject_path_traversal=False,
                                                            reject_absolute_paths=False))
        self.desk = desk
        self.public_url = public_url

    async def list_resources(self) -> list[Resource]:
        generation = self.desk.generation
        articles = generation.articles.cards() if generation else ()
        return [Resource(uri=article_uri(article.id), name=article.id, title=article.title or article.id,
                         description=article.published or None, mime_type="text/plain")
                for article in articles]


def article_uri(article_id: str) -> str:
    return RESOURCE_PREFIX + quote(article_id, safe="")


# The query's filters as tool arguments (query.py checks them, as for /ask).
AFTER = Field(None, description="only articles published on or after this day (YYYY-MM-DD)")
BEFORE = Field(None, description="only articles published on or before this day (YYYY-MM-DD)")
SOURCES = Field(default_factory=list, description="only articles from these outlets: domains "
                "(bbc.co.uk takes its subdomains too) or names (\"USA Today\")")


def mcp_server(desk: Newsdesk, public_url: str = "") -> NewsdeskMCP:
    """The MCP server over desk; links to articles without a URL of their own are made absolute
    with public_url (NEWSDESK_PUBLIC_URL) when it is set."""
    server = NewsdeskMCP(desk, public_url)

    @server.tool(description="Search the news articles: the passages that best match the query, "
                 "best first, each with its article id, character offsets, title, date and link. "
                 "No answer is composed; use `ask` for one.")
    def search_articles(query: str, k: int = Field(DEFAULT_K, ge=1, le=MAX_K,
                                                   description="how many passages"),
                        published_after: date | None = AFTER, published_before: date | None = BEFORE,
                        sources: list[str] = SOURCES) -> Found:
        passages = _library(lambda: desk.search(Query(
            question=query, k=k, published_after=published_after, published_before=published_before,
            sources=sources)))
        return Found(passages=linked(passages, public_url), generation=desk.generation_name)

    @server.tool(description="Ask a question of the news articles: a short answer whose [n] markers "
                 "cite the passages in `citations`, or abstained=true when the articles do not cover it.")
    def ask(question: str,
            history: list[Turn] = Field(default_factory=list, description="earlier turns, oldest "
                                        "first, for a follow-up question"),
            as_of: date | None = Field(None, description="prefer articles published in the days up "
                                       "to this date (YYYY-MM-DD)"),
            k: int = Field(DEFAULT_K, ge=1, le=MAX_K, description="how many passages to cite"),
            published_after: date | None = AFTER, published_before: date | None = BEFORE,
            sources: list[str] = SOURCES) -> Answered:
        answer = _library(lambda: desk.ask(Query(
            question=question, history=history, as_of=as_of, k=k, published_after=published_after,
            published_before=published_before, sources=sources)))
        return Answered(answer=answer.answer, abstained=answer.abstained, confidence=answer.confidence,
                        citations=linked(answer.citations, public_url), note=answer.note,
                        generation=answer.generation)

    @server.tool(description="An article's whole text, with its title, date and link, by its id "
                 "(a citation's `article_id`).")
    def get_article(id: str) -> ArticleText:
        article = desk.article(id)
        if article is None:
            raise ToolError(f"no article with id {id!r}")
        return _article_text(article, public_url)

    @server.resource(RESOURCE_PREFIX + "{article_id}", name="article", mime_type="text/plain",
                     description="A news article: its title, date and link, then its text")
    def article_resource(article_id: str) -> str:
        article = desk.article(unquote(article_id))
        if article is None:
            raise ResourceError(f"no article with id {unquote(article_id)!r}")
        shown = _article_text(article, public_url)
        head = [shown.title, shown.published or "", shown.link]
        return "\n".join(line for line in head if line) + "\n\n" + shown.text

    return server


def _article_text(article, public_url: str) -> ArticleText:
    return ArticleText(id=article.id, title=article.title, text=article.text, published=article.published,
                       url=article.url, link=web_url(article.url) or article_view_link(article.id, base_url=public_url),
                       resource=article_uri(article.id))


def _library(call):
    """The library's answer; its refusals as the tool's error, in one line."""
    try:
        return call()
    except ValidationError as error:
        where, message = first_problem(error)
        raise ToolError(f"{where or 'query'}: {message}") from None
    except IndexError_ as error:
        raise ToolError(str(error)) from None


def mount(app, desk: Newsdesk, public_url: str = "", path: str = "/mcp") -> None:
    """The streamable-HTTP transport at path on a FastAPI app, its session manager run by the
    app's lifespan (chained before whatever lifespan the app has)."""
    transport = _HTTPTransport(mcp_server(desk, public_url), path)
    app.router.routes.append(Route(path, endpoint=transport, include_in_schema=False))
    outer = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(served):
        async with transport.running(), outer(served) as state:
            yield state
    app.router.lifespan_context = lifespan


class _HTTPTransport:
    """The ASGI endpoint at /mcp: the SDK's session manager of the lifespan now running (the SDK
    runs one only once, and a test process starts an app's lifespan more than once)."""

    def __init__(self, server: NewsdeskMCP, path: str):
        self.server = server
        self.path = path
        self.handler = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        # Stateless, JSON replies: each request stands alone, so any replica can answer it.
        # The app's own layer checks the Host and the token (security.py); the SDK's own
        # DNS-rebinding check would refuse the names NEWSDESK_ALLOWED_HOSTS lets in.
        self.server.streamable_http_app(  # a fresh session manager, in server.session_manager
            streamable_http_path=self.path, stateless_http=True, json_response=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
        async with self.server.session_manager.run():
            self.handler = self.server.session_manager.handle_request
            try:
                yield
            finally:
                self.handler = None

    async def __call__(self, scope, receive, send) -> None:
        if self.handler is None:  # served without its lifespan (uvicorn --lifespan off)
            await JSONResponse({"detail": "MCP is not running: the server started without its "
                                "lifespan"}, status_code=503)(scope, receive, send)
            return
        await self.handler(scope, receive, send)
