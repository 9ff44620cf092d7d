"""The figures behind docs/scaling.md: FAISS memory and search time, and a loaded index's memory.

    .venv/bin/python docs/scaling_figures.py --vectors 100000 1000000 --hnsw 100000 \
        --generation DEV_CORPUS_INDEX

FAISS is measured on random unit vectors (384 dimensions, the model's), built with the same
settings as index.make_vector_index; one question at a time, as the server searches, for the
DENSE_CANDIDATES nearest. Random vectors are a hard case for HNSW; exact search does not care.
Search runs on one thread and is timed in CPU time as well as wall time: on a shared machine
the CPU time is what the same search costs on an idle core.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DIMENSION = 384
QUERIES = 200


def unit_vectors(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = np.empty((count, DIMENSION), dtype=np.float32)
    for start in range(0, count, 100_000):  # in slices: no float64 copy of the whole matrix
        block = rng.standard_normal((min(100_000, count - start), DIMENSION), dtype=np.float32)
        vectors[start:start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return vectors


def faiss_figures(count: int, index_type: str) -> dict:
    import tempfile

    from newsdesk.evaluation.metrics import percentile
    from newsdesk.index.vectors import VectorStore
    from newsdesk.retrieval.hybrid import DENSE_CANDIDATES

    vectors = unit_vectors(count, seed=1)
    started, started_cpu = time.perf_counter(), time.process_time()
    index = VectorStore.build(vectors, index_type)
    build = (time.perf_counter() - started, time.process_time() - started_cpu)
    del vectors
    VectorStore.use_threads(1)
    queries = unit_vectors(QUERIES, seed=2)
    for query in queries[:5]:  # warm up
        index.search(query, DENSE_CANDIDATES)
    wall, cpu = [], []
    for query in queries:
        started, started_cpu = time.perf_counter(), time.thread_time()
        index.search(query, DENSE_CANDIDATES)
        cpu.append((time.thread_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
    VectorStore.use_threads(os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as folder:
        index.write(Path(folder) / "index")
        size = (Path(folder) / "index").stat().st_size
    return {"index": index_type, "vectors": count, "bytes": int(size),
            "bytes_per_vector": round(size / count, 1),
            "build_s_wall": round(build[0], 1), "build_s_cpu": round(build[1], 1),
            "search_cpu_ms_p50": round(percentile(cpu, 50), 2),
            "search_cpu_ms_p95": round(percentile(cpu, 95), 2),
            "search_wall_ms_p50": round(percentile(wall, 50), 2)}


def generation_memory(folder: str) -> dict:
    """Resident memory a replica adds by loading one generation, measured in a fresh process."""
    probe = (
        "import resource, sys, numpy, faiss, bm25s, json\n"
        "from newsdesk.index.store import load_generation\n"
        "def rss():\n"
        "    return int(open('/proc/self/statm').read().split()[1]) * resource.getpagesize()\n"
        "before = rss()\n"
        "g = load_generation(sys.argv[1])\n"
        "print(json.dumps({'passages': len(g.passages), 'articles': len(g.articles),\n"
        "                  'vectors_bytes': len(g.vectors) * g.vectors.dimension * 4,\n"
        "                  'index_type': g.manifest.get('index_type'), 'rss_added': rss() - before}))\n")
    done = subprocess.run([sys.executable, "-c", probe, folder], capture_output=True, text=True,
                          check=True)
    figures = json.loads(done.stdout)
    other = figures["rss_added"] - figures["vectors_bytes"]
    figures["bytes_per_passage_besides_vectors"] = round(other / figures["passages"])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, nargs="*", default=[100_000, 1_000_000],
                        help="sizes for the exact (flat) index")
    parser.add_argument("--hnsw", type=int, nargs="*", default=[100_000], help="sizes for HNSW")
    parser.add_argument("--generation", help="an index folder: memory of loading its generation")
    args = parser.parse_args()
    rows = [faiss_figures(n, "flat") for n in args.vectors]
    rows += [faiss_figures(n, "hnsw") for n in args.hnsw]
    report = {"faiss": rows, "cpus": os.cpu_count(), "load_average": os.getloadavg()[0]}
    if args.generation:
        report["generation"] = generation_memory(args.generation)
    report["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
