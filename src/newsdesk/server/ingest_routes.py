"""The ingest API (POST /articles, DELETE /articles/{id}) and what /health and /status say about
keeping the index current: thin routes over ingest/ (the inbox, the watcher, the feeds)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from newsdesk.articles import Article
from newsdesk.ingest.feeds import Feeds
from newsdesk.ingest.inbox import Inbox, Refused
from newsdesk.ingest.saved import INBOX, NoSeedsFolder
from newsdesk.ingest.watch import SeedsWatcher
from newsdesk.server.security import is_loopback, strict_json
from newsdesk.service import Newsdesk
from newsdesk.settings import Settings

WAIT_LONGEST = 120.0  # seconds ?wait=true holds the request before answering 202 anyway
WAIT_STEP = 0.1
JSONL_TYPES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines")


class IngestOut(BaseModel):
    articles: list[str] = Field(description="the ids accepted (POST) or removed (DELETE)")
    served: bool = Field(description="whether the generation served already reflects them")
    generation: str | None = Field(description="the generation served when the reply was sent")
    answerable: str = Field(description="when the change will be answerable, in words")
    expected_seconds: float | None = Field(
        None, description="about how many seconds until then (None: not watching, or already served)")


class Refusal(BaseModel):
    detail: str | list[Any]


class FailureOut(BaseModel):
    input: str
    reason: str


class LastBuildOut(BaseModel):
    finished_at: str
    seconds: float
    summary: str
    generation: str | None
    failed: bool


class UpdatesOut(BaseModel):
    """Keeping the index current, for /health and the status page."""

    watching: bool = Field(description="whether this server watches the seeds (`serve --watch`)")
    state: str = Field(description='"idle", "settling", "building", "waiting for the lock", "not watching"')
    pending: list[str] = Field(description="changed inputs no build has read yet (the first 20)")
    pending_count: int
    builds: int = Field(description="builds the watcher ran since the server started")
    last_build: LastBuildOut | None
    failed_inputs: list[FailureOut] = Field(description="files and lines the last build skipped, with why")
    failed_feeds: list[FailureOut] = Field(description="feeds and pages the last poll could not read, with why")
    feeds: list[str]


class ArticleIn(BaseModel):
    """An article in the JSONL corpus format (other corpora's field names are read too)."""

    doc_id: str = Field(description="the article's id (or `id`)")
    title: str = Field("", description="or `headline`")
    text: str = Field(description="the body (or `body`, `content`)")
    url: str | None = Field(None, description="or `link`")
    publish_date: str | None = Field(None, description="YYYY-MM-DD (or `published`, `published_at`, `date`)")


_ARTICLE = ArticleIn.model_json_schema()
_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "oneOf": [_ARTICLE, {"type": "array", "items": _ARTICLE}]}}},
    "description": "one article, a JSON array of them, or JSONL (one a line; Content-Type "
                   "application/x-ndjson), in the JSONL corpus format"}}


