"""Benchmark 6: the vector store's index types (FAISS) at 100k and 1M vectors, latency and recall@10
against exact."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np
from records import Row, Run

from newsdesk.index.vectors import VectorStore, ivf_lists

K = 10
NOISE = 0.3  # relative to a unit vector


def synthetic_corpus(real: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """`count` unit vectors, each a random blend of two real passage vectors plus noise.

    Blends keep the clustered shape of real embeddings (uniform random vectors are
    unrealistically hard) without near-duplicates that would make the exact top 10 a tie.
    """
    generator = np.random.default_rng(seed)
    out = np.empty((count, real.shape[1]), dtype=np.float32)
    for start in range(0, count, 100_000):
        size = min(count, start + 100_000) - start
        first = real[generator.integers(0, len(real), size)]
        second = real[generator.integers(0, len(real), size)]
        weight = generator.random((size, 1), dtype=np.float32)
        noise = generator.standard_normal(first.shape).astype(np.float32) * (NOISE / np.sqrt(real.shape[1]))
        block = first + weight * second + noise
        out[start:start + size] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


@dataclass
class IndexFigures:
    name: str
    build_seconds: float
    latency_ms: float  # per query, one at a time as the server searches
    recall: float


def one_at_a_time(index: VectorStore, queries: np.ndarray) -> tuple[np.ndarray, float]:
    VectorStore.use_threads(1)  # as the server searches (service.py)
    found = np.full((len(queries), K), -1, dtype=np.int64)
    started = time.perf_counter()
    for n, query in enumerate(queries):
        rows = index.search(query, K)[0]
        found[n, :len(rows)] = rows
    return found, (time.perf_counter() - started) * 1000 / len(queries)


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(e)) / K for f, e in zip(found, exact)]))


def measure(vectors: np.ndarray, queries: np.ndarray) -> list[IndexFigures]:
    figures = []
    VectorStore.use_threads(os.cpu_count() or 1)  # builds use every core
    started = time.perf_counter()
    flat = VectorStore.build(vectors, "flat")
    flat_build = time.perf_counter() - started
    exact, flat_ms = one_at_a_time(flat, queries)
    figures.append(IndexFigures("flat (exact)", flat_build, flat_ms, 1.0))
    del flat

    VectorStore.use_threads(os.cpu_count() or 1)
    started = time.perf_counter()
    hnsw = VectorStore.build(vectors, "hnsw")
    hnsw_build = time.perf_counter() - started
    default_ef = hnsw.breadth
    for ef in sorted({64, 128, 256, default_ef, 1024}):
        hnsw.breadth = ef
        found, ms = one_at_a_time(hnsw, queries)
        marker = " (the setting's default)" if ef == default_ef else ""
        figures.append(IndexFigures(f"hnsw M=32 efSearch={ef}{marker}", hnsw_build, ms,
                                    recall_at_k(found, exact)))
    del hnsw

    VectorStore.use_threads(os.cpu_count() or 1)
    started = time.perf_counter()
    ivf = VectorStore.build(vectors, "ivf")
    ivf_build = time.perf_counter() - started
    if ivf.kind == "ivf":
        default_probes = ivf.breadth
        for probes in sorted({16, 32, default_probes}):
            ivf.breadth = probes
            found, ms = one_at_a_time(ivf, queries)
            marker = " (the setting's default)" if probes == default_probes else ""
            name = f"ivf {ivf_lists(len(vectors))} lists nprobe={probes}{marker}"
            figures.append(IndexFigures(name, ivf_build, ms, recall_at_k(found, exact)))
    return figures


def run_vector_scale(run: Run, real: np.ndarray, queries: np.ndarray, sizes: list[int]) -> None:
    for size in sizes:
        vectors = synthetic_corpus(real, size)
        figures = measure(vectors, queries)
        del vectors
        run.details[f"faiss_{size}"] = [vars(f) for f in figures]
        for f in figures:
            offered = "default" in f.name
            goal = "recall ≥ 0.95, ≤ 20 ms" if offered and size >= 1_000_000 else ""
            met = (f.recall >= 0.95 and f.latency_ms <= 20) if goal else None
            run.add(Row("6 faiss", f"{size:,} vectors: {f.name}", f.latency_ms, "ms/query", goal, met,
                        f"recall@10 {f.recall:.3f}, build {f.build_seconds:.0f} s"))
