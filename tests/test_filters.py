"""Filters (published_after, published_before, sources): applied by the retriever before the top
k is cut, honoured by /ask, /ask/stream, the OpenAI route and `newsdesk ask`; GET /sources."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from newsdesk.answers.extractive import NOT_COVERED
from newsdesk.index.build import build_index
from newsdesk.query import Filters, Query
from newsdesk.retrieval import hybrid
from newsdesk.retrieval.filters import matches, outlet_of
from newsdesk.server.app import create_app
from newsdesk.service import Newsdesk
from newsdesk.settings import Settings

FAKE_CLI = str(Path(__file__).resolve().parent / "fake_cli.py")
QUESTION = "What happened to the harbour bridge toll?"

# (outlet URL, published): the harbour bridge story as several outlets carried it, on several days.
OUTLETS = [
    ("https://www.usatoday.com/story/{n}", "2023-03-{day:02d}"),
    ("https://www.cnn.com/2023/{n}", "2023-04-{day:02d}"),
    ("https://news.bbc.co.uk/{n}", "2023-05-{day:02d}"),
    ("https://theweek.co.uk/{n}", "2023-06-{day:02d}"),
]
PER_OUTLET = 4


def _article(n: int, url: str, published: str | None, strong: bool) -> dict:
    # USA Today's copies (and the undated one) are about the question and little else, so an
    # unfiltered search fills its candidates with them; the others mention it once among other news.
    if strong:
        paragraphs = [f"The harbour bridge toll happened again: what happened to the harbour bridge "
                      f"toll, report {n} says, is that the harbour bridge toll rose." for _ in range(3)]
    else:  # each its own order of topics, so no two are near-duplicates of one story (duplicates.py)
        topics = random.Random(n).sample(["schools", "parks", "weather", "markets", "trains", "libraries",
                                          "museums", "gardens", "roadworks", "parking", "buses", "ferries"], 12)
        paragraphs = [f"Commuters in district {n} spoke about {', '.join(topics[:4])} "
                      f"and the harbour bridge toll in a long meeting.",
                      f"Drivers from town {n} described {', '.join(topics[4:8])} "
                      f"and the bridge queues to the local council.",
                      f"The council of ward {n} will review {', '.join(topics[8:])} "
                      f"and the harbour plan next year."]
    record = {"doc_id": f"a{n:02d}", "title": f"Report {n}", "text": "\n\n".join(paragraphs)}
    if url:
        record["url"] = url
    if published:
        record["publish_date"] = published
    return record


@pytest.fixture
def outlets_corpus(tmp_path) -> Path:
    """16 articles from four outlets on four months' days, and one with neither URL nor date."""
    records, n = [], 0
    for url, published in OUTLETS:
        for copy in range(PER_OUTLET):
            n += 1
            records.append(_article(n, url.format(n=n), published.format(day=copy + 10),
                                    strong="usatoday" in url))
    records.append(_article(99, "", None, strong=True))
    corpus = tmp_path / "seeds" / "outlets.jsonl"
    corpus.parent.mkdir()
    corpus.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return corpus


@pytest.fixture
def desk(tmp_path, outlets_corpus, fake_embedder) -> Newsdesk:
    # Short passages: each paragraph is one, so an article has three.
    settings = Settings(seeds=(outlets_corpus.parent,), embeddings=tmp_path / "embeddings",
                        abstain_below=0.0, passage_tokens=32, overlap_sentences=0)
    build_index(settings, fake_embedder)
    return Newsdesk(settings, embedder=fake_embedder)


def _outlets(citations) -> set[str]:
    return {outlet_of(c.url) for c in citations}


# ---------------------------------------------------------------- what a source is


@pytest.mark.parametrize("url, outlet", [
    ("https://www.bbc.co.uk/news/uk-123", "bbc.co.uk"),
    ("https://news.bbc.co.uk/x", "news.bbc.co.uk"),
    ("http://WWW.CNN.com:8080/a", "cnn.com"),
    ("theweek.co.uk/news/1", "theweek.co.uk"),
    ("", None), (None, None), ("not a url", None), ("http://[::1", None),
])
def test_an_articles_outlet_is_its_urls_host_without_www(url, outlet):
    assert outlet_of(url) == outlet


