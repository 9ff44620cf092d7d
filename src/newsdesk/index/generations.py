"""Index: building, writing and loading index generations (FAISS + passage store + manifest).

Layout of the embeddings folder:
    CURRENT                 name of the generation being served (replaced atomically)
    generations/gen-000007/ manifest.json, articles.jsonl, passages.npz, vectors.npy,
                            index.faiss, bm25/ (bm25s files plus the term counts)
    .lock                   held by the one `newsdesk index` allowed to write

A build writes a whole new generation into a temporary folder, syncs it, renames it, then
swaps CURRENT with os.replace: readers see the old generation or the new one, never a mix,
and a killed build leaves only a temporary folder that the next build removes.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from newsdesk.articles.reading import Article, InputProblem, read_articles
from newsdesk.settings import Settings
from newsdesk.embeddings.base import Embedder
from newsdesk.index.lexical import LexicalIndex, TermCounts
from newsdesk.passages import Chunker, ChunkerSettings, Passage

FORMAT_VERSION = 1
CURRENT = "CURRENT"
GENERATIONS = "generations"
PROGRESS_MIN = 2048  # passages; fewer embed in seconds, with no progress bar
KEEP_OLD_GENERATIONS = 2  # replicas still loading the previous one must find it whole

# Chunks and embeds the new and changed articles: their passages, article by article, and one
# vector row per passage in the same order. Local by default; distributed.py runs it on Ray.
ChunkAndEmbed = Callable[[list[Article], ChunkerSettings], "tuple[list[list[Passage]], np.ndarray]"]


class IndexError_(Exception):
    """A build or load that cannot go on; the message is meant for the user."""


class IndexLocked(IndexError_):
    pass


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
        line = (f"{self.new} new, {self.changed} changed, {self.removed} removed, "
                f"{self.unchanged} unchanged — {self.passages_embedded} passages embedded "
                f"in {self.seconds:.1f} s")
        if self.rebuilt_reason:
            line += f" (full rebuild: {self.rebuilt_reason})"
        if self.files_skipped or self.problems:
            line += f"; {len(self.problems)} inputs skipped ({self.files_skipped} whole files)"
        return line


@dataclass
class Generation:
    """One immutable, fully loaded index generation: what a query runs against."""

    name: str
    folder: Path
    manifest: dict
    articles: dict[str, Article]
    passages: list[Passage]
    vectors_index: object  # faiss.Index
    lexical: LexicalIndex

    @property
    def built_at(self) -> str:
        return self.manifest["built_at"]


# ---------------------------------------------------------------- building


def build_index(settings: Settings, embedder: Embedder, full: bool = False,
                progress: bool = False, log: Callable[[str], None] = lambda _: None,
                chunk_and_embed: ChunkAndEmbed | None = None) -> BuildReport:
    """Bring the index under settings.embeddings up to date with settings.seeds.

    A build that fails after taking the lock says why in LAST_BUILD, for the server's /health
    (a build is its own process); the next build that succeeds removes it.
    """
    started = time.perf_counter()
    root = Path(settings.embeddings)
    root.mkdir(parents=True, exist_ok=True)
    with write_lock(root):
        _record_build_start(root)
        try:
            report = _build(root, settings, embedder, full, progress, log, chunk_and_embed)
        except Exception as error:
            _record_build_failure(root, error)
            raise
        _clear_build_failure(root)
    report.seconds = time.perf_counter() - started
    return report


def _build(root: Path, settings: Settings, embedder: Embedder, full: bool, progress: bool,
           log: Callable[[str], None], chunk_and_embed: ChunkAndEmbed | None) -> BuildReport:
    _remove_unfinished(root)
    read = read_articles(settings.seeds)
    report = BuildReport(problems=read.problems, files_skipped=read.files_skipped)
    for problem in read.problems:
        log(str(problem))
    chunker_settings = ChunkerSettings(settings.passage_tokens, settings.overlap_sentences,
                                       embedder.max_tokens)
    previous = _reusable_previous(root, settings, embedder, chunker_settings, full, report)
    plan = _plan(read.articles, previous, report)
    if previous is not None and not (report.new or report.changed or report.removed):
        try:  # nothing to write, so the generation served stays: it must load whole
            load_generation(root)
        except DamagedIndex as error:
            report = BuildReport(problems=read.problems, files_skipped=read.files_skipped,
                                 rebuilt_reason=f"the previous index could not be read: {error.problem}")
            previous = None
            plan = _plan(read.articles, previous, report)
        else:
            report.passages_total = len(previous.passage_rows)
            return report
    _refuse_if_short_of_space(root, plan, previous, embedder.dimension, settings.index_type)
    fresh = chunk_and_embed or local_chunk_and_embed(embedder, progress)
    passages, vectors, sources = _assemble(plan, previous, chunker_settings, fresh,
                                           embedder.dimension, report)
    lexical = _lexical_index(passages, sources, previous)
    manifest = _manifest(settings, embedder, chunker_settings, plan, passages)
    report.generation = _write_generation(root, manifest, plan, passages, vectors, lexical,
                                          settings)
    report.passages_total = len(passages)
    _prune_generations(root)
    return report


LAST_BUILD = "last-build.json"
_STATUS_BYTES = 2048  # the status file keeps this size, so a full disk can still be told why


def _record_build_start(root: Path) -> None:
    """A status file of fixed size, written before anything else: the failure overwrites it in
    place later, which needs no new space even when the disk has filled up by then."""
    _write_status(root, {"state": "running", "pid": os.getpid(), "started_at": _now()}, create=True)


def _record_build_failure(root: Path, error: Exception) -> None:
    detail = " ".join(str(error).split()) or type(error).__name__
    _write_status(root, {"state": "failed", "failed_at": _now(), "error": detail[:1500]})


def _clear_build_failure(root: Path) -> None:
    _write_status(root, {"state": "ok", "finished_at": _now()})


def _write_status(root: Path, record: dict, create: bool = False) -> None:
    data = json.dumps(record, ensure_ascii=True).encode()[:_STATUS_BYTES]
    try:
        with open(root / LAST_BUILD, "r+b" if not create and (root / LAST_BUILD).exists() else "wb") as handle:
            handle.write(data.ljust(_STATUS_BYTES))
    except OSError:  # a read-only or (for a first build) full disk: the error is still raised
        pass


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def last_build_failure(root: Path) -> dict | None:
    """{"failed_at", "error"} when the last `newsdesk index` here failed, else None."""
    try:
        record = json.loads((Path(root) / LAST_BUILD).read_bytes())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("state") == "failed" else None


@contextmanager
def write_lock(root: Path) -> Iterator[None]:
    """One writer per embeddings folder; a second one is refused with a clear message."""
    try:
        handle = open(root / ".lock", "a+")
    except OSError as error:
        if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise IndexError_(_read_only_message(root, error)) from None
        raise
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise IndexLocked(_locked_message(root, handle.read())) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield
    finally:
        handle.close()


def refuse_if_locked(root: Path) -> None:
    """Say at once, before seconds of model loading, that another build holds the lock (a look
    only: the lock is taken, and the pid written, by write_lock when the build starts)."""
    try:
        handle = open(Path(root) / ".lock")
    except FileNotFoundError:
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexLocked(_locked_message(root, handle.read())) from None


def refuse_if_read_only(root: Path) -> None:
    """Say at once, before seconds of model loading, that the folder cannot be written."""
    root = Path(root)
    folder = root if root.exists() else next((p for p in root.parents if p.exists()), Path("."))
    if folder.is_dir() and not os.access(folder, os.W_OK):
        raise IndexError_(_read_only_message(root, OSError(errno.EROFS, "")))


def _read_only_message(root: Path, error: OSError) -> str:
    what = "on a read-only file system" if error.errno == errno.EROFS else "not writable by this user"
    return (f"{root} is {what}: `newsdesk index` cannot write there (`newsdesk serve` can still "
            "serve it); index into a writable folder with --embeddings")


def _locked_message(root: Path, holder: str) -> str:
    return (f"{root} is being indexed by {holder.strip() or 'another process'}; "
            "wait for that run to finish and try again")


@dataclass
class _Previous:
    folder: Path
    manifest: dict
    passage_rows: list[tuple[str, int, int]]  # (article_id, start, end) per vector row
    vectors: np.ndarray
    rows_by_article: dict[str, tuple[int, int]]


def _reusable_previous(root: Path, settings: Settings, embedder: Embedder,
                       chunker: ChunkerSettings, full: bool, report: BuildReport) -> _Previous | None:
    try:
        folder = current_folder(root, strict=True)
    except DamagedIndex as error:
        report.rebuilt_reason = f"the previous index could not be read: {error.problem}"
        return None
    if folder is None:
        return None
    try:
        manifest = read_manifest(folder)
        if not isinstance(manifest, dict):
            raise ValueError("manifest.json is not a JSON object")
    except (OSError, ValueError):
        report.rebuilt_reason = "the previous index could not be read"
        return None
    wanted = {"model": embedder.identity, "dimension": embedder.dimension,
              "chunker": chunker.as_dict(), "format": FORMAT_VERSION}
    model = manifest.get("model") if isinstance(manifest.get("model"), dict) else {}
    found = {"model": model.get("identity"), "dimension": model.get("dimension"),
             "chunker": manifest.get("chunker"), "format": manifest.get("format")}
    if full:
        report.rebuilt_reason = "--full"
        return None
    changed = [key for key in wanted if wanted[key] != found[key]]
    if changed:
        report.rebuilt_reason = f"{', '.join(changed)} changed"
        return None
    try:
        with _Reading("passages.npz"):
            rows = _read_passage_rows(folder)
        with _Reading("vectors.npy"):
            vectors = np.load(folder / "vectors.npy", mmap_mode="r")
            if vectors.shape != (len(rows), embedder.dimension):
                raise ValueError(f"{vectors.shape} for {len(rows)} passages")
        with _Reading("manifest.json"):
            if not all(isinstance(entry, dict) and "hash" in entry
                       for entry in manifest["articles"].values()):
                raise ValueError("an article entry without its hash")
    except Exception as error:  # any damage: the previous generation cannot be reused
        report.rebuilt_reason = (f"the previous index could not be read: "
                                 f"{_damage_message(folder, error)}")
        return None
    by_article: dict[str, tuple[int, int]] = {}
    for row, (article_id, _, _) in enumerate(rows):
        first, _ = by_article.get(article_id, (row, row))
        by_article[article_id] = (first, row + 1)
    return _Previous(folder, manifest, rows, vectors, by_article)


@dataclass
class _PlannedArticle:
    article: Article
    reuse: bool


def _plan(articles: list[Article], previous: _Previous | None, report: BuildReport) -> list[_PlannedArticle]:
    known = previous.manifest["articles"] if previous else {}
    plan = []
    for article in articles:
        entry = known.get(article.id)
        if entry is None:
            report.new += 1
            plan.append(_PlannedArticle(article, reuse=False))
        elif entry["hash"] != article.content_hash:
            report.changed += 1
            plan.append(_PlannedArticle(article, reuse=False))
        else:
            report.unchanged += 1
            plan.append(_PlannedArticle(article, reuse=True))
    present = {a.id for a in articles}
    report.removed = sum(1 for article_id in known if article_id not in present)
    return plan


def _assemble(plan: list[_PlannedArticle], previous: _Previous | None, chunker: ChunkerSettings,
              chunk_and_embed: ChunkAndEmbed, dimension: int, report: BuildReport):
    """Passages and vectors in plan order: reused rows copied, the rest chunked and embedded;
    and for each passage the previous generation's row it was copied from, or -1."""
    fresh_articles = [p.article for p in plan if not p.reuse]
    fresh_passages, fresh_vectors = (chunk_and_embed(fresh_articles, chunker) if fresh_articles
                                     else ([], np.zeros((0, dimension), dtype=np.float32)))
    fresh_by_id = {a.id: ps for a, ps in zip(fresh_articles, fresh_passages)}
    report.passages_embedded = len(fresh_vectors)

    passages: list[Passage] = []
    sources: list[range | list[int]] = []
    for planned in plan:
        article = planned.article
        if planned.reuse:
            first, last = previous.rows_by_article.get(article.id, (0, 0))
            for n, row in enumerate(range(first, last)):
                _, start, end = previous.passage_rows[row]
                passages.append(Passage.of(article, n, start, end))
            sources.append(range(first, last))
        else:
            own = fresh_by_id[article.id]
            passages.extend(own)
            sources.append([-1] * len(own))
    rows = np.fromiter((row for block in sources for row in block), dtype=np.int64,
                       count=len(passages))
    vectors = np.empty((len(passages), dimension), dtype=np.float32)
    reused = rows >= 0
    if reused.any():
        vectors[reused] = previous.vectors[rows[reused]]  # one gather, not a read per article
    vectors[~reused] = fresh_vectors  # fresh articles' passages, in plan order as embedded
    return passages, vectors, rows


