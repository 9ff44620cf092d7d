"""Timelines: how a story developed, as one dated sentence from each of several articles, in
date order, each cited like an answer's sentence.

A question asks for one when it says so ("timeline of …", "what has happened with …", "how has …
developed", "history of …", "the story so far") or when the query's mode is "timeline". Patterns,
not a model, as answers/kinds.py reads answer types: a rule a reader can check against a question.
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Iterator, Literal

from newsdesk.answers.extractive import (
    Answer,
    TimelineEntry,
    cite,
    not_covered,
    question_terms,
    retrieve,
)
from newsdesk.answers.kinds import holds_kind
from newsdesk.answers.streaming import AnswerPiece, CitationsEvent, DoneEvent, StreamEvent
from newsdesk.index.lexical import tokenize
from newsdesk.passages import sentence_spans
from newsdesk.query import Query
from newsdesk.retrieval.hits import Hit
from newsdesk.retrieval.hybrid import Retriever
from newsdesk.retrieval.recency import time_window

Order = Literal["oldest", "newest"]

# Each is a way of asking how something developed. "So far" alone is not one: "How many have
# died so far?" asks for a number.
_ASKS = re.compile(
    r"\btimeline\b|\bchronology of\b|\bhistory of\b|\bthe story so far\b"
    r"|\bwhat(?: has|'s| have) happened (?:with|to|in|on|at|since|over)\b"
    r"|\bwhat happened (?:with|to) .{1,80}? so far\b"
    r"|\bhow (?:has|have|did) .{1,80}? (?:develop|unfold|evolve|progress)(?:ed|d)?\b"
    r"|\b(?:latest|recent|key) (?:developments|events) (?:in|on|with|of)\b",
    re.IGNORECASE)
_NEWEST_FIRST = re.compile(r"\b(?:latest|most recent|newest)\b", re.IGNORECASE)
# The words that ask for a timeline or its order, not for the story: left out of the search.
_TIMELINE_WORDS = frozenset("""
    timeline chronology history story happened happen develop developed unfold unfolded evolve
    evolved progress progressed developments events key latest recent most newest oldest first
    far give show
""".split())
_WORD = re.compile(r"[\w'’-]+")
_WEEKDAYS = {name.lower(): n for n, name in enumerate(calendar.day_name)}
_ON_WEEKDAY = re.compile(r"\b(?:on|last) (" + "|".join(_WEEKDAYS) + r")\b", re.IGNORECASE)
_YESTERDAY = re.compile(r"\b(?:yesterday|last night)\b", re.IGNORECASE)

# Passages searched: at most three per article (retrieval/hybrid.py), so some 15-20 articles.
CANDIDATE_PASSAGES = 60
# A sentence of fewer words is a heading or a caption ("Baby formula shortage"), not a step.
MIN_SENTENCE_WORDS = 6
# An entry's sentence must hold this share of the story's (idf-weighted) words: a timeline of
# the Calais camp cites sentences about the camp, not the article's paragraph on the weather.
MIN_TOPIC_SHARE = 0.5
# Between sentences about the story alike, one that says when beats one that doesn't.
DATE_WEIGHT = 0.2


def wants_timeline(query: Query) -> bool:
    """True when the query asks for a timeline: its mode says so, or, with no mode, its question."""
    if query.mode is not None:
        return query.mode == "timeline"
    return asks_for_timeline(query.question)


def asks_for_timeline(question: str) -> bool:
    """True when the question asks how something developed ("What has happened with …?")."""
    return _ASKS.search(question) is not None


def order_asked(question: str) -> Order:
    """"newest" when the question asks for the latest first; else "oldest", a story's own order."""
    return "newest" if _NEWEST_FIRST.search(question) else "oldest"


def story_of(question: str) -> str:
    """The question's words less those that ask for a timeline: what to search for
    ("What has happened with the Calais camp?": "What has with the Calais camp")."""
    words = [w for w in _WORD.findall(question) if w.casefold() not in _TIMELINE_WORDS]
    return " ".join(words) or question


@dataclass(frozen=True)
class _Dated:
    """An article's best sentence about the story, and the day it is dated."""

    hit: Hit
    text: str
    start: int  # offset in the article
    end: int
    day: date
    dated_by: Literal["published", "sentence"]
    score: float


