"""`newsdesk index --ray` on a real two-node Ray cluster on 127.0.0.1 equals a local build.

The cluster is started by the `ray_cluster` fixture (`ray start --head`, then a second node with
`ray start --address`) and stopped at the end, failures included. The short checks run in
`make test` when the ray extra is installed; the dev corpus runs in `make test-ray`.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import SEED, free_port, run_cli, shared_data

from newsdesk.settings import Settings
from newsdesk.index.build import build_index
from newsdesk.index.store import load_generation

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::DeprecationWarning:ray")]  # Ray's own settings

OBJECT_STORE_BYTES = 200 * 1024 * 1024  # per node; the default would take 30% of the RAM
VECTOR_TOLERANCE = 1e-5


class LocalRayCluster:
    """Two (or more) Ray nodes on this machine, one CPU each, in a temporary folder of their own."""

    def __init__(self, nodes: int = 2):
        self.nodes = nodes
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        # Short path: Ray puts unix sockets in it, and those are limited to ~107 characters.
        self.folder = Path(tempfile.mkdtemp(prefix="ndray-", dir="/tmp"))
        self.processes: list[subprocess.Popen] = []

    def start(self) -> None:
        ray = str(Path(sys.executable).parent / "ray")
        common = ["--block", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--num-gpus=0",
                  f"--object-store-memory={OBJECT_STORE_BYTES}", f"--temp-dir={self.folder}",
                  "--disable-usage-stats"]
        self._start_node([ray, "start", "--head", f"--port={self.port}", "--include-dashboard=false",
                          f"--dashboard-port={free_port()}", *common], "head")
        for n in range(1, self.nodes):
            self._wait_for_nodes(n)
            self._start_node([ray, "start", f"--address={self.address}", *common], f"node{n}")
        self._wait_for_nodes(self.nodes)

    def _start_node(self, command: list[str], name: str) -> None:
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "HF_HUB_OFFLINE": "1",
               "TOKENIZERS_PARALLELISM": "false"}
        log = open(self.folder / f"{name}.log", "w")
        # A session of its own: stop() ends exactly the processes this node started, no others.
        self.processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                               env=env, start_new_session=True))

    def _wait_for_nodes(self, count: int, timeout: float = 180) -> None:
        probe = ("import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR'); "
                 "print(sum(1 for n in ray.nodes() if n['Alive']))")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.processes):
                break
            done = subprocess.run([sys.executable, "-c", probe, self.address], capture_output=True,
                                  text=True, timeout=60, env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
            if done.returncode == 0 and int(done.stdout.split()[-1]) >= count:
                return
            time.sleep(1)
        raise RuntimeError(f"the Ray cluster did not reach {count} nodes:\n" + self.logs())

    def logs(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}"
                         for log in sorted(self.folder.glob("*.log")))

    def stop(self) -> None:
        for process in reversed(self.processes):
            _signal_session(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_session_members(p.pid) for p in self.processes):
            time.sleep(0.5)
        for process in self.processes:  # `ray start --block` can hang on a graceful stop
            _signal_session(process.pid, signal.SIGKILL)
            process.wait(10)
        shutil.rmtree(self.folder, ignore_errors=True)


def _session_members(session: int) -> list[int]:
    """Processes in the given session: the node's own daemons and the Ray workers they spawned."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[3]) == session and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _signal_session(session: int, signal_number: int) -> None:
    for pid in _session_members(session):
        try:
            os.kill(pid, signal_number)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def ray_cluster():
    pytest.importorskip("ray", reason="needs the ray extra: pip install -e '.[ray]' (make test-ray does it)")
    cluster = LocalRayCluster(nodes=2)
    try:
        cluster.start()
        yield cluster
    finally:
        import ray

        ray.shutdown()
        cluster.stop()


def write_article(folder: Path, name: str, title: str, sentences: list[str]) -> None:
    paragraphs = [" ".join(sentences[i:i + 4]) for i in range(0, len(sentences), 4)]
    (folder / f"{name}.txt").write_text(title + "\n\n" + "\n\n".join(paragraphs) + "\n")


def small_corpus(folder: Path) -> None:
    folder.mkdir()
    shutil.copy(SEED, folder)
    write_article(folder, "bridge", "Leeds opens a new bridge",
                  [f"The bridge over the Aire carried {n * 1000} people in its week number {n}."
                   for n in range(1, 60)])
    write_article(folder, "harvest", "A late harvest in Kent",
                  ["Farmers in Kent began the apple harvest three weeks late.",
                   "A wet spring delayed flowering.", "Prices are expected to rise."])
    with open(folder / "wire.jsonl", "w") as handle:
        for n, city in enumerate(["Lyon", "Porto"]):
            handle.write(json.dumps({"doc_id": f"wire-{n}", "title": f"Trams return to {city}",
                                     "text": f"Trams ran again in {city} on Monday. " * 5,
                                     "url": f"https://example.com/{n}", "publish_date": "2024/05/0{n + 1}"}) + "\n")


def assert_same_index(ray_root: Path, local_root: Path) -> None:
    on_ray, local = load_generation(ray_root), load_generation(local_root)
    shape = lambda g: [(p.passage_id, p.article_id, p.char_start, p.char_end, p.text) for p in g.passages]
    assert shape(on_ray) == shape(local)
    strip = lambda m: {k: v for k, v in m.items() if k not in ("built_at", "generation")}
    assert strip(on_ray.manifest) == strip(local.manifest)
    # The newest segment's own files (each build adds one)
    assert (on_ray.folder / "articles.jsonl").read_bytes() == (local.folder / "articles.jsonl").read_bytes()
    a, b = np.load(on_ray.folder / "vectors.npy"), np.load(local.folder / "vectors.npy")
    assert a.dtype == b.dtype == np.float32 and a.shape == b.shape
    assert float(np.abs(a - b).max(initial=0.0)) <= VECTOR_TOLERANCE
    assert len(on_ray.vectors) == len(local.vectors) == len(on_ray.passages)  # every segment


