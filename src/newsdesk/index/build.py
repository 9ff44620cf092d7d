"""Planning and running a build: which seed files changed, which articles are new, changed or
removed, whether the new segment fits on disk, and assembling it (passages, vectors, term counts,
story sketches); then merging small segments when enough have gathered (merge.py).

A build writes only its new and changed articles, as one new segment, and deletes the old copies
of changed and removed ones from their segments (store.py has the layout). An index of format 1
(one whole generation) is upgraded by its next build: its vectors are copied into a first segment.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from newsdesk.articles import Article, InputProblem, ReadResult, read_articles
from newsdesk.articles.folders import source_files
from newsdesk.embeddings.base import Embedder
from newsdesk.embeddings.progress import Progress
from newsdesk.index import store
from newsdesk.index.errors import DamagedIndex, DiskSpaceShort
from newsdesk.index.duplicates import StorySketches
from newsdesk.index.lexical import SegmentTerms
from newsdesk.index.merge import merge_if_due
from newsdesk.index.segment import CATALOG, SegmentContent, file_of, read_catalog
from newsdesk.index.store import FORMAT_VERSION, GENERATIONS, Reading, damage_message
from newsdesk.passages import Chunker, ChunkerSettings, Passage
from newsdesk.settings import Settings

ARTICLES_A_STEP = 32  # chunked and embedded together: the bar moves, batches stay full

# Chunks and embeds the new and changed articles: their passages, article by article, and one
# vector row per passage in the same order. Local by default; ray_build.py runs it on Ray.
ChunkAndEmbed = Callable[[list[Article], ChunkerSettings], "tuple[list[list[Passage]], np.ndarray]"]


@dataclass
class BuildReport:
    new: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    passages_embedded: int = 0
    passages_total: int = 0
    seconds: float = 0.0
    generation: str | None = None
    rebuilt_reason: str | None = None
    problems: list[InputProblem] = field(default_factory=list)
    files_skipped: int = 0

    @property
    def wrote(self) -> bool:
        return self.generation is not None

    def summary(self) -> str:
        """One line for people: `12 new, 0 changed, 0 removed, 288 unchanged — 3,874 passages
        embedded in 41.2 s`."""
        line = (f"{self.new:,} new, {self.changed:,} changed, {self.removed:,} removed, "
                f"{self.unchanged:,} unchanged — {counted(self.passages_embedded, 'passage')} "
                f"embedded in {self.seconds:,.1f} s")
        if self.rebuilt_reason:
            line += f" (full rebuild: {self.rebuilt_reason})"
        if self.files_skipped or self.problems:
            line += (f"; {counted(len(self.problems), 'input')} skipped "
                     f"({counted(self.files_skipped, 'whole file')})")
        return line


def counted(count: int, noun: str) -> str:
    """'1 passage', '3,874 passages'."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def build_index(settings: Settings, embedder: Embedder, full: bool = False,
                progress: bool = False, log: Callable[[str], None] = lambda _: None,
                chunk_and_embed: ChunkAndEmbed | None = None) -> BuildReport:
    """Bring the index under settings.embeddings up to date with settings.seeds.

    The build plans first and asks the embedder for vectors (or its dimension) only when an
    article needs embedding: with an OnDemandEmbedder (embeddings.embedder_on_demand), a run
    with nothing new never loads the model.

    A build that fails after taking the lock says why in LAST_BUILD, for the server's /health
    (a build is its own process); the next build that succeeds removes it.
    """
    started = time.perf_counter()
    root = Path(settings.embeddings)
    root.mkdir(parents=True, exist_ok=True)
    with store.write_lock(root):
        store.record_build_start(root)
        try:
            report = _build(root, settings, embedder, full, progress, log, chunk_and_embed)
        except Exception as error:
            store.record_build_failure(root, error)
            raise
        report.seconds = time.perf_counter() - started
        store.record_build_done(root, report.passages_embedded, report.seconds)
    return report


