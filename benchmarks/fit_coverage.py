"""Fit coverage.py's "is this question covered?" model, with 5-fold cross-validation.

Questions and labels (1: the articles answer it, 0: they don't):
- RealTimeQA dev, over its corpus, asked with each question's date as as_of: 1;
- the SQuAD 2.0 sample over its paragraphs: 1 when answerable; the unanswerable ones are
  scored but left out of the fit (coverage.py says why);
- off-corpus: the same SQuAD questions over the RealTimeQA corpus (Wikipedia facts asked of
  news): 0.
Each question's Evidence is measured through the /ask code path once (cached in
.cache/coverage-evidence.json); the folds are stratified by set, the model is fitted on four folds
and scored on the fifth, and the table gives each set's held-out decision rates at the default
threshold (0.5). The last line is the fit on all the data: the constants for coverage.py.

    .venv/bin/python benchmarks/fit_coverage.py [--refresh]
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

import numpy as np

from newsdesk.answers.extractive import retrieve
from newsdesk.evaluation.run import index_corpus, read_questions, default_embeddings_folder
from newsdesk.evaluation.suite import SuitePaths

ROOT = Path(__file__).resolve().parents[1]
PATHS = SuitePaths(data=ROOT.parent / "shared" / "data")  # the evaluation suite's own data
RTQA_CORPUS, RTQA_QUESTIONS = PATHS.dev_corpus, PATHS.dev_questions
SQUAD_CORPUS, SQUAD_QUESTIONS = PATHS.squad_corpus, PATHS.squad_questions
CACHE = ROOT / ".cache" / "coverage-evidence.json"
FOLDS = 5
L2 = 0.01  # a little ridge: keeps the Newton steps finite when a fold separates cleanly
THRESHOLD = 0.5


def measure() -> list[dict]:
    """Evidence of every question of the three sets, through the /ask retrieval path."""
    from newsdesk.retrieval.hybrid import Retriever
    from newsdesk.index.store import load_generation

    rows = []
    embedder = None
    for corpus, questions, label_set in ((RTQA_CORPUS, RTQA_QUESTIONS, "realtimeqa"),
                                         (SQUAD_CORPUS, SQUAD_QUESTIONS, "squad"),
                                         (RTQA_CORPUS, SQUAD_QUESTIONS, "off-corpus")):
        settings, embedder, _ = index_corpus(corpus, default_embeddings_folder(corpus), embedder)
        retriever = Retriever(load_generation(settings.embeddings), embedder)
        for question in read_questions(questions):
            as_of = date.fromisoformat(question.date) if question.date else None
            found = retrieve(question.question, retriever, k=10, abstain_below=0.0, as_of=as_of)
            covered = question.answerable and label_set != "off-corpus"
            rows.append({"set": label_set, "id": question.id, "covered": int(covered),
                         "evidence": found.evidence.model_inputs()})
    return rows


def fit(features: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted logistic regression by Newton's method; returns [intercept, coefficients...]."""
    x = np.hstack([np.ones((len(features), 1)), features])
    beta = np.zeros(x.shape[1])
    ridge = L2 * np.eye(x.shape[1])
    ridge[0, 0] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-x @ beta))
        gradient = x.T @ (weights * (p - labels)) + ridge @ beta
        hessian = (x.T * (weights * p * (1 - p))) @ x + ridge
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta


def predict(beta: np.ndarray, features: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(beta[0] + features @ beta[1:])))


def set_weights(sets: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each set (SQuAD's answerable apart) weighs the same in total, so the 191 off-corpus
    questions don't outvote the 89 answerable SQuAD ones."""
    groups = np.array([f"{s}-{int(l)}" for s, l in zip(sets, labels)])
    weights = np.ones(len(sets))
    for name in set(groups):
        weights[groups == name] = len(groups) / (len(set(groups)) * (groups == name).sum())
    return weights


def rates(sets, labels, p) -> dict[str, float]:
    answered = p >= THRESHOLD
    def share(mask):
        return float(mask.mean()) if mask.size else float("nan")
    return {
        "realtimeqa answered": share(answered[(sets == "realtimeqa")]),
        "squad answerable answered": share(answered[(sets == "squad") & (labels == 1)]),
        "squad unanswerable declined": share(~answered[(sets == "squad") & (labels == 0)]),
        "off-corpus declined": share(~answered[sets == "off-corpus"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refresh", action="store_true", help="measure the evidence again")
    args = parser.parse_args(argv)
    if args.refresh or not CACHE.exists():
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        CACHE.write_text(json.dumps(measure()))
    rows = json.loads(CACHE.read_text())
    sets = np.array([r["set"] for r in rows])
    labels = np.array([r["covered"] for r in rows], dtype=float)
    features = np.array([r["evidence"] for r in rows], dtype=float)
    weights = set_weights(sets, labels)
    # Stratified folds: every set's questions dealt round-robin, in file order.
    fold = np.zeros(len(rows), dtype=int)
    for name in set(sets):
        index = np.flatnonzero(sets == name)
        fold[index] = np.arange(len(index)) % FOLDS
    held_out = np.zeros(len(rows))
    names = ["intercept", "cosine", "dense_margin", "lexical_margin"]
    fitted = ~((sets == "squad") & (labels == 0))  # SQuAD's unanswerable: scored, not fitted
    print("| fold | " + " | ".join(rates(sets, labels, labels).keys()) + " |")
    print("|---|" + "---:|" * 4)
    for k in range(FOLDS):
        train = (fold != k) & fitted
        beta = fit(features[train], labels[train], weights[train])
        test = fold == k
        held_out[test] = predict(beta, features[test])
        r = rates(sets[test], labels[test], held_out[test])
        print(f"| {k + 1} | " + " | ".join(f"{v:.3f}" for v in r.values()) + " |")
    r = rates(sets, labels, held_out)
    print("| all folds | " + " | ".join(f"{v:.3f}" for v in r.values()) + " |")
    beta = fit(features[fitted], labels[fitted], weights[fitted])
    print("\nfit on all: " + ", ".join(f"{n} {b:.3f}" for n, b in zip(names, beta)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
