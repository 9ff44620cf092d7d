"""Coverage: how sure newsdesk is that the articles answer a question — one calibrated number.

Three signals of the search, each meaningful on its own:
- cosine: how close the best of the answer's passages is to the question in meaning;
- dense_margin: how far the best cosine stands above the 10th best. A question the articles
  cover has passages that stand out; a question they don't ("Why does unemployment harm
  growth?" asked of news) comes about as close to many passages as to the best;
- lexical_margin: the same for BM25, over the question words' total idf, so it reads as the
  share of the question's rare words by which the best passage beats the 10th.
They are combined by logistic regression, fitted with 5-fold cross-validation on RealTimeQA dev
(covered), the SQuAD 2.0 sample's answerable questions (covered) and off-corpus questions (the
SQuAD questions asked of the RealTimeQA corpus: not covered); benchmarks/fit_coverage.py prints
the folds. SQuAD 2.0's unanswerable questions are left out of the fit: they are written against
the very paragraph that almost answers them, and no signal here tells them apart (each has an
area under the ROC curve of 0.52-0.60 on them; docs/evaluation.md).

A follow-up is searched with the earlier turns' words, which make any search look covered, so
it must also find the question's own words: own_words, the share of their idf weight that the
best of the answer's passages holds, must reach OWN_WORDS_FOR_A_FOLLOW_UP. "What about the
capital of Peru?" after a question about Calais finds Calais passages with no "Peru" in them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

OWN_WORDS_FOR_A_FOLLOW_UP = 0.5


@dataclass(frozen=True)
class Evidence:
    cosine: float
    dense_margin: float
    lexical_margin: float
    # Share of the question's own (idf-weighted) words the best of the answer's passages holds.
    own_words: float

    def model_inputs(self) -> list[float]:
        return [self.cosine, self.dense_margin, self.lexical_margin]


# Fitted by benchmarks/fit_coverage.py on all its questions (the folds it prints are the check).
INTERCEPT = -11.437
WEIGHTS = (17.675, 14.503, 20.438)  # cosine, dense_margin, lexical_margin


def confidence_of(evidence: Evidence, follow_up: bool = False) -> float:
    """The probability, by the fitted model, that the passages answer the question; 0 for a
    follow-up whose own words the passages lack."""
    if follow_up and evidence.own_words < OWN_WORDS_FOR_A_FOLLOW_UP:
        return 0.0
    z = INTERCEPT + sum(w * x for w, x in zip(WEIGHTS, evidence.model_inputs()))
    return 1 / (1 + math.exp(-z))
