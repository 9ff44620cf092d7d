"""Distributed indexing: chunk and embed the new and changed articles on a Ray cluster.

The driver (`newsdesk index --ray`) reads the articles, decides what is new or changed, and
writes the generation exactly as a local build does; only the chunking and embedding of the
fresh articles moves to the cluster, as a Ray Data pipeline: articles go out in batches to a
pool of worker actors that each load the model once, and passages come back as a stream.

Articles are read on the driver because the seeds live on the driver's disk (workers need not
see it) and the incremental plan needs every article's content hash before anything is sent.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
from dataclasses import dataclass
from typing import Callable

import numpy as np

from newsdesk.articles import Article
from newsdesk.embeddings.base import Embedder
from newsdesk.embeddings.choice import chosen_backend
from newsdesk.embeddings.progress import Progress
from newsdesk.index.build import BuildReport, ChunkAndEmbed, build_index
from newsdesk.index.errors import IndexError_
from newsdesk.passages import Chunker, ChunkerSettings, Passage
from newsdesk.settings import Settings

ARTICLES_PER_BATCH = 16  # articles per worker call: ~200 passages, a few model batches


class RayUnavailable(IndexError_):
    """Ray is missing, the cluster cannot be reached or the build failed on it; said to the user."""


@dataclass(frozen=True)
class WorkerSpec:
    """What every worker needs to chunk and embed exactly as the driver's own model would."""

    model_path: str  # empty: the packaged model, resolved on each worker
    backend: str
    batch_size: int
    identity: str  # the driver's model identity; a worker with another model refuses to run
    chunker: ChunkerSettings
    threads: int


class ChunkAndEmbedWorker:
    """A Ray Data actor: loads the model once, then chunks and embeds batch after batch."""

    def __init__(self, spec: WorkerSpec):
        import torch

        from newsdesk.embeddings import load_embedder

        # As many torch threads as the CPUs Ray reserved: actors on a node must not fight over cores.
        torch.set_num_threads(spec.threads)
        self.embedder = load_embedder(Settings(model_path=spec.model_path, backend=spec.backend,
                                               batch_size=spec.batch_size))
        if self.embedder.identity != spec.identity:
            raise RuntimeError(f"the model on worker {socket.gethostname()} is "
                               f"{self.embedder.identity}, the driver's is {spec.identity}: "
                               "install the same newsdesk and model on every node")
        self.chunker = Chunker(spec.chunker, self.embedder.token_offsets)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        articles = [Article.from_record(json.loads(record)) for record in batch["record"]]
        passages = [p for own in self.chunker.passages_for_many(articles) for p in own]
        vectors = self.embedder.embed([p.embedding_text() for p in passages])
        return {
            "article_id": np.array([p.article_id for p in passages], dtype=object),
            "n": np.array([p.number for p in passages], dtype=np.int64),
            "char_start": np.array([p.char_start for p in passages], dtype=np.int64),
            "char_end": np.array([p.char_end for p in passages], dtype=np.int64),
            "vector": vectors.reshape(len(passages), self.embedder.dimension),
        }


class RayChunkAndEmbed:
    """The ChunkAndEmbed step of index.build_index, run on the Ray cluster at `address`."""

    def __init__(self, settings: Settings, embedder: Embedder, address: str,
                 progress: bool = False):
        self.settings = settings
        self.embedder = embedder
        self.address = address
        self.progress = progress
        self.sent: list[str] = []  # ids of the articles sent to the cluster by the last call
        self.workers = 0

    def __call__(self, articles: list[Article],
                 chunker: ChunkerSettings) -> tuple[list[list[Passage]], np.ndarray]:
        ray = _import_ray()
        self.sent = [a.id for a in articles]
        connected_here = not ray.is_initialized()
        if connected_here:
            _connect(ray, self.address)
        try:
            rows = self._run_pipeline(ray, articles, chunker)
        except ray.exceptions.RayError as error:
            raise RayUnavailable(f"the build failed on the Ray cluster: {_root_cause(error)}") from None
        finally:
            if connected_here:
                ray.shutdown()  # disconnects this driver; the cluster keeps running
        return _passages_and_vectors(articles, rows, self.embedder.dimension)

    def _run_pipeline(self, ray, articles: list[Article], chunker: ChunkerSettings):
        cpus_per_worker = max(1, self.settings.ray_cpus_per_worker)
        self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)) // cpus_per_worker)
        spec = WorkerSpec(self.settings.model_path, chosen_backend(self.settings),
                          self.settings.batch_size, self.embedder.identity, chunker,
                          cpus_per_worker)
        _quiet_ray_data(ray)
        items = [{"record": json.dumps(a.to_record(), ensure_ascii=False)} for a in articles]
        dataset = ray.data.from_items(items, override_num_blocks=_blocks(len(items))).map_batches(
            ChunkAndEmbedWorker, fn_constructor_args=(spec,), batch_size=ARTICLES_PER_BATCH,
            batch_format="numpy", num_cpus=cpus_per_worker,
            compute=ray.data.ActorPoolStrategy(size=min(self.workers, _blocks(len(items)))))
        rows: dict[str, list[tuple[int, int, int, np.ndarray]]] = {}
        with Progress(len(articles), "articles", "Indexing on Ray", also="passages",
                      enabled=self.progress) as bar:
            for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                before = len(rows)
                for article_id, n, start, end, vector in zip(batch["article_id"], batch["n"],
                                                              batch["char_start"], batch["char_end"],
                                                              batch["vector"]):
                    rows.setdefault(str(article_id), []).append((int(n), int(start), int(end), vector))
                bar.advance(len(rows) - before, also=len(batch["n"]))
        return rows


