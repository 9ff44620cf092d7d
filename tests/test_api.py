"""The HTTP contract, through FastAPI's test client over a fake-embedder index (fast)."""

import re

import pytest
from conftest import SEED_ID, TREATY_QUESTION
from fastapi.testclient import TestClient

from newsdesk.server.app import create_app
from newsdesk.index.build import build_index
from newsdesk.service import Newsdesk


@pytest.fixture
def client(settings, fake_embedder):
    build_index(settings, fake_embedder)
    desk = Newsdesk(settings.with_(abstain_below=0.0), embedder=fake_embedder)
    with TestClient(create_app(settings, desk, watch=False)) as client:
        client.desk = desk
        yield client


def test_ask_returns_cited_passages_that_slice_the_article(client):
    body = client.post("/ask", json={"question": TREATY_QUESTION, "k": 3}).json()
    assert [c["n"] for c in body["citations"]] == list(range(1, len(body["citations"]) + 1))
    first = body["citations"][0]
    article = client.get(f"/articles/{first['article_id']}").json()
    assert article["text"][first["char_start"]:first["char_end"]] == first["text"]
    # The answer is the best passage's sentence that names the treaty, marked as cited from it.
    assert re.findall(r"\[(\d+)\]", body["answer"]) == ["1"] and body["answer"].endswith(" [1]")
    sentence = body["answer"].removesuffix(" [1]")
    assert sentence.startswith("Under the Treaty of Le Touquet") and sentence in first["text"]
    assert body["abstained"] is False and body["took_ms"] > 0


def test_answering_runs_the_model_once_per_question(client, fake_embedder):
    """Answer sentences are scored without the model: embedding them cost ~90% of /ask."""
    fake_embedder.embedded.clear()
    body = client.post("/ask", json={"question": TREATY_QUESTION}).json()
    assert body["abstained"] is False and "[1]" in body["answer"]
    assert fake_embedder.embedded == [TREATY_QUESTION]


@pytest.mark.parametrize("payload, fragment", [
    ({"question": ""}, "at least 1 character"),
    ({"question": "   \n "}, "must not be blank"),
    ({"question": "x" * 2001}, "at most 2000 characters"),
    ({"question": "ok", "k": 0}, "greater than or equal to 1"),
    ({"question": "ok", "k": 51}, "less than or equal to 50"),
    ({"k": 5}, "Field required"),
    ({"question": 12}, "valid string"),
    ({"question": "ok", "as_of": "last week"}, "valid date"),
    ({"question": "ok", "ask_of": "2024-01-01"}, "Extra inputs are not permitted"),  # a misspelt field
])
def test_bad_questions_get_a_readable_422(client, payload, fragment):
    response = client.post("/ask", json=payload)
    assert response.status_code == 422
    assert fragment in response.text


def test_malformed_json_and_oversized_bodies_are_refused(client):
    assert client.post("/ask", content=b"{nope", headers={"content-type": "application/json"}).status_code == 422
    assert client.post("/ask", content=b"x" * (65 * 1024),
                       headers={"content-type": "application/json"}).status_code == 413


def test_unknown_article_is_404_and_ids_never_touch_the_filesystem(client):
    assert client.get("/articles/nope").status_code == 404
    assert client.get("/articles/..%2F..%2Fetc%2Fpasswd").status_code == 404
    assert client.get(f"/articles/{SEED_ID}").json()["title"].startswith("Britain and France")


def test_health_counts_articles_and_passages(client):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["articles"] == 1 and health["passages"] > 3
    assert health["model"] == "fake-bag-of-words:1" and health["built_at"]


def test_html_pages_carry_security_headers_and_escape_questions(client):
    page = client.post("/", data={"question": "<script>alert(1)</script>"})
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"


def test_no_index_yet_is_a_503_with_advice(tmp_path, fake_embedder):
    from newsdesk.settings import Settings

    settings = Settings(seeds=(tmp_path,), embeddings=tmp_path / "none")
    with TestClient(create_app(settings, Newsdesk(settings, embedder=fake_embedder), watch=False)) as client:
        response = client.post("/ask", json={"question": "anything"})
        assert response.status_code == 503 and "newsdesk index" in response.text


def test_token_protects_ask_and_chat_but_not_health(settings, fake_embedder):
    build_index(settings, fake_embedder)
    guarded = settings.with_(api_token="s3cret")
    app = create_app(guarded, Newsdesk(guarded, embedder=fake_embedder), watch=False)
    with TestClient(app) as client:
        assert client.post("/ask", json={"question": "x"}).status_code == 401
        assert client.get("/").status_code == 401
        assert client.get("/health").status_code == 200
        ok = client.post("/ask", json={"question": "x"}, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200


def test_every_way_in_holds_the_question_to_the_same_limit(client):
    """The 2,000-character rule lives in query.py; /ask, its stream, the OpenAI route and the
    chat form without JavaScript all refuse one character more, each in its own shape."""
    long = "x" * 2001
    for path in ("/ask", "/ask/stream"):
        refused = client.post(path, json={"question": long})
        assert refused.status_code == 422 and "at most 2000 characters" in refused.text
        assert client.post(path, json={"question": long[:-1], "k": 1}).status_code == 200
    refused = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": long}]})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["msg"] == (
        "the question (the last message): string should have at most 2000 characters")
    page = client.post("/", data={"question": long})
    assert page.status_code == 422 and page.headers["content-type"].startswith("text/html")
    assert "The question: string should have at most 2000 characters." in page.text
    assert long in page.text  # kept in the box to shorten
