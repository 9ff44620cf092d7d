"""Baselines: the obvious recipes newsdesk is measured against, scored by the same metric code.

Each recipe cuts every article into plain 1,000-character chunks (no overlap, no title) and ranks
them: BM25, dense all-MiniLM-L6-v2, or the two fused by reciprocal rank. Its "answer" is the
top chunk, which is what the issue's reference figure ("the top-1 chunk contains the answer")
measures; it is not a three-sentence answer like newsdesk's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from newsdesk.articles import Article, read_articles
from newsdesk.evaluation.metrics import Ask, Cited, EvalQuestion, Prediction
from newsdesk.index.lexical import Lexical, SegmentTerms

CHUNK_CHARS = 1000
CANDIDATES = 100
RRF_K = 60
RECIPES = ("bm25", "dense", "fusion")


@dataclass(frozen=True)
class Chunk:
    article_id: str
    start: int
    end: int
    text: str


def fixed_chunks(articles: Sequence[Article], size: int = CHUNK_CHARS) -> list[Chunk]:
    return [Chunk(a.id, start, min(start + size, len(a.text)), a.text[start:start + size])
            for a in articles for start in range(0, len(a.text), size)]


class ChunkIndex:
    """BM25 and (lazily) dense vectors over the fixed chunks of one corpus."""

    def __init__(self, chunks: list[Chunk], cache: Path | None = None, embedder=None):
        self.chunks = chunks
        self.lexical = Lexical([SegmentTerms.of_texts([c.text for c in chunks])])
        self.cache = cache
        self.embedder = embedder
        self._vectors: np.ndarray | None = None

    @classmethod
    def for_corpus(cls, corpus: Path, cache: Path | None = None, embedder=None) -> "ChunkIndex":
        return cls(fixed_chunks(read_articles([corpus]).articles), cache, embedder)

    @property
    def vectors(self) -> np.ndarray:
        """Chunk embeddings, cached on disk by the chunks' content (embedding them takes minutes)."""
        if self._vectors is None:
            path = self._cache_path()
            if path is not None and path.exists():
                self._vectors = np.load(path)
            else:
                self._vectors = self.embedder.embed([c.text for c in self.chunks], progress=True)
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    np.save(path, self._vectors)
        return self._vectors

    def _cache_path(self) -> Path | None:
        if self.cache is None:
            return None
        digest = hashlib.sha256(getattr(self.embedder, "identity", "").encode())
        for chunk in self.chunks:
            digest.update(f"{chunk.article_id}\x00{chunk.start}\x00{chunk.end}\x00".encode())
        return self.cache / f"chunks{CHUNK_CHARS}-{digest.hexdigest()[:16]}.npy"

    def bm25_ranking(self, question: str) -> list[int]:
        return _top(self.lexical.scores(question), CANDIDATES)

    def dense_ranking(self, question: str) -> list[int]:
        query = self.embedder.embed([question])[0]
        return _top(self.vectors @ query, CANDIDATES)

    def fusion_ranking(self, question: str) -> list[int]:
        return reciprocal_rank_fusion([self.bm25_ranking(question), self.dense_ranking(question)])

    def asker(self, recipe: str, k: int = 10) -> Ask:
        rank = {"bm25": self.bm25_ranking, "dense": self.dense_ranking,
                "fusion": self.fusion_ranking}[recipe]

        def ask(question: EvalQuestion) -> Prediction:
            rows = rank(question.question)[:k]
            chunks = [self.chunks[r] for r in rows]
            return Prediction(cited=tuple(Cited(c.article_id, c.start, c.end) for c in chunks),
                              answer=chunks[0].text if chunks else "", abstained=not chunks)
        return ask


def _top(scores: np.ndarray, count: int) -> list[int]:
    """Rows of the highest scores, best first, ties broken by row; rows scoring 0 left out."""
    count = min(count, int(np.count_nonzero(scores)))
    if count == 0:
        return []
    top = np.argpartition(-scores, count - 1)[:count]
    order = np.lexsort((top, -scores[top]))
    return [int(row) for row in top[order]]


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> list[int]:
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, row in enumerate(ranking, start=1):
            fused[row] = fused.get(row, 0.0) + 1.0 / (k + rank)
    return sorted(fused, key=lambda row: (-fused[row], row))