def _lexical_index(passages: list[Passage], sources: np.ndarray,
                   previous: _Previous | None) -> LexicalIndex:
    """BM25 for the new generation: reused passages keep their term counts, so only the new
    ones are tokenised (an index written before counts were kept is tokenised whole, once)."""
    try:
        counts = TermCounts.load(previous.folder / "bm25") if previous is not None else None
    except Exception:  # damaged counts: tokenise every passage again, as for an old index
        counts = None
    if counts is None or counts.passages != len(previous.passage_rows):
        return LexicalIndex.build(lexical_texts(passages))
    fresh = lexical_texts([passages[row] for row in np.flatnonzero(sources < 0)])
    return LexicalIndex.from_counts(counts.with_rows(fresh, sources))


class DiskSpaceShort(IndexError_):
    """The new generation would not fit: refused before any embedding."""


PASSAGE_CHARS_GUESS = 400  # fewer characters a passage than any real corpus: a generous estimate
BYTES_A_PASSAGE_GUESS = 2048  # passages.npz and BM25 rows, when no previous generation says
SPACE_MARGIN = 1.2


def _refuse_if_short_of_space(root: Path, plan: list[_PlannedArticle], previous: _Previous | None,
                              dimension: int, index_type: str) -> None:
    """Refuse at once, not after an hour of embedding, when the new generation will not fit."""
    need = estimated_generation_bytes(plan, previous, dimension, index_type)
    free = _free_bytes(root)
    if need <= free:
        return
    kept = [p.name for p in (root / GENERATIONS).glob("gen-*")] if (root / GENERATIONS).is_dir() else []
    old = (f"; or remove old generations in {root / GENERATIONS} ({len(kept)} kept there for "
           "replicas; the server needs only the one CURRENT names)" if len(kept) > 1 else "")
    raise DiskSpaceShort(f"not enough space in {root}: the new index generation needs about "
                         f"{_size(need)} and {_size(free)} is free; free some space, or index "
                         f"into another folder with --embeddings{old}")


