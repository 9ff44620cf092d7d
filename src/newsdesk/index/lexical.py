"""Lexical index: BM25 over passages (bm25s), the exact-word half of hybrid retrieval.

bm25s tokenises, scores queries and stores the index. It cannot add documents to an index,
and tokenising is most of a build (~5 s per 100,000 passages on this CPU), so each generation
also keeps its passages' term counts: the next build tokenises only new passages and derives
the BM25 weights of all of them from the counts in one vectorised step.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy import sparse

TERM_COUNTS = "term_counts.npz"
VOCABULARY = "vocabulary.json"
# bm25s's defaults (method "lucene"), so an index built here scores like bm25s's own.
K1 = 1.5
B = 0.75


@functools.lru_cache(maxsize=1)
def _stemmer():
    import Stemmer  # PyStemmer: the Snowball stemmer bm25s recommends

    return Stemmer.Stemmer("english")


def _idf(documents, frequency):
    """BM25 idf (Lucene's, as bm25s) of a term in `frequency` of `documents` passages."""
    return np.log(1 + (documents - frequency + 0.5) / (frequency + 0.5))


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    import bm25s

    return bm25s.tokenize(list(texts), stopwords="en", stemmer=_stemmer(), return_ids=False,
                          show_progress=False)


@dataclass(frozen=True)
class TermCounts:
    """How often each vocabulary term occurs in each passage: one sparse row per passage."""

    vocabulary: list[str]
    counts: sparse.csr_matrix  # passages × vocabulary, int32

    @classmethod
    def of_texts(cls, texts: Sequence[str], vocabulary: Sequence[str] = ()) -> "TermCounts":
        """Counts of the texts' terms, numbered after the given vocabulary's own."""
        column = {term: n for n, term in enumerate(vocabulary)}
        terms, indptr = [], [0]
        for words in (tokenize(texts) if texts else []):
            terms.extend(column.setdefault(word, len(column)) for word in words)
            indptr.append(len(terms))
        rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
        counts = sparse.csr_matrix((np.ones(len(terms), dtype=np.int32), (rows, terms)),
                                   shape=(len(indptr) - 1, len(column)), dtype=np.int32)
        counts.sum_duplicates()
        return cls(list(column), counts)

    @property
    def passages(self) -> int:
        return self.counts.shape[0]

    def with_rows(self, fresh_texts: Sequence[str], rows: np.ndarray) -> "TermCounts":
        """Rows picked from these counts and from the fresh texts' counts, in the given order.

        rows[i] ≥ 0 takes this index's row rows[i]; rows[i] == -1 takes the next fresh text.
        Terms no passage uses any more are dropped from the vocabulary.
        """
        fresh = TermCounts.of_texts(fresh_texts, self.vocabulary)
        width = len(fresh.vocabulary)
        old = sparse.csr_matrix((self.counts.data, self.counts.indices, self.counts.indptr),
                                shape=(self.passages, width))
        pool = sparse.vstack([old, fresh.counts], format="csr")
        picks = np.asarray(rows, dtype=np.int64).copy()
        is_fresh = picks < 0
        picks[is_fresh] = self.passages + np.arange(int(is_fresh.sum()))
        return TermCounts(fresh.vocabulary, pool[picks]).compacted()

    def compacted(self) -> "TermCounts":
        used = np.bincount(self.counts.indices, minlength=len(self.vocabulary)) > 0
        if used.all():
            return self
        renumber = np.cumsum(used) - 1
        counts = sparse.csr_matrix((self.counts.data, renumber[self.counts.indices], self.counts.indptr),
                                   shape=(self.passages, int(used.sum())))
        return TermCounts([t for t, keep in zip(self.vocabulary, used) if keep], counts)

    def bm25_weights(self) -> sparse.csc_matrix:
        """Per passage and term, the term's BM25 contribution (Lucene's formula, as bm25s)."""
        counts = self.counts
        documents = max(1, self.passages)
        lengths = np.asarray(counts.sum(axis=1)).ravel().astype(np.float64)
        average = lengths.mean() if len(lengths) and lengths.mean() > 0 else 1.0
        frequency = np.bincount(counts.indices, minlength=counts.shape[1])
        idf = _idf(documents, frequency)
        row_lengths = np.repeat(lengths, np.diff(counts.indptr))
        tf = counts.data.astype(np.float64)
        weights = idf[counts.indices] * tf / (tf + K1 * (1 - B + B * row_lengths / average))
        return sparse.csr_matrix((weights.astype(np.float32), counts.indices, counts.indptr),
                                 shape=counts.shape).tocsc()

    def save(self, folder: Path) -> None:
        # Uncompressed: zlib took ~2.7 s of a 3 s incremental build at 125,000 passages.
        sparse.save_npz(folder / TERM_COUNTS, self.counts, compressed=False)
        (folder / VOCABULARY).write_text(json.dumps(self.vocabulary, ensure_ascii=False))

    @classmethod
    def load(cls, folder: Path) -> "TermCounts | None":
        """The counts a generation kept, or None for one written before they were kept."""
        try:
            counts = sparse.load_npz(folder / TERM_COUNTS).tocsr()
            vocabulary = json.loads((folder / VOCABULARY).read_text())
        except (OSError, ValueError):
            return None
        return cls(vocabulary, counts)


class LexicalIndex:
    def __init__(self, bm25, term_counts: TermCounts | None = None):
        self.bm25 = bm25
        self.vocabulary = bm25.vocab_dict or {}
        self.term_counts = term_counts  # kept while building, for saving; not loaded to serve

    @classmethod
    def build(cls, texts: Sequence[str]) -> "LexicalIndex":
        return cls.from_counts(TermCounts.of_texts(texts))

    @classmethod
    def from_counts(cls, term_counts: TermCounts) -> "LexicalIndex":
        """A bm25s index whose score matrix is computed from the counts (no re-tokenising)."""
        vocabulary = {term: n for n, term in enumerate(term_counts.vocabulary)}
        bm25 = _bm25_over(term_counts.bm25_weights())
        bm25.index(([], vocabulary), create_empty_token=False, show_progress=False)
        return cls(bm25, term_counts)

    def save(self, folder: Path) -> None:
        self.bm25.save(str(folder), show_progress=False)
        if self.term_counts is not None:
            self.term_counts.save(folder)

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

    def idf(self, term: str) -> float:
        """The (stemmed) term's BM25 idf, as bm25s's Lucene formula weighs it."""
        documents = max(1, self.documents)
        frequency = self.document_frequency(term)
        return float(_idf(documents, frequency))

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage for the query (zeros when no query word is indexed)."""
        words = [w for w in tokenize([query])[0] if w in self.vocabulary]
        if not words:
            return np.zeros(self.bm25.scores["num_docs"], dtype=np.float32)
        return np.asarray(self.bm25.get_scores(words), dtype=np.float32)


def _bm25_over(weights: sparse.csc_matrix):
    """bm25s.BM25 whose build hook, `build_index_from_ids` (documented as the one to override),
    returns weights computed from term counts instead of from every passage's token ids."""
    import bm25s

    class CountsBM25(bm25s.BM25):
        def build_index_from_ids(self, unique_token_ids, corpus_token_ids, show_progress=True,
                                 leave_progress=False):
            self.nonoccurrence_array = None  # Lucene's BM25 has no score for absent terms
            return {"data": weights.data, "indices": weights.indices.astype(np.int32),
                    "indptr": weights.indptr, "num_docs": weights.shape[0]}

    return CountsBM25()
