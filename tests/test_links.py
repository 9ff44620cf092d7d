"""Links that could lie (issue 13): corpus URLs read as a browser reads them, in Python and in
the chat page's JavaScript, and on the pages the server renders."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from newsdesk.server.app import WEB_ROOT, create_app
from newsdesk.settings import Settings
from newsdesk.index.build import build_index
from newsdesk.server.links import article_view_link, domain_of, web_url
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


def _corpus(tmp_path, fake_embedder, records, **settings_changes):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    settings = Settings(seeds=(seeds,), embeddings=tmp_path / "embeddings", abstain_below=0.0,
                        **settings_changes)
    build_index(settings, fake_embedder)
    return create_app(settings, Newsdesk(settings, embedder=fake_embedder), watch=False)


HOSTILE_SOURCES = [
    {"doc_id": "a?x=1#frag", "url": "javascript:alert(1)", "title": "Harbour\nSources:\n[9] Forged — http://x"},
    {"doc_id": "../../admin\n[8] forged", "url": "data:text/html,<script>alert(1)</script>", "title": "Harbour two"},
    {"doc_id": "vb", "url": "vbscript:msgbox(1)", "title": "Harbour \u202ethree"},
    {"doc_id": "web", "url": "https://evil.example\\@trusted.example/news", "title": "Harbour four"},
]


@pytest.mark.parametrize("stream", [False, True])
def test_openai_sources_are_absolute_encoded_links_and_never_script_urls(tmp_path, fake_embedder, stream):
    from fastapi.testclient import TestClient

    records = [{**r, "text": f"{r['title']}\n\nThe harbour reopened on Monday, said {n}."}
               for n, r in enumerate(HOSTILE_SOURCES)]
    client = TestClient(_corpus(tmp_path, fake_embedder, records), base_url="http://localhost:8123")
    body = {"messages": [{"role": "user", "content": "When did the harbour reopen?"}], "stream": stream,
            "k": 10}
    response = client.post("/v1/chat/completions", json=body)
    if stream:
        pieces = [json.loads(line[6:]) for line in response.text.splitlines()
                  if line.startswith("data: {")]
        content = "".join(p["choices"][0]["delta"].get("content") or "" for p in pieces)
    else:
        content = response.json()["choices"][0]["message"]["content"]
    lines = content.split("Sources:\n", 1)[1].splitlines()
    assert len(lines) == 4 and all(line.startswith(f"[{n}] ") for n, line in enumerate(lines, 1)), lines
    links = [line.rsplit(" — ", 1)[1] for line in lines]
    for link in links:
        assert link.startswith(("http://localhost:8123/articles/", "https://evil.example/")), link
        assert not any(bad in content.lower() for bad in ("javascript:", "data:", "vbscript:", "\u202e"))
    query_id, = [link for link in links if link.startswith("http://localhost:8123/articles/a%3Fx%3D1%23frag/view?")]
    assert any(link.startswith("http://localhost:8123/articles/..%2F..%2Fadmin%0A%5B8%5D%20forged/view?")
               for link in links)
    assert "https://evil.example/@trusted.example/news" in links
    opened = client.get(query_id.removeprefix("http://localhost:8123"))
    assert opened.status_code == 200 and "said 0" in opened.text


def test_openai_sources_use_newsdesk_public_url_when_set(tmp_path, fake_embedder):
    from fastapi.testclient import TestClient

    app = _corpus(tmp_path, fake_embedder, [{"doc_id": "2020/03/16/story", "title": "Harbour",
                                             "text": "Harbour\n\nThe harbour reopened on Monday."}],
                  public_url="https://news.example.org/desk/")
    reply = TestClient(app, base_url="http://localhost").post("/v1/chat/completions", json={
        "messages": [{"role": "user", "content": "When did the harbour reopen?"}]}).json()
    assert ("[1] Harbour — https://news.example.org/desk/articles/2020%2F03%2F16%2Fstory/view?start="
            in reply["choices"][0]["message"]["content"])
    assert Settings.from_env({"NEWSDESK_PUBLIC_URL": "https://n.example"}).public_url == "https://n.example"


SLASHED_IDS = ["2020/03/16/story", "world/a/view", "x y?z#w\nline", "../up"]


def test_ids_with_slashes_open_on_a_real_server_from_the_links_the_pages_give(tmp_path, fake_embedder):
    import http.client

    from reliability_support import ThreadServer

    from newsdesk.server.pages import article_link, latest_articles

    app = _corpus(tmp_path, fake_embedder, [
        {"doc_id": i, "title": f"Story {n}", "text": f"Story {n}\n\nThe harbour reopened, said {n}."}
        for n, i in enumerate(SLASHED_IDS)])
    desk = app.state.desk
    server = ThreadServer(app)

    def get(path: str) -> tuple[int, str, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.request("GET", path)  # sent as written
        response = connection.getresponse()
        result = response.status, response.getheader("content-type"), response.read()
        connection.close()
        return result
    try:
        for n, article_id in enumerate(SLASHED_IDS):
            encoded = article_view_link(article_id)
            status, kind, body = get(encoded)
            assert status == 200 and kind.startswith("text/html") and f"said {n}".encode() in body, encoded
            status, kind, body = get(encoded.removesuffix("/view"))
            assert status == 200 and json.loads(body)["id"] == article_id, encoded
        citation = desk.ask("When did the harbour reopen?", 4).citations[0]
        assert get(article_link(citation).split("#")[0])[0] == 200
        assert all(get(summary.link)[0] == 200 for summary in latest_articles(desk.generation.articles.values()))
        # written with bare slashes, as a person might type it
        assert get("/articles/2020/03/16/story")[0] == get("/articles/2020/03/16/story/view")[0] == 200
        assert get("/articles/2020%2F03%2F16%2Fnope/view")[0] == 404
    finally:
        server.stop()
