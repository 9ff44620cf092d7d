"""Errors a browser lands on are pages (issue 15, item 3): an old citation link to a removed
article, a cut `?start=`, a mistyped address; API clients asking the same get JSON as before."""

from html.parser import HTMLParser

import pytest
from conftest import SEED_ID

from newsdesk.server.error_pages import wants_page

# What Chromium and Firefox send when following a link or typing an address.
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


class Links(HTMLParser):
    """The page's links and its visible text."""

    def __init__(self, html: str):
        super().__init__()
        self.links: list[str] = []
        self.text = ""
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.links.append(dict(attrs).get("href", ""))

    def handle_data(self, data):
        self.text += data


@pytest.fixture
def client(settings, fake_embedder):
    from fastapi.testclient import TestClient

    from newsdesk.index.build import build_index
    from newsdesk.server.app import create_app
    from newsdesk.service import Newsdesk

    build_index(settings, fake_embedder)
    with TestClient(create_app(settings, Newsdesk(settings, embedder=fake_embedder), watch=False)) as client:
        yield client


def page(response) -> Links:
    assert response.headers["content-type"].startswith("text/html"), response.text
    return Links(response.text)


def test_a_removed_articles_citation_link_is_a_page_with_the_reason_and_a_way_back(client):
    response = client.get("/articles/nope/view?start=0&end=40", headers={"Accept": BROWSER})
    assert response.status_code == 404
    shown = page(response)
    assert "Article not found" in shown.text and "No article with id 'nope'." in shown.text
    assert "removed from the index" in shown.text
    assert "/" in shown.links  # back to the chat
    assert "/static/style.css" in response.text  # styled as the other pages


def test_a_cut_start_in_the_link_is_a_page_saying_which_part(client):
    response = client.get(f"/articles/{SEED_ID}/view?start=abc", headers={"Accept": BROWSER})
    assert response.status_code == 422
    shown = page(response)
    assert "This link is not right" in shown.text
    assert "Start: input should be a valid integer, unable to parse string as an integer (got 'abc')." in shown.text
    assert "/" in shown.links


def test_an_unknown_address_is_a_page_for_a_browser(client):
    response = client.get("/no/such/page", headers={"Accept": BROWSER})
    assert response.status_code == 404
    assert "Page not found" in page(response).text


def test_api_clients_keep_the_json_errors(client):
    for accept in ("application/json", "*/*", None):
        headers = {"Accept": accept} if accept else {}
        missing = client.get("/articles/nope/view", headers=headers)
        assert missing.status_code == 404 and missing.json() == {"detail": "no article with id 'nope'"}
        cut = client.get(f"/articles/{SEED_ID}/view?start=abc", headers=headers)
        assert cut.status_code == 422 and cut.json()["detail"][0]["loc"] == ["query", "start"]
        assert client.get("/articles/nope", headers=headers).json() == {"detail": "no article with id 'nope'"}
    # A browser's POST (the form) keeps its own handling: a malformed one is still JSON.
    refused = client.post("/ask", json={"question": "x", "k": "many"}, headers={"Accept": BROWSER})
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/json"


def test_a_working_article_page_is_unchanged(client):
    response = client.get(f"/articles/{SEED_ID}/view", headers={"Accept": BROWSER})
    assert response.status_code == 200 and "Article not found" not in response.text


@pytest.mark.parametrize("method, accept, wanted", [
    ("GET", BROWSER, True),
    ("GET", "text/html", True),
    ("HEAD", "text/html", True),
    ("GET", "*/*", False),
    ("GET", "", False),
    ("GET", "application/json", False),
    ("GET", "application/json, text/html;q=0.5", False),
    ("GET", "text/html;q=0", False),
    ("POST", BROWSER, False),
])
def test_a_page_is_for_a_browsers_get_that_prefers_html(method, accept, wanted):
    assert wants_page(method, accept) is wanted
