"""The vector store: inner-product search over one vector per passage (FAISS, imported here only).

Another engine replaces this file: the rest of newsdesk sees only VectorStore's methods (and
SegmentedVectors, which presents several segments' stores as one) and the file name VECTORS_FILE
inside a generation. faiss is imported on first use, not at import, so commands that never search
(`newsdesk index --help`, the CLI's errors) do not pay for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from newsdesk.index.errors import IndexError_

INDEX_TYPES = ("flat", "ivf", "hnsw")
# How each vector is kept: 4 bytes a dimension, 2 (float16) or 1 (8-bit scalar quantiser, one
# trained range per dimension). docs/performance.md "Compressed vectors" has what each costs.
CODECS = ("fp32", "fp16", "sq8")
VECTORS_FILE = "index.faiss"  # the name every generation written so far has
DEFAULT_DIMENSION = 384  # an empty index still needs one

IVF_MIN_VECTORS = 50_000
IVF_PROBES = 64
IVF_TRAINING_PER_LIST = 40  # k-means wants ≥ 39 points a list; more only slows training
HNSW_LINKS = 32
HNSW_BUILD_BREADTH = 80
HNSW_SEARCH_BREADTH = 512
# Below this many vectors "sq8" stores float16, which needs no training: a small incremental
# segment (an article is ~13 passages) never trains anything, and a range trained on a handful of
# vectors would squeeze the next ones' codes. 10,000 float16 vectors are 7.7 MB; SQ8 would save
# 3.8 MB of that.
SQ8_MIN_VECTORS = 10_000
# A filtered search that the engine could not fill scores the allowed rows itself, this many
# vectors (~25 MB at 384 dimensions) at a time.
EXACT_CHUNK_ROWS = 16_384

_FACTORY_CODES = {"fp32": "Flat", "fp16": "SQfp16", "sq8": "SQ8"}  # faiss.index_factory's names


class UnknownIndexType(IndexError_):
    """An index type other than INDEX_TYPES."""


class UnknownCodec(IndexError_):
    """A codec other than CODECS."""


class VectorStore:
    """Passage vectors by row, searched by inner product (cosine, for unit vectors)."""

    def __init__(self, engine, mapped: bool = False):
        self._engine = engine  # a faiss.Index; nothing outside this file touches it
        self._mapped = mapped  # its codes are the file's read-only pages (read with mmap)

    @classmethod
    def build(cls, vectors: np.ndarray, index_type: str = "flat", codec: str = "fp32") -> "VectorStore":
        """Exact inner product by default; IVF or HNSW where exact search gets slow (millions);
        vectors kept as codec.

        benchmarks/ at 1M vectors: IVF (4·√n lists, 64 probed) keeps recall@10 ≥ 0.95 at a few ms
        a query; HNSW (M 32, efSearch 512) stays near 0.90. Below IVF_MIN_VECTORS exact search is
        fast and IVF's lists would be too thin to train, so "ivf" gives a flat index there; below
        SQ8_MIN_VECTORS "sq8" gives "fp16" for the same reason. Only IVF and "sq8" train, on the
        vectors given (IVF on a fixed sample of them).
        """
        if index_type not in INDEX_TYPES:
            raise UnknownIndexType(f"unknown index type {index_type!r}: use 'flat', 'ivf' or 'hnsw'")
        if codec not in CODECS:
            raise UnknownCodec(f"unknown codec {codec!r}: use 'fp32', 'fp16' or 'sq8'")
        faiss = _faiss()
        dimension = vectors.shape[1] if vectors.ndim == 2 and vectors.shape[1] else DEFAULT_DIMENSION
        if codec == "sq8" and len(vectors) < SQ8_MIN_VECTORS:
            codec = "fp16"
        code = _FACTORY_CODES[codec]
        lists = ivf_lists(len(vectors))
        if index_type == "ivf" and len(vectors) >= IVF_MIN_VECTORS:
            description = f"IVF{lists},{code}"
        elif index_type == "hnsw":
            description = f"HNSW{HNSW_LINKS}" + ("" if codec == "fp32" else f",{code}")
        else:
            description = code
        index = faiss.index_factory(dimension, description, faiss.METRIC_INNER_PRODUCT)
        if isinstance(index, faiss.IndexHNSW):
            index.hnsw.efConstruction = HNSW_BUILD_BREADTH
            index.hnsw.efSearch = HNSW_SEARCH_BREADTH
        if not index.is_trained:
            index.train(_training_sample(vectors, lists if isinstance(index, faiss.IndexIVF) else None))
        if isinstance(index, faiss.IndexIVF):
            index.nprobe = IVF_PROBES
        return cls._filled(index, vectors)

    @classmethod
    def like(cls, trained: "VectorStore", vectors: np.ndarray) -> "VectorStore":
        """A store of trained's kind and codec holding vectors, reusing trained's IVF lists and
        quantiser ranges instead of training again (a merge of segments of one model).

        A vector beyond a reused SQ8 range is clipped to it, so reuse suits vectors of the model
        that trained it. trained must have been read without mmap: faiss cannot empty a copy of
        mapped codes.
        """
        if trained._mapped:
            raise IndexError_("a store read with mmap cannot lend its training: read it without mmap")
        index = _faiss().clone_index(trained._engine)
        index.reset()
        return cls._filled(index, vectors)

    @classmethod
    def _filled(cls, index, vectors: np.ndarray) -> "VectorStore":
        if len(vectors):
            index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        if isinstance(index, _faiss().IndexIVF):
            index.make_direct_map()  # retrieval reconstructs the vectors of BM25-only candidates
        return cls(index)

    @classmethod
    def read(cls, path: Path, mmap: bool = False) -> "VectorStore":
        """The store written at path; with mmap, its codes stay in the file, mapped, read-only.

        Mapped pages are the page cache's: shared by every process serving the file and dropped
        under memory pressure. An IVF search touches only the lists it probes, so a mapped IVF
        store's resident memory stays a fraction of its size; a flat search reads every page.
        """
        faiss = _faiss()
        flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if mmap else 0
        return cls(faiss.read_index(str(path), flags), mapped=mmap)

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
    def codec(self) -> str:
        """"fp32", "fp16" or "sq8": how the vectors are kept (an "sq8" of few vectors is "fp16")."""
        faiss = _faiss()
        codes = self._engine
        if isinstance(codes, faiss.IndexHNSW):
            codes = faiss.downcast_index(codes.storage)
        if not hasattr(codes, "sq"):
            return "fp32"
        return "fp16" if codes.sq.qtype == faiss.ScalarQuantizer.QT_fp16 else "sq8"

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
            return _nothing()
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
        k = min(k, int(np.count_nonzero(allowed)))
        if k <= 0:
            return _nothing()
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
        return _best_first(best_rows, best_scores)

    def reconstruct(self, rows: np.ndarray) -> np.ndarray:
        """The stored vectors of rows, one a row (decoded: a compressed codec's approximation)."""
        return self._engine.reconstruct_batch(np.asarray(rows, dtype=np.int64))

    @staticmethod
    def use_threads(count: int) -> None:
        """Threads that searches and builds started from the calling thread use: the setting is
        OpenMP's, kept per thread, so a server sets it in every request's own thread."""
        _faiss().omp_set_num_threads(count)


class SegmentedVectors:
    """Several segments' stores searched as one: global rows run through segment 0's rows, then
    segment 1's, and so on; rows that live marks False (deleted passages) are never returned.

    Each segment is searched for its own k best and the lists are merged by score: the segments
    hold vectors of one model, so their inner products compare.
    """

    def __init__(self, stores: Sequence[VectorStore], live: np.ndarray | None = None):
        self._stores = list(stores)
        sizes = [len(store) for store in self._stores]
        self._starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        if live is not None:
            live = np.asarray(live, dtype=bool)
            if len(live) != self._starts[-1]:
                raise ValueError(f"{len(live)} live flags for {self._starts[-1]} rows")
            if live.all():
                live = None  # nothing deleted: searches skip the selector
        self._live = live
        dimensions = {store.dimension for store in self._stores}
        if len(dimensions) > 1:
            raise ValueError(f"segments of different dimensions {sorted(dimensions)}")

    def __len__(self) -> int:
        return int(self._starts[-1])

    @property
    def dimension(self) -> int:
        return self._stores[0].dimension if self._stores else DEFAULT_DIMENSION

    @property
    def kind(self) -> str:
        """The largest segment's kind: the one that decides how exact a search is ("flat" when
        there is none)."""
        return max(self._stores, key=len).kind if self._stores else "flat"

    @property
    def breadth(self) -> int | None:
        """The largest approximate segment's breadth; None: every segment is exact."""
        approximate = [store for store in self._stores if store.breadth is not None]
        return max(approximate, key=len).breadth if approximate else None

    @breadth.setter
    def breadth(self, value: int) -> None:
        for store in self._stores:
            store.breadth = value

    def search(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """VectorStore.search over every segment's live rows."""
        if self._live is None and len(self._stores) == 1:
            return self._stores[0].search(vector, k)  # one whole segment costs what a store does
        return self._merged(vector, k, self._live)

    def search_among(self, vector: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """VectorStore.search_among over every segment: allowed has one bool per global row."""
        allowed = np.asarray(allowed, dtype=bool)
        if len(allowed) != len(self):
            raise ValueError(f"{len(allowed)} allowed flags for {len(self)} rows")
        return self._merged(vector, k, allowed if self._live is None else allowed & self._live)

    def _merged(self, vector: np.ndarray, k: int,
                allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The k best of every segment's k best, allowed rows only (None: all rows)."""
        rows, scores = [], []
        for store, start in zip(self._stores, self._starts):
            if allowed is None:
                found, found_scores = store.search(vector, k)
            else:
                mine = allowed[start:start + len(store)]
                if not mine.any():
                    continue
                found, found_scores = (store.search(vector, k) if mine.all()
                                       else store.search_among(vector, k, mine))
            rows.append(found + start)
            scores.append(found_scores)
        if not rows:
            return _nothing()
        best_rows, best_scores = _best_first(np.concatenate(rows), np.concatenate(scores))
        return best_rows[:k], best_scores[:k]

    def reconstruct(self, rows: np.ndarray) -> np.ndarray:
        """The stored vectors of global rows, one a row, in the order asked."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.dimension), dtype=np.float32)
        segment_of = np.searchsorted(self._starts, rows, side="right") - 1
        for segment in np.unique(segment_of):
            at = segment_of == segment
            out[at] = self._stores[segment].reconstruct(rows[at] - self._starts[segment])
        return out


def ivf_lists(count: int) -> int:
    """The IVF lists for count vectors: 4·√n."""
    return int(4 * np.sqrt(count))


def _training_sample(vectors: np.ndarray, lists: int | None) -> np.ndarray:
    """What a codec or IVF trains on: all of vectors (a quantiser's ranges are a cheap pass), or
    for IVF IVF_TRAINING_PER_LIST a list, the same rows build after build (a fixed seed)."""
    if lists is None:
        return np.ascontiguousarray(vectors, dtype=np.float32)
    size = min(len(vectors), IVF_TRAINING_PER_LIST * lists)
    return np.ascontiguousarray(vectors[np.random.default_rng(0).choice(len(vectors), size, replace=False)],
                                dtype=np.float32)


def _best_first(rows: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """rows and scores by descending score, ties by row."""
    order = np.lexsort((rows, -scores))
    return rows[order].astype(np.int64), scores[order].astype(np.float32)


def _nothing() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)


def _faiss():
    import faiss

    return faiss
