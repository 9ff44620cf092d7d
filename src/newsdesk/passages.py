"""Passages: sentence-aware chunks of an article that fit the embedding model's token window."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Callable, Sequence

from newsdesk.articles.records import INVISIBLE, Article, is_blank, trimmed

# Token start offsets of a text, from the embedder's own tokenizer, so budgets are exact.
TokenOffsets = Callable[[Sequence[str]], list[list[int]]]

# Words after which a full stop does not end a sentence ("Mr. Sarkozy", "Lt. Gov. Patrick").
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "st", "lt", "gov", "sen", "rep", "gen", "col", "capt", "sgt", "jr",
    "sr", "inc", "co", "corp", "ltd", "vs", "no", "prof", "rev", "ft", "mt", "jan", "feb", "aug",
    "sept", "sep", "oct", "nov", "dec", "u.s", "u.k", "u.n", "d.c", "e.g", "i.e", "a.m", "p.m", "etc",
}
_SENTENCE_END = re.compile(f"[.!?][\"'”’)\\]]*[\\s{INVISIBLE}]+|\\n+")
_TITLE_TOKENS_MAX = 48
_SPECIAL_TOKENS = 2  # [CLS] and [SEP]


@dataclass(frozen=True)
class ChunkerSettings:
    passage_tokens: int = 200  # budget for title + passage, within the model's window
    overlap_sentences: int = 1
    model_max_tokens: int = 256
    # A character cap as well: a 27,000-character "word" is one [UNK] token to the model, and
    # without it one passage (and every answer citing it) could be megabytes.
    passage_chars: int = 2000

    def as_dict(self) -> dict:
        # version 2: passage_chars, and invisible characters count as whitespace
        return {"passage_tokens": self.passage_tokens, "overlap_sentences": self.overlap_sentences,
                "model_max_tokens": self.model_max_tokens, "passage_chars": self.passage_chars,
                "version": 2}


@dataclass(frozen=True)
class Passage:
    passage_id: str
    article_id: str
    title: str
    text: str
    char_start: int
    char_end: int

    @classmethod
    def of(cls, article: Article, n: int, start: int, end: int) -> "Passage":
        """The n-th passage of an article, article.text[start:end]: the one place an id is made."""
        return cls(f"{article.id}#{n}", article.id, article.title, article.text[start:end], start, end)

    @property
    def number(self) -> int:
        """n of "<article id>#<n>": the passage's place in its article."""
        return int(self.passage_id.rsplit("#", 1)[1])

    def embedding_text(self) -> str:
        """The title travels with the passage so 'it' and 'the treaty' keep their subject."""
        return f"{self.title}\n\n{self.text}" if self.title else self.text


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) of each sentence in text[start:end], trimmed of surrounding whitespace."""
    end = len(text) if end is None else end
    spans, position = [], start
    for match in _SENTENCE_END.finditer(text, start, end):
        if match.group(0)[0] == "." and _is_abbreviation(text, position, match.start()):
            continue
        cut = match.start() + len(match.group(0).rstrip())
        _append_trimmed(text, position, cut, spans)
        position = match.end()
    _append_trimmed(text, position, end, spans)
    return spans


def _is_abbreviation(text: str, sentence_start: int, dot: int) -> bool:
    word_start = dot
    while word_start > sentence_start and not is_blank(text[word_start - 1]):
        word_start -= 1
    word = text[word_start:dot].lower().strip("(\"'“‘")
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _append_trimmed(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    span = trimmed(text, start, end)
    if span:
        spans.append(span)


class Chunker:
    def __init__(self, settings: ChunkerSettings, token_offsets: TokenOffsets):
        self.settings = settings
        self.token_offsets = token_offsets

    def passages_for_many(self, articles: Sequence[Article]) -> list[list[Passage]]:
        offsets = self.token_offsets([a.text for a in articles])
        title_offsets = self.token_offsets([a.title for a in articles])
        return [self._passages(article, starts, len(t))
                for article, starts, t in zip(articles, offsets, title_offsets)]

    def passages_for(self, article: Article) -> list[Passage]:
        return self.passages_for_many([article])[0]

    def _passages(self, article: Article, token_starts: list[int], title_tokens: int) -> list[Passage]:
        budget = self.budget(title_tokens)
        chunks = []
        for region in article.content_regions():
            units = self._units(article, region, token_starts, budget)
            chunks.extend(_pack(units, budget, self.settings.overlap_sentences,
                                self.settings.passage_chars))
        return [Passage.of(article, n, start, end) for n, (start, end) in enumerate(chunks)]

    def budget(self, title_tokens: int) -> int:
        window = min(self.settings.passage_tokens, self.settings.model_max_tokens)
        return max(32, window - _SPECIAL_TOKENS - min(title_tokens, _TITLE_TOKENS_MAX) - 1)

    def _units(self, article: Article, region: tuple[int, int], token_starts: list[int],
               budget: int) -> list[tuple[int, int, int]]:
        """Sentences as (start, end, tokens); a sentence over the budget is cut at tokens, and
        one over the character cap at characters."""
        units = []
        cap = self.settings.passage_chars
        for start, end in sentence_spans(article.text, *region):
            count = _tokens_between(token_starts, start, end)
            pieces = ([(start, end, count)] if count <= budget
                      else _cut_long_sentence(article.text, token_starts, start, end, budget))
            for piece in pieces:
                units.extend([piece] if piece[1] - piece[0] <= cap
                             else _cut_at_chars(article.text, token_starts, piece[0], piece[1], cap))
        return units


def _tokens_between(token_starts: list[int], start: int, end: int) -> int:
    return bisect.bisect_left(token_starts, end) - bisect.bisect_left(token_starts, start)


def _cut_long_sentence(text: str, token_starts: list[int], start: int, end: int, budget: int):
    first = bisect.bisect_left(token_starts, start)
    last = bisect.bisect_left(token_starts, end)
    pieces = []
    while first < last:
        stop = min(first + budget, last)
        piece_end = token_starts[stop] if stop < last else end
        # Prefer to cut at whitespace so no word is split across passages.
        if stop < last:
            space = text.rfind(" ", token_starts[first], piece_end)
            if space > token_starts[first]:
                piece_end = space
                stop = bisect.bisect_left(token_starts, piece_end)
        piece_start = token_starts[first]
        piece = text[piece_start:piece_end].strip()
        if piece:
            offset = text.index(piece[0], piece_start)
            pieces.append((offset, offset + len(piece), stop - first))
        first = stop if stop > first else first + 1
    return pieces


def _cut_at_chars(text: str, token_starts: list[int], start: int, end: int, cap: int):
    """(start, end, tokens) pieces of text[start:end] of at most cap characters, cut at
    whitespace where there is some in the second half of a piece."""
    pieces = []
    while start < end:
        stop = min(start + cap, end)
        if stop < end:
            space = max(text.rfind(" ", start + cap // 2, stop), text.rfind("\n", start + cap // 2, stop))
            if space > start:
                stop = space
        span = trimmed(text, start, stop)
        if span:
            pieces.append((*span, _tokens_between(token_starts, *span)))
        start = stop
    return pieces


def _pack(units: list[tuple[int, int, int]], budget: int, overlap: int,
          chars: int = 2000) -> list[tuple[int, int]]:
    """Greedily fill passages with whole sentences, repeating the last `overlap` sentences;
    a passage stays within both the token budget and `chars` characters."""
    chunks: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        j, used = i, 0
        while (j < len(units) and used + units[j][2] <= budget
               and units[j][1] - units[i][0] <= chars):
            used += units[j][2]
            j += 1
        j = max(j, i + 1)
        chunks.append((units[i][0], units[j - 1][1]))
        if j >= len(units):
            break
        # Step back for the overlap, but always move forward by at least one sentence.
        i = max(j - overlap, i + 1)
    return chunks