def _build(root: Path, settings: Settings, embedder: Embedder, full: bool, progress: bool,
           log: Callable[[str], None], chunk_and_embed: ChunkAndEmbed | None) -> BuildReport:
    store.remove_unfinished(root)
    chunker_settings = ChunkerSettings(settings.passage_tokens, settings.overlap_sentences,
                                       embedder.max_tokens)
    report = BuildReport()
    previous = _reusable_previous(root, embedder, chunker_settings, full, report)
    seeds = read_seeds(settings.seeds, previous.files if isinstance(previous, Previous) else {})
    plan = _plan(seeds, previous, report)
    report.problems, report.files_skipped = seeds.read.problems, seeds.read.files_skipped
    for note in seeds.read.notes:  # which of a corpus's field names were used, once a file
        log(str(note))
    for problem in seeds.read.problems:
        log(str(problem))
    if isinstance(previous, Previous) and not plan.writes and seeds.files == previous.files:
        try:  # nothing to write, so the generation served stays: it must load whole
            store.load_generation(root)
        except DamagedIndex as error:
            previous = None
            report, plan = _full_rebuild(settings.seeds, f"the previous index could not be read: {error.problem}")
        else:
            report.passages_total = previous.live_passages
            return report
    if previous is not None and plan.fresh and embedder.dimension != previous.dimension:
        # The same identity with another width (only the loaded model knows it): rows of the
        # two cannot share one index.
        previous = None
        report, plan = _full_rebuild(settings.seeds, "dimension changed")
    # A removal alone embeds nothing: the previous width, and the model stays unloaded.
    dimension = previous.dimension if previous is not None else embedder.dimension
    _refuse_if_short_of_space(root, plan, previous, dimension, settings.index_type)
    fresh = chunk_and_embed or local_chunk_and_embed(embedder, progress)
    content = _new_segment(plan, previous, chunker_settings, fresh, dimension, report)
    manifest = _manifest(settings, embedder, dimension, chunker_settings, plan, previous, content,
                         seeds.files)
    report.generation = store.write_generation(root, manifest, content, settings.index_type,
                                               settings.vector_codec)
    report.passages_total = manifest["counts"]["passages"]
    merged = merge_if_due(root, settings.index_type, settings.vector_codec)
    if merged is not None:
        report.generation = merged
        log(f"merged small segments into {merged}")
    store.prune_generations(root)
    return report


def _full_rebuild(seeds: Sequence[Path], reason: str) -> tuple[BuildReport, "Plan"]:
    """A fresh report and plan, every article new: the previous index is not reused."""
    read = read_seeds(seeds, {})
    report = BuildReport(problems=read.read.problems, files_skipped=read.read.files_skipped,
                         rebuilt_reason=reason)
    return report, _plan(read, None, report)


# ---------------------------------------------------------------- the seeds, read where they changed


@dataclass
class Seeds:
    """The articles of the seed files that changed since the last build (all of them for a
    first build), and the size and time of every seed file now."""

    read: ReadResult
    files: dict[str, list[int]]  # path: [size, mtime_ns] of each file found, read or not
    read_files: set[str]  # the files read this time


def read_seeds(paths: Sequence[Path], known: dict[str, list[int]]) -> Seeds:
    """Read the seed files whose size or modification time differ from known (the previous
    build's record); the others' articles are unchanged and stay in the index unread. A file
    with a problem is not recorded, so it is read (and its problem said) again next time."""
    problems: list[InputProblem] = []
    files: dict[str, list[int]] = {}
    for path in source_files(paths, problems):
        try:
            status = path.stat()
        except OSError:
            continue  # gone since the walk: not a seed any more
        files[str(path)] = [status.st_size, status.st_mtime_ns]
    changed = [Path(p) for p, stat in files.items() if known.get(p) != stat]
    read = read_articles(changed)
    read.problems[:0] = problems
    for problem in read.problems:  # a corpus line's problem names its file too
        files.pop(problem.path, None)
    return Seeds(read, files, {str(p) for p in changed})


# ---------------------------------------------------------------- the previous index


@dataclass
class Known:
    """The previous index's live articles, as arrays (one entry an article): planning looks up
    the few articles read this time and the files that changed, not every article."""

    ids: list[str]
    segment: np.ndarray  # the number of the segment holding it, in the manifest's list
    hashes: list[str]
    passages: np.ndarray
    files: np.ndarray  # the seed file it came from

    @functools.cached_property
    def position(self) -> dict[str, int]:
        return {article_id: n for n, article_id in enumerate(self.ids)}

    @classmethod
    def none(cls) -> "Known":
        return cls([], np.zeros(0, dtype=np.int64), [], np.zeros(0, dtype=np.int64), np.zeros(0, dtype=str))


@dataclass
class Previous:
    """The generation served now, as far as a build needs it: its live segments, the articles
    in each, and the seed files it was built from."""

    folder: Path
    manifest: dict
    segments: list[dict]  # the manifest's list: {"name", "passages", "deleted", "deleted_passages"}
    known: Known
    files: dict[str, list[int]]

    @property
    def dimension(self) -> int:
        return int(self.manifest["model"]["dimension"])

    @property
    def live_passages(self) -> int:
        return int(self.manifest["counts"]["passages"])


