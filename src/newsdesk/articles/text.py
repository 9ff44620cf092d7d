"""The .txt/.md reader: one article per file, in the seed layout or as a title line and a body,
with optional front matter or Published:/URL: lines at the top (README, "What it reads")."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from newsdesk.articles.records import (
    MAX_ARTICLE_BYTES,
    PART_KINDS,
    Article,
    InputNote,
    InputProblem,
    Span,
    blocks,
    capped_title,
    is_valid_unicode,
    normalise_text,
)

SUFFIXES = (".txt", ".md")

_FENCE = re.compile(r"---[ \t]*")
_FIELD = re.compile(r"([A-Za-z][\w-]*)[ \t]*:[ \t]*(.*)")
_HEADER_FIELD = re.compile(r"(published|url)[ \t]*:[ \t]*(.*)", re.IGNORECASE)
FRONT_MATTER_KEYS = {"published": "published", "date": "published", "url": "url", "title": "title"}
FRONT_MATTER_MAX_LINES = 50  # a "---" first line without its closing "---" this soon is a mistake
HEADER_LINES = 8  # how far from the top a Published: or URL: line is looked for
DATE_FORMATS = ("%Y/%m/%d", "%d %B %Y", "%d %b %Y", "%B %d, %Y", "%b %d, %Y", "%B %d %Y", "%b %d %Y")


class BadMetadata(ValueError):
    """Front matter or a Published:/URL: line that cannot be read; line counts from 1 in the file."""

    def __init__(self, reason: str, line: int | None = None):
        super().__init__(reason)
        self.reason, self.line = reason, line


@dataclass(frozen=True)
class Metadata:
    """What the top of a .txt/.md article says about it; None where it says nothing."""

    published: str | None = None  # always YYYY-MM-DD
    url: str | None = None
    title: str | None = None


def read_text_file(path: Path, problems: list[InputProblem], notes: list[InputNote]) -> list[Article]:
    """The file's article, or none with the reason in problems (this reader has nothing to note)."""
    size = path.stat().st_size
    if size > MAX_ARTICLE_BYTES:
        problems.append(InputProblem(str(path), f"too large for one article ({size:,} bytes, limit {MAX_ARTICLE_BYTES:,})"))
        return []
    raw = path.read_bytes()
    if b"\x00" in raw:
        problems.append(InputProblem(str(path), "binary file (contains NUL bytes)"))
        return []
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        problems.append(InputProblem(str(path), f"not UTF-8 (invalid byte at offset {error.start}); save it as UTF-8"))
        return []
    article_id = path.name[: -len(path.suffix)] if path.suffix else path.name
    if not is_valid_unicode(article_id):
        problems.append(InputProblem(str(path), "file name is not valid UTF-8; rename the file"))
        return []
    if not text.strip():
        problems.append(InputProblem(str(path), "empty file"))
        return []
    try:
        return [parse_article(article_id, text, source=str(path), markdown=path.suffix.lower() == ".md")]
    except BadMetadata as error:
        problems.append(InputProblem(str(path), error.reason, error.line))
        return []


