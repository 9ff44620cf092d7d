"""One index segment: the articles one build added, with their passages, vectors and term counts,
written once into the build's generation folder and never changed afterwards.

A segment keeps in memory only what every query needs: its passages' offsets (three numbers a
passage), its vector store and its term counts' vocabulary (the counts themselves stay memory-
mapped), and one small card per article (title, URL, date). Article texts stay on disk and are
read when a passage is cited or an article is shown: memory does not grow with the archive's text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Iterator

import numpy as np

from newsdesk.articles import Article
from newsdesk.articles.dates import parse_date
from newsdesk.articles.records import ArticleCard
from newsdesk.index.duplicates import StorySketches
from newsdesk.index.lexical import SegmentTerms
from newsdesk.index.vectors import VECTORS_FILE, VectorStore
from newsdesk.passages import Passage

ARTICLES = "articles.jsonl"
PASSAGES = "passages.npz"
VECTORS = "vectors.npy"  # float32, kept for merges: the store's codes may be compressed
TERMS = "bm25"
STORIES = "stories"
CATALOG = "catalog.npz"  # the articles as arrays: what the next build's plan reads


def file_of(source: str) -> str:
    """The seed file an article came from: its source, less a corpus line's `:number`."""
    file, _, line = source.rpartition(":")
    return file if file and line.isdigit() else source


@dataclass(frozen=True)
class Catalog:
    """A segment's articles as arrays, one entry an article in segment order: their ids, content
    hashes, passage counts and seed files. A build's plan reads these, not the manifests' JSON."""

    ids: np.ndarray
    hashes: np.ndarray
    passages: np.ndarray
    files: np.ndarray


def read_catalog(folder: Path) -> Catalog:
    with open(folder / CATALOG, "rb") as handle, np.load(handle) as data:
        return Catalog(data["ids"], data["hashes"], data["passages"], data["files"])


@dataclass(frozen=True)
class SegmentContent:
    """What a build hands to the writer for a new segment, in segment order."""

    articles: list[Article]
    passages: list[Passage]  # article by article, in the order of articles
    vectors: np.ndarray  # one float32 row per passage
    terms: SegmentTerms
    sketches: StorySketches

    def entries(self) -> dict[str, dict]:
        """The manifest's record of each article: its hash, its passage count, its text's length,
        where its line starts in articles.jsonl, and its card (filled in by write_segment)."""
        counts: dict[str, int] = {}
        for passage in self.passages:
            counts[passage.article_id] = counts.get(passage.article_id, 0) + 1
        return {a.id: {"hash": a.content_hash, "passages": counts.get(a.id, 0), "chars": len(a.text),
                       "title": a.title, "url": a.url, "published": a.published, "source": a.source}
                for a in self.articles}


def write_segment(folder: Path, content: SegmentContent, index_type: str, codec: str, on_file) -> dict:
    """Write the segment's files into folder; return what the manifest records of it: its
    articles' entries ("articles") and the size of articles.jsonl ("articles_bytes").

    on_file(path) is told each file before it is written, so a failure names the file.
    """
    entries = content.entries()
    on_file(folder / ARTICLES)
    with open(folder / ARTICLES, "wb") as handle:
        for article in content.articles:
            entries[article.id]["at"] = handle.tell()
            handle.write(json.dumps(article.to_record(), ensure_ascii=False).encode("utf-8",
                                                                                  "surrogatepass") + b"\n")
        size = handle.tell()
    on_file(folder / CATALOG)
    np.savez(folder / CATALOG, ids=np.array([a.id for a in content.articles], dtype=str),
             hashes=np.array([a.content_hash for a in content.articles], dtype=str),
             passages=np.array([entries[a.id]["passages"] for a in content.articles], dtype=np.int64),
             files=np.array([file_of(a.source) for a in content.articles], dtype=str))
    on_file(folder / PASSAGES)
    number = {article.id: n for n, article in enumerate(content.articles)}
    np.savez(folder / PASSAGES,
             article=np.array([number[p.article_id] for p in content.passages], dtype=np.int32),
             start=np.array([p.char_start for p in content.passages], dtype=np.int64),
             end=np.array([p.char_end for p in content.passages], dtype=np.int64),
             article_ids=np.array([a.id for a in content.articles], dtype=str))
    on_file(folder / VECTORS)
    np.save(folder / VECTORS, content.vectors)
    on_file(folder / VECTORS_FILE)
    VectorStore.build(content.vectors, index_type, codec).write(folder / VECTORS_FILE)
    on_file(folder / TERMS)
    (folder / TERMS).mkdir()
    content.terms.write(folder / TERMS)
    on_file(folder / STORIES)
    (folder / STORIES).mkdir()
    content.sketches.write(folder / STORIES)
    return {"articles": entries, "articles_bytes": size}