@dataclass
class Legacy:
    """A generation of format 1 (one whole index): reused once, to write the first segment."""

    folder: Path
    manifest: dict
    passage_rows: list[tuple[str, int, int]]  # (article_id, start, end) per vector row
    vectors: np.ndarray
    rows_by_article: dict[str, tuple[int, int]]
    files: dict = field(default_factory=dict)

    @property
    def dimension(self) -> int:
        return int(self.vectors.shape[1])

    @functools.cached_property
    def known(self) -> Known:
        entries = self.manifest["articles"]
        return Known(list(entries), np.zeros(len(entries), dtype=np.int64),
                     [e["hash"] for e in entries.values()],
                     np.array([e.get("passages", 0) for e in entries.values()], dtype=np.int64),
                     np.full(len(entries), "", dtype=str))  # every seed file is read again


def _reusable_previous(root: Path, embedder: Embedder, chunker: ChunkerSettings, full: bool,
                       report: BuildReport) -> Previous | Legacy | None:
    try:
        folder = store.current_folder(root, strict=True)
    except DamagedIndex as error:
        report.rebuilt_reason = f"the previous index could not be read: {error.problem}"
        return None
    if folder is None:
        return None
    try:
        manifest = store.read_manifest(folder)
        if not isinstance(manifest, dict):
            raise ValueError("manifest.json is not a JSON object")
    except (OSError, ValueError):
        report.rebuilt_reason = "the previous index could not be read"
        return None
    # Not the dimension: only a loaded model knows it, and the same identity has the same one
    # (_build checks it once the model is loaded for new articles).
    wanted = {"model": embedder.identity, "chunker": chunker.as_dict()}
    model = manifest.get("model") if isinstance(manifest.get("model"), dict) else {}
    found = {"model": model.get("identity"), "chunker": manifest.get("chunker")}
    if full:
        report.rebuilt_reason = "--full"
        return None
    changed = [key for key in wanted if wanted[key] != found[key]]
    if changed:
        report.rebuilt_reason = f"{', '.join(changed)} changed"
        return None
    try:
        if manifest.get("format") == FORMAT_VERSION:
            return _previous(root, folder, manifest)
        if manifest.get("format") == 1:
            return _legacy(folder, manifest, model)
        raise ValueError(f"format {manifest.get('format')!r} is not one this version reads")
    except Exception as error:  # any damage: the previous generation cannot be reused
        report.rebuilt_reason = (f"the previous index could not be read: "
                                 f"{damage_message(folder, error)}")
        return None


def _previous(root: Path, folder: Path, manifest: dict) -> Previous:
    parts = []
    for number, segment in enumerate(manifest["segments"]):
        where = store.segment_folder(root, folder, manifest, segment["name"])
        with Reading(CATALOG):
            catalog = read_catalog(where)
        live = ~np.isin(catalog.ids, np.asarray(segment["deleted"], dtype=str))
        parts.append((number, catalog, live))
    known = Known(
        [str(i) for _, c, live in parts for i in c.ids[live]],
        np.concatenate([np.full(int(live.sum()), n, dtype=np.int64) for n, _, live in parts]),
        [str(h) for _, c, live in parts for h in c.hashes[live]],
        np.concatenate([c.passages[live] for _, c, live in parts]),
        np.concatenate([c.files[live] for _, c, live in parts])) if parts else Known.none()
    return Previous(folder, manifest, manifest["segments"], known, dict(manifest.get("files", {})))


def _legacy(folder: Path, manifest: dict, model: dict) -> Legacy:
    with Reading("passages.npz"):
        rows = store.read_passage_rows(folder)
    with Reading("vectors.npy"):
        vectors = np.load(folder / "vectors.npy", mmap_mode="r")
        if vectors.shape != (len(rows), model.get("dimension")):
            raise ValueError(f"{vectors.shape} for {len(rows)} passages of "
                             f"{model.get('dimension')} dimensions")
    with Reading("manifest.json"):
        if not all(isinstance(entry, dict) and "hash" in entry
                   for entry in manifest["articles"].values()):
            raise ValueError("an article entry without its hash")
    by_article: dict[str, tuple[int, int]] = {}
    for row, (article_id, _, _) in enumerate(rows):
        first, _ = by_article.get(article_id, (row, row))
        by_article[article_id] = (first, row + 1)
    return Legacy(folder, manifest, rows, vectors, by_article)


# ---------------------------------------------------------------- what this build does