def parse_article(article_id: str, text: str, source: str = "", markdown: bool = False) -> Article:
    """Fields of the seed layout: title, standfirst, tags line, image caption, then body blocks.

    A text that does not follow the layout still becomes an article: first line title, rest body.
    Front matter or Published:/URL: lines at the top set published and url and are not part of
    the article's text (so passage offsets never point into them). Raises BadMetadata.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    first_line = text[: len(text) - len(text.lstrip())].count("\n") + 1  # for messages
    metadata, text = split_metadata(normalise_text(text), first_line)
    article = _parse_layout(article_id, text, source, markdown)
    if metadata.title and capped_title(metadata.title) != article.title:
        # The title is only in the front matter: every line of the text is body.
        article = Article(id=article_id, title=capped_title(metadata.title), text=text, source=source)
    if metadata.published or metadata.url:
        article = dataclasses.replace(article, published=metadata.published, url=metadata.url)
    return article


def split_metadata(text: str, first_line: int = 1) -> tuple[Metadata, str]:
    """The metadata at the top of a normalised article text, and the text without it.

    first_line: the file's line number of the text's first line, for messages.
    """
    lines = text.split("\n")
    if _FENCE.fullmatch(lines[0]):
        return _front_matter(lines, first_line)
    found: dict[str, tuple[int, str]] = {}
    for number, line in enumerate(lines[:HEADER_LINES]):
        match = _HEADER_FIELD.fullmatch(line.strip())
        if match and match.group(1).lower() not in found:
            found[match.group(1).lower()] = (number, match.group(2))
    if not found:
        return Metadata(), text
    published = found.get("published")
    metadata = Metadata(
        published=_iso_date(published[1], first_line + published[0]) if published else None,
        url=_unquoted(found["url"][1]) or None if "url" in found else None)
    dropped = {number for number, _ in found.values()}
    kept = [line for number, line in enumerate(lines) if number not in dropped]
    head, tail = "\n".join(kept[:HEADER_LINES]), kept[HEADER_LINES:]
    head = re.sub(r"\n[ \t]*\n(?:[ \t]*\n)+", "\n\n", head)  # a dropped line between blank lines
    return metadata, _non_empty(normalise_text("\n".join([head, *tail])), first_line)


def _front_matter(lines: list[str], first_line: int) -> tuple[Metadata, str]:
    end = next((n for n, line in enumerate(lines[1:FRONT_MATTER_MAX_LINES], 1) if _FENCE.fullmatch(line)), None)
    if end is None:
        raise BadMetadata(f"the front matter opened by '---' has no closing '---' line "
                          f"within {FRONT_MATTER_MAX_LINES} lines", first_line)
    values: dict[str, str] = {}
    for number, line in enumerate(lines[1:end], first_line + 1):
        if not line.strip() or line.lstrip().startswith("#") or line[0] in " \t-":
            continue  # blank, a comment, or the nested value of a key newsdesk does not use
        match = _FIELD.fullmatch(line.rstrip())
        if not match:
            raise BadMetadata(f"front matter line {line.strip()[:60]!r} is not 'key: value'", number)
        key = FRONT_MATTER_KEYS.get(match.group(1).lower())
        value = _unquoted(match.group(2))
        if key == "published" and value:
            value = _iso_date(value, number)
        if key and value:
            values.setdefault(key, value)
    return Metadata(**values), _non_empty(normalise_text("\n".join(lines[end + 1:])), first_line + end + 1)


def _iso_date(value: str, line: int) -> str:
    """YYYY-MM-DD for 2016-02-07 (a time after it is allowed), 2016/02/07, 7 February 2016 or
    Feb 7, 2016."""
    value = _unquoted(value)
    try:
        return datetime.fromisoformat(value).date().isoformat()
    except ValueError:
        pass
    for layout in DATE_FORMATS:
        try:
            return datetime.strptime(value, layout).date().isoformat()
        except ValueError:
            continue
    raise BadMetadata(f"published date {value[:40]!r} is not a date; write it as YYYY-MM-DD, "
                      "e.g. 2016-02-07", line)


def _unquoted(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1].strip()
    return value


def _non_empty(text: str, line: int) -> str:
    if not text:
        raise BadMetadata("no article text after the metadata", line)
    return text


def _parse_layout(article_id: str, text: str, source: str, markdown: bool) -> Article:
    spans = blocks(text)
    first_line_end = text.find("\n") if "\n" in text else len(text)
    title = text[spans[0][0]:first_line_end].strip() if spans else ""
    if markdown:
        title = title.lstrip("#").strip()
    title = capped_title(title)
    if _follows_seed_layout(text, spans):
        standfirst, tags, caption = (text[s:e] for s, e in spans[1:4])
        return Article(
            id=article_id, title=title, text=text, standfirst=standfirst,
            tags=tuple(t.strip() for t in tags.split(",") if t.strip()),
            caption=caption, body_start=spans[4][0], source=source,
            parts=tuple((kind, start, end) for kind, (start, end) in zip(PART_KINDS, spans[:4])),
        )
    body_start = first_line_end
    while body_start < len(text) and text[body_start].isspace():
        body_start += 1
    # The title part runs to the body (the title line and the blank lines after it).
    parts = (("title", 0, body_start),) if any(start < body_start for start, _ in spans) else ()
    return Article(id=article_id, title=title, text=text, body_start=body_start, source=source, parts=parts)


def _follows_seed_layout(text: str, spans: list[Span]) -> bool:
    if len(spans) < 5:
        return False
    title, standfirst, tags, caption = (text[s:e] for s, e in spans[:4])
    single_lines = all("\n" not in part for part in (title, standfirst, tags))
    looks_like_tags = tags.count(",") >= 1 and not tags.rstrip().endswith((".", "?", "!"))
    return single_lines and looks_like_tags and "Image:" in caption