def timeline_answer(query: Query, retriever: Retriever, abstain_below: float,
                    started: float | None = None) -> Answer:
    """The story's timeline: one dated sentence from each of up to k articles about it, in date
    order (oldest first unless the question asks for the latest), each cited; or the abstention
    an answer would give when the articles don't cover the story."""
    started = time.perf_counter() if started is None else started
    story = story_of(query.question)
    # Whether the articles cover the story is judged as for any question (coverage.py).
    covered = retrieve(story, retriever, query.k, abstain_below, started=started)
    entries: list[_Dated] = []
    if not covered.abstained:
        hits = retriever.search(story, max(CANDIDATE_PASSAGES, 3 * query.k),
                                query_vector=covered.query_vector)
        entries = _entries(story, hits, retriever, query.as_of)[:query.k]
    took_ms = round((time.perf_counter() - started) * 1000, 2)
    if not entries:
        return Answer(answer=not_covered(retriever), citations=covered.citations, abstained=True,
                      confidence=round(covered.confidence, 4), took_ms=took_ms,
                      generation=retriever.generation.name)
    newest_first = order_asked(query.question) == "newest"
    entries.sort(key=lambda e: (e.day, e.hit.passage.article_id), reverse=newest_first)
    citations = cite([e.hit for e in entries], retriever.generation)
    timeline = [TimelineEntry(date=e.day.isoformat(), dated_by=e.dated_by, citation=c.n, text=e.text,
                              char_start=e.start, char_end=e.end)
                for e, c in zip(entries, citations)]
    text = "\n".join(f"{_day_label(e.day)}: {e.text} [{c.n}]" for e, c in zip(entries, citations))
    return Answer(answer=text, citations=citations, abstained=False,
                  confidence=round(covered.confidence, 4), took_ms=took_ms,
                  generation=retriever.generation.name, timeline=timeline)


def _entries(story: str, hits: list[Hit], retriever: Retriever, as_of: date | None) -> list[_Dated]:
    """Each article's best dated sentence about the story, in the order retrieval ranked the
    articles; one entry an article, and a sentence another outlet already carried is left out."""
    terms = question_terms(story, None, retriever)
    best: dict[str, _Dated] = {}
    for rank, hit in enumerate(hits):
        passage = hit.passage
        published = retriever.published.get(passage.article_id)
        if as_of is not None and published is not None and published > as_of:
            continue  # not yet written on the day the timeline is asked about
        spans = [(s, e) for s, e in sentence_spans(passage.text)
                 if len(passage.text[s:e].split()) >= MIN_SENTENCE_WORDS]
        words = tokenize([passage.text[s:e] for s, e in spans]) if spans else []
        for (start, end), sentence_words in zip(spans, words):
            share = terms.own_share(frozenset(sentence_words))
            if share < MIN_TOPIC_SHARE:
                continue
            text = passage.text[start:end]
            day, dated_by = _day_of(text, published)
            if day is None:
                continue  # an undated article's sentence cannot be placed
            score = share + DATE_WEIGHT * holds_kind(text, "date", story)
            found = _Dated(hit, text, passage.char_start + start, passage.char_start + end, day,
                           dated_by, score)
            kept = best.get(passage.article_id)
            if kept is None or score > kept.score:
                best[passage.article_id] = found
    entries, said = [], set()
    for entry in best.values():  # dicts keep insertion order: the articles' retrieval order
        key = " ".join(entry.text.casefold().split())
        if key not in said:
            said.add(key)
            entries.append(entry)
    return entries


def _day_of(sentence: str, published: date | None) -> tuple[date | None, Literal["published", "sentence"]]:
    """The day a sentence tells of: a day it names ("on Sept. 28, 2022"; "on Monday" or
    "yesterday", read back from its article's date) if no later than the article, else the article's."""
    window = time_window(sentence, None)  # a named day, month or year: no 'now' needed
    named = window.start if window is not None and window.end - window.start <= timedelta(days=1) else None
    if named is None and published is not None:
        named = _relative_day(sentence, published)
    if named is not None and (published is None or named <= published):
        return named, "sentence"
    return published, "published"


def _relative_day(sentence: str, published: date) -> date | None:
    """"yesterday" or "on Monday" as a day up to a week before the article. Unlike a question's
    "on Monday" (retrieval/recency.py: the Monday before), an article's own weekday is its day."""
    if _YESTERDAY.search(sentence):
        return published - timedelta(days=1)
    match = _ON_WEEKDAY.search(sentence)
    if match is None:
        return None
    back = (published.weekday() - _WEEKDAYS[match.group(1).lower()]) % 7
    return published - timedelta(days=back)


def _day_label(day: date) -> str:
    return f"{day.day} {day:%b %Y}"  # 8 Dec 2022, as the chat labels publication dates


def stream_timeline(answer: Answer) -> Iterator[StreamEvent]:
    """A timeline as /ask/stream's events: its citations, the whole text as one piece, and done
    with its entries (a timeline is ready whole: nothing is written sentence by sentence)."""
    yield StreamEvent("citations", CitationsEvent(citations=answer.citations))
    yield StreamEvent("answer", AnswerPiece(text=answer.answer))
    yield StreamEvent("done", DoneEvent(
        answer=answer.answer, abstained=answer.abstained, confidence=answer.confidence,
        took_ms=answer.took_ms, generation=answer.generation, timeline=answer.timeline))
