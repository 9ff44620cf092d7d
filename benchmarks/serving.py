"""Benchmarks 3 and 4: /ask over HTTP next to its parts, memory, and time to the first answer."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import httpx
from records import Latency, Row, Run

from newsdesk.settings import Settings
from newsdesk.embeddings import load_embedder
from newsdesk.index.store import load_generation
from newsdesk.retrieval.hybrid import DENSE_CANDIDATES
from newsdesk.service import Newsdesk

STARTUP_TIMEOUT = 300
PARTS_QUESTIONS = 50  # each timed alone in this process; distinct, so no cache can help


def read_questions(path: Path, limit: int) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        questions = [json.loads(line)["question"] for line in handle if line.strip()]
    return questions[:limit]


@dataclass
class ServerFigures:
    seconds_to_first_answer: float
    rss_after_load_mb: float
    rss_peak_mb: float
    sequential: Latency
    concurrent: Latency
    concurrent_requests_per_second: float
    abstained_share: float


class Server:
    """`newsdesk serve` as a user runs it, on a free port."""

    def __init__(self, embeddings: Path, backend: str, log: Path, env: dict[str, str] | None = None):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "NEWSDESK_BACKEND": backend, **(env or {})}
        env.pop("NEWSDESK_API_TOKEN", None)
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "newsdesk.cli", "serve", "--embeddings", str(embeddings),
             "--port", str(self.port)], stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env)

    def first_answer_seconds(self, question: str) -> float:
        deadline = self.started + STARTUP_TIMEOUT
        with httpx.Client(timeout=30) as client:
            while time.perf_counter() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"server exited with {self.process.returncode}")
                try:
                    if client.post(self.url + "/ask", json={"question": question}).status_code == 200:
                        return time.perf_counter() - self.started
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
        raise RuntimeError("server gave no answer in time")

    def rss_mb(self, field: str = "VmRSS") -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def ask_all(url: str, questions: Sequence[str]) -> tuple[list[float], int]:
    """Latency in ms of each /ask, one after another on one connection; and how many abstained."""
    times, abstained = [], 0
    with httpx.Client(timeout=60) as client:
        for question in questions:
            started = time.perf_counter()
            response = client.post(url + "/ask", json={"question": question})
            times.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            abstained += bool(response.json()["abstained"])
    return times, abstained


def ask_concurrently(url: str, questions: Sequence[str], clients: int) -> tuple[list[float], float]:
    shares = [list(questions[n::clients]) for n in range(clients)]
    results: list[list[float]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []

    def client(n: int) -> None:
        try:
            results[n] = ask_all(url, shares[n])[0]
        except BaseException as error:  # reported below: a failed request fails the benchmark
            errors.append(error)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if errors:
        raise errors[0]
    return [t for r in results for t in r], wall


def serve_and_load(embeddings: Path, backend: str, questions: Sequence[str], sequential: int,
                   concurrent: int, clients: int, log: Path,
                   env: dict[str, str] | None = None) -> ServerFigures:
    server = Server(embeddings, backend, log, env)
    try:
        first = server.first_answer_seconds(questions[0])
        rss = server.rss_mb()
        ask_all(server.url, questions[:10])  # warm-up
        seq_times, abstained = ask_all(server.url, cycle(questions, sequential))
        con_times, wall = ask_concurrently(server.url, cycle(questions, concurrent), clients)
        peak = server.rss_mb("VmHWM")
    finally:
        server.stop()
    return ServerFigures(first, rss, peak, Latency.of(seq_times), Latency.of(con_times),
                         len(con_times) / wall, abstained / len(seq_times))


def cycle(questions: Sequence[str], count: int) -> list[str]:
    return [questions[n % len(questions)] for n in range(count)]


@dataclass
class Parts:
    """The pieces of one /ask, timed alone in this process (ms)."""

    query_embedding: Latency
    faiss_search: Latency
    bm25_scores: Latency
    ask_in_process: Latency


def time_each(function, items) -> Latency:
    times = []
    for item in items:
        started = time.perf_counter()
        function(item)
        times.append((time.perf_counter() - started) * 1000)
    return Latency.of(times)


def parts_of_ask(embeddings: Path, backend: str, questions: Sequence[str],
                 answer_all: bool = False) -> Parts:
    settings = Settings(embeddings=embeddings, backend=backend)
    if answer_all:
        settings = settings.with_(abstain_below=0.0)  # 0: answer whatever was found
    embedder = load_embedder(settings)
    generation = load_generation(embeddings)
    for question in questions[:5]:
        embedder.embed([question])
    vectors = {}
    embedding = time_each(lambda q: vectors.setdefault(q, embedder.embed([q])), questions)
    desk = Newsdesk(settings, embedder)  # also sets FAISS to one thread, as in the server
    return Parts(
        query_embedding=embedding,
        faiss_search=time_each(lambda q: generation.vectors.search(vectors[q], DENSE_CANDIDATES),
                               questions),
        bm25_scores=time_each(generation.lexical.scores, questions),
        ask_in_process=time_each(desk.ask, questions),
    )


def run_serving(run: Run, embeddings: Path, backend: str, questions: Sequence[str], where: str,
                sequential: int, concurrent: int, clients: int, logs: Path,
                answer_all: bool = False) -> ServerFigures:
    """answer_all: never abstain, so every request pays for the answer step (for an index of
    stand-in vectors, whose low cosines would otherwise make most questions abstain)."""
    env = {"NEWSDESK_ABSTAIN_BELOW": "-1"} if answer_all else None
    figures = serve_and_load(embeddings, backend, questions, sequential, concurrent, clients,
                             logs / f"server-{backend}-{where.replace(' ', '_')}.log", env)
    parts = parts_of_ask(embeddings, backend, list(dict.fromkeys(questions))[:PARTS_QUESTIONS],
                         answer_all)
    run.details[f"serving_{backend}_{where}"] = {"server": asdict(figures), "parts": asdict(parts)}
    seq, con = figures.sequential, figures.concurrent
    model_ms, search_ms = parts.query_embedding.p50, parts.faiss_search.p50
    overhead = (seq.p50 - model_ms - search_ms) / model_ms
    label = f"({backend}, {where})"
    run.add(
        Row("3 query", f"/ask sequential p50 {label}", seq.p50, "ms", "≤ 25 ms", seq.p50 <= 25,
            f"{seq.count} requests, {figures.abstained_share:.0%} abstained"),
        Row("3 query", f"/ask sequential p95 {label}", seq.p95, "ms", "≤ 50 ms", seq.p95 <= 50),
        Row("3 query", f"/ask sequential p99 {label}", seq.p99, "ms"),
        Row("3 query", f"/ask {clients} clients p50 / p95 / p99 {label}", con.p50, "ms",
            note=f"p95 {con.p95:.0f} ms, p99 {con.p99:.0f} ms"),
        Row("3 query", f"/ask {clients} clients throughput {label}",
            figures.concurrent_requests_per_second, "req/s", "≥ 40 req/s",
            figures.concurrent_requests_per_second >= 40),
        Row("3 query", f"bare query embedding p50 {label}", model_ms, "ms"),
        Row("3 query", f"bare FAISS search p50, k={DENSE_CANDIDATES} {label}", search_ms, "ms"),
        Row("3 query", f"BM25 scoring p50 {label}", parts.bm25_scores.p50, "ms"),
        Row("3 query", f"ask() in process p50 {label}", parts.ask_in_process.p50, "ms"),
        Row("3 query", f"/ask p50 minus embedding and search, / embedding {label}", overhead, "×",
            "≤ 1×", overhead <= 1),
        Row("4 memory", f"server RSS after first answer {label}", figures.rss_after_load_mb, "MB",
            "≤ 1,500 MB", figures.rss_after_load_mb <= 1500, f"peak {figures.rss_peak_mb:.0f} MB"),
        Row("4 memory", f"start to first answered /ask {label}", figures.seconds_to_first_answer,
            "s", "≤ 10 s", figures.seconds_to_first_answer <= 10),
    )
    return figures
