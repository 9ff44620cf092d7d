"""The article record and what reading reports: Article, InputProblem, InputNote, ReadResult.

A reader (text.py, corpus.py) decides an article's layout once: the labelled parts before its
body (`parts`) and where the body starts. Passages and pages read those; they never guess the
layout again from the text.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field

MAX_ARTICLE_BYTES = 5 * 1024 * 1024  # one article file, or one corpus line, larger is not an article
MAX_ID_LENGTH = 200
MAX_TITLE_CHARS = 300  # a title is a line, not a page: longer ones are cut at a word

# Characters that show nothing: zero-width spaces and joiners, the word joiner, the BOM, the soft
# hyphen, bidi marks and isolates. Finding blocks and sentences counts them as whitespace, so a
# "paragraph" of nothing but these is no paragraph.
INVISIBLE = "\u00ad\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff"
_BLANK_LINES = re.compile(f"\\n(?:[ \\t{INVISIBLE}]*\\n)+")  # runs of them: one match

Span = tuple[int, int]
# A labelled stretch of an article's text before its body: (kind, start, end).
Part = tuple[str, int, int]
PART_KINDS = ("title", "standfirst", "tags", "caption")
# Parts that are prose worth retrieving. The title travels with every passage anyway
# (Passage.embedding_text), and a tags line is a list of words, not a sentence.
SEARCHED_KINDS = frozenset({"standfirst", "caption"})


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    text: str  # what GET /articles/{id} returns; passage offsets point into it
    url: str | None = None
    published: str | None = None
    standfirst: str = ""
    tags: tuple[str, ...] = ()
    caption: str = ""
    body_start: int = 0  # offset in text where the body paragraphs begin
    source: str = ""
    parts: tuple[Part, ...] = ()  # the labelled parts before body_start, in order, as read

    @functools.cached_property  # planning and the manifest both ask, for every article
    def content_hash(self) -> str:
        digest = hashlib.sha256()
        for part in (self.title, self.text, self.url or "", self.published or ""):
            digest.update(part.encode("utf-8", "surrogatepass"))
            digest.update(b"\x00")
        return digest.hexdigest()[:32]

    def paragraphs(self) -> list[Span]:
        """(start, end) offsets of the body's paragraphs, for rendering and highlighting."""
        # A plain file's body may follow the title line without a blank line: the block that
        # holds both is cut at body_start rather than dropped.
        return [(max(start, self.body_start), end) for start, end in blocks(self.text)
                if end > self.body_start]

    def content_regions(self) -> list[Span]:
        """Contiguous stretches worth retrieving: the searched parts and the body, each run of
        them unbroken by a part that is not searched (a title, a tags line) being one region."""
        regions: list[Span] = []
        previous_searched = False
        for kind, start, end in (*self.parts, ("body", self.body_start, len(self.text))):
            searched = kind == "body" or kind in SEARCHED_KINDS
            if searched and previous_searched:
                regions[-1] = (regions[-1][0], end)
            elif searched:
                regions.append((start, end))
            previous_searched = searched
        return regions

    def to_record(self) -> dict:
        return {
            "id": self.id, "title": self.title, "text": self.text, "url": self.url,
            "published": self.published, "standfirst": self.standfirst, "tags": list(self.tags),
            "caption": self.caption, "body_start": self.body_start, "source": self.source,
            "parts": [list(part) for part in self.parts],
        }

    @classmethod
    def from_record(cls, record: dict) -> "Article":
        record = {**record, "tags": tuple(record.get("tags") or ())}
        if "parts" in record:
            record["parts"] = tuple((str(kind), int(start), int(end)) for kind, start, end in record["parts"])
            return cls(**record)
        return cls(**record, parts=_parts_of_an_earlier_record(record))


@dataclass(frozen=True)
class ArticleCard:
    """What lists and filters show of an article, kept in memory for every article served (the
    text stays on disk): the fields of Article they read, with the same names."""

    id: str
    title: str
    url: str | None = None
    published: str | None = None
    source: str = ""


def _parts_of_an_earlier_record(record: dict) -> tuple[Part, ...]:
    """The parts of an article stored before records carried them (an index built then): its
    layout was the seed layout exactly when it had tags, else a title line before body_start."""
    text, body_start = record["text"], record.get("body_start", 0)
    header = [span for span in blocks(text) if span[0] < body_start]
    if record["tags"]:
        return tuple((kind, start, end) for kind, (start, end) in zip(PART_KINDS, header))
    return (("title", 0, body_start),) if header else ()


@dataclass(frozen=True)
class InputProblem:
    """An input that was skipped, said by name (and line for corpora) so the user can fix it."""

    path: str
    reason: str
    line: int | None = None
    whole_file: bool = True  # False for a corpus line: the rest of the corpus is still read

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"skipped {where}: {self.reason}"


@dataclass(frozen=True)
class InputNote:
    """How an input was read, when the user may want to know (a corpus's field names)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"read {self.path}: {self.message}"


@dataclass
class ReadResult:
    articles: list[Article] = field(default_factory=list)
    problems: list[InputProblem] = field(default_factory=list)
    files_read: int = 0
    notes: list[InputNote] = field(default_factory=list)

    @property
    def files_skipped(self) -> int:
        return len({p.path for p in self.problems if p.whole_file})


# ---------------------------------------------------------------- text helpers the stages share

def is_blank(character: str) -> bool:
    return character.isspace() or character in INVISIBLE


def trimmed(text: str, start: int, end: int) -> Span | None:
    """text[start:end] without blank characters at either end; None when nothing else is left."""
    while start < end and is_blank(text[start]):
        start += 1
    while end > start and is_blank(text[end - 1]):
        end -= 1
    return (start, end) if end > start else None


def blocks(text: str) -> list[Span]:
    """(start, end) of each blank-line-separated block, whitespace trimmed."""
    spans, position = [], 0
    for match in list(_BLANK_LINES.finditer(text)) + [None]:
        end = match.start() if match else len(text)
        span = trimmed(text, position, end)
        if span:
            spans.append(span)
        if match:
            position = match.end()
    return spans


def capped_title(title: str) -> str:
    """The title, cut at a word with an ellipsis when it is over MAX_TITLE_CHARS."""
    if len(title) <= MAX_TITLE_CHARS:
        return title
    cut = title.rfind(" ", MAX_TITLE_CHARS // 2, MAX_TITLE_CHARS)
    return title[:cut if cut > 0 else MAX_TITLE_CHARS - 1].rstrip() + "…"


def normalise_text(text: str) -> str:
    """One newline convention and no trailing space, so offsets are stable across platforms."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.strip()


def is_valid_unicode(*texts: str) -> bool:
    """False for text that cannot be written as UTF-8: lone surrogates from a JSON escape
    such as \\ud800, or from a file name that is not UTF-8."""
    try:
        for text in texts:
            text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