class Keeping:
    """The inbox, the watcher (with `--watch`) and the served generation, for the routes."""

    def __init__(self, desk: Newsdesk, settings: Settings):
        self.desk = desk
        self.settings = settings
        self.watcher: SeedsWatcher | None = None
        self._inbox: Inbox | None = None
        if (Path(settings.seeds[0]) / INBOX).is_dir():
            self.inbox()  # now, not at the first post: a crash's leftovers are removed at start
        if settings.watch:
            feeds = Feeds.of(settings) if settings.feeds else None
            self.watcher = SeedsWatcher(settings, desk.embedder, desk.refresh, feeds).start()

    def inbox(self) -> Inbox:
        if self._inbox is None:  # made on first use: a server never posted to writes nothing
            try:
                self._inbox = Inbox(self.settings)
            except (NoSeedsFolder, OSError) as error:
                raise HTTPException(503, f"articles cannot be accepted: {error}") from None
        return self._inbox

    def refuse_if_exposed(self) -> None:
        if not is_loopback(self.settings.host) and not self.settings.api_token.get_secret_value():
            raise HTTPException(403, f"the ingest API is off on a server bound to {self.settings.host} "
                                "without a token: set NEWSDESK_API_TOKEN (or serve on 127.0.0.1)")

    def accept(self, records: list[Any], wait: bool) -> tuple[int, IngestOut]:
        inbox = self.inbox()
        try:
            articles = inbox.read(records)
        except Refused as refused:
            raise HTTPException(422, str(refused)) from None
        taken = [a.id for a in articles if self._from_elsewhere(a.id)]
        if taken:
            raise HTTPException(409, "already in the seeds outside the inbox, so the files there "
                                f"keep them: {', '.join(map(repr, taken[:10]))}; change those files instead")
        inbox.save(articles)  # durable: the 2xx below is sent only after this returns
        self._changed([inbox.path_for(a.id) for a in articles])
        return self._reply([a.id for a in articles], lambda: all(self._served(a) for a in articles), wait)

    def remove(self, article_id: str, wait: bool) -> tuple[int, IngestOut]:
        inbox = self.inbox()
        if not inbox.remove(article_id):
            if self._from_elsewhere(article_id):
                source = self.desk.article(article_id).source
                raise HTTPException(409, f"{article_id!r} comes from {source}, not from the ingest API: "
                                    "remove it from that file")
            raise HTTPException(404, f"no article with id {article_id!r} in the inbox")
        self._changed([inbox.path_for(article_id)])
        return self._reply([article_id], lambda: self.desk.article(article_id) is None, wait)

    def updates(self) -> UpdatesOut:
        if self.watcher is None:
            return UpdatesOut(watching=False, state="not watching", pending=[], pending_count=0,
                              builds=0, last_build=None, failed_inputs=[], failed_feeds=[],
                              feeds=list(self.settings.feeds))
        status = self.watcher.status()
        return UpdatesOut(
            watching=True, state=status.state, pending=list(status.pending), pending_count=status.pending_count,
            builds=status.builds, last_build=LastBuildOut(**asdict(status.last_build)) if status.last_build else None,
            failed_inputs=[FailureOut(**asdict(f)) for f in status.failed_inputs],
            failed_feeds=[FailureOut(**asdict(f)) for f in status.failed_feeds], feeds=list(status.feeds))

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()

    # -- helpers

    def _from_elsewhere(self, article_id: str) -> bool:
        served = self.desk.article(article_id)
        return served is not None and not self.inbox().owns(served.source)

    def _served(self, article: Article) -> bool:
        served = self.desk.article(article.id)
        return served is not None and served.content_hash == article.content_hash

    def _changed(self, paths) -> None:
        if self.watcher is not None:
            self.watcher.changed(map(str, paths), complete=True)  # written whole: no settling

    def _reply(self, ids: list[str], served: Callable[[], bool], wait: bool) -> tuple[int, IngestOut]:
        if wait and self.watcher is not None:
            deadline = time.monotonic() + WAIT_LONGEST
            while not served() and time.monotonic() < deadline:
                time.sleep(WAIT_STEP)
        generation = self.desk.generation_name
        if served():
            return 200, IngestOut(articles=ids, served=True, generation=generation, answerable="now")
        if self.watcher is None:
            return 202, IngestOut(articles=ids, served=False, generation=generation, answerable=(
                "after the next `newsdesk index` (this server does not watch the seeds: "
                "`newsdesk serve --watch` builds by itself)"))
        seconds = self.watcher.expected_seconds()
        return 202, IngestOut(articles=ids, served=False, generation=generation, expected_seconds=seconds,
                              answerable=f"in about {seconds:g} s, once the watcher's next build is "
                                         "served (see /health)")


def ingest_router(desk: Newsdesk, settings: Settings) -> APIRouter:
    """The routes; the router's `keeping` is what /health and /status read."""
    keeping = Keeping(desk, settings)
    router = APIRouter(tags=["ingest"])
    router.keeping = keeping
    refusals = {status: {"model": Refusal} for status in (403, 404, 409, 422, 503)}

    @router.post("/articles", status_code=202, response_model=IngestOut, openapi_extra=_BODY,
                 responses={200: {"model": IngestOut, "description": "served already (after ?wait=true)"},
                            **refusals})
    async def post_articles(request: Request, wait: bool = False):
        """Add or replace articles: saved durably into the seeds' inbox before the reply, and
        answerable after the next build (202, with when), or at once with ?wait=true (200)."""
        keeping.refuse_if_exposed()
        records = _records(await request.body(), request.headers.get("content-type", ""))
        status, out = await run_in_threadpool(keeping.accept, records, wait)
        return _json(status, out)

    @router.delete("/articles/{article_id:path}", response_model=IngestOut,
                   responses={202: {"model": IngestOut, "description": "removed; not yet built"}, **refusals})
    async def delete_article(article_id: str, wait: bool = False):
        """Remove an article the ingest API added (durably, before the reply)."""
        keeping.refuse_if_exposed()
        status, out = await run_in_threadpool(keeping.remove, article_id, wait)
        return _json(status, out)

    return router


def _json(status: int, out: IngestOut) -> JSONResponse:
    return JSONResponse(out.model_dump(), status_code=status)


def _records(body: bytes, content_type: str) -> list[Any]:
    """The body's records: one JSON object, a JSON array, or JSONL (one object a line); 422 with
    the line that is not JSON."""
    if content_type.split(";")[0].strip().lower() not in JSONL_TYPES:
        try:
            value = strict_json(body)
        except json.JSONDecodeError as whole:
            if body.count(b"\n") < 1 or not body.strip():
                raise HTTPException(422, f"not JSON: {whole.msg}") from None
        else:
            return value if isinstance(value, list) else [value]
    records = []
    for number, line in enumerate(body.split(b"\n"), 1):
        if line.strip():
            try:
                records.append(strict_json(line))
            except json.JSONDecodeError as error:
                raise HTTPException(422, f"line {number} is not JSON: {error.msg}") from None
    return records
