"""Retrieval: hybrid dense (the vector store) + BM25 search over one index generation."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from newsdesk.embeddings.base import Embedder
from newsdesk.index.lexical import query_terms
from newsdesk.index.store import Generation
from newsdesk.query import Filters
from newsdesk.retrieval.filters import ArticleFacts
from newsdesk.retrieval.hits import MARGIN_RANK, Hit, Margins
from newsdesk.retrieval.recency import RecencyPrior, time_window
from newsdesk.retrieval.rerank import Reranker, reranker_named
from newsdesk.retrieval.stories import also_in, one_per_story

DENSE_CANDIDATES = 100
LEXICAL_CANDIDATES = 100
RRF_K = 60  # the constant from Cormack et al.; it damps the weight of the very top ranks
MAX_PASSAGES_PER_ARTICLE = 3  # room in the top k for other articles, so one story can't fill it


@dataclass(frozen=True)
class RetrievalSettings:
    # "scores": dense cosine plus BM25 scaled to the best match; "rrf": reciprocal-rank fusion.
    # Measured on the RealTimeQA dev set (docs/evaluation.md): scores beat rrf; BM25 weights
    # from 0.5 to 1.5 rank within a point of each other.
    fusion: str = "scores"
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    max_per_article: int = MAX_PASSAGES_PER_ARTICLE
    # An article's second and third passages count this much less (and then this squared), so
    # the top k holds more articles without losing a story's next-best passage entirely.
    repeat_weight: float = 0.8
    # Several outlets among the candidates: a passage counts repeat_weight less again for each
    # article of its outlet already picked, so the top k draw on more outlets (the same weight:
    # one more of the same, a passage of an article or an article of an outlet, counts as much).
    # Off: on RealTimeQA dev (three outlets) it gained doc R@5 0.908 → 0.922 and answer contains
    # gold 0.503 → 0.516 but lost passage hit@5 0.818 → 0.811 (one question), so it is not shipped.
    spread_over_outlets: bool = False
    # With an as_of date (or time words in the question), an article's score is scaled by its
    # age: news questions are about "this week" unless they say otherwise (dates.py).
    recency: RecencyPrior = field(default_factory=RecencyPrior)
    # Reorders the best hits before the top k are kept (rerank.py); "none": the fusion's order.
    reranker: str = "none"


class Retriever:
    def __init__(self, generation: Generation, embedder: Embedder,
                 settings: RetrievalSettings = RetrievalSettings(),
                 reranker: Reranker | None = None):
        self.generation = generation
        self.embedder = embedder
        self.settings = settings
        self.reranker = reranker if reranker is not None else reranker_named(settings.reranker)
        self.published = generation.published  # parsed once a segment, at load
        self.facts = ArticleFacts(generation, self.published)
        self.filters = Filters()
        self._allowed: np.ndarray | None = None  # one bool per passage; None: all of them

    def within(self, filters: Filters) -> "Retriever":
        """This retriever searching only the passages of articles the filters allow: both
        candidate lists are drawn from those alone, so the top k are k when k pass."""
        if not filters.active:
            return self
        view = copy.copy(self)  # the generation, the reranker and the article facts are shared
        view.filters, view._allowed = filters, self.facts.allowed(filters)
        return view

    @property
    def matches_nothing(self) -> bool:
        """True when the filters leave no passage to search."""
        return self._allowed is not None and not self._allowed.any()

    def embed_question(self, question: str) -> np.ndarray:
        return self.embedder.embed([question])[0]

    def search(self, question: str, k: int, query_vector: np.ndarray | None = None,
               as_of: date | None = None) -> list[Hit]:
        """The k best passages, at most max_per_article from one article; with as_of, those
        published in the days up to that date are preferred, and so are those of the days the
        question's time words name ("last week", "in March 2023"); in the reranker's order."""
        return self.search_with_margins(question, k, query_vector, as_of)[0]

    def search_with_margins(self, question: str, k: int, query_vector: np.ndarray | None = None,
                            as_of: date | None = None) -> tuple[list[Hit], Margins]:
        """search(), and how far its best candidates stand out from the rest (before any prior)."""
        passages = self.generation.passages
        if not passages or self.matches_nothing:
            return [], Margins(0.0, 0.0)
        vector = self.embed_question(question) if query_vector is None else query_vector
        dense = self._dense_scores(vector)
        lexical = self.generation.lexical.scores(question)
        if self._allowed is not None:
            lexical = np.where(self._allowed, lexical, np.float32(0))
        # Cosines of the passages only BM25 found too, in one call: fusion and the hits need them.
        best_lexical = _top_rows(lexical, LEXICAL_CANDIDATES)
        dense.update(self._cosines(vector, best_lexical, skip=dense))
        fused = (self._fuse_scores(dense, lexical) if self.settings.fusion == "scores"
                 else self._fuse(dense, lexical))
        window = time_window(question, as_of)
        if as_of is not None or window is not None:
            prior = self.settings.recency
            fused = {row: score * prior.weight(self.published.get(passages.article_id(row)), as_of, window)
                     for row, score in fused.items()}
        wanted = max(k, self.reranker.candidates)
        ranked = self._spread_over_articles(one_per_story(fused, self.generation), wanted)[:wanted]
        hits = [Hit(passages[row], score, dense[row], float(lexical[row]),
                    also_in(passages.article_id(row), self.generation)) for row, score in ranked]
        return (self.reranker.rerank(question, hits)[:k],
                self._margins(question, dense, lexical, best_lexical))

    def _margins(self, question: str, dense: dict[int, float], lexical: np.ndarray,
                 best_lexical: list[int]) -> Margins:
        cosines = sorted(dense.values(), reverse=True)
        # The best MARGIN_RANK of the BM25 candidates (one partition of all the scores a
        # question: ~5 ms at a million passages), then zeros.
        words = lexical[best_lexical[:MARGIN_RANK]]
        if len(lexical) >= MARGIN_RANK:
            words = np.pad(words, (0, MARGIN_RANK - len(words)))
        idf = sum(self.generation.lexical.idf(t) for t in set(query_terms(question)))
        return Margins(
            dense=cosines[0] - cosines[min(MARGIN_RANK, len(cosines)) - 1] if cosines else 0.0,
            lexical=float(words[0] - words[-1]) / idf if len(words) and idf > 0 else 0.0)

    def _spread_over_articles(self, fused: dict[int, float], count: int) -> list[tuple[int, float]]:
        """The count best candidates, picked one at a time: a passage's score counts
        repeat_weight less for each passage of its article picked before it and, with
        spread_over_outlets, for each article of its outlet picked before it; then the rest in
        score order, an article's n-th passage scaled by repeat_weight^(n-1).

        Picking one at a time keeps a lone outlet's ranking as it was (every candidate then
        carries the same outlet factor), so only a choice between outlets is changed.
        """
        passages, weight = self.generation.passages, self.settings.repeat_weight
        ranked = sorted(fused.items(), key=lambda item: (-item[1], item[0]))
        capped, per_article = [], {}
        for row, score in ranked:
            seen = per_article.get(passages.article_id(row), 0)
            if seen < self.settings.max_per_article:
                per_article[passages.article_id(row)] = seen + 1
                capped.append((row, score, seen))
        if not self.settings.spread_over_outlets:
            return sorted(((row, score * weight ** seen) for row, score, seen in capped),
                          key=lambda item: (-item[1], item[0]))
        outlets = {passages.article_id(row): self.facts.outlet(passages.article_id(row))
                   for row, _, _ in capped}
        picked_of_article: dict[str, int] = {}
        articles_of_outlet: dict[str, set[str]] = {}
        left, chosen = list(capped), []
        while left and len(chosen) < count:
            def adjusted(candidate: tuple[int, float, int]) -> float:
                article_id = passages.article_id(candidate[0])
                outlet = outlets[article_id]
                same_outlet = len(articles_of_outlet.get(outlet, ())) if outlet is not None else 0
                return candidate[1] * weight ** (picked_of_article.get(article_id, 0) + same_outlet)
            best = max(range(len(left)), key=lambda n: (adjusted(left[n]), -left[n][0]))
            row = left[best][0]
            chosen.append((row, adjusted(left.pop(best))))
            article_id = passages.article_id(row)
            picked_of_article[article_id] = picked_of_article.get(article_id, 0) + 1
            if outlets[article_id] is not None:
                articles_of_outlet.setdefault(outlets[article_id], set()).add(article_id)
        rest = sorted(((row, score * weight ** seen) for row, score, seen in left),
                      key=lambda item: (-item[1], item[0]))
        return chosen + rest

    def _dense_scores(self, vector: np.ndarray) -> dict[int, float]:
        vectors = self.generation.vectors
        rows, scores = (vectors.search(vector, DENSE_CANDIDATES) if self._allowed is None
                        else vectors.search_among(vector, DENSE_CANDIDATES, self._allowed))
        return {int(r): float(s) for r, s in zip(rows, scores)}

    def _cosines(self, vector: np.ndarray, rows: list[int], skip: dict[int, float]) -> dict[int, float]:
        missing = [row for row in rows if row not in skip]
        if not missing:
            return {}
        stored = self.generation.vectors.reconstruct(np.asarray(missing, dtype=np.int64))
        return {row: float(cosine) for row, cosine in zip(missing, stored @ vector)}

    def _fuse(self, dense: dict[int, float], lexical: np.ndarray) -> dict[int, float]:
        """Reciprocal-rank fusion of the two candidate lists (dense: the best cosines only)."""
        fused: dict[int, float] = {}
        count = min(DENSE_CANDIDATES, len(dense))
        for rank, row in enumerate(sorted(dense, key=lambda r: -dense[r])[:count]):
            fused[row] = fused.get(row, 0.0) + self.settings.dense_weight / (RRF_K + rank + 1)
        for rank, row in enumerate(_top_rows(lexical, LEXICAL_CANDIDATES)):
            fused[row] = fused.get(row, 0.0) + self.settings.lexical_weight / (RRF_K + rank + 1)
        return fused

    def _fuse_scores(self, dense: dict[int, float], lexical: np.ndarray) -> dict[int, float]:
        """Cosine plus BM25 relative to the best BM25 match, over both candidate lists.

        Unlike ranks, scores keep how far apart the candidates are: a passage far ahead on
        one signal is not pulled level by one that is merely second on both.
        """
        best_lexical = float(lexical.max()) if len(lexical) else 0.0
        fused = {}
        for row, cosine in dense.items():
            words = float(lexical[row]) / best_lexical if best_lexical > 0 else 0.0
            fused[row] = self.settings.dense_weight * cosine + self.settings.lexical_weight * words
        return fused


def _top_rows(scores: np.ndarray, count: int) -> list[int]:
    """Rows of the highest non-zero scores, best first."""
    count = min(count, int(np.count_nonzero(scores)))
    if not count:
        return []
    top = np.argpartition(-scores, count - 1)[:count]
    return [int(row) for row in top[np.argsort(-scores[top], kind="stable")]]
