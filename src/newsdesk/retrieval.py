"""Retrieval: hybrid dense (FAISS) + BM25 search over one index generation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

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
    # With an as_of date, articles from the days just before it keep their score, and the
    # rest are scaled down: news questions are about "this week".
    recent_days: int = 7
    older_weight: float = 0.7
    later_weight: float = 0.5  # published after as_of


class Retriever:
    def __init__(self, generation: Generation, embedder: Embedder,
                 settings: RetrievalSettings = RetrievalSettings()):
        self.generation = generation
        self.embedder = embedder
        self.settings = settings
        self.published = published_dates(generation)

    def embed_question(self, question: str) -> np.ndarray:
        return self.embedder.embed([question])[0]

    def search(self, question: str, k: int, query_vector: np.ndarray | None = None,
               as_of: date | None = None) -> list[Hit]:
        """The k best passages, at most max_per_article from one article; with as_of, those
        published in the days up to that date are preferred."""
        passages = self.generation.passages
        if not passages:
            return []
        vector = self.embed_question(question) if query_vector is None else query_vector
        dense = self._dense_scores(vector)
        lexical = self.generation.lexical.scores(question)
        fused = self._fuse(dense, lexical)
        if as_of is not None:
            fused = {row: score * self._recency(passages[row].article_id, as_of)
                     for row, score in fused.items()}
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

    def _recency(self, article_id: str, as_of: date) -> float:
        published = self.published.get(article_id)
        if published is None:
            return 1.0
        age = (as_of - published).days
        if age < 0:
            return self.settings.later_weight
        return 1.0 if age <= self.settings.recent_days else self.settings.older_weight



_DATE = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})")


def parse_date(value: str | None) -> date | None:
    """The date at the start of '2022/01/07', '2022-01-07T10:00:00Z' and the like; else None."""
    match = _DATE.match(value.strip()) if value else None
    if not match:
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def published_dates(generation: Generation) -> dict[str, date]:
    """Publication date of each article that has a readable one, parsed once per generation."""
    dates = {}
    for article in generation.articles.values():
        parsed = parse_date(article.published)
        if parsed is not None:
            dates[article.id] = parsed
    return dates
