"""`make bench`: every figure of issue 5, each next to what it is compared with in the same run.

    .venv/bin/python benchmarks/run.py [--articles N] [--stages indexing,scale,serving,peer,faiss,profile,archive]

Results print as a table and are written as JSON under benchmarks/results/ (git-ignored).
Shared machines are noisy: read the ratios, which are taken minutes apart in one run.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
from corpus import prepare  # noqa: E402
from records import Run, table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "realtimeqa"
STAGES = ("indexing", "incremental", "scale", "serving", "peer", "profile", "faiss", "archive")


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DATA / "corpus_10k.jsonl.gz")
    parser.add_argument("--articles", type=int, default=10_000,
                        help="index the first N articles of the corpus (default: all 10,000)")
    parser.add_argument("--scale-articles", type=int, default=10_000,
                        help="size for the stand-in-vector index of the scale stage")
    parser.add_argument("--questions", type=Path, default=DATA / "dev_questions.jsonl")
    parser.add_argument("--stages", default=",".join(STAGES),
                        help=f"comma-separated, from {', '.join(STAGES)}")
    parser.add_argument("--backends", default="torch,onnx-int8")
    parser.add_argument("--vectors", default="100000,1250000", help="FAISS benchmark sizes (1.25M: issue 17's goal)")
    parser.add_argument("--sequential", type=int, default=100, help="/ask requests one at a time")
    parser.add_argument("--concurrent", type=int, default=200, help="/ask requests over the clients")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--archive-sizes", default="10000,30000,100000",
                        help="archive stage: the sizes (articles) measured as the archive grows")
    parser.add_argument("--workdir", type=Path, default=ROOT / ".cache" / "bench")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    stages = [s for s in args.stages.split(",") if s]
    unknown = set(stages) - set(STAGES)
    if unknown:
        print(f"bench: unknown stages {sorted(unknown)}; choose from {STAGES}", file=sys.stderr)
        return 2
    backends = [b for b in args.backends.split(",") if b]
    workdir = args.workdir / f"{args.corpus.name.split('.')[0]}-{args.articles}"
    workdir.mkdir(parents=True, exist_ok=True)
    corpus = prepare(args.corpus, args.articles, args.workdir / "inputs")
    command = "benchmarks/run.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    run = Run(command=command, corpus=str(args.corpus), articles=corpus.articles)
    print(f"bench: {corpus.articles} articles of {args.corpus.name}, stages {', '.join(stages)}, "
          f"{run.machine.cores} cores ({run.machine.cpu_model}), load {run.machine.load_average_at_start}",
          flush=True)
    started = time.perf_counter()
    from serving import read_questions

    questions = read_questions(args.questions, 200)
    built = {}
    try:
        if "indexing" in stages:
            from indexing import bare_encode, full_build, onnx_speedup, settings_for

            for backend in backends:
                built[backend] = full_build(run, corpus, workdir, backend)
                run.passages = built[backend].passages
                bare_encode(run, built[backend], settings_for(corpus, built[backend].folder, backend))
            if "torch" in built and "onnx-int8" in built:
                onnx_speedup(run, built["torch"], built["onnx-int8"])
        if "incremental" in stages:
            from indexing import incremental

            for backend in backends:
                incremental(run, corpus, built.get(backend) or _reload(workdir / f"index-{backend}", backend))
        if "scale" in stages and args.scale_articles > corpus.articles:
            from indexing import incremental_at_scale

            big = prepare(args.corpus, args.scale_articles, args.workdir / "inputs")
            rate = (built["torch"].passages / built["torch"].build_seconds) if "torch" in built else None
            incremental_at_scale(run, big, args.workdir / f"scale-{big.articles}", backends[0], rate)
        if "serving" in stages:
            from serving import run_serving

            for backend in backends:
                index = workdir / f"index-{backend}"
                run_serving(run, index, backend, questions, f"{_articles_in(index):,} articles",
                            args.sequential, args.concurrent, args.clients, workdir)
            # The full-size index of the scale stage: its vectors are stand-ins, which changes
            # which passages come back but not what searching and answering cost.
            # Abstaining is turned off there, so every question pays for the answer step.
            scale = args.workdir / f"scale-{args.scale_articles}" / f"index-scale-{backends[0]}"
            if (scale / "CURRENT").exists():
                for backend in backends:
                    run_serving(run, scale, backend, questions,
                                f"{_articles_in(scale):,} articles, stand-in vectors",
                                args.sequential, args.concurrent, args.clients, workdir,
                                answer_all=True)
        if "peer" in stages:
            from peer import run_peer

            index = built.get("torch") or _reload(workdir / "index-torch", "torch")
            run_peer(run, index.texts, questions[:100], index.folder, index.build_seconds,
                     f"{_articles_in(index.folder):,} articles")
        if "profile" in stages:
            from profiling import profile_add_one, profile_ask

            args.results.mkdir(parents=True, exist_ok=True)
            for backend in backends:
                print("profile:", profile_ask(workdir / f"index-{backend}", backend, questions[:50],
                                              args.results), flush=True)
            # Adding one article is profiled on the biggest index there is.
            big = prepare(args.corpus, args.scale_articles, args.workdir / "inputs")
            scale_index = args.workdir / f"scale-{big.articles}" / f"index-scale-{backends[0]}"
            target = ((big, scale_index) if (scale_index / "CURRENT").exists()
                      else (corpus, workdir / f"index-{backends[0]}-incremental"))
            print("profile:", profile_add_one(*target, backends[0], args.results), flush=True)
        if "faiss" in stages:
            from vector_scale import run_vector_scale

            real, queries = _real_vectors(workdir, backends, questions)
            run_vector_scale(run, real, queries, [int(v) for v in args.vectors.split(",") if v])
        if "archive" in stages:
            from archive import run_archive

            run_archive(run, args.corpus, args.workdir / "archive", [int(n) for n in args.archive_sizes.split(",")],
                        backends[0], questions, args.sequential, args.concurrent, args.clients)
    finally:
        run.details["wall_s"] = time.perf_counter() - started
        path = run.write(args.results)
        print()
        print(table(run.rows))
        print(f"\nwritten {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


def _articles_in(index: Path) -> int:
    from newsdesk.index.store import current_folder, read_manifest

    return read_manifest(current_folder(index))["counts"]["articles"]


def _reload(folder: Path, backend: str):
    """A BuiltIndex for an index built by an earlier run (its build time is in that run's JSON)."""
    from indexing import BuiltIndex, build_seconds

    from newsdesk.index.store import load_generation

    generation = load_generation(folder)
    seconds = build_seconds(folder.parent).get(backend, float("nan"))
    return BuiltIndex(backend, folder, len(generation.passages), seconds,
                      [p.embedding_text() for p in generation.passages])


def _real_vectors(workdir: Path, backends: list[str], questions: list[str]):
    from newsdesk.settings import Settings
    from newsdesk.embeddings import load_embedder
    from newsdesk.index.store import current_folder

    backend = backends[0]
    folder = current_folder(workdir / f"index-{backend}")
    real = np.load(folder / "vectors.npy")
    embedder = load_embedder(Settings(backend=backend))
    return real, embedder.embed(questions)


if __name__ == "__main__":
    sys.exit(main())
