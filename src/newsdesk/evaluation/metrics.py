"""What the evaluation scores and how: the question, prediction and outcome records, and the metric
functions (ranks, recall, MRR, answer containment, percentiles) that newsdesk, the baselines and the
suite are all scored by.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

CUTOFFS = (1, 5, 10)
MRR_CUTOFF = 10


@dataclass(frozen=True)
class GoldSpan:
    doc_id: str
    start: int
    end: int


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    question: str
    answers: tuple[str, ...]
    gold_doc_ids: tuple[str, ...]
    gold_spans: tuple[GoldSpan, ...] = ()
    answerable: bool = True
    date: str | None = None  # when the question was asked (RealTimeQA), ISO yyyy-mm-dd


@dataclass(frozen=True)
class Cited:
    """One retrieved passage, as the metrics see it: where it is, nothing else."""

    article_id: str
    start: int
    end: int


@dataclass(frozen=True)
class Prediction:
    cited: tuple[Cited, ...]  # in rank order
    answer: str
    abstained: bool
    confidence: float | None = None  # the answer's own 0..1 confidence, where it gives one


Ask = Callable[[EvalQuestion], Prediction]


@dataclass(frozen=True)
class Outcome:
    """What one question scored; None where the question has nothing to score it against."""

    question_id: str
    answerable: bool
    doc_rank: int | None  # 1-based rank of the first citation from a gold article
    passage_rank: int | None  # 1-based rank of the first citation overlapping a gold span
    has_gold_docs: bool
    has_gold_spans: bool
    answer_contains_gold: bool
    abstained: bool
    seconds: float
    answer: str = ""
    confidence: float | None = None


# ---------------------------------------------------------------- per-question metrics


def first_doc_rank(cited: Sequence[Cited], gold_doc_ids: Iterable[str]) -> int | None:
    gold = set(gold_doc_ids)
    return next((rank for rank, c in enumerate(cited, start=1) if c.article_id in gold), None)


def first_passage_rank(cited: Sequence[Cited], spans: Sequence[GoldSpan]) -> int | None:
    for rank, c in enumerate(cited, start=1):
        if any(c.article_id == s.doc_id and c.start < s.end and s.start < c.end for s in spans):
            return rank
    return None


def contains_answer(text: str, answers: Iterable[str]) -> bool:
    """Case-insensitive, whitespace-insensitive containment of any gold answer."""
    haystack = _normal(text)
    return any(_normal(a) and _normal(a) in haystack for a in answers)


def _normal(text: str) -> str:
    return " ".join(text.casefold().split())


_MARKER = re.compile(r"\[(\d+)\]")


def answer_articles(prediction: Prediction) -> tuple[str, ...]:
    """The articles an answer's text quotes: those of the citations its [n] markers name, in the
    order they appear; the first citation's when the text has no marker; none when it abstained."""
    if prediction.abstained or not prediction.cited:
        return ()
    numbers = [int(n) for n in _MARKER.findall(prediction.answer)]
    named = [prediction.cited[n - 1].article_id for n in numbers if 1 <= n <= len(prediction.cited)]
    return tuple(dict.fromkeys(named)) if numbers else (prediction.cited[0].article_id,)


def answered_from_earlier_topic(first: Prediction, then: Prediction) -> bool:
    """True when the later answer quotes (answer_articles) an article the first turn cited: a
    question on something else, asked after it, was answered from the earlier topic."""
    earlier = {c.article_id for c in first.cited}
    return any(article in earlier for article in answer_articles(then))


def score(question: EvalQuestion, prediction: Prediction, seconds: float) -> Outcome:
    return Outcome(
        question_id=question.id, answerable=question.answerable,
        doc_rank=first_doc_rank(prediction.cited, question.gold_doc_ids),
        passage_rank=first_passage_rank(prediction.cited, question.gold_spans),
        has_gold_docs=bool(question.gold_doc_ids), has_gold_spans=bool(question.gold_spans),
        answer_contains_gold=not prediction.abstained and contains_answer(prediction.answer, question.answers),
        abstained=prediction.abstained, seconds=seconds, answer=prediction.answer,
        confidence=prediction.confidence)


# ---------------------------------------------------------------- aggregates


def recall_at(ranks: Sequence[int | None], k: int) -> float | None:
    """Share of questions whose first hit is at rank k or better."""
    if not ranks:
        return None
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks)


def mrr_at(ranks: Sequence[int | None], k: int = MRR_CUTOFF) -> float | None:
    """Mean reciprocal rank of the first hit, counting a hit below rank k as 0."""
    if not ranks:
        return None
    return sum(1 / r for r in ranks if r is not None and r <= k) / len(ranks)


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (p in 0..100) by linear interpolation between the two nearest ranks,
    as numpy.percentile does by default; 0.0 for no values.

    The one definition behind every pNN newsdesk reports (evaluation, benchmarks, stress tests),
    chosen because anyone can check a figure against its JSON with one np.percentile call and a
    median of an even count is the usual mean of the middle two. Until 2026-12 the benchmarks
    used nearest rank and the stress tests sorted[int(0.95·n)]: their tables then could read a
    sample higher than this gives.
    """
    if not values:
        return 0.0
    ordered = sorted(values)
    position = (len(ordered) - 1) * p / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
