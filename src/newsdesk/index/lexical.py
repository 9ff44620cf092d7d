"""Lexical index: BM25 over passages, the exact-word half of hybrid retrieval.

bm25s tokenises (and stems, with PyStemmer). Scoring is ours: an index is a list of immutable
segments (Lucene's layout), each keeping its passages' term counts, and BM25 must weigh a term
by its frequency in the whole collection. bm25s stores each index's weights with its own idf
and average length baked in and cannot combine indexes, so `Lexical` computes Lucene's BM25
(bm25s's "lucene" method, k1 1.5, b 0.75) from the segments' counts at query time, touching
only the postings of the query's terms.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy import sparse

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


@functools.lru_cache(maxsize=1024)
def query_terms(text: str) -> tuple[str, ...]:
    """The stemmed terms of one question: retrieval, its margins and the answer's sentence
    choice all ask for them, and bm25s's tokenizer costs ~2 ms a call."""
    return tuple(tokenize([text])[0])


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    import bm25s

    return bm25s.tokenize(list(texts), stopwords="en", stemmer=_stemmer(), return_ids=False,
                          show_progress=False)


def _term_counts(texts: Sequence[str]) -> tuple[list[str], sparse.csr_matrix]:
    """The texts' vocabulary, and how often each of its terms occurs in each text (passages ×
    vocabulary, int32)."""
    column: dict[str, int] = {}
    terms, indptr = [], [0]
    for words in (tokenize(texts) if texts else []):
        terms.extend(column.setdefault(word, len(column)) for word in words)
        indptr.append(len(terms))
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    counts = sparse.csr_matrix((np.ones(len(terms), dtype=np.int32), (rows, terms)),
                               shape=(len(indptr) - 1, len(column)), dtype=np.int32)
    counts.sum_duplicates()
    return list(column), counts


# A segment's files: its term counts by term (CSC), its passages' lengths, its vocabulary.
POSTINGS_INDPTR = "postings_indptr.npy"  # term t's postings are [indptr[t], indptr[t + 1])
POSTINGS_ROWS = "postings_rows.npy"  # the segment row of each posting, ascending within a term
POSTINGS_COUNTS = "postings_counts.npy"  # how often the term occurs in that passage
LENGTHS = "lengths.npy"  # terms per passage (stopwords left out): BM25's document length


def _narrowest(values: np.ndarray) -> np.ndarray:
    """The values in the smallest unsigned type that holds them: counts fit a byte in all but
    freak passages, and rows fit two bytes in a segment of up to 65,536 passages."""
    largest = int(values.max()) if len(values) else 0
    return values.astype(np.min_scalar_type(largest), copy=False)


@dataclass(frozen=True, eq=False)
class SegmentTerms:
    """One segment's term counts: per term, which passages hold it and how often, and each
    passage's length. Written once; read back memory-mapped, so a loaded segment holds only
    its vocabulary in memory."""

    columns: dict[str, int]  # term → its column, in column order
    indptr: np.ndarray
    rows: np.ndarray
    counts: np.ndarray
    lengths: np.ndarray

    @classmethod
    def of_texts(cls, texts: Sequence[str]) -> "SegmentTerms":
        return cls._of_matrix(*_term_counts(texts))

    @classmethod
    def merged(cls, parts: Sequence[tuple["SegmentTerms", np.ndarray]]) -> "SegmentTerms":
        """One segment of the given rows of each part, parts in order, each part's rows in the
        order given (a merge drops deleted passages this way); terms no kept passage uses go."""
        union: dict[str, int] = {}
        blocks = []
        for segment, keep in parts:
            renumber = np.array([union.setdefault(t, len(union)) for t in segment.columns], dtype=np.int64)
            picked = segment.matrix().tocsr()[np.asarray(keep, dtype=np.int64)]
            blocks.append((picked.data, renumber[picked.indices], picked.indptr, picked.shape[0]))
        width = len(union)
        matrix = sparse.vstack([sparse.csr_matrix((data, indices, indptr), shape=(height, width))
                                for data, indices, indptr, height in blocks] or
                               [sparse.csr_matrix((0, width), dtype=np.int32)], format="csr")
        return cls._of_matrix(list(union), matrix)

    @classmethod
    def _of_matrix(cls, vocabulary: Sequence[str], counts: sparse.spmatrix) -> "SegmentTerms":
        """The segment of a passages × vocabulary count matrix, without the terms it never uses."""
        by_term = sparse.csc_matrix(counts, dtype=np.int64)
        by_term.sum_duplicates()  # also sorts each term's rows
        used = np.diff(by_term.indptr) > 0
        by_term = by_term[:, np.flatnonzero(used)]
        return cls({term: n for n, term in enumerate(t for t, keep in zip(vocabulary, used) if keep)},
                   by_term.indptr.astype(np.int64), _narrowest(by_term.indices),
                   _narrowest(by_term.data), _narrowest(np.asarray(by_term.sum(axis=1)).ravel()))

    def write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name, values in ((POSTINGS_INDPTR, self.indptr), (POSTINGS_ROWS, self.rows),
                             (POSTINGS_COUNTS, self.counts), (LENGTHS, self.lengths)):
            np.save(folder / name, values, allow_pickle=False)
        (folder / VOCABULARY).write_text(json.dumps(list(self.columns), ensure_ascii=False))

    @classmethod
    def read(cls, folder: Path) -> "SegmentTerms":
        def mapped(name: str) -> np.ndarray:
            # A plain ndarray over the mapped pages: np.memmap's own slicing costs ~10 µs a
            # call, and a query slices every query term's postings in every segment.
            return np.load(folder / name, mmap_mode="r", allow_pickle=False).view(np.ndarray)

        vocabulary = json.loads((folder / VOCABULARY).read_text())
        return cls({term: n for n, term in enumerate(vocabulary)}, mapped(POSTINGS_INDPTR),
                   mapped(POSTINGS_ROWS), mapped(POSTINGS_COUNTS), mapped(LENGTHS))

    @property
    def passages(self) -> int:
        return len(self.lengths)

    @functools.cached_property
    def total_length(self) -> int:
        """All passages' lengths added up: with the passage count, the average length."""
        return int(self.lengths.sum(dtype=np.int64))

    def document_frequency(self, term: str) -> int:
        column = self.columns.get(term)
        return 0 if column is None else int(self.indptr[column + 1] - self.indptr[column])

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """The rows of the passages that hold the term, and its count in each (views, not copies)."""
        column = self.columns.get(term)
        if column is None:
            return self.rows[:0], self.counts[:0]
        start, stop = int(self.indptr[column]), int(self.indptr[column + 1])
        return self.rows[start:stop], self.counts[start:stop]

    def matrix(self) -> sparse.csc_matrix:
        """The counts as a passages × vocabulary matrix, read into memory (for merging)."""
        return sparse.csc_matrix((np.asarray(self.counts, dtype=np.int32), np.asarray(self.rows, dtype=np.int32),
                                  np.asarray(self.indptr)), shape=(self.passages, len(self.columns)))