def estimated_generation_bytes(plan: list[_PlannedArticle], previous: _Previous | None,
                               dimension: int, index_type: str) -> int:
    """What the new generation will take on disk, a little over: articles.jsonl from the texts,
    the rest a passage at a time (from the previous generation's files where there is one)."""
    known = previous.manifest["articles"] if previous is not None else {}
    passages = text_bytes = 0
    for planned in plan:
        article = planned.article
        text_bytes += len(article.text.encode("utf-8", "surrogatepass")) + len(article.title) * 3 + 300
        entry = known.get(article.id) if planned.reuse else None
        passages += (entry.get("passages", 1) if isinstance(entry, dict)
                     else len(article.text) // PASSAGE_CHARS_GUESS + 1)
    vector_bytes = 4 * dimension * (2 if index_type == "flat" else 3)  # vectors.npy + index.faiss
    other = BYTES_A_PASSAGE_GUESS
    if previous is not None and len(previous.passage_rows):
        try:
            files = [previous.folder / "passages.npz", *(previous.folder / "bm25").glob("*")]
            other = max(sum(f.stat().st_size for f in files if f.is_file()) / len(previous.passage_rows), 64)
        except OSError:
            pass
    return int(SPACE_MARGIN * (text_bytes + passages * (vector_bytes + other)) + (1 << 20))


def local_chunk_and_embed(embedder: Embedder, progress: bool = False) -> ChunkAndEmbed:
    """Chunk and embed in this process, with the embedder's own tokenizer and model."""
    def run(articles: list[Article], settings: ChunkerSettings):
        passages = Chunker(settings, embedder.token_offsets).passages_for_many(articles)
        texts = [p.embedding_text() for own in passages for p in own]
        # The embedder sorts all texts by length and draws the bar (none for a few seconds' work).
        return passages, embedder.embed(texts, progress=progress and len(texts) > PROGRESS_MIN)
    return run


def _manifest(settings: Settings, embedder: Embedder, chunker: ChunkerSettings,
              plan: list[_PlannedArticle], passages: list[Passage]) -> dict:
    counts: dict[str, int] = {}
    for passage in passages:
        counts[passage.article_id] = counts.get(passage.article_id, 0) + 1
    return {
        "format": FORMAT_VERSION,
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": {"name": getattr(embedder, "identity", "").split(":")[0],
                  "identity": embedder.identity, "dimension": embedder.dimension,
                  "max_tokens": embedder.max_tokens,
                  "backend": getattr(embedder, "backend", "unknown")},
        "chunker": chunker.as_dict(),
        "index_type": settings.index_type,
        "counts": {"articles": len(plan), "passages": len(passages)},
        "articles": {p.article.id: {"hash": p.article.content_hash,
                                    "passages": counts.get(p.article.id, 0)} for p in plan},
    }


