"""Answers that travel (issue 19): /ask as Markdown with its sources as links, and the
OpenAI-compatible stream carrying each citation in the chunk that cites it (the real `openai`
client, stream=True, against a real server)."""

from __future__ import annotations

import re

import httpx
import openai
import pytest
from conftest import SEED_ID, TREATY_QUESTION
from reliability_support import ThreadServer
from starlette.testclient import TestClient

from newsdesk.answers.extractive import Answer, Citation
from newsdesk.index.build import build_index
from newsdesk.server.app import create_app
from newsdesk.server.markdown import answer_markdown, wants_markdown
from newsdesk.service import Newsdesk
from newsdesk.settings import Settings


@pytest.fixture
def app(tmp_path, seeds, fake_embedder):
    settings = Settings(seeds=(seeds,), embeddings=tmp_path / "embeddings")
    build_index(settings, fake_embedder)
    return create_app(settings, Newsdesk(settings, embedder=fake_embedder), watch=False)


def test_ask_gives_markdown_for_the_accept_header_or_the_format_parameter(app):
    client = TestClient(app)
    as_json = client.post("/ask", json={"question": TREATY_QUESTION}).json()
    by_header = client.post("/ask", json={"question": TREATY_QUESTION}, headers={"Accept": "text/markdown"})
    by_parameter = client.post("/ask?format=markdown", json={"question": TREATY_QUESTION})
    for reply in (by_header, by_parameter):
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/markdown")
        assert reply.text == by_header.text
    text = by_header.text
    first = as_json["citations"][0]
    link = (f"http://localhost/articles/{SEED_ID}/view?start={first['char_start']}&end={first['char_end']}")
    # The answer's [1] is a link to the passage, and the sources list it by title.
    assert f"[\\[1\\]]({link})" in text
    assert f"- \\[1\\] [{first['title']}]({link})" in text
    assert text.startswith("Under the Treaty of Le Touquet") and "**Sources**" in text
    # JSON stays the default, and wins a tie.
    for accept in ("*/*", "application/json", "application/json, text/markdown", "text/markdown;q=0"):
        reply = client.post("/ask", json={"question": TREATY_QUESTION}, headers={"Accept": accept})
        assert reply.headers["content-type"] == "application/json", accept
    assert client.post("/ask?format=json", json={"question": TREATY_QUESTION},
                       headers={"Accept": "text/markdown"}).json()["answer"] == as_json["answer"]
    assert client.post("/ask?format=html", json={"question": TREATY_QUESTION}).status_code == 422


def test_markdown_shows_article_text_as_written_and_links_only_what_is_cited():
    cited = Citation(n=1, passage_id="p#0", article_id="a/b", title="Rates *up* [again]", text="t",
                     char_start=3, char_end=9, score=1.0, url="https://news.example/rates (live)",
                     published="2024-03-01")
    other = cited.model_copy(update={"n": 2, "title": "Other", "url": None})
    answer = Answer(answer="Rates rose by 0.25% to *5* [1]. Not [7] a marker.", citations=[cited, other],
                    abstained=False, took_ms=1.0, note="the LLM failed")
    text = answer_markdown(answer, "https://desk.example")
    assert text.startswith("Rates rose by 0.25% to \\*5\\* [\\[1\\]](https://news.example/rates%20%28live%29)."
                           " Not \\[7\\] a marker.")
    assert "*Note: the LLM failed*" in text
    assert "- \\[1\\] [Rates \\*up\\* \\[again\\]](https://news.example/rates%20%28live%29), 1 Mar 2024" in text
    assert "Other" not in text  # not cited by the answer
    declined = answer.model_copy(update={"answer": "The indexed articles don't cover this question.",
                                         "abstained": True, "note": None})
    assert answer_markdown(declined) == "The indexed articles don't cover this question.\n"


def test_wants_markdown_reads_accept_weights():
    assert wants_markdown(None, "text/markdown")
    assert wants_markdown(None, "text/markdown, application/json;q=0.5")
    assert not wants_markdown(None, "application/json;q=0.9, text/markdown;q=0.8")
    assert not wants_markdown(None, None) and wants_markdown("markdown", "application/json")


def test_the_openai_stream_carries_each_citation_in_the_chunk_that_cites_it(app):
    server = ThreadServer(app)
    try:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused")
        chunks = list(client.chat.completions.create(
            model="newsdesk", stream=True, messages=[{"role": "user", "content": TREATY_QUESTION}]))
        expected = httpx.post(server.url + "/ask", json={"question": TREATY_QUESTION}).json()
    finally:
        server.stop()
    texts = [chunk.choices[0].delta.content or "" for chunk in chunks]
    carried = [(chunk.model_extra or {}).get("citations") for chunk in chunks]
    marked = [n for n, text in enumerate(texts) if re.search(r"\[\d+\]", text.split("Sources:")[0])]
    assert marked, texts
    for n in marked:
        numbers = [int(m) for m in re.findall(r"\[(\d+)\]", texts[n])]
        assert [c["n"] for c in carried[n]] == list(dict.fromkeys(numbers))
        for citation in carried[n]:
            source = expected["citations"][citation["n"] - 1]
            assert (citation["article_id"], citation["passage_id"], citation["char_start"], citation["char_end"]) == (
                source["article_id"], source["passage_id"], source["char_start"], source["char_end"])
            assert citation["link"] == (f"{server.url}/articles/{SEED_ID}/view"
                                        f"?start={source['char_start']}&end={source['char_end']}")
    # Chunks without a marker carry none; the Sources chunk carries every one it lists.
    assert all(carried[n] is None for n, text in enumerate(texts) if n not in marked and "Sources:" not in text)
    sources = next(n for n, text in enumerate(texts) if "Sources:" in text)
    assert [c["n"] for c in carried[sources]] == [c["n"] for c in expected["citations"]]
    assert "".join(texts).startswith(expected["answer"])
