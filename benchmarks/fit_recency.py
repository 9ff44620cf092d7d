"""Fit the recency prior (dates.RecencyPrior) on RealTimeQA dev, with 5-fold cross-validation.

For each fold, the full-weight days, half-life and floor with the best doc MRR@10 on the other four folds are
scored on the held-out one; the table shows those picks and their held-out figures next to the
old step prior (7 days at full weight, then ×0.5) on the same fold. The last line is the pick
over all 153 questions: the defaults in dates.py.

    .venv/bin/python benchmarks/fit_recency.py
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np

from newsdesk.retrieval.recency import RecencyPrior
from newsdesk.evaluation.metrics import Cited, first_doc_rank, first_passage_rank
from newsdesk.evaluation.run import default_embeddings_folder, index_corpus, read_questions
from newsdesk.index.store import load_generation
from newsdesk.retrieval.hybrid import Retriever, RetrievalSettings

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "realtimeqa"
FOLDS = 5
FULL_DAYS = (0, 3, 5, 7)
HALF_LIVES = (1, 3, 7, 14, 30, 90)
FLOORS = (0.4, 0.5, 0.6)


class Step(RecencyPrior):
    """The prior this replaces: full weight for 7 days, then ×0.5 (×0.3 if published later)."""

    def _decay(self, days: int) -> float:
        return 1.0 if days <= 7 else 0.5


def scores(retriever: Retriever, questions, vectors, prior: RecencyPrior) -> np.ndarray:
    """Per question: doc reciprocal rank @10 and passage hit@5."""
    retriever.settings = replace(retriever.settings, recency=prior)
    rows = []
    for question, vector in zip(questions, vectors):
        hits = retriever.search(question.question, 10, query_vector=vector,
                                as_of=date.fromisoformat(question.date))
        cited = [Cited(h.passage.article_id, h.passage.char_start, h.passage.char_end) for h in hits]
        doc = first_doc_rank(cited, question.gold_doc_ids)
        passage = first_passage_rank(cited, question.gold_spans)
        rows.append((1 / doc if doc else 0.0, float(bool(passage and passage <= 5))))
    return np.array(rows)


def main() -> int:
    corpus = DATA / "dev_corpus.jsonl.gz"
    questions = read_questions(DATA / "dev_questions.jsonl")
    settings, embedder, _ = index_corpus(corpus, default_embeddings_folder(corpus))
    retriever = Retriever(load_generation(settings.embeddings), embedder, RetrievalSettings())
    vectors = embedder.embed([q.question for q in questions])
    grid = list(itertools.product(FULL_DAYS, HALF_LIVES, FLOORS))
    table = {point: scores(retriever, questions, vectors, RecencyPrior(*point)) for point in grid}
    step = scores(retriever, questions, vectors, Step())
    fold = np.arange(len(questions)) % FOLDS
    print("| fold | picked full days, half-life, floor | held-out MRR@10 | hit@5 | step prior MRR@10 | hit@5 |")
    print("|---|---|---:|---:|---:|---:|")
    held = []
    for k in range(FOLDS):
        train, test = fold != k, fold == k
        best = max(grid, key=lambda p: (table[p][train, 0].mean(), table[p][train, 1].mean()))
        held.append(table[best][test])
        print(f"| {k + 1} | {best[0]} d, {best[1]} d, {best[2]} | {table[best][test, 0].mean():.3f} | "
              f"{table[best][test, 1].mean():.3f} | {step[test, 0].mean():.3f} | {step[test, 1].mean():.3f} |")
    held = np.vstack(held)
    print(f"| all folds | | {held[:, 0].mean():.3f} | {held[:, 1].mean():.3f} | "
          f"{step[:, 0].mean():.3f} | {step[:, 1].mean():.3f} |")
    best = max(grid, key=lambda p: (table[p][:, 0].mean(), table[p][:, 1].mean()))
    print(f"\npick over all questions: full {best[0]} days, half-life {best[1]} days, floor {best[2]} "
          f"(MRR@10 {table[best][:, 0].mean():.3f}, hit@5 {table[best][:, 1].mean():.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