def _write_generation(root: Path, manifest: dict, plan: list[_PlannedArticle],
                      passages: list[Passage], vectors: np.ndarray, lexical: LexicalIndex,
                      settings: Settings) -> str:
    """Write the generation into a temporary folder, rename it, swap CURRENT. Any failure before
    the swap removes what this build wrote, so the served generation and the disk stay as they
    were; a full disk is said as such, with the file."""
    generations = root / GENERATIONS
    generations.mkdir(exist_ok=True)
    name = _next_generation_name(generations)
    manifest["generation"] = name
    staging = generations / f".tmp-{name}-{os.getpid()}"
    pointer = root / f".{CURRENT}.tmp"
    written: list[Path] = [staging]
    writing = staging
    try:
        staging.mkdir()
        writing = staging / "articles.jsonl"
        with open(writing, "w", encoding="utf-8") as handle:
            for planned in plan:
                handle.write(json.dumps(planned.article.to_record(), ensure_ascii=False) + "\n")
        writing = staging / "passages.npz"
        _write_passage_rows(staging, passages)
        writing = staging / "vectors.npy"
        np.save(writing, vectors)
        import faiss

        writing = staging / "index.faiss"
        faiss.write_index(make_vector_index(vectors, settings.index_type), str(writing))
        writing = staging / "bm25"
        lexical.save(writing)
        writing = staging / "manifest.json"
        writing.write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
        writing = staging
        _sync_tree(staging)
        os.rename(staging, generations / name)
        written = [generations / name]
        _fsync_dir(generations)
        writing = root / CURRENT
        written.append(pointer)
        pointer.write_text(name + "\n")
        _fsync_file(pointer)
        os.replace(pointer, root / CURRENT)
    except BaseException as error:
        full = _disk_full(error, root)
        for path in written:  # nothing of this build is served yet: give the space back
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        if full:
            raise DiskFull(f"disk full while writing {writing.relative_to(root)} in {root} "
                           f"({_size(_free_bytes(root))} free now that this build's temporary "
                           "files are removed); the served index is unchanged; free some space "
                           "or index into another folder with --embeddings") from None
        raise
    _fsync_dir(root)
    return name


