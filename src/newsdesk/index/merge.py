"""Merging segments: Lucene's log merge policy, so that a year of one-article builds does not
leave a query searching thousands of tiny segments, and deleted articles' rows are given back.

Segments are grouped in levels by size (a level is a power of MERGE_FACTOR passages); when
MERGE_FACTOR segments share a level they are merged into one of the next level, so a query
searches at most about MERGE_FACTOR segments a level, a handful in all, up to segments of
MAX_MERGED_PASSAGES. A segment whose rows are
mostly deleted is rewritten without them. Merging copies rows: nothing is embedded or tokenised
again. It runs in the build that made it due, under the same lock, after that build's new
generation is already served, and is written as one more generation (same atomic swap).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from newsdesk.index import store
from newsdesk.index.duplicates import StorySketches
from newsdesk.index.lexical import SegmentTerms
from newsdesk.index.segment import VECTORS, Segment, SegmentContent, read_segment
from newsdesk.index.store import Reading

MERGE_FACTOR = 10  # Lucene's LogMergePolicy default
MOSTLY_DELETED = 0.5  # a segment with more of its rows deleted than this is rewritten
# Lucene's maxMergedSegmentMB, in passages: segments this big are left as they are (a merge of
# millions of rows would hold a build for minutes), so an archive ends as a few big segments.
MAX_MERGED_PASSAGES = 1_000_000


def due(segments: list[dict]) -> list[str]:
    """The names of the segments (the manifest's list) to merge now; none: an empty list."""
    levels: dict[int, list[dict]] = {}
    for segment in segments:
        passages, deleted = segment["passages"], segment["deleted_passages"]
        if passages and deleted / passages > MOSTLY_DELETED:
            return [segment["name"]]
        live = max(1, passages - deleted)
        levels.setdefault(int(math.log(live, MERGE_FACTOR)), []).append(segment)
    for _, level in sorted(levels.items()):
        merged = sum(s["passages"] - s["deleted_passages"] for s in level)
        if len(level) >= MERGE_FACTOR and merged <= MAX_MERGED_PASSAGES:
            return [s["name"] for s in level]
    return []


def merge_if_due(root: Path, index_type: str, codec: str) -> str | None:
    """Merge the current generation's segments if the policy says so; the new generation's name,
    or None when nothing was due."""
    folder = store.current_folder(root)
    if folder is None:
        return None
    manifest = store.read_manifest(folder)
    chosen = due(manifest["segments"])
    if not chosen:
        return None
    parts = []
    for segment in manifest["segments"]:
        if segment["name"] in chosen:
            where = store.segment_folder(root, folder, manifest, segment["name"])
            own = manifest if where == folder else store.read_manifest(where)
            parts.append((read_segment(segment["name"], where, own, Reading), set(segment["deleted"])))
    manifest["segments"] = [s for s in manifest["segments"] if s["name"] not in chosen]
    return store.write_generation(root, manifest, merged_content(parts), index_type, codec)


def merged_content(parts: list[tuple[Segment, set[str]]]) -> SegmentContent:
    """One segment holding the live articles of parts, in order, with their rows copied."""
    articles, passages, vectors, terms, sketches = [], [], [], [], []
    for segment, deleted in parts:
        keep = ~segment.rows_of(deleted) if deleted else np.ones(len(segment), dtype=bool)
        stored = np.load(segment.folder / VECTORS, mmap_mode="r")
        vectors.append(np.asarray(stored[keep], dtype=np.float32))
        terms.append((segment.terms, np.flatnonzero(keep)))
        kept_ids = [i for i in segment.ids if i not in deleted]
        sketches.append(segment.sketches.select(kept_ids))
        for number, article in enumerate(segment.all_articles()):  # articles.jsonl is in ids order
            if article.id not in deleted:
                articles.append(article)
                passages.extend(segment.passage(row, article) for row in segment.rows(number))
    dimension = vectors[0].shape[1] if vectors else 0
    return SegmentContent(articles, passages,
                          np.concatenate(vectors) if vectors else np.zeros((0, dimension), np.float32),
                          SegmentTerms.merged(terms),
                          StorySketches(tuple(i for s in sketches for i in s.ids),
                                        np.concatenate([s.signatures for s in sketches])))
