"""The benchmark's inputs: the first N articles of a corpus, and new articles to add later."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


@dataclass(frozen=True)
class BenchCorpus:
    source: Path
    articles: int
    base: Path  # the first `articles` articles, as JSONL
    add_one: Path  # one article that is not in base
    add_hundred: Path  # a hundred more, none of them in base or add_one


def prepare(source: Path, articles: int, folder: Path) -> BenchCorpus:
    """Write the subsets once per (source, size); later runs reuse them."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = source.name.split(".")[0]
    base = folder / f"{stem}-{articles}.jsonl"
    add_one, add_hundred = folder / f"{stem}-{articles}-add1.jsonl", folder / f"{stem}-{articles}-add100.jsonl"
    if not (base.exists() and add_one.exists() and add_hundred.exists()):
        records = list(_first_records(source, articles))
        _write(base, records)
        # New articles are copies of indexed ones under new ids, with a changed first line, so
        # they have a realistic length and nothing can be reused from the index.
        _write(add_one, [_as_new(records[0], 0)])
        _write(add_hundred, [_as_new(records[n % len(records)], n) for n in range(1, 101)])
    count = sum(1 for _ in open(base, encoding="utf-8"))
    return BenchCorpus(source, count, base, add_one, add_hundred)


def _first_records(source: Path, limit: int) -> Iterator[dict]:
    opener = gzip.open if source.name.endswith(".gz") else open
    with opener(source, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if number >= limit:
                return
            yield json.loads(line)


def _as_new(record: dict, n: int) -> dict:
    return {**record, "doc_id": f"bench-new-{n:03d}",
            "title": f"Update {n}: {record.get('title', '')}",
            "text": f"Update {n} to an earlier report.\n\n{record.get('text', '')}"}


def _write(path: Path, records: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())
