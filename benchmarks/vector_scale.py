"""Benchmark 6: the vector store's index types and codecs (FAISS) at up to 1.25M vectors: recall@10
against exact, bytes, build seconds, query latency on one and two threads.

    .venv/bin/python benchmarks/vector_scale.py [--vectors 1250000] [--hnsw]

Run alone it writes benchmarks/results/vector-scale-<UTC time>.json; benchmarks/run.py's `faiss`
stage calls run_vector_scale for its own sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from records import Machine, Row, Run

from newsdesk.evaluation.metrics import percentile
from newsdesk.index.vectors import VectorStore, ivf_lists

K = 10
NOISE = 0.3  # relative to a unit vector
ROOT = Path(__file__).resolve().parents[1]
DEV_INDEX = ROOT / ".cache" / "eval-dev_corpus"
DEV_QUESTIONS = ROOT.parent / "shared" / "data" / "realtimeqa" / "dev_questions.jsonl"
TWO_THREAD_QUERIES = 50  # the two-thread latency's sample: a 1M flat scan costs ~0.1 s a query


@dataclass(frozen=True)
class Layout:
    """One way to keep the vectors: VectorStore.build's index type and codec, and the breadths
    (IVF nprobe, HNSW efSearch) to search it with; the store's own default is always among them."""

    index_type: str
    codec: str
    breadths: tuple[int, ...] = ()


# The layouts of the issue-17 question (which one fits 1.25M vectors in 2 GB at ≤ 30 ms /ask):
# exact flat in each codec, and IVF in the two codecs that fit (IVF-fp16 would leave ~1 GB for
# everything else). HNSW takes ~2 minutes to build at 1M on 2 cores, so it runs on request.
LAYOUTS = (
    Layout("flat", "fp32"),
    Layout("flat", "fp16"),
    Layout("flat", "sq8"),
    Layout("ivf", "fp32"),
    Layout("ivf", "sq8", (16, 32, 128)),
)
HNSW_LAYOUTS = (Layout("hnsw", "fp32", (128, 256, 1024)), Layout("hnsw", "sq8", (128, 256, 1024)))


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
    index_type: str  # what the store is ("ivf" below IVF_MIN_VECTORS is "flat")
    codec: str
    breadth: int | None
    default: bool  # the breadth the store is built with
    vectors: int
    build_seconds: float  # training included
    bytes: int  # the written index: codes, ids, IVF's direct map, HNSW's graph
    mapped_resident_bytes: int  # file pages resident after the queries when read with mmap
    # (measured once per layout, at the default breadth)
    recall: float  # recall@10 against exact fp32
    p50_ms: float  # one query at a time, one thread (as the server searches)
    p95_ms: float
    p50_ms_2_threads: float
    p95_ms_2_threads: float


def timed_search(store: VectorStore, queries: np.ndarray, threads: int) -> tuple[np.ndarray, list[float]]:
    """Each query's top K rows, searched one at a time on threads threads, and each one's ms."""
    VectorStore.use_threads(threads)
    found = np.full((len(queries), K), -1, dtype=np.int64)
    times = []
    for n, query in enumerate(queries):
        started = time.perf_counter()
        rows = store.search(query, K)[0]
        times.append((time.perf_counter() - started) * 1000)
        found[n, :len(rows)] = rows
    return found, times


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(e)) / K for f, e in zip(found, exact)]))


def file_resident_bytes() -> int:
    """This process's resident pages that map files (/proc's RssFile)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1]) * 1024
    return 0


def exact_top(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Each query's true top K rows by inner product: one matrix product a block of vectors,
    seconds where K searches of a flat index one query at a time take minutes at 1M."""
    best_rows = np.zeros((len(queries), 0), dtype=np.int64)
    best_scores = np.zeros((len(queries), 0), dtype=np.float32)
    for start in range(0, len(vectors), 100_000):
        block = vectors[start:start + 100_000]
        scores = np.hstack([best_scores, queries @ block.T])
        rows = np.hstack([best_rows, np.tile(np.arange(start, start + len(block)), (len(queries), 1))])
        keep = np.argpartition(-scores, K - 1, axis=1)[:, :K]
        best_rows, best_scores = np.take_along_axis(rows, keep, 1), np.take_along_axis(scores, keep, 1)
    return best_rows