class Lexical:
    """BM25 over a list of segments with collection-wide statistics, as Lucene scores.

    N, each term's document frequency and the average length are summed over all segments at
    query time. Passages the live mask marks deleted score zero but still count in those
    statistics until a merge drops them: Lucene's documented behaviour ("values may include
    statistics on deleted documents that have not yet been merged away", TermStatistics).
    """

    def __init__(self, segments: Sequence[SegmentTerms], live: np.ndarray | None = None):
        self.segments = list(segments)
        self.starts = np.cumsum([0] + [s.passages for s in self.segments])
        self.documents = int(self.starts[-1])
        total = sum(s.total_length for s in self.segments)
        self.average_length = total / self.documents if self.documents and total else 1.0
        if live is not None and len(live) != self.documents:
            raise ValueError(f"a live mask of {len(live)} rows for {self.documents} passages")
        self.dead = np.flatnonzero(~np.asarray(live, dtype=bool)) if live is not None else None
        self.norms = [_length_norms(s, self.average_length) for s in self.segments]

    def document_frequency(self, term: str) -> int:
        """How many passages of all segments contain the (stemmed) term, deleted ones included."""
        return sum(s.document_frequency(term) for s in self.segments)

    def idf(self, term: str) -> float:
        """The (stemmed) term's BM25 idf over all segments (Lucene's formula, as bm25s)."""
        return float(_idf(max(1, self.documents), self.document_frequency(term)))

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage for the query, segment 0's rows first (zeros for
        deleted passages and when no query word is indexed)."""
        scores = np.zeros(self.documents, dtype=np.float32)
        # A repeated query word counts once per repeat, as in bm25s.
        for term, repeats in Counter(query_terms(query)).items():
            frequency = self.document_frequency(term)
            if not frequency:
                continue
            weight = np.float32(repeats * _idf(self.documents, frequency))
            for segment, start, norms in zip(self.segments, self.starts, self.norms):
                rows, counts = segment.postings(term)
                if len(rows):
                    rows = rows.astype(np.intp)  # numpy indexes with intp: convert once, not twice
                    norm = np.take(norms, segment.lengths[rows])  # take: a third faster than []
                    # add.at is numpy's fastest scatter-add (twice as fast as `own[rows] += ...`)
                    np.add.at(scores[start:start + segment.passages], rows, _saturated(counts, norm, weight))
        if self.dead is not None:
            scores[self.dead] = 0
        return scores


def _length_norms(segment: SegmentTerms, average_length: float) -> np.ndarray:
    """k1·(1 − b + b·length/average) for every length up to the segment's longest passage: a
    small table indexed by length, as Lucene caches a norm per length byte, so scoring looks
    lengths up instead of computing with them, and nothing is held per passage."""
    longest = int(segment.lengths.max()) if segment.passages else 0
    return (K1 * (1 - B + B * np.arange(longest + 1) / average_length)).astype(np.float32)


def _saturated(counts: np.ndarray, norm: np.ndarray, weight: np.float32) -> np.ndarray:
    """weight · tf / (tf + norm) in float32, reusing `norm` and the array it makes (a common
    term's postings are a million long at 1.25M passages: each pass over them counts)."""
    tf = counts.astype(np.float32)
    np.add(norm, tf, out=norm)
    np.divide(tf, norm, out=tf)
    tf *= weight
    return tf
