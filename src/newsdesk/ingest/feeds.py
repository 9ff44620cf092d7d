"""RSS and Atom feeds into the seeds: each new item's article (the feed's own text when it carries
the whole article, else its page fetched and read like a saved .html file) saved in `feeds/` as
a one-line JSONL file, so a rebuild from the seeds reproduces it without the network.

Items are known by GUID (or link): one already saved is never fetched again, and a feed's ETag
and Last-Modified are kept between polls (in `feeds/.state.json`, which no reader reads).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable
from urllib.parse import urlsplit

from newsdesk.articles import Article
from newsdesk.articles.html import NotAnArticle, article_from_html
from newsdesk.ingest.fetch import Fetcher, FetchFailed
from newsdesk.ingest.saved import FEEDS, corpus_line, file_name, owned_folder, remove_leftovers, write_durably
from newsdesk.settings import Settings

STATE = ".state.json"
FULL_TEXT_CHARS = 1000  # a feed item's own text this long is the article, not a teaser
SEEN_KEPT = 5000  # GUIDs remembered a feed; older ones are still known by their saved files


@dataclass(frozen=True)
class FeedFailure:
    input: str  # the feed's or the page's address
    reason: str


@dataclass
class FeedsReport:
    saved: list[Path] = field(default_factory=list)  # the new items' files
    unchanged: list[str] = field(default_factory=list)  # feeds that answered 304
    known: int = 0  # items skipped as already saved
    failures: list[FeedFailure] = field(default_factory=list)

    def summary(self) -> str:
        line = f"feeds: {len(self.saved)} new articles saved, {self.known} already saved"
        if self.unchanged:
            line += f", {len(self.unchanged)} feeds unchanged"
        if self.failures:
            line += f"; {len(self.failures)} failed"
        return line


class Feeds:
    """The feeds given, polled on demand into a folder of the seeds."""

    def __init__(self, urls: Iterable[str], folder: Path, fetcher: Fetcher | None = None):
        self.urls = list(urls)
        self.folder = folder
        self.fetcher = fetcher or Fetcher()
        folder.mkdir(parents=True, exist_ok=True)
        remove_leftovers(folder)

    @classmethod
    def of(cls, settings: Settings, fetcher: Fetcher | None = None) -> "Feeds":
        return cls(settings.feeds, owned_folder(settings, FEEDS), fetcher)

    def poll(self) -> FeedsReport:
        """Fetch every feed once; new items saved, failures said by address with the reason."""
        report = FeedsReport()
        state = self._state()
        for url in self.urls:
            remembered = state.get(url, {})
            state[url] = self._poll_one(url, remembered, report)
            if state[url] != remembered:  # a 304 or a failure changes nothing: no write, no fsync
                write_durably(self.folder / STATE, json.dumps(state, indent=1).encode())
        return report

    def _poll_one(self, url: str, remembered: dict, report: FeedsReport) -> dict:
        try:
            fetched = self.fetcher.get(url, remembered.get("etag"), remembered.get("modified"))
        except FetchFailed as error:
            report.failures.append(FeedFailure(url, str(error)))
            return remembered
        if fetched.status == 304:
            report.unchanged.append(url)
            return remembered
        import feedparser  # its import takes a moment: only when a feed is read

        parsed = feedparser.parse(fetched.body, response_headers={
            "content-location": fetched.url, "content-type": fetched.content_type or "application/xml"})
        if not parsed.entries and (parsed.bozo or not parsed.version):
            reason = parsed.get("bozo_exception") or "no items"
            report.failures.append(FeedFailure(url, f"not an RSS or Atom feed ({reason})"))
            return remembered
        seen = set(remembered.get("seen", []))
        complete = True
        for entry in parsed.entries:
            key = entry.get("id") or entry.get("link")
            if not key:
                report.failures.append(FeedFailure(url, f"an item without a GUID or link ({entry.get('title', '')[:80]!r})"))
                continue
            path = self.folder / file_name(key)
            if key in seen or path.exists():
                report.known += 1
                seen.add(key)
                continue
            try:
                article = self._article(entry, key, url)
            except (FetchFailed, NotAnArticle) as error:
                report.failures.append(FeedFailure(entry.get("link") or key, str(error)))
                complete = False  # fetched again next poll, even if the feed has not changed
                continue
            write_durably(path, corpus_line(article))
            report.saved.append(path)
            seen.add(key)
        kept = {"seen": sorted(seen)[-SEEN_KEPT:]}
        if complete:  # an item that failed must be tried again: no 304 for this feed until then
            kept.update(etag=fetched.etag, modified=fetched.modified)
        return kept

    def _article(self, entry, key: str, feed_url: str) -> Article:
        link = entry.get("link")
        article_id = f"{urlsplit(link or feed_url).hostname or 'feed'}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
        title = " ".join(entry.get("title", "").split())
        published = _day(entry.get("published_parsed") or entry.get("updated_parsed"))
        author = entry.get("author", "")
        own = (entry.get("content") or [{}])[0].get("value") or ""
        if own:
            try:
                article = article_from_html(f"<html><body><article>{own}</article></body></html>",
                                            article_id, link or feed_url, link, title, published, author)
            except NotAnArticle:
                article = None
            if article is not None and len(article.text) >= FULL_TEXT_CHARS:
                # the feed's own title and date over what trafilatura guesses from a fragment
                return dataclasses.replace(article, title=title or article.title,
                                           published=published or article.published)
        if not link:
            raise NotAnArticle("an item with neither its whole text nor a link to its page")
        page = self.fetcher.get(link)
        return article_from_html(page.body, article_id, link, link, title, published, author)

    def _state(self) -> dict:
        try:
            state = json.loads((self.folder / STATE).read_bytes())
        except (OSError, ValueError):
            return {}
        return state if isinstance(state, dict) else {}


def _day(parsed: time.struct_time | None) -> str | None:
    return time.strftime("%Y-%m-%d", parsed) if parsed else None
