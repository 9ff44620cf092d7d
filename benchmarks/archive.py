"""Benchmark 5 (issue 17): an archive of 10,000, 30,000 and 100,000 articles on this machine —
server memory, time to the first answer, /ask latency and throughput, adding and deleting one
article (wall time and bytes written), at each size.

    .venv/bin/python benchmarks/run.py --stages archive [--archive-sizes 10000,30000,100000]

The archive is corpus_10k indexed once with stand-in vectors (random unit vectors: this
measures what grows with the archive, not answer quality), then grown a copy at a time: each copy
is the same 10,000 articles with new ids and dates a year earlier, written as a seed file of its
own and indexed as one segment of its own, with the first segment's term counts and fresh
stand-in vectors and story sketches (random, so the copies are not taken for one story), through
store.write_generation as a build would. Adding and deleting one article runs the real build,
with the real model already loaded.
"""

from __future__ import annotations

import cProfile
import dataclasses
import io
import json
import pstats
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
from indexing import StandInVectors
from records import Row, Run
from serving import serve_and_load

from newsdesk.articles.dates import parse_date
from newsdesk.embeddings import load_embedder
from newsdesk.index import store
from newsdesk.index.build import build_index
from newsdesk.index.duplicates import StorySketches
from newsdesk.index.segment import SegmentContent
from newsdesk.service import Newsdesk
from newsdesk.settings import Settings

GOALS = {"rss_mb": 2048, "ready_s": 5.0, "p50_ms": 30.0, "p95_ms": 60.0, "rps": 40.0,
         "add1_s": 1.0, "delete1_s": 1.0}
ADDED = ("Harbour authority opens a night ferry to Calais\n\n"
         "The harbour authority opened a night ferry between Dover and Calais on Monday, "
         "the first since the strike. Tickets cost 40 pounds. The ferry leaves at midnight.\n")
ADDED_QUESTION = "When does the new night ferry between Dover and Calais leave?"


def run_archive(run: Run, corpus: Path, workdir: Path, sizes: list[int], backend: str,
                questions: list[str], sequential: int, concurrent: int, clients: int) -> None:
    seeds = workdir / "seeds"
    seeds.mkdir(parents=True, exist_ok=True)
    for old in seeds.glob("added-*.txt"):
        old.unlink()
    settings = Settings(seeds=(corpus, seeds), embeddings=workdir / "index", index_type="ivf",
                        backend=backend, abstain_below=0.0)  # 0: answer whatever was found
    embedder = StandInVectors(load_embedder(settings))
    started = time.perf_counter()
    report = build_index(settings, embedder)
    base_seconds = time.perf_counter() - started
    run.details["archive_base"] = {"seconds": base_seconds, "summary": report.summary()}
    print(f"archive: base index {report.summary()} ({base_seconds:.0f} s)", flush=True)
    copies = _copies_in(settings.embeddings)
    base = len(store.load_generation(settings.embeddings).segments[0].ids)  # each copy adds as many
    for size in sorted(sizes):
        while base * (copies + 1) < size:
            copies += 1
            _add_copy(settings, seeds, copies, embedder)
        articles = len(store.load_generation(settings.embeddings).articles)
        figures = _measure(settings, embedder, questions, sequential, concurrent, clients,
                           workdir, articles)
        run.details[f"archive_{articles}"] = figures
        _rows(run, figures, articles)


def _copies_in(embeddings: Path) -> int:
    manifest = store.read_manifest(store.current_folder(embeddings))
    return sum(1 for path in manifest["files"] if Path(path).name.startswith("copy-"))


def _add_copy(settings: Settings, seeds: Path, number: int, embedder: StandInVectors) -> None:
    """Copy `number` of the first segment: its articles with new ids and dates `number` years
    earlier, a seed file of their own, written as one new segment."""
    root = settings.embeddings
    started = time.perf_counter()
    with store.write_lock(root):
        generation = store.load_generation(root)
        first = generation.segments[0]
        path = seeds / f"copy-{number:02d}.jsonl"
        articles, passages = [], []
        with open(path, "w", encoding="utf-8") as handle:
            for line, article in enumerate(first.all_articles(), 1):
                day = parse_date(article.published)
                copy = dataclasses.replace(
                    article, id=f"{article.id}~{number}", source=f"{path}:{line}",
                    published=(day - timedelta(days=365 * number)).isoformat() if day else None)
                handle.write(json.dumps({"id": copy.id, "title": copy.title, "text": copy.text,
                                         "url": copy.url, "published": copy.published}) + "\n")
                articles.append(copy)
                passages.extend(first.passage(row, copy) for row in first.rows(line - 1))
        random = np.random.default_rng(number)
        sketches = StorySketches(tuple(a.id for a in articles),
                                 random.integers(0, 2**32, (len(articles), first.sketches.signatures.shape[1]),
                                                 dtype=np.uint32))
        vectors = embedder.embed([""] * len(passages))  # stand-ins: the texts are not read
        content = SegmentContent(articles, passages, vectors, first.terms, sketches)
        manifest = store.read_manifest(generation.folder)
        status = path.stat()
        manifest["files"][str(path)] = [status.st_size, status.st_mtime_ns]
        manifest["counts"] = {"articles": manifest["counts"]["articles"] + len(articles),
                              "passages": manifest["counts"]["passages"] + len(passages)}
        name = store.write_generation(root, manifest, content, settings.index_type,
                                      settings.vector_codec)
        store.prune_generations(root)
    print(f"archive: copy {number} as {name} ({time.perf_counter() - started:.0f} s)", flush=True)


