"""Feeds and web pages: RSS and Atom fetched from a local HTTP server (http.server in a thread),
each item's article from the feed's own text or its page (trafilatura), saved into the seeds;
conditional requests, deduplication, the pace per host, the size cap; saved .html files."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fakes import FakeEmbedder
from reliability_support import synthetic_articles, write_articles

from newsdesk.articles import read_articles
from newsdesk.articles.html import article_from_html
from newsdesk.index.build import build_index
from newsdesk.index.store import load_generation
from newsdesk.ingest.feeds import Feeds
from newsdesk.ingest.fetch import Fetcher
from newsdesk.ingest.watch import SeedsWatcher
from newsdesk.service import Newsdesk
from newsdesk.settings import Settings

PARAGRAPH = ("The council of {town} approved the new {thing} on Tuesday after a debate that lasted "
             "well into the night, and residents who had waited years for it filled the public gallery.")


def page(title: str, town: str, thing: str, author: str = "Jane Doe", day: str = "2026-11-28") -> str:
    paragraphs = "".join(f"<p>{PARAGRAPH.format(town=town, thing=thing)} Point {n}.</p>\n" for n in range(6))
    return (f"<html><head><title>{title} | The Gazette</title><meta name=\"author\" content=\"{author}\">"
            f"<meta property=\"article:published_time\" content=\"{day}T09:00:00Z\"></head><body>"
            f"<nav><a href=\"/\">Home</a> <a href=\"/news\">News</a></nav><article><h1>{title}</h1>"
            f"{paragraphs}</article><footer>© The Gazette</footer></body></html>")


def rss(items: list[str]) -> str:
    return ('<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
            f"<channel><title>The Gazette</title><link>http://gazette.test/</link>{''.join(items)}</channel></rss>")


def rss_item(guid: str, title: str, link: str, full_text: str = "", author: str = "") -> str:
    content = f"<content:encoded><![CDATA[{full_text}]]></content:encoded>" if full_text else ""
    creator = f"<author>{author}</author>" if author else ""
    return (f"<item><guid>{guid}</guid><title>{title}</title><link>{link}</link>{creator}"
            f"<pubDate>Sat, 29 Nov 2026 08:00:00 GMT</pubDate><description>A teaser.</description>{content}</item>")


@dataclass
class Site:
    """A local web server: path -> (body, content type); every request logged with its time."""

    routes: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    requests: list[tuple[str, float, dict]] = field(default_factory=list)

    def __post_init__(self):
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                site.requests.append((self.path, time.monotonic(), dict(self.headers)))
                if self.path not in site.routes:
                    self.send_error(404)
                    return
                body, kind = site.routes[self.path]
                etag = f'"{hash(body) & 0xffffffff:x}"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, path: str, body: str | bytes, kind: str = "text/html; charset=utf-8") -> str:
        self.routes[path] = (body.encode() if isinstance(body, str) else body, kind)
        return self.url + path

    def fetched(self, path: str) -> int:
        return sum(1 for p, _, _ in self.requests if p == path)


@pytest.fixture
def site():
    site = Site()
    yield site
    site.server.shutdown()


def gazette(site: Site) -> str:
    """A feed of two items: one carrying its whole text, one only a link to its page."""
    full = "".join(f"<p>{PARAGRAPH.format(town='Velmonford', thing='tram line')} Part {n}.</p>" for n in range(8))
    site.add("/news/bridge.html", page("Harbour bridge opens in Kelbraford", "Kelbraford", "harbour bridge"))
    return site.add("/feed.xml", rss([
        rss_item("gazette-1", "Tram line approved in Velmonford", site.url + "/news/tram.html", full,
                 author="Ann Smith"),
        rss_item("gazette-2", "Harbour bridge opens", site.url + "/news/bridge.html"),
    ]), "application/rss+xml")


def test_a_feeds_items_are_saved_from_its_own_text_or_their_pages(site, tmp_path):
    feed = gazette(site)
    feeds = Feeds([feed], tmp_path / "seeds" / "feeds", Fetcher(host_interval=0))
    report = feeds.poll()
    assert len(report.saved) == 2 and report.failures == [], report
    assert site.fetched("/news/tram.html") == 0  # the feed carried its whole text
    assert site.fetched("/news/bridge.html") == 1
    read = read_articles([tmp_path / "seeds"])
    assert read.problems == []
    by_title = {a.title: a for a in read.articles}
    tram = by_title["Tram line approved in Velmonford"]
    assert tram.published == "2026-11-29" and tram.text.startswith("By Ann Smith\n\n")
    assert tram.url == site.url + "/news/tram.html" and "Velmonford" in tram.text
    bridge = by_title["Harbour bridge opens in Kelbraford"]  # the page's own headline
    assert bridge.published == "2026-11-28" and bridge.text.startswith("By Jane Doe\n\n")
    assert "Home" not in bridge.text and "The Gazette" not in bridge.text  # no navigation, no footer
    assert bridge.text.count("\n\n") >= 6  # paragraphs kept apart


def test_a_second_poll_is_conditional_and_fetches_only_new_items(site, tmp_path):
    feed = gazette(site)
    feeds = Feeds([feed], tmp_path / "feeds", Fetcher(host_interval=0))
    assert len(feeds.poll().saved) == 2
    again = Feeds([feed], tmp_path / "feeds", Fetcher(host_interval=0)).poll()  # state kept on disk
    assert again.unchanged == [feed] and again.saved == []
    assert site.requests[-1][2].get("If-None-Match")
    site.add("/news/ferry.html", page("Ferry strike ends", "Oruford", "ferry timetable"))
    site.add("/feed.xml", rss([rss_item("gazette-3", "Ferry strike ends", site.url + "/news/ferry.html"),
                               rss_item("gazette-2", "Harbour bridge opens", site.url + "/news/bridge.html")]),
             "application/rss+xml")
    third = feeds.poll()
    assert len(third.saved) == 1 and third.known == 1
    assert site.fetched("/news/bridge.html") == 1 and site.fetched("/news/ferry.html") == 1


def test_an_atom_feed_is_read_too(site, tmp_path):
    site.add("/atom/story.html", page("Library reopens", "Stadriford", "public library", author="Li Wei"))
    feed = site.add("/atom.xml", f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom Gazette</title><id>urn:atom-gazette</id>
<updated>2026-11-30T10:00:00Z</updated>
<entry><title>Library reopens</title><id>urn:story:1</id><link href="{site.url}/atom/story.html"/>
<updated>2026-11-30T10:00:00Z</updated><summary>Short.</summary></entry></feed>""", "application/atom+xml")
    report = Feeds([feed], tmp_path / "feeds", Fetcher(host_interval=0)).poll()
    assert len(report.saved) == 1, report
    article = read_articles([tmp_path / "feeds"]).articles[0]
    assert article.title == "Library reopens" and "Stadriford" in article.text and "Li Wei" in article.text


