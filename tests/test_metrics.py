"""/metrics (issue 19): a real uvicorn server, real traffic, then a real scrape in the Prometheus
text format, read back with prometheus_client's own parser."""

from __future__ import annotations

import httpx
import pytest
from conftest import SEED_ID, TREATY_QUESTION, free_port
from prometheus_client.parser import text_string_to_metric_families
from reliability_support import ThreadServer

from newsdesk.index.build import build_index
from newsdesk.index.store import last_build
from newsdesk.server.app import create_app
from newsdesk.server.metrics import note_ingest_error
from newsdesk.service import Newsdesk
from newsdesk.settings import Settings

TOKEN = "metrics-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of a scrape: (name, its labels) → value."""
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(scraped: dict, name: str, **labels) -> float | None:
    return scraped.get((name, frozenset(labels.items())))


@pytest.fixture
def served(tmp_path, seeds, fake_embedder):
    # An LLM that nobody answers at: each answer falls back to the extractive one, with a note.
    settings = Settings(seeds=(seeds,), embeddings=tmp_path / "embeddings", api_token=TOKEN,
                        llm_url=f"http://127.0.0.1:{free_port()}/v1", llm_timeout=2.0)
    build_index(settings, fake_embedder)
    desk = Newsdesk(settings, embedder=fake_embedder)
    server = ThreadServer(create_app(settings, desk, watch=False))
    yield server, desk, settings
    server.stop()


def test_a_scrape_after_traffic_counts_requests_by_route_answers_fallbacks_and_the_index(served):
    server, desk, settings = served
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as client:
        for _ in range(2):
            assert client.post("/ask", json={"question": TREATY_QUESTION}).status_code == 200
        declined = client.post("/ask", json={"question": "zebra quantum saxophone marmalade"}).json()
        assert declined["abstained"]
        for _ in range(3):
            assert client.get(f"/articles/{SEED_ID}").status_code == 200
        assert client.get("/articles/no-such-article").status_code == 404
        assert httpx.post(server.url + "/ask", json={"question": TREATY_QUESTION}).status_code == 401
        assert client.get("/no/such/page").status_code == 404
        note_ingest_error("test-kind")
        assert httpx.get(server.url + "/metrics").status_code == 401  # behind the token
        scrape = client.get("/metrics")
    assert scrape.status_code == 200 and scrape.headers["content-type"].startswith("text/plain")
    scraped = samples(scrape.text)

    requests = "newsdesk_http_requests_total"
    assert value(scraped, requests, method="POST", route="/ask", status="200") == 3
    assert value(scraped, requests, method="POST", route="/ask", status="401") == 1
    # The route's template, never the id asked for: one series for every article.
    assert value(scraped, requests, method="GET", route="/articles/{article_id}", status="200") == 3
    assert value(scraped, requests, method="GET", route="/articles/{article_id}", status="404") == 1
    assert value(scraped, requests, method="GET", route="(unmatched)", status="404") == 1
    assert SEED_ID not in scrape.text and "no-such-article" not in scrape.text
    assert value(scraped, requests, method="GET", route="/metrics", status="401") == 1
    latency = "newsdesk_http_request_duration_seconds"
    assert value(scraped, latency + "_count", method="POST", route="/ask") == 4
    assert value(scraped, latency + "_bucket", method="POST", route="/ask", le="+Inf") == 4
    assert value(scraped, latency + "_sum", method="POST", route="/ask") > 0

    assert value(scraped, "newsdesk_answers_total", outcome="answered") == 2
    assert value(scraped, "newsdesk_answers_total", outcome="declined") == 1
    assert value(scraped, "newsdesk_llm_writer_fallbacks_total") == 2  # the declined one wrote nothing
    assert value(scraped, "newsdesk_ingest_errors_total", kind="test-kind") >= 1

    health = desk.health()
    assert value(scraped, "newsdesk_index_info", generation=health.generation, model=health.model) == 1
    assert value(scraped, "newsdesk_index_generation") == 1  # gen-000001
    assert value(scraped, "newsdesk_index_articles") == health.articles == 1
    assert value(scraped, "newsdesk_index_passages") == health.passages > 1
    assert value(scraped, "newsdesk_last_build_failed") == 0
    build = last_build(settings.embeddings)
    assert value(scraped, "newsdesk_last_build_passages_embedded") == build["passages_embedded"] == health.passages
    assert value(scraped, "newsdesk_last_build_passages_per_second") == pytest.approx(
        build["passages_embedded"] / build["seconds"])
    assert value(scraped, "newsdesk_last_build_timestamp_seconds") > 1.7e9


def test_without_a_token_metrics_are_open_like_every_route(tmp_path, seeds, fake_embedder):
    settings = Settings(seeds=(seeds,), embeddings=tmp_path / "embeddings")
    build_index(settings, fake_embedder)
    server = ThreadServer(create_app(settings, Newsdesk(settings, embedder=fake_embedder), watch=False))
    try:
        scraped = samples(httpx.get(server.url + "/metrics").text)
    finally:
        server.stop()
    assert value(scraped, "newsdesk_answers_total", outcome="answered") == 0
    assert value(scraped, "newsdesk_index_articles") == 1