def _measure(settings: Settings, embedder: StandInVectors, questions: list[str], sequential: int,
             concurrent: int, clients: int, workdir: Path, articles: int) -> dict:
    started = time.perf_counter()
    generation = store.load_generation(settings.embeddings)
    load_seconds = time.perf_counter() - started
    passages = generation.passage_count
    del generation
    server = serve_and_load(settings.embeddings, settings.backend, questions, sequential, concurrent,
                            clients, workdir / f"server-{articles}.log",
                            env={"NEWSDESK_ABSTAIN_BELOW": "0"})
    embedder.real = True
    added = settings.seeds[1] / f"added-{articles}.txt"
    added.write_text(ADDED, encoding="utf-8")
    before = _generation_folders(settings.embeddings)
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    report = build_index(settings, embedder)
    profile.disable()
    add_seconds = time.perf_counter() - started
    written = sum(_bytes(folder) for folder in _generation_folders(settings.embeddings) - before)
    desk = Newsdesk(settings, embedder=embedder.embedder)
    cited = [c.article_id for c in desk.ask(ADDED_QUESTION).citations]
    added.unlink()
    started = time.perf_counter()
    build_index(settings, embedder)
    delete_seconds = time.perf_counter() - started
    desk.refresh()
    after = [c.article_id for c in desk.ask(ADDED_QUESTION).citations]
    embedder.real = False
    return {"articles": articles, "passages": passages, "index_load_s": load_seconds, "clients": clients,
            "server": dataclasses.asdict(server), "add1_s": add_seconds, "add1_bytes": written,
            "add1_summary": report.summary(), "added_cited": added.stem in cited,
            "delete1_s": delete_seconds, "deleted_cited_after": added.stem in after,
            "add1_profile": _top(profile)}


def _generation_folders(root: Path) -> set[Path]:
    return set((root / store.GENERATIONS).glob("gen-*"))


def _bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _top(profile: cProfile.Profile, count: int = 15) -> str:
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(count)
    return out.getvalue()


def _rows(run: Run, figures: dict, articles: int) -> None:
    server = figures["server"]
    where = f"{articles:,} articles, {figures['passages']:,} passages"
    sequential, concurrent = server["sequential"], server["concurrent"]
    run.add(
        Row("5 archive", f"server RSS after load ({where})", server["rss_after_load_mb"], "MB",
            "≤ 2 GB", server["rss_after_load_mb"] <= GOALS["rss_mb"]),
        Row("5 archive", f"start to first answer ({where})", server["seconds_to_first_answer"], "s",
            "≤ 5 s", server["seconds_to_first_answer"] <= GOALS["ready_s"],
            f"index load alone {figures['index_load_s']:.2f} s"),
        Row("5 archive", f"/ask p50 sequential ({where})", sequential["p50"], "ms", "≤ 30 ms",
            sequential["p50"] <= GOALS["p50_ms"]),
        Row("5 archive", f"/ask p95 sequential ({where})", sequential["p95"], "ms", "≤ 60 ms",
            sequential["p95"] <= GOALS["p95_ms"]),
        Row("5 archive", f"/ask with {figures['clients']} clients ({where})", server["concurrent_requests_per_second"],
            "req/s", "≥ 40", server["concurrent_requests_per_second"] >= GOALS["rps"]),
        Row("5 archive", f"add 1 article ({where}), model loaded", figures["add1_s"], "s", "≤ 1 s",
            figures["add1_s"] <= GOALS["add1_s"],
            f"{figures['add1_bytes'] / 1e3:,.0f} kB written; cited: {figures['added_cited']}"),
        Row("5 archive", f"delete 1 article ({where})", figures["delete1_s"], "s", "≤ 1 s",
            figures["delete1_s"] <= GOALS["delete1_s"] and not figures["deleted_cited_after"],
            f"cited after: {figures['deleted_cited_after']}"))