@dataclass
class Plan:
    """The new segment's articles (new and changed, plus, when a format-1 index is upgraded,
    the unchanged ones), and the previous segments' articles this build deletes."""

    segment: list[Article] = field(default_factory=list)
    reused: set[str] = field(default_factory=set)  # of segment: vectors copied from a Legacy
    deleted: dict[int, set[str]] = field(default_factory=dict)  # segment number: article ids

    @property
    def fresh(self) -> list[Article]:
        return [a for a in self.segment if a.id not in self.reused]

    @property
    def writes(self) -> bool:
        return bool(self.segment or self.deleted)


def _plan(seeds: Seeds, previous: Previous | Legacy | None, report: BuildReport) -> Plan:
    known = previous.known if previous is not None else Known.none()
    plan = Plan()
    present: set[str] = set()
    for article in seeds.read.articles:
        n = known.position.get(article.id)
        held_by = known.files[n] if n is not None else ""
        if held_by and held_by != file_of(article.source) and held_by in seeds.files \
                and held_by not in seeds.read_files:  # a file not read this time still holds it
            seeds.read.problems.append(InputProblem(article.source, f"duplicate article id "
                                                    f"{article.id!r} (already in {held_by})",
                                                    whole_file=False))
            continue
        present.add(article.id)
        if n is None:
            report.new += 1
            plan.segment.append(article)
        elif known.hashes[n] != article.content_hash or (
                known.files[n] and known.files[n] != file_of(article.source)):
            report.changed += 1  # or another file holds it now: its entry must say which
            plan.segment.append(article)
            plan.deleted.setdefault(int(known.segment[n]), set()).add(article.id)
        elif isinstance(previous, Legacy):
            plan.segment.append(article)
            plan.reused.add(article.id)
    # Gone: what a file read again no longer holds, and what a file no longer there held (a
    # format-1 index recorded no files, and every file was read).
    gone_files = [f for f in set(known.files.tolist()) if f in seeds.read_files or f not in seeds.files]
    for n in np.flatnonzero(np.isin(known.files, np.asarray(gone_files, dtype=str))):
        if known.ids[n] not in present:
            report.removed += 1
            plan.deleted.setdefault(int(known.segment[n]), set()).add(known.ids[n])
    report.unchanged = len(known.ids) - report.changed - report.removed
    return plan


def _new_segment(plan: Plan, previous: Previous | Legacy | None, chunker: ChunkerSettings,
                 chunk_and_embed: ChunkAndEmbed, dimension: int, report: BuildReport) -> SegmentContent:
    """The new segment: the plan's articles chunked and embedded (a Legacy's unchanged ones
    copied instead), their term counts and story sketches."""
    fresh_articles = plan.fresh
    fresh_passages, fresh_vectors = (chunk_and_embed(fresh_articles, chunker) if fresh_articles
                                     else ([], np.zeros((0, dimension), dtype=np.float32)))
    fresh_by_id = {a.id: ps for a, ps in zip(fresh_articles, fresh_passages)}
    report.passages_embedded = len(fresh_vectors)
    passages: list[Passage] = []
    rows: list[int] = []  # per passage: the Legacy's vector row it is copied from, or -1
    for article in plan.segment:
        if article.id in plan.reused:
            first, last = previous.rows_by_article.get(article.id, (0, 0))
            for n, row in enumerate(range(first, last)):
                _, start, end = previous.passage_rows[row]
                passages.append(Passage.of(article, n, start, end))
            rows.extend(range(first, last))
        else:
            own = fresh_by_id[article.id]
            passages.extend(own)
            rows.extend([-1] * len(own))
    sources = np.asarray(rows, dtype=np.int64)
    vectors = np.empty((len(passages), dimension), dtype=np.float32)
    reused = sources >= 0
    if reused.any():
        vectors[reused] = previous.vectors[sources[reused]]  # one gather, not a read per article
    vectors[~reused] = fresh_vectors  # fresh articles' passages, in plan order as embedded
    return SegmentContent(plan.segment, passages, vectors,
                          SegmentTerms.of_texts(lexical_texts(passages)),
                          StorySketches.of_articles(plan.segment))


PASSAGE_CHARS_GUESS = 400  # fewer characters a passage than any real corpus: a generous estimate
BYTES_A_PASSAGE_GUESS = 2048  # passages.npz and term counts
SPACE_MARGIN = 1.2


