"""Links that could lie (issue 13): corpus URLs read as a browser reads them, in Python and in
the chat page's JavaScript, and on the pages the server renders."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from newsdesk.api import WEB_ROOT, create_app
from newsdesk.config import Settings
from newsdesk.index import build_index
from newsdesk.links import article_view_link, domain_of, web_url
from newsdesk.service import Newsdesk

# (url in the corpus, the host shown, the href the page may carry)
LINKS = [
    ("https://evil.example\\@trusted.example/news", "evil.example", "https://evil.example/@trusted.example/news"),
    ("https://trusted.example@evil.example/", "evil.example", "https://trusted.example@evil.example/"),
    ("https:evil.example/x", "evil.example", "https://evil.example/x"),
    (" https://ev\til.example/\n", "evil.example", "https://evil.example/"),
    ("HTTPS://WWW.BBC.co.uk./news", "bbc.co.uk", "https://www.bbc.co.uk./news"),
    ("http://0x7f.1/", "127.0.0.1", "http://127.0.0.1/"),
    ("https://städte.de/a", "xn--stdte-hra.de", "https://xn--stdte-hra.de/a"),  # no look-alike letters
    ("https://\u202eelpmaxe.live/", "", ""),  # bidi control in the host: no link at all
    ("https://%E2%80%AEx.example/", "", ""),
    ("javascript:alert(1)", "", ""), ("JaVaScRiPt:alert(1)", "", ""), ("data:text/html,<b>x</b>", "", ""),
    ("vbscript:msgbox(1)", "", ""), ("//evil.example/", "", ""), ("/relative", "", ""), ("", "", ""),
]


@pytest.mark.parametrize("url, shown, href", LINKS)
def test_links_show_the_host_a_browser_goes_to_and_only_http_links_are_kept(url, shown, href):
    assert domain_of(url) == shown
    assert web_url(url) == href


def test_the_chat_pages_javascript_shows_the_same_hosts():
    node = shutil.which("node")
    if node is None:
        pytest.skip("needs node to import web/static/js/render.js")
    script = (f"import {{domainOf}} from {json.dumps(str(WEB_ROOT / 'static/js/render.js'))};"
              f"console.log(JSON.stringify({json.dumps([u for u, _, _ in LINKS])}.map(domainOf)));")
    shown = json.loads(subprocess.run([node, "--input-type=module", "-e", script], capture_output=True,
                                      text=True, check=True).stdout)
    assert shown == [host for _, host, _ in LINKS]


def test_article_links_encode_the_whole_id():
    assert article_view_link("2020/03/16/a b?c#d\n", 1, 9, "http://news.example:8000/") == (
        "http://news.example:8000/articles/2020%2F03%2F16%2Fa%20b%3Fc%23d%0A/view?start=1&end=9")


def test_the_article_page_links_and_names_the_real_host(tmp_path, fake_embedder):
    from fastapi.testclient import TestClient

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    lines = [{"doc_id": "lying", "title": "Harbour news", "url": LINKS[0][0],
              "text": "Harbour news\n\nThe harbour reopened on Monday after the storm."},
             {"doc_id": "bidi", "title": "Storm news", "url": "https://\u202eelpmaxe.live/",
              "text": "Storm news\n\nThe storm passed on Sunday night."},
             {"doc_id": "script", "title": "Ferry news", "url": "javascript:alert(1)",
              "text": "Ferry news\n\nThe ferries ran again on Tuesday."}]
    (seeds / "corpus.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    settings = Settings(seeds=(seeds,), embeddings=tmp_path / "embeddings", abstain_below=0.0)
    build_index(settings, fake_embedder)
    client = TestClient(create_app(settings, Newsdesk(settings, embedder=fake_embedder), watch=False),
                        base_url="http://localhost")
    lying = client.get("/articles/lying/view").text
    assert 'href="https://evil.example/@trusted.example/news"' in lying
    assert "on evil.example" in lying and "trusted.example</a>" not in lying
    for article_id in ("bidi", "script"):
        page = client.get(f"/articles/{article_id}/view").text
        assert 'class="original"' not in page and "\u202e" not in page and "javascript:" not in page
    chat = client.post("/", data={"question": "When did the harbour reopen?"}).text
    assert "evil.example" in chat and "· trusted.example" not in chat
