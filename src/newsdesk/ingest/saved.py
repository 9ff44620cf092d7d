"""Articles saved into the seeds as one-line JSONL files, durably: written, synced and renamed
into place, so a file is there whole or not at all, and once a save returns it survives a crash."""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from pathlib import Path

from newsdesk.articles import Article
from newsdesk.index.store import sync_folder
from newsdesk.settings import Settings

INBOX = "inbox"  # the ingest API's articles
FEEDS = "feeds"  # the feeds' articles
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


class NoSeedsFolder(ValueError):
    """The first seeds path is a file: there is no folder to save articles in."""


def owned_folder(settings: Settings, name: str) -> Path:
    """A folder the server owns inside the first seeds path (created when missing), so that the
    builds read what is saved there like any other seed."""
    first = Path(settings.seeds[0])
    if first.exists() and not first.is_dir():
        raise NoSeedsFolder(f"the first seeds path, {first}, is a file: articles can only be saved "
                            "into a folder (put a folder first in NEWSDESK_SEEDS)")
    folder = first / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def file_name(key: str) -> str:
    """A file name for an article id or a feed item's GUID: readable, unique, safe (ids may hold
    slashes, dots or any character; the hash keeps two ids that read alike apart)."""
    slug = _UNSAFE.sub("-", key).strip("-")[:40] or "article"
    return f"{slug}-{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}.jsonl"


def corpus_line(article: Article) -> bytes:
    """The article as a line of the JSONL corpus format (articles/corpus.py reads it back equal)."""
    record = {"doc_id": article.id, "title": article.title, "text": article.text}
    if article.url:
        record["url"] = article.url
    if article.published:
        record["publish_date"] = article.published
    return json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n"


def write_durably(path: Path, data: bytes) -> None:
    """path holds data, or (after a crash at any point) what it held before; never a part.
    The temporary file's name starts with a dot: the seeds reader and the watcher skip it."""
    temporary = path.parent / f".tmp-{uuid.uuid4().hex}"
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    sync_folder(path.parent)  # the rename itself reaches the disk


def remove_durably(path: Path) -> bool:
    """Remove path, the removal on disk before returning; False when it was not there."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    sync_folder(path.parent)
    return True


def remove_leftovers(folder: Path) -> None:
    """Temporary files a crash left behind (never acknowledged: nothing is lost)."""
    for leftover in folder.glob(".tmp-*"):
        leftover.unlink(missing_ok=True)
