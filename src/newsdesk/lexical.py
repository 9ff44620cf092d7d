"""Lexical index: BM25 over passages (bm25s), the exact-word half of hybrid retrieval."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Sequence

import numpy as np


@functools.lru_cache(maxsize=1)
def _stemmer():
    import Stemmer  # PyStemmer: the Snowball stemmer bm25s recommends

    return Stemmer.Stemmer("english")


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    import bm25s

    return bm25s.tokenize(list(texts), stopwords="en", stemmer=_stemmer(), return_ids=False,
                          show_progress=False)


class LexicalIndex:
    def __init__(self, bm25):
        self.bm25 = bm25
        self.vocabulary = bm25.vocab_dict or {}

    @classmethod
    def build(cls, texts: Sequence[str]) -> "LexicalIndex":
        import bm25s

        bm25 = bm25s.BM25()
        tokens = tokenize(texts) if texts else []
        bm25.index(tokens if tokens else [[""]], show_progress=False)
        return cls(bm25)

    def save(self, folder: Path) -> None:
        self.bm25.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path) -> "LexicalIndex":
        import bm25s

        return cls(bm25s.BM25.load(str(folder), mmap=False, show_progress=False))

    @property
    def documents(self) -> int:
        return int(self.bm25.scores["num_docs"])

    def document_frequency(self, term: str) -> int:
        """How many passages contain the (stemmed) term: bm25s keeps one column per term."""
        column = self.vocabulary.get(term)
        if column is None:
            return 0
        indptr = self.bm25.scores["indptr"]
        return int(indptr[column + 1] - indptr[column])

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage for the query (zeros when no query word is indexed)."""
        words = [w for w in tokenize([query])[0] if w in self.vocabulary]
        if not words:
            return np.zeros(self.bm25.scores["num_docs"], dtype=np.float32)
        return np.asarray(self.bm25.get_scores(words), dtype=np.float32)