def test_ray_build_equals_the_local_build_and_sends_only_new_and_changed_articles(
        ray_cluster, tmp_path, real_embedder):
    from newsdesk.index.ray_build import RayChunkAndEmbed

    seeds = tmp_path / "seeds"
    small_corpus(seeds)
    # torch: the backend of real_embedder, the local build's (auto would pick int8 ONNX here)
    on_ray = Settings(seeds=(seeds,), embeddings=tmp_path / "ray", backend="torch")
    local = on_ray.with_(embeddings=tmp_path / "local")

    done = run_cli("index", "--seeds", str(seeds), "--embeddings", str(on_ray.embeddings), "--quiet",
                   "--ray", ray_cluster.address, env={"NEWSDESK_BACKEND": "torch"})
    assert done.returncode == 0, done.stderr + ray_cluster.logs()
    assert done.stdout.startswith("5 new, 0 changed, 0 removed, 0 unchanged")
    build_index(local, real_embedder)
    assert_same_index(on_ray.embeddings, local.embeddings)

    write_article(seeds, "ferry", "Ferry strike ends", ["Ferries to Calais sail again after a strike."])
    write_article(seeds, "harvest", "A late harvest in Kent", ["The apple harvest ended early after all."])
    step = RayChunkAndEmbed(on_ray, real_embedder, ray_cluster.address)
    report = build_index(on_ray, real_embedder, chunk_and_embed=step)
    assert (report.new, report.changed, report.unchanged) == (1, 1, 4)
    assert sorted(step.sent) == ["ferry", "harvest"]
    assert report.passages_embedded == 2
    build_index(local, real_embedder)
    assert_same_index(on_ray.embeddings, local.embeddings)


class OtherModel:
    """The real embedder under another identity, as a node with another model would be."""

    def __init__(self, embedder):
        self.embedder = embedder
        self.identity = "another-model:torch:000000000000"
        self.dimension, self.max_tokens = embedder.dimension, embedder.max_tokens
        self.backend = "torch"

    def embed(self, texts, progress=False):
        return self.embedder.embed(texts, progress)

    def token_offsets(self, texts):
        return self.embedder.token_offsets(texts)


def test_workers_with_another_model_refuse_and_the_build_fails_cleanly(
        ray_cluster, settings, real_embedder):
    from newsdesk.index.ray_build import RayChunkAndEmbed
    from newsdesk.index.errors import IndexError_
    from newsdesk.index.store import current_name

    driver_model = OtherModel(real_embedder)
    step = RayChunkAndEmbed(settings, driver_model, ray_cluster.address)
    with pytest.raises(IndexError_, match="install the same newsdesk and model on every node"):
        build_index(settings, driver_model, chunk_and_embed=step)
    assert current_name(settings.embeddings) is None


def test_an_unreachable_cluster_is_one_line_and_exit_1(tmp_path, seeds):
    pytest.importorskip("ray", reason="needs the ray extra")
    done = run_cli("index", "--seeds", str(seeds), "--embeddings", str(tmp_path / "e"), "--quiet",
                   env={"NEWSDESK_RAY_ADDRESS": f"127.0.0.1:{free_port()}"}, timeout=300)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("newsdesk: cannot reach the Ray cluster")


def dev_corpus_articles(tmp_path: Path) -> tuple[Path, int]:
    """The dev corpus, or its first RAY_TEST_ARTICLES articles (a quicker, deterministic run)."""
    corpus = shared_data("realtimeqa/dev_corpus.jsonl.gz")
    limit = int(os.environ.get("RAY_TEST_ARTICLES") or 0)
    with gzip.open(corpus, "rt", encoding="utf-8") as handle:
        lines = [line for line in handle if line.strip()]
    if not limit or limit >= len(lines):
        return corpus, len(lines)
    subset = tmp_path / "dev_subset.jsonl"
    subset.write_text("".join(lines[:limit]), encoding="utf-8")
    return subset, limit


@pytest.mark.ray
def test_dev_corpus_through_the_cluster_equals_the_local_build(ray_cluster, tmp_path, real_embedder):
    from newsdesk.index.ray_build import RayChunkAndEmbed

    corpus, articles = dev_corpus_articles(tmp_path)
    local = Settings(seeds=(corpus,), embeddings=tmp_path / "local", backend="torch")  # real_embedder's
    on_ray = local.with_(embeddings=tmp_path / "ray")

    started = time.perf_counter()
    local_report = build_index(local, real_embedder)
    local_seconds = time.perf_counter() - started
    started = time.perf_counter()
    step = RayChunkAndEmbed(on_ray, real_embedder, ray_cluster.address)
    ray_report = build_index(on_ray, real_embedder, chunk_and_embed=step)
    ray_seconds = time.perf_counter() - started

    passages = local_report.passages_embedded
    print(f"\ndev corpus: {articles} articles, {passages} passages; "
          f"local {local_seconds:.0f} s ({passages / local_seconds:.1f} passages/s), "
          f"ray 2 nodes x 1 CPU {ray_seconds:.0f} s ({passages / ray_seconds:.1f} passages/s); "
          f"load average {os.getloadavg()[0]:.1f}")
    assert local_report.new == ray_report.new == len(step.sent) == articles
    assert ray_report.passages_embedded == passages
    assert_same_index(on_ray.embeddings, local.embeddings)
