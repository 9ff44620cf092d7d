"""The vector store: inner-product search over one vector per passage (FAISS, imported here only).

Another engine replaces this file: the rest of newsdesk sees only VectorStore's methods and the
file name VECTORS_FILE inside a generation. faiss is imported on first use, not at import, so
commands that never search (`newsdesk index --help`, the CLI's errors) do not pay for it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from newsdesk.index.errors import IndexError_

INDEX_TYPES = ("flat", "ivf", "hnsw")
VECTORS_FILE = "index.faiss"  # the name every generation written so far has
DEFAULT_DIMENSION = 384  # an empty index still needs one

IVF_MIN_VECTORS = 50_000
IVF_PROBES = 64
IVF_TRAINING_PER_LIST = 40  # k-means wants ≥ 39 points a list; more only slows training
HNSW_LINKS = 32
HNSW_BUILD_BREADTH = 80
HNSW_SEARCH_BREADTH = 512
# A filtered search that the engine could not fill scores the allowed rows itself, this many
# vectors (~25 MB at 384 dimensions) at a time.
EXACT_CHUNK_ROWS = 16_384


class UnknownIndexType(IndexError_):
    """An index type other than INDEX_TYPES."""


class VectorStore:
    """Passage vectors by row, searched by inner product (cosine, for unit vectors)."""

    def __init__(self, engine):
        self._engine = engine  # a faiss.Index; nothing outside this file touches it

    @classmethod
    def build(cls, vectors: np.ndarray, index_type: str = "flat") -> "VectorStore":
        """Exact inner product by default; IVF or HNSW where exact search gets slow (millions).

        benchmarks/ at 1M vectors: IVF (4·√n lists, 64 probed) keeps recall@10 ≥ 0.95 at a few ms
        a query; HNSW (M 32, efSearch 512) stays near 0.90. Below IVF_MIN_VECTORS exact search is
        fast and IVF's lists would be too thin to train, so "ivf" gives a flat index there.
        """
        faiss = _faiss()
        dimension = vectors.shape[1] if vectors.ndim == 2 and vectors.shape[1] else DEFAULT_DIMENSION
        if index_type == "flat" or (index_type == "ivf" and len(vectors) < IVF_MIN_VECTORS):
            index = faiss.IndexFlatIP(dimension)
        elif index_type == "ivf":
            index = _trained_ivf(vectors)
        elif index_type == "hnsw":
            index = faiss.IndexHNSWFlat(dimension, HNSW_LINKS, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = HNSW_BUILD_BREADTH
            index.hnsw.efSearch = HNSW_SEARCH_BREADTH
        else:
            raise UnknownIndexType(f"unknown index type {index_type!r}: use 'flat', 'ivf' or 'hnsw'")
        if len(vectors):
            index.add(vectors)
        if isinstance(index, faiss.IndexIVF):
            index.make_direct_map()  # retrieval reconstructs the vectors of BM25-only candidates
        return cls(index)

    @classmethod
    def read(cls, path: Path) -> "VectorStore":
        return cls(_faiss().read_index(str(path)))

    def write(self, path: Path) -> None:
        _faiss().write_index(self._engine, str(path))

    def __len__(self) -> int:
        return int(self._engine.ntotal)

    @property
    def dimension(self) -> int:
        return int(self._engine.d)

    @property
    def kind(self) -> str:
        """"flat", "ivf" or "hnsw": what build() made (an "ivf" of few vectors is "flat")."""
        faiss = _faiss()
        if isinstance(self._engine, faiss.IndexIVF):
            return "ivf"
        return "hnsw" if isinstance(self._engine, faiss.IndexHNSW) else "flat"

    @property
    def breadth(self) -> int | None:
        """How much an approximate search visits (IVF lists probed, HNSW efSearch); None: exact."""
        kind = self.kind
        if kind == "ivf":
            return int(self._engine.nprobe)
        return int(self._engine.hnsw.efSearch) if kind == "hnsw" else None

    @breadth.setter
    def breadth(self, value: int) -> None:
        kind = self.kind
        if kind == "ivf":
            self._engine.nprobe = value
        elif kind == "hnsw":
            self._engine.hnsw.efSearch = value

    def search(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The rows of the (at most) k vectors with the highest inner product with vector, best
        first, and those inner products."""
        k = min(k, len(self))
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        scores, rows = self._engine.search(np.asarray(vector, dtype=np.float32).reshape(1, -1), k)
        found = rows[0] >= 0  # an approximate index may find fewer than k
        return rows[0][found], scores[0][found]

    def search_among(self, vector: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """search() over the rows where allowed (one bool per row) is True only: the k best of
        those, so a filter never leaves fewer than k when k rows pass it.

        The engine skips the other rows as it searches (an IDSelector). An approximate index can
        still find fewer than k of a narrow selection (IVF probes only some lists, HNSW's graph
        walk passes few allowed nodes); then the allowed rows are scored exactly, in chunks.
        """
        allowed = np.asarray(allowed, dtype=bool)
        k = min(k, int(allowed.sum()))
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        faiss = _faiss()
        bitmap = np.packbits(allowed, bitorder="little")  # kept alive until the search returns
        selector = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))
        kind = self.kind
        if kind == "ivf":
            params = faiss.SearchParametersIVF(sel=selector, nprobe=int(self._engine.nprobe))
        elif kind == "hnsw":
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=int(self._engine.hnsw.efSearch))
        else:
            params = faiss.SearchParameters(sel=selector)
        query = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        scores, rows = self._engine.search(query, k, params=params)
        found = rows[0] >= 0
        if int(found.sum()) >= k:
            return rows[0][found], scores[0][found]
        return self._exact_among(query[0], k, np.flatnonzero(allowed))

    def _exact_among(self, vector: np.ndarray, k: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        best_rows, best_scores = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        for start in range(0, len(rows), EXACT_CHUNK_ROWS):
            chunk = rows[start:start + EXACT_CHUNK_ROWS]
            best_rows = np.concatenate([best_rows, chunk])
            best_scores = np.concatenate([best_scores, self.reconstruct(chunk) @ vector])
            if len(best_rows) > k:
                keep = np.argpartition(-best_scores, k - 1)[:k]
                best_rows, best_scores = best_rows[keep], best_scores[keep]
        order = np.lexsort((best_rows, -best_scores))
        return best_rows[order], best_scores[order].astype(np.float32)

    def reconstruct(self, rows: np.ndarray) -> np.ndarray:
        """The stored vectors of rows, one a row."""
        return self._engine.reconstruct_batch(np.asarray(rows, dtype=np.int64))

    @staticmethod
    def use_threads(count: int) -> None:
        """Threads that searches and builds started from the calling thread use: the setting is
        OpenMP's, kept per thread, so a server sets it in every request's own thread."""
        _faiss().omp_set_num_threads(count)


def ivf_lists(count: int) -> int:
    """The IVF lists for count vectors: 4·√n."""
    return int(4 * np.sqrt(count))


def _trained_ivf(vectors: np.ndarray):
    faiss = _faiss()
    lists = ivf_lists(len(vectors))
    quantizer = faiss.IndexFlatIP(vectors.shape[1])
    index = faiss.IndexIVFFlat(quantizer, vectors.shape[1], lists, faiss.METRIC_INNER_PRODUCT)
    sample_size = min(len(vectors), IVF_TRAINING_PER_LIST * lists)
    # A fixed seed: the same passages give the same index, build after build.
    sample = vectors[np.random.default_rng(0).choice(len(vectors), sample_size, replace=False)]
    index.train(np.ascontiguousarray(sample))
    index.nprobe = IVF_PROBES
    index.own_fields = True
    quantizer.this.disown()  # the index owns (and frees) its quantizer
    return index


def _faiss():
    import faiss

    return faiss