def test_failures_are_said_by_address_and_retried_on_the_next_poll(site, tmp_path):
    feed = site.add("/feed.xml", rss([rss_item("gone-1", "Gone", site.url + "/missing.html")]), "application/rss+xml")
    not_a_feed = site.add("/plain.txt", "just some text, not a feed", "text/plain")
    feeds = Feeds([feed, not_a_feed, site.url + "/nothing-here.xml"], tmp_path / "feeds", Fetcher(host_interval=0))
    report = feeds.poll()
    reasons = {f.input: f.reason for f in report.failures}
    assert reasons[site.url + "/missing.html"] == "HTTP 404 Not Found"
    assert "not an RSS or Atom feed" in reasons[not_a_feed]
    assert reasons[site.url + "/nothing-here.xml"] == "HTTP 404 Not Found"
    assert report.saved == []
    site.add("/missing.html", page("Gone no more", "Pentasford", "fire station"))
    retried = feeds.poll()  # no 304 for a feed with a failed item: it is read and the item tried again
    assert len(retried.saved) == 1 and site.fetched("/missing.html") == 2


def test_pages_over_the_size_cap_are_refused_and_one_host_is_paced(site, tmp_path):
    site.add("/big.html", "<html><body>" + "<p>word </p>" * 20_000 + "</body></html>")
    site.add("/a.html", "a")
    fetcher = Fetcher(max_bytes=50_000, host_interval=0.3)
    with pytest.raises(Exception, match="over the size limit"):
        fetcher.get(site.url + "/big.html")
    for _ in range(3):
        fetcher.get(site.url + "/a.html")
    times = [at for path, at, _ in site.requests if path == "/a.html"]
    assert all(later - earlier >= 0.29 for earlier, later in zip(times, times[1:]))  # a lower bound only
    with pytest.raises(Exception, match="not an http or https address"):
        fetcher.get("file:///etc/passwd")