@dataclass
class Segment:
    """One segment, loaded: what queries need in memory, texts read on demand."""

    name: str
    folder: Path
    ids: list[str]  # its articles, in segment order
    entries: dict[str, dict]  # the manifest's record of each (hash, passages, chars, at, card)
    article_of: np.ndarray  # per passage: its article's number in ids
    starts: np.ndarray
    ends: np.ndarray
    first_passage: np.ndarray  # per article: the row of its first passage
    vectors: VectorStore
    terms: SegmentTerms
    sketches: StorySketches
    published: dict[str, date]  # each article's publication day, where it has a readable one

    def __len__(self) -> int:
        return len(self.article_of)

    def article(self, article_id: str) -> Article:
        """The whole article, read from its line in articles.jsonl."""
        with open(self.folder / ARTICLES, "rb") as handle:
            handle.seek(self.entries[article_id]["at"])
            return Article.from_record(json.loads(handle.readline()))

    def card(self, article_id: str) -> ArticleCard:
        entry = self.entries[article_id]
        return ArticleCard(article_id, entry["title"], entry.get("url"), entry.get("published"),
                           entry.get("source", ""))

    def rows(self, number: int) -> range:
        """The rows of the passages of its article numbered number (in ids)."""
        end = self.first_passage[number + 1] if number + 1 < len(self.ids) else len(self)
        return range(int(self.first_passage[number]), int(end))

    def passage(self, row: int, article: Article) -> Passage:
        number = int(self.article_of[row])
        return Passage.of(article, row - int(self.first_passage[number]), int(self.starts[row]),
                          int(self.ends[row]))

    def rows_of(self, article_ids: set[str]) -> np.ndarray:
        """The rows of the named articles' passages (a bool per row)."""
        numbers = [n for n, article_id in enumerate(self.ids) if article_id in article_ids]
        return np.isin(self.article_of, np.asarray(numbers, dtype=np.int32))

    def all_articles(self) -> Iterator[Article]:
        """Every article in segment order, read in one pass (merges and upgrades)."""
        with open(self.folder / ARTICLES, "rb") as handle:
            for line in handle:
                yield Article.from_record(json.loads(line))


def read_segment(name: str, folder: Path, manifest: dict, reading) -> Segment:
    """Load the segment in folder, as the manifest of the generation that wrote it describes it;
    reading(file) names the file being read for the damage message. Texts are not read: the
    passages are checked against the recorded lengths, articles.jsonl against its size."""
    entries = manifest["articles"]
    with reading(PASSAGES):
        # Our own handle: np.load leaves its file open when the file is not a zip (a damaged copy).
        with open(folder / PASSAGES, "rb") as handle, np.load(handle) as data:
            ids = [str(x) for x in data["article_ids"]]
            article_of = data["article"].astype(np.int32)
            starts, ends = data["start"].astype(np.int64), data["end"].astype(np.int64)
        if set(ids) != set(entries) or len(ids) != len(entries):
            raise ValueError("its articles differ from the manifest's")
        chars = np.array([entries[i].get("chars", 0) for i in ids], dtype=np.int64)
        if len(article_of) and (article_of.min() < 0 or article_of.max() >= len(ids)
                                or not (np.all(starts >= 0) and np.all(starts < ends)
                                        and np.all(ends <= chars[article_of]))):
            raise ValueError("a passage points outside its article")
        if np.any(np.diff(article_of) < 0):
            raise ValueError("passages are not in article order")
    with reading(ARTICLES):
        if not (folder / ARTICLES).is_file():
            raise FileNotFoundError(f"no {ARTICLES}")
        if (folder / ARTICLES).stat().st_size != manifest.get("articles_bytes"):
            raise ValueError("its size is not the one written (damaged or replaced)")
    with reading(VECTORS_FILE):
        vectors = VectorStore.read(folder / VECTORS_FILE)
        if len(vectors) != len(article_of):
            raise ValueError(f"{len(vectors)} vectors for {len(article_of)} passages")
    with reading(TERMS):
        terms = SegmentTerms.read(folder / TERMS)
        if terms.passages != len(article_of):
            raise ValueError(f"{terms.passages} documents for {len(article_of)} passages")
    with reading(STORIES):
        sketches = StorySketches.read(folder / STORIES)
    first = np.searchsorted(article_of, np.arange(len(ids), dtype=np.int32))
    published = {}
    for article_id in ids:  # parsed once a segment: a server keeps segments across generations
        day = parse_date(entries[article_id].get("published"))
        if day is not None:
            published[article_id] = day
    return Segment(name, folder, ids, entries, article_of, starts, ends, first, vectors, terms,
                   sketches, published)