def _refuse_if_short_of_space(root: Path, plan: Plan, previous: Previous | Legacy | None,
                              dimension: int, index_type: str) -> None:
    """Refuse at once, not after an hour of embedding, when the new segment will not fit."""
    need = estimated_segment_bytes(plan, previous, dimension)
    free = store.free_bytes(root)
    if need <= free:
        return
    kept = [p.name for p in (root / GENERATIONS).glob("gen-*")] if (root / GENERATIONS).is_dir() else []
    old = (f"; or remove old generations in {root / GENERATIONS} ({len(kept)} kept there for "
           "replicas; the server needs only the one CURRENT names and the ones its manifest "
           "lists)" if len(kept) > 1 else "")
    raise DiskSpaceShort(f"not enough space in {root}: the new index generation needs about "
                         f"{store.size_text(need)} and {store.size_text(free)} is free; free some "
                         f"space, or index into another folder with --embeddings{old}")


def estimated_segment_bytes(plan: Plan, previous: Previous | Legacy | None, dimension: int) -> int:
    """What the new segment will take on disk, a little over: articles.jsonl from the texts,
    the rest a passage at a time (vectors.npy and the vector index, term counts, offsets)."""
    known = previous.known if previous is not None else Known.none()
    passages = text_bytes = 0
    for article in plan.segment:
        text_bytes += len(article.text.encode("utf-8", "surrogatepass")) + len(article.title) * 3 + 300
        passages += (int(known.passages[known.position[article.id]]) if article.id in plan.reused
                     else len(article.text) // PASSAGE_CHARS_GUESS + 1)
    vector_bytes = 4 * dimension * 2  # vectors.npy, and at most as much again in index.faiss
    return int(SPACE_MARGIN * (text_bytes + passages * (vector_bytes + BYTES_A_PASSAGE_GUESS)) + (1 << 20))


def local_chunk_and_embed(embedder: Embedder, progress: bool = False) -> ChunkAndEmbed:
    """Chunk and embed in this process, with the embedder's own tokenizer and model, a few
    dozen articles at a time under one bar counting articles and passages (none for a build
    of a few seconds)."""
    def run(articles: list[Article], settings: ChunkerSettings):
        chunker = Chunker(settings, embedder.token_offsets)
        passages: list[list[Passage]] = []
        vectors: list[np.ndarray] = []
        with Progress(len(articles), "articles", "Indexing", also="passages", enabled=progress) as bar:
            for start in range(0, len(articles), ARTICLES_A_STEP):
                step = chunker.passages_for_many(articles[start:start + ARTICLES_A_STEP])
                texts = [p.embedding_text() for own in step for p in own]
                passages.extend(step)
                vectors.append(embedder.embed(texts))  # sorted by length there, batched
                bar.advance(len(step), also=len(texts))
        return passages, (np.concatenate(vectors) if vectors
                          else np.zeros((0, embedder.dimension), dtype=np.float32))
    return run


def _manifest(settings: Settings, embedder: Embedder, dimension: int, chunker: ChunkerSettings,
              plan: Plan, previous: Previous | Legacy | None, content: SegmentContent,
              files: dict[str, list[int]]) -> dict:
    """The new generation's manifest: the previous segments still live, with this build's
    deletions added (a segment left with no live article is dropped), the live totals, and the
    seed files read; store.write_generation adds the new segment and its articles."""
    segments, articles, passages = [], len(content.articles), len(content.passages)
    if isinstance(previous, Previous):
        known = previous.known
        live = np.bincount(known.segment, minlength=len(previous.segments))
        gone = {n: sum(int(known.passages[known.position[i]]) for i in ids) for n, ids in plan.deleted.items()}
        articles += len(known.ids) - sum(len(ids) for ids in plan.deleted.values())
        passages += previous.live_passages - sum(gone.values())
        for number, segment in enumerate(previous.segments):
            now = plan.deleted.get(number, set())
            if live[number] > len(now):  # a segment left with no live article is dropped
                segments.append({**segment, "deleted": sorted(set(segment["deleted"]) | now),
                                 "deleted_passages": segment["deleted_passages"] + gone.get(number, 0)})
    return {
        "format": FORMAT_VERSION,
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": {"name": getattr(embedder, "identity", "").split(":")[0],
                  "identity": embedder.identity, "dimension": dimension,
                  "max_tokens": embedder.max_tokens,
                  "backend": getattr(embedder, "backend", "unknown")},
        "chunker": chunker.as_dict(),
        "index_type": settings.index_type,
        "vector_codec": settings.vector_codec,
        "counts": {"articles": articles, "passages": passages},
        "segments": segments,
        "files": files,
    }


def lexical_texts(passages: Sequence[Passage]) -> list[str]:
    return [p.embedding_text() for p in passages]