class DiskFull(IndexError_):
    """The disk filled up while a build wrote (its temporary files are removed by then)."""


def _disk_full(error: BaseException, root: Path) -> bool:
    # numpy says "N requested and M written" and FAISS "write error", without an errno
    if getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
        return True
    if isinstance(error, (OSError, RuntimeError)):
        try:
            return _free_bytes(root) < FULL_BELOW_BYTES
        except OSError:
            return False
    return False


FULL_BELOW_BYTES = 1 << 20  # a write that failed with less than this free: the disk was full


def _free_bytes(folder: Path) -> int:
    """Bytes free to this user on the filesystem of folder (tests replace it)."""
    return shutil.disk_usage(folder).free


def _size(count: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:,.0f} {unit}" if unit == "bytes" else f"{count:,.1f} {unit}"
        count /= 1024
    return f"{count:,.1f} TB"


def lexical_texts(passages: Sequence[Passage]) -> list[str]:
    return [p.embedding_text() for p in passages]


def make_vector_index(vectors: np.ndarray, index_type: str):
    """Exact inner product by default; IVF or HNSW where exact search gets slow (millions).

    benchmarks/ at 1M vectors: IVF (4·√n lists, 64 probed) keeps recall@10 ≥ 0.95 at a few ms a
    query; HNSW (M 32, efSearch 512) stays near 0.90. Below IVF_MIN_VECTORS exact search is
    fast and IVF's lists would be too thin to train, so "ivf" gives a flat index there.
    """
    import faiss

    dimension = vectors.shape[1] if vectors.ndim == 2 and vectors.shape[1] else 384
    if index_type == "flat" or (index_type == "ivf" and len(vectors) < IVF_MIN_VECTORS):
        index = faiss.IndexFlatIP(dimension)
    elif index_type == "ivf":
        index = _trained_ivf(vectors)
    elif index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dimension, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 512
    else:
        raise IndexError_(f"unknown index type {index_type!r}: use 'flat', 'ivf' or 'hnsw'")
    if len(vectors):
        index.add(vectors)
    if isinstance(index, faiss.IndexIVF):
        index.make_direct_map()  # retrieval reconstructs the vectors of BM25-only candidates
    return index


