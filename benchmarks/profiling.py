"""Where the time goes: pyinstrument profiles of /ask's library call and of adding one article."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from corpus import BenchCorpus

from newsdesk.settings import Settings
from newsdesk.embeddings import load_embedder
from newsdesk.index.build import build_index
from newsdesk.service import Newsdesk


def _profiler():
    from pyinstrument import Profiler

    return Profiler(interval=0.001)


def profile_ask(embeddings: Path, backend: str, questions: Sequence[str], out: Path) -> Path:
    desk = Newsdesk(Settings(embeddings=embeddings, backend=backend))
    for question in questions[:5]:
        desk.ask(question)
    profiler = _profiler()
    with profiler:
        for question in questions:
            desk.ask(question)
    path = out / f"profile-ask-{backend}.txt"
    path.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
    return path


def profile_add_one(corpus: BenchCorpus, embeddings: Path, backend: str, out: Path) -> Path:
    """One more new article on top of everything the incremental benchmark added."""
    extra = embeddings.parent / "profile-add1.jsonl"
    record = json.loads(corpus.add_one.read_text().splitlines()[0])
    extra.write_text(json.dumps({**record, "doc_id": "bench-profile-article",
                                 "text": "Profiled.\n\n" + record["text"]}) + "\n")
    settings = Settings(seeds=(corpus.base, corpus.add_one, corpus.add_hundred, extra),
                        embeddings=embeddings, backend=backend)
    embedder = load_embedder(settings)
    profiler = _profiler()
    with profiler:
        report = build_index(settings, embedder)
    path = out / f"profile-add1-{backend}-{corpus.articles}.txt"
    path.write_text(f"{report.summary()}\n\n"
                    + profiler.output_text(unicode=True, color=False, show_all=False))
    return path