@pytest.mark.parametrize("source, outlet, expected", [
    ("bbc.co.uk", "bbc.co.uk", True),
    ("bbc.co.uk", "news.bbc.co.uk", True),  # a domain takes its subdomains
    ("BBC.co.uk", "bbc.co.uk", True),
    ("www.bbc.co.uk", "bbc.co.uk", True),
    ("https://www.bbc.co.uk/news", "news.bbc.co.uk", True),  # a URL pasted whole: its domain
    ("co.uk", "bbc.co.uk", True),  # a country's domain is a domain too
    ("bc.co.uk", "bbc.co.uk", False),  # not a label boundary
    ("news.bbc.co.uk", "bbc.co.uk", False),  # a subdomain does not take its parent
    ("USA Today", "usatoday.com", True),  # names: letters and digits, any case
    ("usa-today", "college.usatoday.com", True),
    ("CNN", "cnn.com", True),
    ("Week", "theweek.co.uk", True),  # "the" may be left off
    ("The Week", "theweek.co.uk", True),
    ("Today", "usatoday.com", False),  # a name is a whole label, not a part of one
    ("!!!", "cnn.com", False),
])
def test_a_source_is_a_domain_or_an_outlets_name(source, outlet, expected):
    assert matches(source, outlet) is expected


# ---------------------------------------------------------------- the retriever


def test_a_filter_applies_before_the_cut_so_k_come_back(desk, monkeypatch):
    # Five candidates from each side: all of them USA Today's or the undated copy's (15 passages
    # say the question's words more than CNN's), so filtering them afterwards would leave none.
    monkeypatch.setattr(hybrid, "DENSE_CANDIDATES", 5)
    monkeypatch.setattr(hybrid, "LEXICAL_CANDIDATES", 5)
    retriever = desk._serving()
    unfiltered = retriever.search(QUESTION, 5)
    assert "cnn.com" not in {outlet_of(desk.article(h.passage.article_id).url) for h in unfiltered}
    hits = retriever.within(Filters(sources=("cnn.com",))).search(QUESTION, 5)
    assert len(hits) == 5
    assert {outlet_of(desk.article(h.passage.article_id).url) for h in hits} == {"cnn.com"}


def test_k_results_when_k_exist_through_the_library(desk):
    for k in (1, 5, 8):
        answer = desk.ask(Query(question=QUESTION, k=k, sources=["CNN"]))
        assert len(answer.citations) == k and _outlets(answer.citations) == {"cnn.com"}
    # 4 articles, at most 3 passages each (max_per_article): 12 exist, so 12 of 20 come back.
    answer = desk.ask(Query(question=QUESTION, k=20, sources=["cnn.com"]))
    assert len(answer.citations) == PER_OUTLET * 3


def test_dates_are_inclusive_and_an_undated_article_is_outside_any_range(desk):
    answer = desk.ask(Query(question=QUESTION, k=20, published_after=date(2023, 4, 13),
                            published_before=date(2023, 5, 10)))
    days = {c.published for c in answer.citations}
    assert days == {"2023-04-13", "2023-05-10"}  # both ends kept; the day before and after not
    assert "a99" not in {c.article_id for c in answer.citations}
    one_day = desk.ask(Query(question=QUESTION, k=20, published_after=date(2023, 6, 11),
                             published_before=date(2023, 6, 11)))
    assert {c.article_id for c in one_day.citations} == {"a14"}


def test_sources_and_dates_combine(desk):
    answer = desk.ask(Query(question=QUESTION, k=10, sources=["bbc.co.uk", "The Week"],
                            published_after=date(2023, 5, 12)))
    assert _outlets(answer.citations) == {"news.bbc.co.uk", "theweek.co.uk"}
    assert all(c.published >= "2023-05-12" for c in answer.citations)


def test_an_unfiltered_question_searches_everything(desk):
    answer = desk.ask(Query(question=QUESTION, k=20))
    assert len(_outlets(answer.citations)) > 1 and Query(question="x").filters.active is False


def test_filters_that_leave_nothing_say_so_plainly(desk):
    query = Query(question=QUESTION, sources=["nytimes.com"], published_after=date(2023, 1, 1))
    answer = desk.ask(query)
    assert answer.abstained and answer.citations == []
    assert answer.answer == ("No indexed article matches the filters (published on or after "
                             "2023-01-01, from nytimes.com).")
    events = list(desk.ask_stream(query))
    assert events[-1].data.answer == answer.answer and events[-1].data.abstained


def test_a_declined_filtered_answer_names_the_filters(desk):
    desk.settings = desk.settings.with_(abstain_below=1.0)
    off_topic = "Which orchestra played the symphony at the opera gala?"
    answer = desk.ask(Query(question=off_topic, sources=["cnn.com"]))
    assert answer.abstained and answer.citations and answer.answer == (
        "The indexed articles that match the filters (from cnn.com) don't cover this question.")
    assert desk.ask(off_topic).answer == NOT_COVERED


def test_the_outlets_with_their_counts(desk):
    outlets, without = desk.sources()
    assert [(o.source, o.articles) for o in outlets] == [
        ("cnn.com", 4), ("news.bbc.co.uk", 4), ("theweek.co.uk", 4), ("usatoday.com", 4)]
    assert without == 1


# ---------------------------------------------------------------- the shells