def test_saved_html_files_in_the_seeds_are_read_like_articles(tmp_path):
    seeds = tmp_path / "seeds"
    write_articles(seeds, synthetic_articles(range(2)))
    (seeds / "bridge-story.html").write_text(page("Harbour bridge opens in Kelbraford", "Kelbraford",
                                                  "harbour bridge"), encoding="utf-8")
    (seeds / "empty.html").write_text("<html><body><nav>Home</nav></body></html>", encoding="utf-8")
    settings = Settings(seeds=(seeds,), embeddings=tmp_path / "embeddings", abstain_below=0.0)
    report = build_index(settings, FakeEmbedder())
    assert [(p.path, p.reason) for p in report.problems] == [(str(seeds / "empty.html"), "no article text found in the page")]
    article = load_generation(settings.embeddings).articles["bridge-story"]
    assert article.title == "Harbour bridge opens in Kelbraford" and article.published == "2026-11-28"
    assert article.text.startswith("By Jane Doe\n\n")
    answer = Newsdesk(settings, embedder=FakeEmbedder()).ask("When did the Kelbraford harbour bridge council vote?")
    assert answer.citations[0].article_id == "bridge-story"


def test_index_with_feed_fetches_then_builds(site, tmp_path, monkeypatch, capsys):
    import newsdesk.embeddings
    from newsdesk.cli import main

    for loader in ("load_embedder", "embedder_on_demand"):  # the model is not the point here
        monkeypatch.setattr(newsdesk.embeddings, loader, lambda settings: FakeEmbedder(), raising=False)
    feed = gazette(site)
    seeds = tmp_path / "seeds"
    write_articles(seeds, synthetic_articles(range(2)))
    code = main(["index", "--seeds", str(seeds), "--embeddings", str(tmp_path / "embeddings"), "--quiet",
                 "--feed", feed])
    assert code == 0, capsys.readouterr().err
    assert "feeds: 2 new articles saved" in capsys.readouterr().err
    articles = load_generation(tmp_path / "embeddings").articles
    assert len(articles) == 4 and any(a.title == "Harbour bridge opens in Kelbraford" for a in articles.values())
    assert sorted(p.suffix for p in (seeds / "feeds").iterdir()) == [".json", ".jsonl", ".jsonl"]


def test_the_watcher_polls_the_feeds_and_serves_their_articles(site, tmp_path):
    feed = gazette(site)
    seeds = tmp_path / "seeds"
    write_articles(seeds, synthetic_articles(range(2)))
    settings = Settings(seeds=(seeds,), embeddings=tmp_path / "embeddings", abstain_below=0.0,
                        watch=True, watch_settle=0.5, feeds=(feed,), feed_interval=60)
    embedder = FakeEmbedder()
    build_index(settings, embedder)
    desk = Newsdesk(settings, embedder=embedder)
    watcher = SeedsWatcher(settings, embedder, desk.refresh, Feeds.of(settings, Fetcher(host_interval=0))).start()
    try:
        deadline = time.monotonic() + 60
        while len(desk.generation.articles) < 4:
            assert time.monotonic() < deadline, watcher.status()
            time.sleep(0.1)
        assert watcher.status().feeds == (feed,) and watcher.status().failed_feeds == ()
    finally:
        watcher.stop()


def test_an_html_fragment_without_text_is_not_an_article():
    with pytest.raises(ValueError, match="no article text"):
        article_from_html("<html><body><p>Hi.</p></body></html>", "x", "x.html")
    with pytest.raises(ValueError, match="empty"):
        article_from_html(b"  ", "x", "x.html")