def _blocks(count: int) -> int:
    """About one block per batch of articles, so batches go to whichever actor is free."""
    return max(1, min(count // ARTICLES_PER_BATCH + 1, 4096))


def _passages_and_vectors(articles: list[Article], rows, dimension: int):
    """Back in the articles' own order, each article's passages numbered as the chunker did."""
    passages: list[list[Passage]] = []
    vectors: list[np.ndarray] = []
    for article in articles:
        own = sorted(rows.get(article.id, []), key=lambda row: row[0])
        if [n for n, *_ in own] != list(range(len(own))):
            raise RayUnavailable(f"the cluster returned an incomplete set of passages for {article.id}")
        passages.append([Passage.of(article, n, start, end) for n, start, end, _ in own])
        vectors.extend(vector for *_, vector in own)
    matrix = np.stack(vectors) if vectors else np.zeros((0, dimension), dtype=np.float32)
    return passages, np.ascontiguousarray(matrix, dtype=np.float32)


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise RayUnavailable("Ray is not installed: pip install 'newsdesk[ray]' "
                             "(on the driver and every node of the cluster)") from None
    return ray


def _quiet_ray_data(ray) -> None:
    """One progress bar of our own (embeddings.progress), counted in articles, instead of Ray
    Data's per-operator ones."""
    ray.data.DataContext.get_current().enable_progress_bars = False
    ray.util.debug.log_once("ray_data_progress_manager_disabled")  # ...without a warning about it
    for handler in logging.getLogger("ray.data").handlers:
        if handler.name == "console":  # "Starting execution..." lines; the full log stays on disk
            handler.setLevel(logging.WARNING)


def _root_cause(error: BaseException) -> str:
    """The innermost "SomeError: message" line of a Ray error's chained tracebacks."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    causes = re.findall(r"^\s*(?:[\w.]+\.)?\w+(?:Error|Exception): (.+)$", text, re.MULTILINE)
    return causes[-1].strip() if causes else _first_line(error)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _connect(ray, address: str) -> None:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    _refuse_unreachable(address)
    try:
        ray.init(address=address or "auto", logging_level="WARNING")
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise RayUnavailable(f"cannot reach the Ray cluster at {address or 'auto'}: "
                             f"{_first_line(error)}") from None


def _refuse_unreachable(address: str, timeout: float = 5.0) -> None:
    """Fail in seconds on a wrong HOST:PORT: ray.init retries a dead address for many minutes."""
    host, _, port = address.rpartition(":")
    if not host or "://" in address or not port.isdigit():
        return  # "auto", ray:// client addresses: Ray's own lookup is quick
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as error:
        raise RayUnavailable(f"cannot reach the Ray cluster at {address}: "
                             f"{error.strerror or error}") from None


def build_index_on_ray(settings: Settings, embedder: Embedder, full: bool = False,
                       progress: bool = False,
                       log: Callable[[str], None] = lambda _: None) -> BuildReport:
    """build_index with the fresh articles chunked and embedded on settings.ray_address."""
    step: ChunkAndEmbed = RayChunkAndEmbed(settings, embedder, settings.ray_address, progress)
    return build_index(settings, embedder, full=full, progress=progress, log=log,
                       chunk_and_embed=step)