@pytest.fixture
def client(desk):
    with TestClient(create_app(desk.settings, desk, watch=False)) as client:
        yield client


def test_ask_and_its_stream_take_the_filters(client):
    body = {"question": QUESTION, "k": 5, "sources": ["theweek.co.uk"],
            "published_before": "2023-06-11"}
    reply = client.post("/ask", json=body)
    assert reply.status_code == 200
    citations = reply.json()["citations"]
    assert {c["article_id"] for c in citations} == {"a13", "a14"}
    stream = client.post("/ask/stream", json=body).text
    assert '"article_id":"a13"' in stream.replace(" ", "") and "usatoday" not in stream


@pytest.mark.parametrize("body, field", [
    ({"published_after": "2023-05-02", "published_before": "2023-05-01"}, "published_before"),
    ({"sources": [" "]}, "sources"),
    ({"sources": [f"s{n}.com" for n in range(21)]}, "sources"),
    ({"published_after": "May 2023"}, "published_after"),
])
def test_ask_refuses_bad_filters_with_the_field(client, body, field):
    reply = client.post("/ask", json={"question": QUESTION, **body})
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"][-1 if field != "sources" else 1] == field


def test_the_sources_route(client):
    reply = client.get("/sources")
    assert reply.status_code == 200
    assert reply.json() == {"sources": [{"source": "cnn.com", "articles": 4},
                                        {"source": "news.bbc.co.uk", "articles": 4},
                                        {"source": "theweek.co.uk", "articles": 4},
                                        {"source": "usatoday.com", "articles": 4}],
                            "without_source": 1}


def test_the_openai_route_takes_filters_as_extra_body_fields(client):
    messages = [{"role": "user", "content": QUESTION}]
    reply = client.post("/v1/chat/completions", json={"messages": messages, "sources": ["CNN"]})
    assert reply.status_code == 200
    urls = {c["url"] for c in reply.json()["citations"]}
    assert urls and all("cnn.com" in url for url in urls)
    nothing = client.post("/v1/chat/completions", json={"messages": messages,
                                                        "published_after": "2030-01-01"})
    assert nothing.json()["choices"][0]["message"]["content"].startswith(
        "No indexed article matches the filters (published on or after 2030-01-01).")
    streamed = client.post("/v1/chat/completions", json={"messages": messages, "stream": True,
                                                         "sources": ["bbc.co.uk"]}).text
    assert "news.bbc.co.uk" in streamed and "usatoday" not in streamed
    refused = client.post("/v1/chat/completions", json={
        "messages": messages, "published_after": "2023-02-01", "published_before": "2023-01-01"})
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "published_before"]


def _ask_cli(embeddings: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, FAKE_CLI, "ask", QUESTION, "--embeddings", str(embeddings),
                           *args], capture_output=True, text=True, timeout=120)


def test_the_cli_flags(desk):
    embeddings = desk.settings.embeddings
    done = _ask_cli(embeddings, "--json", "-k", "4", "--source", "cnn.com", "--source", "USA Today",
                    "--after", "2023-03-12", "--before", "2023-04-11")
    assert done.returncode == 0, done.stderr
    cited = json.loads(done.stdout)["citations"]
    assert len(cited) == 4
    assert {c["article_id"] for c in cited} <= {"a03", "a04", "a05", "a06"}
    refused = _ask_cli(embeddings, "--after", "2023-05-02", "--before", "2023-05-01")
    assert refused.returncode == 2
    assert "--before: must not be earlier than published_after (2023-05-02)" in refused.stderr
    blank = _ask_cli(embeddings, "--source", " ")
    assert blank.returncode == 2 and "--source: a source must not be blank" in blank.stderr


def test_a_filter_in_the_query_is_validated_by_the_library(desk):
    with pytest.raises(ValidationError):
        desk.ask(Query(question=QUESTION, sources=[""]))


@pytest.mark.parametrize("index_type", ["flat", "hnsw"])
@pytest.mark.parametrize("share", [0.5, 0.01])
def test_the_vector_store_searches_only_the_allowed_rows(index_type, share):
    import numpy as np

    from newsdesk.index.vectors import VectorStore

    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(2000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store = VectorStore.build(vectors, index_type)
    allowed = rng.random(2000) < share
    query = vectors[0]
    rows, scores = store.search_among(query, 10, allowed)
    wanted = np.flatnonzero(allowed)[np.argsort(-(vectors[allowed] @ query), kind="stable")][:10]
    assert len(rows) == min(10, int(allowed.sum())) and allowed[rows].all()
    assert list(rows) == list(wanted)  # exact here: HNSW's walk finds these few, or the fallback does
    assert np.allclose(scores, vectors[rows] @ query, atol=1e-5)
    none = store.search_among(query, 10, np.zeros(2000, dtype=bool))
    assert len(none[0]) == 0