def measure(vectors: np.ndarray, queries: np.ndarray, layouts=LAYOUTS) -> list[IndexFigures]:
    """Every layout's figures, recall against the exact top K of fp32 vectors."""
    figures, exact = [], exact_top(vectors, queries)
    with tempfile.TemporaryDirectory(prefix="vector-scale-") as scratch:
        for layout in layouts:
            VectorStore.use_threads(os.cpu_count() or 1)  # builds use every core
            started = time.perf_counter()
            store = VectorStore.build(vectors, layout.index_type, layout.codec)
            build_seconds = time.perf_counter() - started
            path = Path(scratch) / "index.faiss"
            store.write(path)
            size = path.stat().st_size
            default = store.breadth
            # Any one flat search reads every page; an IVF or HNSW search only what it visits.
            mapped = _mapped_resident(path, queries[:5] if store.kind == "flat" else queries)
            for breadth in sorted({default, *layout.breadths} - {None}) or [None]:
                if breadth is not None:
                    store.breadth = breadth
                found, one = timed_search(store, queries, 1)
                _, two = timed_search(store, queries[:TWO_THREAD_QUERIES], 2)
                figures.append(IndexFigures(
                    _name(store, breadth, len(vectors)), store.kind, store.codec, breadth,
                    breadth == default, len(vectors), build_seconds, size, mapped,
                    recall_at_k(found, exact), percentile(one, 50), percentile(one, 95),
                    percentile(two, 50), percentile(two, 95)))
            del store
            path.unlink()
    return figures


def _mapped_resident(path: Path, queries: np.ndarray) -> int:
    """File pages resident after searching a store read with mmap, at its default breadth."""
    before = file_resident_bytes()
    mapped = VectorStore.read(path, mmap=True)
    timed_search(mapped, queries, 1)
    resident = file_resident_bytes() - before
    del mapped
    return max(resident, 0)


def _name(store: VectorStore, breadth: int | None, count: int) -> str:
    if store.kind == "ivf":
        return f"ivf {ivf_lists(count)} lists {store.codec} nprobe={breadth}"
    if store.kind == "hnsw":
        return f"hnsw {store.codec} efSearch={breadth}"
    return f"flat {store.codec}" + (" (exact)" if store.codec == "fp32" else "")


def run_vector_scale(run: Run, real: np.ndarray, queries: np.ndarray, sizes: list[int],
                     layouts=LAYOUTS) -> None:
    for size in sizes:
        vectors = synthetic_corpus(real, size)
        figures = measure(vectors, queries, layouts)
        del vectors
        run.details[f"faiss_{size}"] = [asdict(f) for f in figures]
        for f in figures:
            offered = f.default and f.index_type == "ivf" and f.codec == "sq8"
            goal = "recall ≥ 0.95, ≤ 20 ms" if offered and size >= 1_000_000 else ""
            met = (f.recall >= 0.95 and f.p50_ms <= 20) if goal else None
            run.add(Row("6 faiss", f"{size:,} vectors: {f.name}", f.p50_ms, "ms/query", goal, met,
                        f"recall@10 {f.recall:.3f}, {f.bytes / 1e6:,.0f} MB, build {f.build_seconds:.0f} s, "
                        f"p95 {f.p95_ms:.1f} ms, 2 threads p50 {f.p50_ms_2_threads:.1f} ms"))


def dev_vectors_and_questions(index: Path, questions: Path) -> tuple[np.ndarray, np.ndarray]:
    """The real passage vectors of an index's current generation, and its questions embedded."""
    from newsdesk.embeddings import load_embedder
    from newsdesk.settings import Settings

    generation = index / "generations" / (index / "CURRENT").read_text().strip()
    texts = [json.loads(line)["question"] for line in questions.read_text().splitlines() if line.strip()]
    return np.load(generation / "vectors.npy"), load_embedder(Settings()).embed(texts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=1_250_000, help="stand-in vectors to index")
    parser.add_argument("--index", type=Path, default=DEV_INDEX,
                        help="an index whose current generation's vectors.npy the stand-ins blend")
    parser.add_argument("--questions", type=Path, default=DEV_QUESTIONS, help="queries, embedded")
    parser.add_argument("--hnsw", action="store_true", help="HNSW too (minutes more to build)")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    real, queries = dev_vectors_and_questions(args.index, args.questions)
    run = Run(command=" ".join(["benchmarks/vector_scale.py", *(argv if argv is not None else sys.argv[1:])]),
              corpus=f"{len(real):,} real passage vectors of {args.index.name}, blended", articles=0,
              machine=Machine.this_one())
    started = time.perf_counter()
    run_vector_scale(run, real, queries, [args.vectors], LAYOUTS + (HNSW_LAYOUTS if args.hnsw else ()))
    run.details["wall_s"] = time.perf_counter() - started
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
    path = args.results / f"vector-scale-{stamp}.json"
    path.write_text(json.dumps(asdict(run), indent=1, default=str))
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main())