IVF_MIN_VECTORS = 50_000
IVF_PROBES = 64
IVF_TRAINING_PER_LIST = 40  # k-means wants ≥ 39 points a list; more only slows training


def _trained_ivf(vectors: np.ndarray):
    import faiss

    lists = int(4 * np.sqrt(len(vectors)))
    quantizer = faiss.IndexFlatIP(vectors.shape[1])
    index = faiss.IndexIVFFlat(quantizer, vectors.shape[1], lists, faiss.METRIC_INNER_PRODUCT)
    sample_size = min(len(vectors), IVF_TRAINING_PER_LIST * lists)
    # A fixed seed: the same passages give the same index, build after build.
    sample = vectors[np.random.default_rng(0).choice(len(vectors), sample_size, replace=False)]
    index.train(np.ascontiguousarray(sample))
    index.nprobe = IVF_PROBES
    index.own_fields = True
    quantizer.this.disown()  # the index owns (and frees) its quantizer
    return index


def _write_passage_rows(folder: Path, passages: list[Passage]) -> None:
    ids = sorted({p.article_id for p in passages})
    position = {article_id: n for n, article_id in enumerate(ids)}
    np.savez(folder / "passages.npz",
             article=np.array([position[p.article_id] for p in passages], dtype=np.int32),
             start=np.array([p.char_start for p in passages], dtype=np.int64),
             end=np.array([p.char_end for p in passages], dtype=np.int64),
             article_ids=np.array(ids, dtype=object).astype(str))


def _read_passage_rows(folder: Path) -> list[tuple[str, int, int]]:
    with np.load(folder / "passages.npz") as data:
        ids = [str(x) for x in data["article_ids"]]
        return [(ids[a], int(s), int(e)) for a, s, e in zip(data["article"], data["start"], data["end"])]


def _next_generation_name(generations: Path) -> str:
    numbers = [int(p.name.split("-")[1]) for p in generations.iterdir()
               if p.name.startswith("gen-") and p.name.split("-")[1].isdigit()]
    return f"gen-{max(numbers, default=0) + 1:06d}"


