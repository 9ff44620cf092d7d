"""A loaded index generation: its live segments presented as one index, the way queries see it.

Rows are global: segment 0's passages first, then segment 1's, and so on. Deleted articles (a
changed article's old copy, a removed one) stay in their segment until a merge drops them; their
rows are masked out of every search here (`live`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Iterator

import numpy as np

from newsdesk.articles import Article
from newsdesk.articles.records import ArticleCard
from newsdesk.index.duplicates import StoryGroups
from newsdesk.index.lexical import Lexical
from newsdesk.index.segment import Segment
from newsdesk.index.vectors import SegmentedVectors
from newsdesk.passages import Passage

ARTICLES_CACHED = 512  # whole articles kept after a read: a page of hits cites a few dozen


class ArticleShelf(Mapping):
    """The live articles by id. Looking one up reads its text from disk (a few recent ones are
    kept); cards() lists every article's card without reading any text."""

    def __init__(self, segments: list[Segment], deleted: list[set[str]]):
        self._where: dict[str, Segment] = {}
        for segment, gone in zip(segments, deleted):
            for article_id in segment.ids:
                if article_id not in gone:
                    self._where[article_id] = segment
        self._read = functools.lru_cache(maxsize=ARTICLES_CACHED)(self._read_article)

    def _read_article(self, article_id: str) -> Article:
        return self._where[article_id].article(article_id)

    def __getitem__(self, article_id: str) -> Article:
        if article_id not in self._where:
            raise KeyError(article_id)
        return self._read(article_id)

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._where

    def card(self, article_id: str) -> ArticleCard:
        return self._where[article_id].card(article_id)

    def cards(self) -> Iterator[ArticleCard]:
        for article_id, segment in self._where.items():
            yield segment.card(article_id)


class PassageTable(Sequence):
    """Every passage of the generation by global row, made when asked for (the article's text
    is read then); article_numbers gives each row's article without making any."""

    def __init__(self, segments: list[Segment], articles: ArticleShelf):
        self._segments = segments
        self._articles = articles
        self._offsets = np.cumsum([0, *(len(s) for s in segments)])
        # Every article of every segment, deleted ones too (their rows exist until a merge).
        self.article_ids: list[str] = [i for s in segments for i in s.ids]
        first_article = np.cumsum([0, *(len(s.ids) for s in segments)])
        self.article_numbers = (np.concatenate([s.article_of.astype(np.int64) + first_article[n]
                                                for n, s in enumerate(segments)])
                                if segments else np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def __getitem__(self, row):
        if isinstance(row, slice):
            return [self[r] for r in range(*row.indices(len(self)))]
        row = int(row)
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError(row)
        n = int(np.searchsorted(self._offsets, row, side="right")) - 1
        segment = self._segments[n]
        local = row - int(self._offsets[n])
        article_id = segment.ids[int(segment.article_of[local])]
        article = (self._articles[article_id] if article_id in self._articles
                   else segment.article(article_id))  # a deleted row, asked for by row
        return segment.passage(local, article)

    def article_id(self, row: int) -> str:
        return self.article_ids[int(self.article_numbers[row])]


@dataclass
class Generation:
    """One immutable index generation, loaded: what a query runs against."""

    name: str
    folder: Path
    manifest: dict
    segments: list[Segment]
    live: np.ndarray | None  # one bool per row, False for a deleted article's; None: all live
    articles: ArticleShelf
    passages: PassageTable
    vectors: SegmentedVectors
    lexical: Lexical
    stories: StoryGroups
    published: dict[str, date]  # each live article's publication day, where it has a readable one

    @property
    def built_at(self) -> str:
        return self.manifest["built_at"]

    @property
    def passage_count(self) -> int:
        """The live passages (len(passages) counts deleted rows too)."""
        return len(self.passages) if self.live is None else int(self.live.sum())


def assemble(name: str, folder: Path, manifest: dict, segments: list[Segment],
             deleted: list[set[str]]) -> Generation:
    """The generation over these segments, each with its deleted articles."""
    masks = [np.ones(len(s), dtype=bool) if not gone else ~s.rows_of(gone)
             for s, gone in zip(segments, deleted)]
    live = np.concatenate(masks) if masks and not all(m.all() for m in masks) else None
    articles = ArticleShelf(segments, deleted)
    published = {article_id: segment.published[article_id]
                 for article_id, segment in articles._where.items() if article_id in segment.published}
    stories = StoryGroups.of([s.sketches for s in segments], set(articles), published)
    return Generation(name, folder, manifest, segments, live, articles,
                      PassageTable(segments, articles),
                      SegmentedVectors([s.vectors for s in segments], live),
                      Lexical([s.terms for s in segments], live), stories, published)
