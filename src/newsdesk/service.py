"""The library API the HTTP server, the CLI and the tests share: ask, health, articles."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import date
from typing import Iterator

from newsdesk.answers import conversation
from newsdesk.answers.conversation import History, Understood
from newsdesk.answers.extractive import (
    Answer,
    Citation,
    Retrieved,
    answer_retrieved,
    cite,
    retrieve,
    small_talk_answer,
)
from newsdesk.answers.streaming import DoneEvent, StreamEvent, stream_answer, stream_reply
from newsdesk.answers.timeline import stream_timeline, timeline_answer, wants_timeline
from newsdesk.answers.writers import writer_for
from newsdesk.articles import Article
from newsdesk.embeddings import load_embedder
from newsdesk.embeddings.base import Embedder
from newsdesk.index.errors import DamagedIndex, IndexError_
from newsdesk.index.store import Generation, current_folder, current_name, last_build_failure, load_generation
from newsdesk.index.vectors import VectorStore
from newsdesk.query import DEFAULT_K, Query
from newsdesk.retrieval.filters import OutletCount
from newsdesk.retrieval.hybrid import RetrievalSettings, Retriever
from newsdesk.settings import Settings

log = logging.getLogger("newsdesk")

WATCH_SECONDS = 0.5
WATCH_BACKOFF_MAX = 8.0  # seconds between tries while a load keeps failing


@dataclass(frozen=True)
class Health:
    status: str  # "ok"; "degraded": answering, but see problem; "no index": nothing to answer from
    articles: int
    passages: int
    model: str
    built_at: str | None
    generation: str | None  # the generation actually served
    problem: str | None = None  # why CURRENT's generation is not served, or the last build failed
    last_build_failed_at: str | None = None
    last_build_error: str | None = None


@dataclass
class AnswerCounts:
    """How the answers given since start went (the server's /metrics reads them)."""

    answered: int = 0
    declined: int = 0  # "not covered": the articles did not answer it
    small_talk: int = 0
    writer_fallbacks: int = 0  # the LLM writer failed, so the answer was copied from the articles


def _one_search_thread_per_query() -> None:
    """Each request searches one vector; with two OpenMP threads that search was 2-3× slower on
    a busy 2-core machine (threads waiting on each other), and concurrent requests already
    keep both cores busy. OpenMP keeps this setting per thread, so it is set again in each
    request's own thread (the server's worker threads): set once at start-up it only held for
    the main thread, and /ask over HTTP took 49 ms in ask() against 39 ms in process at 10,000
    articles (2026-12-01)."""
    VectorStore.use_threads(1)


class Newsdesk:
    """Answers questions from the newest complete index generation under settings.embeddings.

    A query takes one Retriever reference at its start and uses it to the end, so it sees one
    generation whole even while a newer one is being loaded and swapped in.
    """

    def __init__(self, settings: Settings, embedder: Embedder | None = None):
        self.settings = settings
        self.embedder = embedder or load_embedder(settings)
        _one_search_thread_per_query()
        self.writer = writer_for(settings)  # None unless an LLM is configured: extractive answers
        self._retriever: Retriever | None = None
        self._load_lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._problem: str | None = None
        self._broken: tuple | None = None  # CURRENT's identity when its generation failed to load
        self.counts = AnswerCounts()
        self._counts_lock = threading.Lock()
        self.refresh()

    # -- generations

    def refresh(self) -> bool:
        """Load the generation CURRENT names if it is not the one in use; True when it switched."""
        return self._refresh() == "switched"

    def _refresh(self) -> str:
        """"switched", "same", "skipped" (known broken) or "failed". A failure keeps the served
        generation and becomes the problem /health reports; a generation that failed to load is
        not read again until CURRENT changes (a new build, or a fix said by touching it)."""
        root = self.settings.embeddings
        with self._load_lock:
            seen = _identity(root / "CURRENT")
            try:
                wanted = current_name(root)
                if wanted is None:
                    return "same"  # no CURRENT (yet, or removed): keep what we serve
                if self._retriever and self._retriever.generation.name == wanted:
                    self._problem = None
                    return "same"
                if seen is not None and seen == self._broken:
                    return "skipped"
                if current_folder(root) is None:  # a replica's files not there yet: try again soon
                    raise IndexError_(f"{root / 'CURRENT'} names {wanted}, which is not in {root / 'generations'}")
                generation = load_generation(root, reuse=self.generation)
            except DamagedIndex as error:
                self._broken = seen
                return self._failed(str(error))
            except (IndexError_, OSError) as error:  # e.g. pruned mid-load: try again
                return self._failed(str(error))
            self._retriever = Retriever(generation, self.embedder, retrieval_settings(self.settings))
            self._problem = self._broken = None
            log.info("serving index generation %s (%d passages)", generation.name,
                     generation.passage_count)
            return "switched"

    def _failed(self, problem: str) -> str:
        if problem != self._problem:
            served = self._retriever.generation.name if self._retriever else "nothing"
            log.warning("%s (serving %s)", problem, served)
        self._problem = problem
        return "failed"

    def watch(self) -> None:
        """Pick up new generations in the background, so no request pays for loading one.

        The watcher outlives any failure: it logs it, keeps the served generation and backs off
        (0.5 s doubling up to WATCH_BACKOFF_MAX) while loads keep failing."""
        if self._watcher is not None:
            return

        def loop():
            delay = WATCH_SECONDS
            while not self._stop.wait(delay):
                try:
                    failed = self._refresh() == "failed"
                except Exception as error:  # never let the watcher die: log, back off, go on
                    log.exception("index watcher: %s", error)
                    self._problem, failed = f"the index watcher failed: {error}", True
                delay = min(delay * 2, WATCH_BACKOFF_MAX) if failed else WATCH_SECONDS
        self._watcher = threading.Thread(target=loop, name="newsdesk-watch", daemon=True)
        self._watcher.start()

    @property
    def problem(self) -> str | None:
        """Why the generation CURRENT names is not the one served (None when it is)."""
        return self._problem

    def close(self) -> None:
        self._stop.set()

    @property
    def generation(self) -> Generation | None:
        return self._retriever.generation if self._retriever else None

    @property
    def generation_name(self) -> str | None:
        """The name of the generation served (logs, replies, metrics), None while none is."""
        generation = self.generation
        return generation.name if generation else None

    # -- the questions people ask

    def ask(self, query: Query | str, k: int | None = None, as_of: date | None = None,
            history: History | None = None) -> Answer:
        """The cited answer to a Query, or to a question with these arguments (validated as one).
        as_of: prefer articles published in the days up to this date (news is about 'this week').
        history: the earlier turns, oldest first, that a follow-up question may lean on."""
        query = Query.of(query, k, as_of, history)
        if wants_timeline(query):
            answer = self._timeline(query)
            self._count(answer)
            return answer
        retriever, understood, found = self._find(query)
        answer = found if isinstance(found, Answer) else answer_retrieved(
            found, retriever, self.writer, understood.question_in_context)
        self._count(answer)
        return answer

    def ask_stream(self, query: Query | str, k: int | None = None, as_of: date | None = None,
                   history: History | None = None) -> Iterator[StreamEvent]:
        """The answer as events: the citations first, then the answer in pieces, then done."""
        query = Query.of(query, k, as_of, history)
        if wants_timeline(query):
            return self._counted(stream_timeline(self._timeline(query)))
        retriever, understood, found = self._find(query)
        if isinstance(found, Answer):
            return self._counted(stream_reply(found))
        return self._counted(stream_answer(found, retriever, self.writer, understood.question_in_context))

    def search(self, query: Query | str, k: int | None = None, as_of: date | None = None) -> list[Citation]:
        """The passages that best match the query within its filters, cited, best first: no answer
        is composed and none is declined (an assistant's search tool judges them itself)."""
        checked = Query.of(query, k, as_of)
        retriever = self._serving().within(checked.filters)
        hits = retriever.search(checked.question, checked.k, as_of=checked.as_of)
        return cite(hits, retriever.generation)

    def _counted(self, events: Iterator[StreamEvent]) -> Iterator[StreamEvent]:
        for event in events:
            if isinstance(event.data, DoneEvent):
                self._count(event.data)
            yield event

    def _count(self, answer: Answer | DoneEvent) -> None:
        # A failed writer leaves its note and no flagged sentences; a writer's own note always
        # comes with the sentences it flags (writers.py).
        fell_back = self.writer is not None and answer.note is not None and not answer.flagged_sentences
        with self._counts_lock:
            counts = self.counts
            if answer.small_talk:
                counts.small_talk += 1
            elif answer.abstained:
                counts.declined += 1
            else:
                counts.answered += 1
            counts.writer_fallbacks += int(fell_back)

    def _serving(self) -> Retriever:
        _one_search_thread_per_query()  # in this request's thread: see there
        retriever = self._retriever
        if retriever is None:
            raise IndexError_(f"no index in {self.settings.embeddings}: run `newsdesk index` first")
        return retriever

    def understand(self, question: str, history: History | None = None,
                   as_of: date | None = None) -> Understood:
        """Whether the question is a follow-up, and the query that retrieves for it."""
        search, _ = self._searches(self._serving(), DEFAULT_K, as_of, time.perf_counter())
        return conversation.understand(question, history, lambda query: search(query).confidence)

    def _timeline(self, query: Query) -> Answer:
        """The story's dated sentences in date order (answers/timeline.py), within the filters."""
        return timeline_answer(query, self._serving().within(query.filters), self.settings.abstain_below)

    def _find(self, query: Query) -> tuple[Retriever, Understood, Retrieved | Answer]:
        """Small talk's plain reply, or the passages found for the question as understood."""
        started = time.perf_counter()
        retriever = self._serving().within(query.filters)
        question, k, as_of = query.question, query.k, query.as_of
        search, searched = self._searches(retriever, k, as_of, started)
        understood = conversation.understand(question, query.history,
                                             lambda text: search(text).confidence)
        if understood.is_small_talk:
            return retriever, understood, small_talk_answer(understood.reply, retriever, started)
        if not understood.is_follow_up:
            return retriever, understood, search(question)
        # A weak follow-up's written-out query was searched on its own already: embedded once.
        alone = searched.get(understood.retrieval_query)
        retrieved = retrieve(question, retriever, k, self.settings.abstain_below,
                             understood.retrieval_query, as_of, started,
                             query_vector=alone.query_vector if alone else None)
        if retrieved.abstained and not search(question).abstained:
            # Read as a follow-up, the passages lacked the question's own words, but it is
            # covered as a new topic ("Which landmark is riddled with rust?").
            return retriever, understood, search(question)
        return retriever, understood, retrieved

    def _searches(self, retriever: Retriever, k: int, as_of: date | None, started: float):
        """Searches of queries asked on their own, each made once a request: deciding whether a
        question is a follow-up searches it alone, and that search is then its answer's. Returns
        the search and what it has searched so far (query: its Retrieved)."""
        done: dict[str, Retrieved] = {}

        def search(query: str) -> Retrieved:
            if query not in done:
                done[query] = retrieve(query, retriever, k, self.settings.abstain_below, None,
                                       as_of, started)
            return done[query]
        return search, done

    def sources(self) -> tuple[list[OutletCount], int]:
        """The outlets of the served articles (their URLs' domains) with article counts, most
        first, and how many articles have no URL: what a `sources` filter can name."""
        retriever = self._retriever
        if retriever is None:
            return [], 0
        outlets, without = retriever.facts.outlet_counts  # counted once per generation
        return list(outlets), without

    def article(self, article_id: str) -> Article | None:
        generation = self.generation
        return generation.articles.get(article_id) if generation else None

    def health(self) -> Health:
        generation = self.generation
        model = getattr(self.embedder, "identity", "unknown")
        failed_build = last_build_failure(self.settings.embeddings)
        failed_at, build_error = (failed_build or {}).get("failed_at"), (failed_build or {}).get("error")
        problem = self._problem or (f"the last `newsdesk index` failed at {failed_at}: {build_error}"
                                    if failed_build else None)
        if generation is None:
            return Health("no index", 0, 0, model, None, None, problem, failed_at, build_error)
        return Health("degraded" if problem else "ok", len(generation.articles),
                      generation.passage_count, model, generation.built_at, generation.name,
                      problem, failed_at, build_error)


def retrieval_settings(settings: Settings) -> RetrievalSettings:
    """The retrieval levers the settings expose (NEWSDESK_FUSION, the two weights, the reranker)."""
    return RetrievalSettings(fusion=settings.fusion, dense_weight=settings.dense_weight,
                             lexical_weight=settings.lexical_weight, reranker=settings.reranker)


def _identity(path) -> tuple | None:
    """What changes when a file is replaced or touched: inode, size and modification time."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)
