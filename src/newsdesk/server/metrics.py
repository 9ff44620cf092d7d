"""`/metrics` in the Prometheus text format: requests and their latency per route, the answers
given and declined, LLM-writer fallbacks, the index served, its last build, ingest errors.

Each app has its own registry (a test process makes many apps; the global one would refuse the
second). The request figures are counted as requests finish (the request log hands each record
here); the rest is read from the library when Prometheus scrapes, so it is never stale.

Ingest and the folder watcher count their errors with `note_ingest_error(kind)`: one tally per
process, whatever app serves it.
"""

from __future__ import annotations

import threading
from collections import Counter as Tally
from datetime import datetime
from typing import Iterator

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from newsdesk.index.store import last_build
from newsdesk.server.access_log import RequestRecord
from newsdesk.service import Newsdesk

# From a cached page (a few ms) to an answer on a busy machine or an LLM's (tens of seconds).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

_ingest_errors: Tally[str] = Tally()
_ingest_lock = threading.Lock()


def note_ingest_error(kind: str) -> None:
    """Count one ingest or watcher error ("build", "file", "feed", ...) for /metrics."""
    with _ingest_lock:
        _ingest_errors[kind] += 1


class ServerMetrics:
    """The registry /metrics shows, and the request counters the request log feeds."""

    def __init__(self, desk: Newsdesk):
        self.registry = CollectorRegistry()
        self.requests = Counter("newsdesk_http_requests", "HTTP requests answered, by method, route "
                                "template and status", ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("newsdesk_http_request_duration_seconds", "Time from a request's "
                                 "arrival to its last byte (a stream's whole length), by route template",
                                 ["method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(_LibraryCollector(desk))

    def observe(self, record: RequestRecord) -> None:
        self.requests.labels(record.method, record.route, str(record.status)).inc()
        self.latency.labels(record.method, record.route).observe(record.seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/metrics", include_in_schema=False)
        def metrics() -> Response:
            return Response(self.exposition(), media_type=CONTENT_TYPE_LATEST)
        return router


class _LibraryCollector:
    """What the library knows, read at each scrape: answers, the index served, its last build."""

    def __init__(self, desk: Newsdesk):
        self.desk = desk

    def collect(self) -> Iterator[Metric]:
        counts = self.desk.counts
        answers = CounterMetricFamily("newsdesk_answers", "Questions answered, by outcome: answered, "
                                      "declined (the articles do not cover it) or small talk",
                                      labels=["outcome"])
        for outcome, count in (("answered", counts.answered), ("declined", counts.declined),
                               ("small_talk", counts.small_talk)):
            answers.add_metric([outcome], count)
        yield answers
        yield CounterMetricFamily("newsdesk_llm_writer_fallbacks", "Answers copied from the articles "
                                  "because the LLM writer failed", value=counts.writer_fallbacks)
        yield from self._index()
        yield from self._last_build()
        errors = CounterMetricFamily("newsdesk_ingest_errors", "Errors of ingest and the folder "
                                     "watcher, by kind", labels=["kind"])
        with _ingest_lock:
            for kind, count in sorted(_ingest_errors.items()):
                errors.add_metric([kind], count)
        yield errors

    def _index(self) -> Iterator[Metric]:
        health = self.desk.health()
        info = GaugeMetricFamily("newsdesk_index_info", "The index generation served (1), with its "
                                 "embedding model", labels=["generation", "model"])
        if health.generation:
            info.add_metric([health.generation, health.model], 1)
        yield info
        number = _generation_number(health.generation)
        if number is not None:
            yield GaugeMetricFamily("newsdesk_index_generation", "The number of the generation served "
                                    "(gen-000012: 12)", value=number)
        yield GaugeMetricFamily("newsdesk_index_articles", "Articles in the generation served",
                                value=health.articles)
        yield GaugeMetricFamily("newsdesk_index_passages", "Passages in the generation served",
                                value=health.passages)
        yield GaugeMetricFamily("newsdesk_index_degraded", "1 while the generation CURRENT names is "
                                "not the one served, or the last build failed (see /health)",
                                value=int(health.status == "degraded"))

    def _last_build(self) -> Iterator[Metric]:
        record = last_build(self.desk.settings.embeddings) or {}
        yield GaugeMetricFamily("newsdesk_last_build_failed", "1 when the last `newsdesk index` failed",
                                value=int(record.get("state") == "failed"))
        finished = _timestamp(record.get("finished_at") if record.get("state") == "ok" else None)
        if finished is None and self.desk.generation is not None:  # built elsewhere (a replica)
            finished = _timestamp(self.desk.generation.built_at)
        if finished is not None:
            yield GaugeMetricFamily("newsdesk_last_build_timestamp_seconds", "When the last successful "
                                    "build finished (Unix time)", value=finished)
        seconds, embedded = record.get("seconds"), record.get("passages_embedded")
        if record.get("state") == "ok" and isinstance(seconds, (int, float)) and isinstance(embedded, int):
            yield GaugeMetricFamily("newsdesk_last_build_duration_seconds", "How long the last "
                                    "successful build took", value=seconds)
            yield GaugeMetricFamily("newsdesk_last_build_passages_embedded", "Passages the last "
                                    "successful build embedded (new and changed articles only)",
                                    value=embedded)
            yield GaugeMetricFamily("newsdesk_last_build_passages_per_second", "Passages embedded per "
                                    "second of the last successful build",
                                    value=embedded / seconds if seconds > 0 else 0.0)


def _generation_number(name: str | None) -> int | None:
    number = (name or "").removeprefix("gen-")
    return int(number) if number.isdigit() else None


def _timestamp(text: str | None) -> float | None:
    try:
        return datetime.fromisoformat(text).timestamp() if text else None
    except (TypeError, ValueError):
        return None
