"""Benchmarks 1 and 2: indexing throughput next to the bare model, and incremental additions."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from corpus import BenchCorpus, folder_bytes
from records import Row, Run

from newsdesk.settings import Settings
from newsdesk.embeddings import load_embedder
from newsdesk.index.build import build_index
from newsdesk.index.store import load_generation


BUILD_SECONDS = "build-seconds.json"


@dataclass
class BuiltIndex:
    backend: str
    folder: Path
    passages: int
    build_seconds: float
    texts: list[str]  # the passages' embedding texts, for the bare model and the peer


def settings_for(corpus: BenchCorpus, folder: Path, backend: str, *extra: Path) -> Settings:
    return Settings(seeds=(corpus.base, *extra), embeddings=folder, backend=backend)


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def full_build(run: Run, corpus: BenchCorpus, workdir: Path, backend: str) -> BuiltIndex:
    """`newsdesk index --full` through the library, after the model is loaded."""
    settings = settings_for(corpus, workdir / f"index-{backend}", backend)
    embedder, load_seconds = timed(load_embedder, settings)
    embedder.embed(["warm up the model and its thread pool"] * 8)
    report, seconds = timed(build_index, settings, embedder, full=True)
    generation = load_generation(settings.embeddings)
    texts = [p.embedding_text() for p in generation.passages]
    _remember_build_seconds(workdir, backend, seconds)
    run.details[f"build_{backend}"] = {"model_load_s": load_seconds, "build_s": seconds,
                                      "passages": report.passages_total,
                                      "index_bytes": folder_bytes(generation.folder)}
    run.add(Row("1 indexing", f"model load ({backend})", load_seconds, "s"),
            Row("1 indexing", f"newsdesk index --full ({backend})", report.passages_total / seconds,
                "passages/s", note=f"{report.passages_total} passages in {seconds:.0f} s"))
    return BuiltIndex(backend, settings.embeddings, report.passages_total, seconds, texts)


def _remember_build_seconds(workdir: Path, backend: str, seconds: float) -> None:
    """So a later run of only the peer stage can compare with this build."""
    (workdir / BUILD_SECONDS).write_text(json.dumps({**build_seconds(workdir), backend: seconds}))


def build_seconds(workdir: Path) -> dict[str, float]:
    """Full build times the indexing stage recorded in this work folder, by backend."""
    path = workdir / BUILD_SECONDS
    return json.loads(path.read_text()) if path.exists() else {}


def bare_encode(run: Run, built: BuiltIndex, settings: Settings) -> float:
    """The model alone over the same texts: SentenceTransformer.encode, or the ONNX session."""
    embedder = load_embedder(settings)
    if built.backend == "torch":
        encode = lambda: embedder.model.encode(built.texts, batch_size=settings.batch_size,
                                               normalize_embeddings=True, convert_to_numpy=True)
        label = "bare SentenceTransformer.encode (torch)"
    else:
        encode = lambda: embedder.embed(built.texts)
        label = f"bare model, same texts ({built.backend})"
    _, seconds = timed(encode)
    rate, index_rate = len(built.texts) / seconds, built.passages / built.build_seconds
    ratio = index_rate / rate
    run.details[f"bare_{built.backend}"] = {"encode_s": seconds, "passages": len(built.texts)}
    run.add(Row("1 indexing", label, rate, "passages/s"),
            Row("1 indexing", f"newsdesk index / bare model ({built.backend})", ratio, "×",
                "≥ 0.9×", ratio >= 0.9))
    return seconds


def onnx_speedup(run: Run, torch_index: BuiltIndex, onnx_index: BuiltIndex) -> None:
    ratio = torch_index.build_seconds / onnx_index.build_seconds
    run.add(Row("1 indexing", "onnx-int8 index speed / torch index speed", ratio, "×", "≥ 2×",
                ratio >= 2))


def incremental(run: Run, corpus: BenchCorpus, built: BuiltIndex, label: str = "") -> None:
    """Add 1, then 100 new articles to a copy of the built index; the model is already loaded.

    The copy keeps the built index equal to the corpus, for the query and peer benchmarks.
    """
    folder = built.folder.with_name(built.folder.name + "-incremental")
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(built.folder, folder)
    embedder = load_embedder(settings_for(corpus, folder, built.backend))
    one, add_one = timed(build_index, settings_for(corpus, folder, built.backend, corpus.add_one),
                         embedder)
    hundred, add_hundred = timed(build_index, settings_for(corpus, folder, built.backend,
                                                          corpus.add_one, corpus.add_hundred), embedder)
    assert one.new == 1 and hundred.new == 100, (one.summary(), hundred.summary())
    ratio = built.build_seconds / add_one
    where = f"{corpus.articles} articles{label}"
    run.details[f"incremental_{built.backend}{label.replace(' ', '_')}"] = {
        "articles": corpus.articles, "add1_s": add_one, "add100_s": add_hundred,
        "add1_passages": one.passages_embedded, "add100_passages": hundred.passages_embedded,
        "full_build_s": built.build_seconds}
    run.add(Row("2 incremental", f"add 1 article to {where} ({built.backend})", add_one, "s",
                "≤ 3 s", add_one <= 3, f"{one.passages_embedded} passages embedded"),
            Row("2 incremental", f"add 100 articles to {where} ({built.backend})", add_hundred, "s",
                note=f"{hundred.passages_embedded} passages embedded"),
            Row("2 incremental", f"full build / add 1 ({where}, {built.backend})", ratio, "×",
                "≥ 100×", ratio >= 100))


class StandInVectors:
    """The real model's tokenizer and identity, but random unit vectors until `real` is set.

    Builds a 10,000-article index in minutes instead of an hour on 2 cores, so the costs that
    grow with the index (reading, chunking, BM25, FAISS, writing) are measured at full size;
    the articles added afterwards are embedded by the real model.
    """

    def __init__(self, embedder):
        self.embedder = embedder
        self.identity, self.backend = embedder.identity, embedder.backend
        self.dimension, self.max_tokens = embedder.dimension, embedder.max_tokens
        self.token_offsets = embedder.token_offsets
        self.real = False
        self._random = np.random.default_rng(0)

    def embed(self, texts, progress: bool = False) -> np.ndarray:
        if self.real:
            return self.embedder.embed(texts)
        vectors = self._random.standard_normal((len(texts), self.dimension)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def incremental_at_scale(run: Run, corpus: BenchCorpus, workdir: Path, backend: str,
                         full_rate: float | None) -> Path:
    """Benchmark 2 at the full corpus size, on an index built with stand-in vectors."""
    settings = settings_for(corpus, workdir / f"index-scale-{backend}", backend)
    embedder = StandInVectors(load_embedder(settings))
    report, seconds = timed(build_index, settings, embedder, full=True)
    embedder.real = True
    one, add_one = timed(build_index, settings_for(corpus, settings.embeddings, backend, corpus.add_one),
                         embedder)
    hundred, add_hundred = timed(build_index, settings_for(corpus, settings.embeddings, backend,
                                                          corpus.add_one, corpus.add_hundred), embedder)
    folder = load_generation(settings.embeddings).folder
    size = folder_bytes(folder)
    run.passages = max(run.passages, report.passages_total)
    estimated_full = report.passages_total / full_rate + seconds if full_rate else float("nan")
    ratio = estimated_full / add_one
    run.details[f"scale_{backend}"] = {
        "articles": corpus.articles, "passages": report.passages_total,
        "build_without_model_s": seconds, "add1_s": add_one, "add100_s": add_hundred,
        "estimated_full_build_s": estimated_full, "index_bytes": size}
    where = f"{corpus.articles} articles"
    run.add(Row("2 incremental", f"index build at {where}, model time excluded", seconds, "s",
                note=f"{report.passages_total} passages: read, chunk, BM25, FAISS, write"),
            Row("2 incremental", f"add 1 article to {where} ({backend})", add_one, "s", "≤ 3 s",
                add_one <= 3, f"{one.passages_embedded} passages embedded"),
            Row("2 incremental", f"add 100 articles to {where} ({backend})", add_hundred, "s",
                note=f"{hundred.passages_embedded} passages embedded"),
            Row("2 incremental", f"full build (estimated) / add 1 at {where}", ratio, "×", "≥ 100×",
                ratio >= 100, f"full ≈ {estimated_full / 60:.0f} min at the measured rate"),
            Row("4 memory", f"index size on disk, {where}", size / 1e6, "MB"))
    return settings.embeddings
