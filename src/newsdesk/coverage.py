"""Coverage: how sure newsdesk is that the articles answer a question — one calibrated number.

Four signals of the passages found, each meaningful on its own:
- cosine: how close the best passage is to the question in meaning (the model's view);
- passage_words: the share of the question's own rare words (idf-weighted) that the best of the
  top passages holds; a question whose distinctive word ("Peru") no passage has is not covered,
  however close the rest of it comes;
- sentence_words: the same share for the answer's leading sentence;
- kind_found: whether the top sentences hold the kind of thing asked for (a number for "how
  many", a date for "when"); 1 when the question asks for no particular kind.
They are combined by logistic regression, fitted with 5-fold cross-validation on RealTimeQA dev
(answerable), the SQuAD 2.0 sample (answerable and unanswerable) and off-corpus questions (the
SQuAD questions asked of the RealTimeQA corpus): benchmarks/fit_coverage.py prints the folds.
The words are the question's own, never a follow-up's borrowed ones, so a question the articles
don't cover is declined whatever the conversation before it was about.
"""

from __future__ import annotations

import math
from dataclasses import astuple, dataclass
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # only for annotations: answers.py imports this module
    from .answers import AnswerSentence, QuestionTerms
    from .retrieval import Hit

TOP_PASSAGES = 3  # as answers.SENTENCE_PASSAGES: the passages answer sentences come from
TOP_SENTENCES = 3  # the kind asked for counts when one of the best few sentences holds it


@dataclass(frozen=True)
class Evidence:
    cosine: float
    passage_words: float
    sentence_words: float
    kind_found: float

    @classmethod
    def of(cls, hits: Sequence["Hit"], sentences: Sequence["AnswerSentence"],
           terms: "QuestionTerms") -> "Evidence":
        # The passages the answer is taken from, so the figure is the same whatever k was asked.
        cosine = max((h.dense for h in hits[:TOP_PASSAGES]), default=0.0)
        if not sentences:
            return cls(cosine, 0.0, 0.0, 0.0)
        by_passage: dict[int, set[str]] = {}
        for sentence in sentences:
            by_passage.setdefault(sentence.citation, set()).update(sentence.terms)
        passage_words = max(terms.own_share(words) for words in by_passage.values())
        kind_found = terms.kind is None or any(s.holds_kind for s in sentences[:TOP_SENTENCES])
        return cls(cosine, passage_words, sentences[0].shared, float(kind_found))

    def as_list(self) -> list[float]:
        return list(astuple(self))


# Fitted by benchmarks/fit_coverage.py (all the data; the folds it prints are the held-out check).
INTERCEPT = -6.0
WEIGHTS = Evidence(cosine=8.0, passage_words=4.0, sentence_words=1.0, kind_found=0.5)


def confidence_of(evidence: Evidence, intercept: float = INTERCEPT,
                  weights: Evidence = WEIGHTS) -> float:
    """The probability, by the fitted model, that the passages answer the question."""
    z = intercept + sum(w * x for w, x in zip(weights.as_list(), evidence.as_list()))
    return 1 / (1 + math.exp(-z))
