"""Planning and running a build: which articles are new, changed or reused from the previous
generation, whether the result fits on disk, and assembling its passages, vectors and BM25.

The files themselves are written by store.py; the vector index by vectors.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from newsdesk.articles import Article, InputProblem, ReadResult, read_articles
from newsdesk.embeddings.base import Embedder
from newsdesk.embeddings.progress import Progress
from newsdesk.index import store
from newsdesk.index.errors import DamagedIndex, DiskSpaceShort
from newsdesk.index.lexical import LexicalIndex, TermCounts
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
    read = read_articles(settings.seeds)
    report = BuildReport(problems=read.problems, files_skipped=read.files_skipped)
    for note in read.notes:  # which of a corpus's field names were used, once a file
        log(str(note))
    for problem in read.problems:
        log(str(problem))
    chunker_settings = ChunkerSettings(settings.passage_tokens, settings.overlap_sentences,
                                       embedder.max_tokens)
    previous = _reusable_previous(root, settings, embedder, chunker_settings, full, report)
    plan = _plan(read.articles, previous, report)
    if previous is not None and not (report.new or report.changed or report.removed):
        try:  # nothing to write, so the generation served stays: it must load whole
            store.load_generation(root)
        except DamagedIndex as error:
            previous = None
            report, plan = _full_rebuild(read, f"the previous index could not be read: {error.problem}")
        else:
            report.passages_total = len(previous.passage_rows)
            return report
    if previous is not None and not all(p.reuse for p in plan) and embedder.dimension != previous.dimension:
        # The same identity with another width (only the loaded model knows it): rows of the
        # two cannot share one index.
        previous = None
        report, plan = _full_rebuild(read, "dimension changed")
    # A removal alone embeds nothing: the previous width, and the model stays unloaded.
    dimension = previous.dimension if previous is not None else embedder.dimension
    _refuse_if_short_of_space(root, plan, previous, dimension, settings.index_type)
    fresh = chunk_and_embed or local_chunk_and_embed(embedder, progress)
    passages, vectors, sources = _assemble(plan, previous, chunker_settings, fresh,
                                           dimension, report)
    lexical = _lexical_index(passages, sources, previous)
    manifest = _manifest(settings, embedder, dimension, chunker_settings, plan, passages)
    report.generation = store.write_generation(root, manifest, [p.article for p in plan], passages,
                                               vectors, lexical, settings.index_type)
    report.passages_total = len(passages)
    store.prune_generations(root)
    return report


def _full_rebuild(read: ReadResult, reason: str) -> tuple[BuildReport, list[_PlannedArticle]]:
    """A fresh report and plan, every article new: the previous generation is not reused."""
    report = BuildReport(problems=read.problems, files_skipped=read.files_skipped,
                         rebuilt_reason=reason)
    return report, _plan(read.articles, None, report)


@dataclass
class _Previous:
    folder: Path
    manifest: dict
    passage_rows: list[tuple[str, int, int]]  # (article_id, start, end) per vector row
    vectors: np.ndarray
    rows_by_article: dict[str, tuple[int, int]]

    @property
    def dimension(self) -> int:
        return int(self.vectors.shape[1])


def _reusable_previous(root: Path, settings: Settings, embedder: Embedder,
                       chunker: ChunkerSettings, full: bool, report: BuildReport) -> _Previous | None:
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
    wanted = {"model": embedder.identity, "chunker": chunker.as_dict(), "format": FORMAT_VERSION}
    model = manifest.get("model") if isinstance(manifest.get("model"), dict) else {}
    found = {"model": model.get("identity"), "chunker": manifest.get("chunker"),
             "format": manifest.get("format")}
    if full:
        report.rebuilt_reason = "--full"
        return None
    changed = [key for key in wanted if wanted[key] != found[key]]
    if changed:
        report.rebuilt_reason = f"{', '.join(changed)} changed"
        return None
    try:
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
    except Exception as error:  # any damage: the previous generation cannot be reused
        report.rebuilt_reason = (f"the previous index could not be read: "
                                 f"{damage_message(folder, error)}")
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


PASSAGE_CHARS_GUESS = 400  # fewer characters a passage than any real corpus: a generous estimate
BYTES_A_PASSAGE_GUESS = 2048  # passages.npz and BM25 rows, when no previous generation says
SPACE_MARGIN = 1.2


def _refuse_if_short_of_space(root: Path, plan: list[_PlannedArticle], previous: _Previous | None,
                              dimension: int, index_type: str) -> None:
    """Refuse at once, not after an hour of embedding, when the new generation will not fit."""
    need = estimated_generation_bytes(plan, previous, dimension, index_type)
    free = store.free_bytes(root)
    if need <= free:
        return
    kept = [p.name for p in (root / GENERATIONS).glob("gen-*")] if (root / GENERATIONS).is_dir() else []
    old = (f"; or remove old generations in {root / GENERATIONS} ({len(kept)} kept there for "
           "replicas; the server needs only the one CURRENT names)" if len(kept) > 1 else "")
    raise DiskSpaceShort(f"not enough space in {root}: the new index generation needs about "
                         f"{store.size_text(need)} and {store.size_text(free)} is free; free some "
                         f"space, or index into another folder with --embeddings{old}")


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
              plan: list[_PlannedArticle], passages: list[Passage]) -> dict:
    counts: dict[str, int] = {}
    for passage in passages:
        counts[passage.article_id] = counts.get(passage.article_id, 0) + 1
    return {
        "format": FORMAT_VERSION,
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": {"name": getattr(embedder, "identity", "").split(":")[0],
                  "identity": embedder.identity, "dimension": dimension,
                  "max_tokens": embedder.max_tokens,
                  "backend": getattr(embedder, "backend", "unknown")},
        "chunker": chunker.as_dict(),
        "index_type": settings.index_type,
        "counts": {"articles": len(plan), "passages": len(passages)},
        "articles": {p.article.id: {"hash": p.article.content_hash,
                                    "passages": counts.get(p.article.id, 0)} for p in plan},
    }


def lexical_texts(passages: Sequence[Passage]) -> list[str]:
    return [p.embedding_text() for p in passages]
