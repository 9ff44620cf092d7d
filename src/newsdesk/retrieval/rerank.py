"""Rerankers: reorder (or rescore) a question's fused hits before answers are built from them.

A reranker sees the question and the best `candidates` hits of the hybrid search (at least k),
best first, and returns them in its own order; the Retriever keeps the first k. It decides which
passages are cited and in what order, which the answer writer (answers.writers) cannot: a writer
only writes the text for the hits it is given.

Adding one: a class here with `candidates` and `rerank`, and its name in RERANKERS (the setting
`reranker` chooses among those names).
"""

from __future__ import annotations

from typing import Protocol, Sequence

from newsdesk.retrieval.hits import Hit


class Reranker(Protocol):
    """Reorders the fused hits for one question."""

    candidates: int  # how many fused hits it wants to see; fewer than k means k

    def rerank(self, question: str, hits: Sequence[Hit]) -> list[Hit]:
        """The hits, best first (a subset, or with new scores, as the reranker sees fit)."""
        ...


class KeepOrder:
    """The reranker that ships: the hybrid search's own order, unchanged."""

    candidates = 0

    def rerank(self, question: str, hits: Sequence[Hit]) -> list[Hit]:
        return list(hits)


RERANKERS: dict[str, type] = {"none": KeepOrder}


def reranker_named(name: str) -> Reranker:
    try:
        return RERANKERS[name]()
    except KeyError:
        raise ValueError(f"unknown reranker {name!r}: use {', '.join(map(repr, RERANKERS))}") from None
