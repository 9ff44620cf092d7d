"""Retrieval: hybrid dense (FAISS) + BM25 search over one index generation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .embeddings import Embedder
from .index import Generation
from .passages import Passage

DENSE_CANDIDATES = 100
LEXICAL_CANDIDATES = 100
RRF_K = 60  # the constant from Cormack et al.; it damps the weight of the very top ranks
MAX_PASSAGES_PER_ARTICLE = 2  # room in the top k for other articles, so one story can't fill it


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float  # fused score; only its order matters
    dense: float  # cosine similarity of question and passage
    lexical: float  # BM25 score


@dataclass(frozen=True)
class RetrievalSettings:
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    max_per_article: int = MAX_PASSAGES_PER_ARTICLE


class Retriever:
    def __init__(self, generation: Generation, embedder: Embedder,
                 settings: RetrievalSettings = RetrievalSettings()):
        self.generation = generation
        self.embedder = embedder
        self.settings = settings

    def embed_question(self, question: str) -> np.ndarray:
        return self.embedder.embed([question])[0]

    def search(self, question: str, k: int, query_vector: np.ndarray | None = None) -> list[Hit]:
        passages = self.generation.passages
        if not passages:
            return []
        vector = self.embed_question(question) if query_vector is None else query_vector
        dense = self._dense_scores(vector)
        lexical = self.generation.lexical.scores(question)
        fused = self._fuse(dense, lexical)
        ranked = sorted(fused.items(), key=lambda item: (-item[1], item[0]))
        hits, per_article = [], {}
        for row, score in ranked:
            passage = passages[row]
            seen = per_article.get(passage.article_id, 0)
            if seen >= self.settings.max_per_article:
                continue
            per_article[passage.article_id] = seen + 1
            dense_score = dense.get(row)
            if dense_score is None:
                dense_score = self._cosine(vector, row)
            hits.append(Hit(passage, score, dense_score, float(lexical[row])))
            if len(hits) == k:
                break
        return hits

    def _dense_scores(self, vector: np.ndarray) -> dict[int, float]:
        count = min(DENSE_CANDIDATES, self.generation.vectors_index.ntotal)
        scores, rows = self.generation.vectors_index.search(vector.reshape(1, -1), count)
        return {int(r): float(s) for r, s in zip(rows[0], scores[0]) if r >= 0}

    def _cosine(self, vector: np.ndarray, row: int) -> float:
        return float(np.dot(self.generation.vectors_index.reconstruct(row), vector))

    def _fuse(self, dense: dict[int, float], lexical: np.ndarray) -> dict[int, float]:
        """Reciprocal-rank fusion of the two candidate lists."""
        fused: dict[int, float] = {}
        for rank, row in enumerate(sorted(dense, key=lambda r: -dense[r])):
            fused[row] = fused.get(row, 0.0) + self.settings.dense_weight / (RRF_K + rank + 1)
        count = min(LEXICAL_CANDIDATES, int(np.count_nonzero(lexical)))
        if count:
            top = np.argpartition(-lexical, count - 1)[:count]
            for rank, row in enumerate(top[np.argsort(-lexical[top], kind="stable")]):
                row = int(row)
                fused[row] = fused.get(row, 0.0) + self.settings.lexical_weight / (RRF_K + rank + 1)
        return fused