def _remove_unfinished(root: Path) -> None:
    generations = root / GENERATIONS
    if generations.is_dir():
        for leftover in generations.glob(".tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)


def _prune_generations(root: Path) -> None:
    current = (root / CURRENT).read_text().strip()
    finished = sorted(p for p in (root / GENERATIONS).iterdir() if p.name.startswith("gen-"))
    keep = {current} | {p.name for p in finished[-(KEEP_OLD_GENERATIONS + 1):]}
    for folder in finished:
        if folder.name not in keep:
            shutil.rmtree(folder, ignore_errors=True)


def _sync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            _fsync_file(path)
    for path in [folder, *[p for p in folder.rglob("*") if p.is_dir()]]:
        _fsync_dir(path)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# ---------------------------------------------------------------- loading

RECOVER = "run `newsdesk index --full` to build a new one"
_GENERATION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


class DamagedIndex(IndexError_):
    """CURRENT or the generation it names cannot be read; the message says what and the way out."""

    def __init__(self, problem: str):
        super().__init__(f"{problem}; {RECOVER}")
        self.problem = problem


def current_name(root: Path) -> str | None:
    """The generation CURRENT names, None when there is no CURRENT; DamagedIndex when it is not
    a plain generation name (a name is one folder inside generations/, never a path)."""
    try:
        raw = (Path(root) / CURRENT).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise DamagedIndex(f"{Path(root) / CURRENT} cannot be read ({error.strerror or error})") from None
    try:
        name = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise DamagedIndex(f"{Path(root) / CURRENT} is not a generation name (not UTF-8 text)") from None
    if not name:
        return None
    if not _GENERATION_NAME.fullmatch(name):
        raise DamagedIndex(f"{Path(root) / CURRENT} names {name[:80]!r}, which is not a folder "
                           f"inside {GENERATIONS}/: refused")
    return name


def current_folder(root: Path, strict: bool = False) -> Path | None:
    """The folder of the generation CURRENT names, None where there is none (or it is missing);
    a damaged CURRENT is None too, or DamagedIndex when strict."""
    try:
        name = current_name(root)
    except DamagedIndex:
        if strict:
            raise
        return None
    if name is None:
        return None
    folder = Path(root) / GENERATIONS / name
    return folder if folder.is_dir() else None


def read_manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def load_generation(root: Path) -> Generation:
    """The generation CURRENT names, fully in memory (later files changing cannot affect it).

    IndexError_ when there is none; DamagedIndex, with the file and the way out, when anything
    in it cannot be read or does not agree with the rest.
    """
    name = current_name(root)
    if name is None:
        raise IndexError_(f"no index in {root}: run `newsdesk index` first")
    folder = Path(root) / GENERATIONS / name
    generations = (Path(root) / GENERATIONS).resolve()
    if not folder.is_dir() or folder.resolve().parent != generations:
        raise DamagedIndex(f"{Path(root) / CURRENT} names {name}, which is not a folder in "
                           f"{Path(root) / GENERATIONS}")
    try:
        return _read_generation(folder)
    except DamagedIndex:
        raise
    except Exception as error:  # any failure to read a generation means it is damaged
        raise DamagedIndex(_damage_message(folder, error)) from None


def _damage_message(folder: Path, error: Exception) -> str:
    reading = getattr(error, "newsdesk_file", None)
    where = f"{reading}: " if reading else ""
    detail = " ".join(str(error).split())[:200] or type(error).__name__
    return f"generation {folder.name} in {folder.parent.parent} is damaged ({where}{detail})"


def _read_generation(folder: Path) -> Generation:
    import faiss

    with _Reading("manifest.json"):
        manifest = read_manifest(folder)
        if not isinstance(manifest, dict):
            raise ValueError("not a JSON object")
    articles: dict[str, Article] = {}
    with _Reading("articles.jsonl"):
        with open(folder / "articles.jsonl", encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ValueError(f"line {number} is not a JSON object")
                article = Article.from_record(record)
                articles[article.id] = article
    passages = []
    counters: dict[str, int] = {}
    with _Reading("passages.npz"):
        for article_id, start, end in _read_passage_rows(folder):
            article = articles.get(article_id)
            if article is None or not 0 <= start < end <= len(article.text):
                raise ValueError(f"a passage of {article_id!r} points outside articles.jsonl")
            n = counters.get(article_id, 0)
            counters[article_id] = n + 1
            passages.append(Passage.of(article, n, start, end))
    with _Reading("index.faiss"):
        vectors_index = faiss.read_index(str(folder / "index.faiss"))
        if vectors_index.ntotal != len(passages):
            raise ValueError(f"{vectors_index.ntotal} vectors for {len(passages)} passages")
    with _Reading("bm25"):
        lexical = LexicalIndex.load(folder / "bm25")
        if lexical.documents != len(passages):
            raise ValueError(f"{lexical.documents} documents for {len(passages)} passages")
    return Generation(folder.name, folder, manifest, articles, passages, vectors_index, lexical)


class _Reading:
    """Names the file being read on any exception that leaves it, for the damage message."""

    def __init__(self, file: str):
        self.file = file

    def __enter__(self):
        return self

    def __exit__(self, kind, error, _traceback):
        if error is not None and not hasattr(error, "newsdesk_file"):
            try:
                error.newsdesk_file = self.file
            except AttributeError:  # a few built-in exceptions take no attributes
                pass
        return False
