"""Polite HTTP for feeds and their pages: a timeout, a size cap, a pace per host (never two
requests to one publisher closer than host_interval), and conditional requests (ETag,
Last-Modified), so an unchanged feed costs its publisher a 304 and no body."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from newsdesk.articles.records import MAX_ARTICLE_BYTES

USER_AGENT = "newsdesk/0.1 (feed reader; one request per host at a time)"
TIMEOUT = 15.0  # seconds to connect, and between bytes of the answer
HOST_INTERVAL = 1.0  # seconds between two requests to one host


class FetchFailed(Exception):
    """A request that brought nothing usable; the message says why, for the status page."""


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    status: int  # 200, or 304: not modified since the ETag or date sent
    body: bytes
    etag: str | None
    modified: str | None  # Last-Modified, sent back as If-Modified-Since
    content_type: str


class Fetcher:
    """GETs over http(s) only, each answer capped at max_bytes."""

    def __init__(self, timeout: float = TIMEOUT, max_bytes: int = MAX_ARTICLE_BYTES,
                 host_interval: float = HOST_INTERVAL):
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.host_interval = host_interval
        self._next_turn: dict[str, float] = {}
        self._pacing = threading.Lock()

    def get(self, url: str, etag: str | None = None, modified: str | None = None) -> Fetched:
        if urlsplit(url).scheme not in ("http", "https"):
            raise FetchFailed(f"not an http or https address: {url[:200]}")
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        if etag:
            headers["If-None-Match"] = etag
        if modified:
            headers["If-Modified-Since"] = modified
        self._wait_turn(url)
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                        timeout=self.timeout) as response:
                body = response.read(self.max_bytes + 1)
                if len(body) > self.max_bytes:
                    raise FetchFailed(f"over the size limit ({self.max_bytes:,} bytes)")
                return Fetched(response.geturl(), response.status, body, response.headers.get("ETag"),
                               response.headers.get("Last-Modified"),
                               response.headers.get("Content-Type", ""))
        except urllib.error.HTTPError as error:
            if error.code == 304:
                return Fetched(url, 304, b"", etag, modified, "")
            raise FetchFailed(f"HTTP {error.code} {error.reason}") from None
        except urllib.error.URLError as error:
            raise FetchFailed(f"cannot be reached ({error.reason})") from None
        except (TimeoutError, OSError) as error:
            raise FetchFailed(f"cannot be read ({error or 'timed out'})") from None

    def _wait_turn(self, url: str) -> None:
        host = (urlsplit(url).hostname or "").lower()
        with self._pacing:
            now = time.monotonic()
            turn = max(now, self._next_turn.get(host, now))
            self._next_turn[host] = turn + self.host_interval
        time.sleep(max(0.0, turn - time.monotonic()))
