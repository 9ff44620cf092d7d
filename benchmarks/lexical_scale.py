"""Lexical (BM25) at issue 17's scale: one segment of ~1.25M passages, query latency, memory, disk.

The segment is ~90,000 real passages (corpus_10k articles cut into ~900-character passages and
tokenised once) repeated until it holds --passages rows. Repeating keeps every term's share of
passages, so idf and posting-list lengths are those of a real corpus that size; only the
vocabulary stays that of 10,000 articles (a real 100,000 would have more rare terms, which
cost a little memory and nothing at query time). A fresh process then loads the segment and
scores 50 real dev questions, so its memory figures are the loaded segment's alone.

    .venv/bin/python benchmarks/lexical_scale.py [--passages 1250000] [--folder /tmp/...]
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from corpus import folder_bytes
from records import Latency, Machine

from newsdesk.index.lexical import Lexical, SegmentTerms, tokenize

DATA = Path("/work/shared/data/realtimeqa")
RESULTS = Path(__file__).parent / "results"
PASSAGE_CHARS = 900  # about the chunker's 200-token passages
QUESTIONS = 50


@dataclass
class Memory:
    """The process's resident memory in MiB (from /proc/self/status): anonymous memory is what
    the process holds; file-backed is mapped segment pages, page cache the kernel can drop."""

    rss: float
    anonymous: float
    file_backed: float

    @classmethod
    def now(cls) -> "Memory":
        fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
        mib = {name: int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "RssAnon", "RssFile")}
        return cls(mib["VmRSS"], mib["RssAnon"], mib["RssFile"])


@dataclass
class Serving:
    load_seconds: float
    memory_before_load: Memory
    memory_after_load: Memory
    memory_after_queries: Memory
    first_pass_ms: Latency  # each question once, straight after loading
    query_ms: Latency  # a second pass: tokenising and scoring, as the server calls scores()
    query_cpu_ms: Latency  # the second pass's CPU time: wall time less waiting for a busy CPU
    postings_a_query: Latency  # how many postings each question's terms have (not ms)
    load_average: tuple[float, float, float]  # at the end: 2 cores shared by several engineers
    vocabulary_terms: int
    postings: int


@dataclass
class Report:
    command: str
    started: str
    machine: Machine
    base_passages: int
    copies: int
    passages: int
    build_seconds: float
    disk_bytes: dict[str, int]
    serving: dict  # Serving, as the serving process printed it


def real_passages(source: Path, wanted: int) -> list[str]:
    """The first `wanted` passages of the corpus: each article's title and ~900-character
    pieces of its text, cut at spaces."""
    passages = []
    with gzip.open(source, "rt", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            text, title = record.get("text", ""), record.get("title", "")
            start = 0
            while start < len(text) and len(passages) < wanted:
                end = text.rfind(" ", start, start + PASSAGE_CHARS) if start + PASSAGE_CHARS < len(text) else len(text)
                end = end if end > start else min(len(text), start + PASSAGE_CHARS)
                passages.append(f"{title}\n{text[start:end]}")
                start = end + 1
            if len(passages) >= wanted:
                break
    return passages


def repeated(segment: SegmentTerms, copies: int) -> SegmentTerms:
    """The segment's passages `copies` times over, one copy after another."""
    n = segment.passages
    rows = np.empty(len(segment.rows) * copies, dtype=np.uint32)
    counts = np.empty(len(segment.counts) * copies, dtype=segment.counts.dtype)
    shift = (np.arange(copies, dtype=np.uint32) * n)[:, None]
    indptr = np.asarray(segment.indptr)
    for start, stop in zip(indptr[:-1], indptr[1:]):  # per term: its postings in every copy, in row order
        rows[start * copies:stop * copies] = (shift + segment.rows[start:stop]).ravel()
        counts[start * copies:stop * copies] = np.tile(segment.counts[start:stop], copies)
    return SegmentTerms(segment.columns, indptr * copies, rows, counts, np.tile(segment.lengths, copies))


def serve(folder: Path, questions: list[str]) -> Serving:
    """Load the segment and score the questions, in this (fresh) process."""
    before = Memory.now()
    started = time.perf_counter()
    segment = SegmentTerms.read(folder)
    lexical = Lexical([segment])
    load_seconds = time.perf_counter() - started
    after_load = Memory.now()
    passes, cpu = [], []
    for _ in range(2):
        times, cpu = [], []
        for question in questions:
            started, started_cpu = time.perf_counter(), time.process_time()
            scores = lexical.scores(question)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
            assert len(scores) == segment.passages
        passes.append(Latency.of(times))
    postings = [sum(lexical.document_frequency(t) for t in Counter(tokenize([q])[0])) for q in questions]
    return Serving(load_seconds, before, after_load, Memory.now(), passes[0], passes[1], Latency.of(cpu),
                   Latency.of(postings), os.getloadavg(), len(segment.columns), len(segment.rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=1_250_000)
    parser.add_argument("--base", type=int, default=90_000, help="real passages to tokenise")
    parser.add_argument("--folder", type=Path, default=Path("/tmp/lexical-scale-benchmark"))
    parser.add_argument("--serve", action="store_true", help="internal: load and query, print JSON")
    arguments = parser.parse_args()
    questions = [json.loads(line)["question"]
                 for line in (DATA / "dev_questions.jsonl").read_text().splitlines()[:QUESTIONS]]
    if arguments.serve:
        print(json.dumps(asdict(serve(arguments.folder, questions))))
        return

    run_started = datetime.now(timezone.utc)
    machine = Machine.this_one()
    started = time.perf_counter()
    base = SegmentTerms.of_texts(real_passages(DATA / "corpus_10k.jsonl.gz", arguments.base))
    copies = math.ceil(arguments.passages / base.passages)
    segment = repeated(base, copies)
    segment.write(arguments.folder)
    build_seconds = time.perf_counter() - started
    base_passages, passages = base.passages, segment.passages
    print(f"{passages:,} passages ({base_passages:,} × {copies}) written in {build_seconds:.0f} s", flush=True)
    del base, segment  # the serving figures are measured in a fresh process

    served = subprocess.run([sys.executable, __file__, "--serve", "--folder", str(arguments.folder)],
                            check=True, capture_output=True, text=True)
    serving = json.loads(served.stdout)
    disk = {p.name: p.stat().st_size for p in sorted(arguments.folder.iterdir())}
    disk["total"] = folder_bytes(arguments.folder)
    report = Report(" ".join(sys.argv), run_started.isoformat(timespec="seconds"), machine,
                    base_passages, copies, passages, build_seconds, disk, serving)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"lexical-scale-{run_started.strftime('%Y-%m-%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(asdict(report), indent=1))
    print(json.dumps(serving, indent=1))
    print(f"disk {report.disk_bytes['total'] / 2**20:,.0f} MiB; wrote {path}")


if __name__ == "__main__":
    main()
