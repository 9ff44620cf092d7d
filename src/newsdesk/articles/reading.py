"""Articles: reading seed files and JSONL corpora into typed records, reporting what can't be read."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterable, Iterator

TEXT_SUFFIXES = (".txt", ".md")
CORPUS_SUFFIXES = (".jsonl", ".jsonl.gz")
# A single article file larger than this is almost certainly not an article (a dump, a log).
MAX_ARTICLE_BYTES = 5 * 1024 * 1024
MAX_ID_LENGTH = 200

# Characters that show nothing: zero-width spaces and joiners, the word joiner, the BOM, the soft
# hyphen, bidi marks and isolates. Finding blocks and sentences counts them as whitespace, so a
# "paragraph" of nothing but these is no paragraph.
INVISIBLE = "\u00ad\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff"
_BLANK_LINES = re.compile(f"\\n(?:[ \\t{INVISIBLE}]*\\n)+")  # runs of them: one match
MAX_TITLE_CHARS = 300  # a title is a line, not a page: longer ones are cut at a word


def is_blank(character: str) -> bool:
    return character.isspace() or character in INVISIBLE


def trimmed(text: str, start: int, end: int) -> tuple[int, int] | None:
    """text[start:end] without blank characters at either end; None when nothing else is left."""
    while start < end and is_blank(text[start]):
        start += 1
    while end > start and is_blank(text[end - 1]):
        end -= 1
    return (start, end) if end > start else None


def capped_title(title: str) -> str:
    """The title, cut at a word with an ellipsis when it is over MAX_TITLE_CHARS."""
    if len(title) <= MAX_TITLE_CHARS:
        return title
    cut = title.rfind(" ", MAX_TITLE_CHARS // 2, MAX_TITLE_CHARS)
    return title[:cut if cut > 0 else MAX_TITLE_CHARS - 1].rstrip() + "…"


# Metadata at the top of a .txt/.md article: a front-matter block between two "---" lines, or
# "Published: ..." / "URL: ..." lines among the first few lines (README, "What it reads").
_FENCE = re.compile(r"---[ \t]*")
_FIELD = re.compile(r"([A-Za-z][\w-]*)[ \t]*:[ \t]*(.*)")
_HEADER_FIELD = re.compile(r"(published|url)[ \t]*:[ \t]*(.*)", re.IGNORECASE)
FRONT_MATTER_KEYS = {"published": "published", "date": "published", "url": "url", "title": "title"}
FRONT_MATTER_MAX_LINES = 50  # a "---" first line without its closing "---" this soon is a mistake
HEADER_LINES = 8  # how far from the top a Published: or URL: line is looked for
DATE_FORMATS = ("%Y/%m/%d", "%d %B %Y", "%d %b %Y", "%B %d, %Y", "%b %d, %Y", "%B %d %Y", "%b %d %Y")


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

    @functools.cached_property  # planning and the manifest both ask, for every article
    def content_hash(self) -> str:
        digest = hashlib.sha256()
        for part in (self.title, self.text, self.url or "", self.published or ""):
            digest.update(part.encode("utf-8", "surrogatepass"))
            digest.update(b"\x00")
        return digest.hexdigest()[:32]

    def paragraphs(self) -> list[tuple[int, int]]:
        """(start, end) offsets of the body's paragraphs, for rendering and highlighting."""
        # A plain file's body may follow the title line without a blank line: the block that
        # holds both is cut at body_start rather than dropped.
        return [(max(start, self.body_start), end) for start, end in _blocks(self.text)
                if end > self.body_start]

    def to_record(self) -> dict:
        return {
            "id": self.id, "title": self.title, "text": self.text, "url": self.url,
            "published": self.published, "standfirst": self.standfirst, "tags": list(self.tags),
            "caption": self.caption, "body_start": self.body_start, "source": self.source,
        }

    @classmethod
    def from_record(cls, record: dict) -> "Article":
        return cls(**{**record, "tags": tuple(record.get("tags") or ())})


@dataclass(frozen=True)
class InputProblem:
    """An input that was skipped, said by name (and line for corpora) so the user can fix it."""

    path: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"skipped {where}: {self.reason}"


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


@dataclass
class ReadResult:
    articles: list[Article] = field(default_factory=list)
    problems: list[InputProblem] = field(default_factory=list)
    files_read: int = 0

    @property
    def files_skipped(self) -> int:
        # A problem in a .txt/.md file skips all of it, whatever line it names.
        return len({p.path for p in self.problems if p.line is None or p.path.lower().endswith(TEXT_SUFFIXES)})


def read_articles(paths: Iterable[Path]) -> ReadResult:
    """Every article under the given folders and files; duplicates and broken inputs reported."""
    result = ReadResult()
    seen: set[str] = set()
    for path in source_files(paths, result.problems):
        result.files_read += 1
        for article in _read_one_source(path, result.problems):
            if article.id in seen:
                result.problems.append(InputProblem(article.source, f"duplicate article id {article.id!r}"))
                continue
            seen.add(article.id)
            result.articles.append(article)
    return result


def source_files(paths: Iterable[Path], problems: list[InputProblem]) -> Iterator[Path]:
    """Article files in a stable order; folders are walked without following links (no loops),
    and a linked file is read only when it resolves inside the paths given."""
    paths = [Path(p) for p in paths]
    allowed = _resolved(paths)
    for root in paths:
        try:
            if root.is_dir():
                yield from _walk_folder(root, problems, allowed)
            elif root.is_file():
                if _is_supported(root):
                    yield root
                else:
                    problems.append(InputProblem(str(root), "not a .txt, .md, .jsonl or .jsonl.gz file"))
            else:
                problems.append(InputProblem(str(root), "no such file or folder"))
        except OSError as error:
            problems.append(InputProblem(str(root), f"cannot be read ({error.strerror or error})"))


def _resolved(paths: list[Path]) -> list[Path]:
    resolved = []
    for path in paths:
        try:
            resolved.append(path.resolve())
        except (OSError, RuntimeError):
            pass
    return resolved


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def _walk_folder(root: Path, problems: list[InputProblem], allowed: list[Path]) -> Iterator[Path]:
    def unreadable(error: OSError) -> None:
        problems.append(InputProblem(str(error.filename), f"cannot be read ({error.strerror or error})"))

    for folder, subfolders, files in os.walk(root, followlinks=False, onerror=unreadable):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(folder) / name
            if not _is_supported(path):
                continue
            try:
                if not path.is_file():
                    reason = "broken or looping link" if path.is_symlink() else "not a regular file"
                    problems.append(InputProblem(str(path), reason))
                    continue
                if path.is_symlink() and not _inside(path.resolve(), allowed):
                    # ln -s /etc/passwd seeds/leak.txt must not publish /etc/passwd
                    problems.append(InputProblem(str(path), "link to a file outside the seeds "
                                                 f"({path.resolve()}); not read"))
                    continue
            except OSError as error:
                problems.append(InputProblem(str(path), f"cannot be read ({error.strerror or error})"))
                continue
            yield path


def _is_supported(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(TEXT_SUFFIXES) or name.endswith(CORPUS_SUFFIXES)


def _read_one_source(path: Path, problems: list[InputProblem]) -> Iterator[Article]:
    name = path.name.lower()
    try:
        if name.endswith(CORPUS_SUFFIXES):
            yield from read_corpus(path, problems)
        else:
            article = read_article_file(path, problems)
            if article is not None:
                yield article
    except OSError as error:
        problems.append(InputProblem(str(path), f"cannot be read ({error.strerror or error})"))


def read_article_file(path: Path, problems: list[InputProblem]) -> Article | None:
    size = path.stat().st_size
    if size > MAX_ARTICLE_BYTES:
        problems.append(InputProblem(str(path), f"too large for one article ({size:,} bytes, limit {MAX_ARTICLE_BYTES:,})"))
        return None
    raw = path.read_bytes()
    if b"\x00" in raw:
        problems.append(InputProblem(str(path), "binary file (contains NUL bytes)"))
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        problems.append(InputProblem(str(path), f"not UTF-8 (invalid byte at offset {error.start}); save it as UTF-8"))
        return None
    article_id = path.name[: -len(path.suffix)] if path.suffix else path.name
    if not is_valid_unicode(article_id):
        problems.append(InputProblem(str(path), "file name is not valid UTF-8; rename the file"))
        return None
    if not text.strip():
        problems.append(InputProblem(str(path), "empty file"))
        return None
    try:
        return parse_article(article_id, text, source=str(path), markdown=path.suffix.lower() == ".md")
    except BadMetadata as error:
        problems.append(InputProblem(str(path), error.reason, error.line))
        return None


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
    blocks = _blocks(text)
    first_line_end = text.find("\n") if "\n" in text else len(text)
    title = text[blocks[0][0]:first_line_end].strip() if blocks else ""
    if markdown:
        title = title.lstrip("#").strip()
    title = capped_title(title)
    if _follows_seed_layout(text, blocks):
        standfirst, tags, caption = (text[s:e] for s, e in blocks[1:4])
        return Article(
            id=article_id, title=title, text=text, standfirst=standfirst,
            tags=tuple(t.strip() for t in tags.split(",") if t.strip()),
            caption=caption, body_start=blocks[4][0], source=source,
        )
    body_start = first_line_end
    while body_start < len(text) and text[body_start].isspace():
        body_start += 1
    return Article(id=article_id, title=title, text=text, body_start=body_start, source=source)


def normalise_text(text: str) -> str:
    """One newline convention and no trailing space, so offsets are stable across platforms."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.strip()


def _blocks(text: str) -> list[tuple[int, int]]:
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


def _follows_seed_layout(text: str, blocks: list[tuple[int, int]]) -> bool:
    if len(blocks) < 5:
        return False
    title, standfirst, tags, caption = (text[s:e] for s, e in blocks[:4])
    single_lines = all("\n" not in part for part in (title, standfirst, tags))
    looks_like_tags = tags.count(",") >= 1 and not tags.rstrip().endswith((".", "?", "!"))
    return single_lines and looks_like_tags and "Image:" in caption


def read_corpus(path: Path, problems: list[InputProblem]) -> Iterator[Article]:
    """Articles from a JSONL corpus: {doc_id, title, text, url?, publish_date?} per line."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    seen: set[str] = set()
    with opener(path, "rb") as handle:
        try:
            number = 0
            for number, line in _corpus_lines(handle):
                if line is None:
                    problems.append(InputProblem(
                        str(path), f"line too large for one article (limit {MAX_ARTICLE_BYTES:,} bytes)", number))
                    continue
                if not line.strip():
                    continue
                article = _article_from_line(line, path, number, problems)
                if article is None:
                    continue
                if article.id in seen:
                    problems.append(InputProblem(str(path), f"duplicate doc_id {article.id!r}", number))
                    continue
                seen.add(article.id)
                yield article
        except (OSError, EOFError, gzip.BadGzipFile) as error:
            problems.append(InputProblem(str(path), f"corpus cut short ({error})"))
            return
        if number == 0:
            problems.append(InputProblem(str(path), "empty file"))


def _corpus_lines(handle) -> Iterator[tuple[int, bytes | None]]:
    """(number, line) for each line; a line over the article limit comes as None and is never
    held whole in memory (a 50 MB line, or a gzip bomb, costs one limit's worth of memory)."""
    number = 0
    while line := handle.readline(MAX_ARTICLE_BYTES + 1):
        number += 1
        if len(line) > MAX_ARTICLE_BYTES and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = handle.readline(1 << 20)
            yield number, None
        else:
            yield number, line


def _article_from_line(line: bytes, path: Path, number: int, problems: list[InputProblem]) -> Article | None:
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:  # RecursionError: absurd nesting
        problems.append(InputProblem(str(path), f"not valid JSON ({error})", number))
        return None
    if not isinstance(record, dict):
        problems.append(InputProblem(str(path), "not a JSON object", number))
        return None
    doc_id, text = record.get("doc_id", record.get("id")), record.get("text")
    if not isinstance(doc_id, (str, int)) or str(doc_id).strip() == "" or len(str(doc_id)) > MAX_ID_LENGTH:
        problems.append(InputProblem(str(path), "missing or invalid doc_id", number))
        return None
    if not isinstance(text, str) or not text.strip():
        problems.append(InputProblem(str(path), "missing or empty text", number))
        return None
    title = record.get("title") if isinstance(record.get("title"), str) else ""
    url = _optional_string(record.get("url"))
    published = _optional_string(record.get("publish_date") or record.get("published"))
    if not is_valid_unicode(str(doc_id), text, title, url or "", published or ""):
        problems.append(InputProblem(str(path), "invalid Unicode (a lone surrogate escape)", number))
        return None
    return Article(
        id=str(doc_id).strip(),
        title=capped_title(title.strip()),
        text=text,  # verbatim: the corpus's own character offsets must stay valid
        url=url,
        published=published,
        source=f"{path}:{number}",
    )


def is_valid_unicode(*texts: str) -> bool:
    """False for text that cannot be written as UTF-8: lone surrogates from a JSON escape
    such as \\ud800, or from a file name that is not UTF-8."""
    try:
        for text in texts:
            text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _optional_string(value) -> str | None:
    return value.strip() or None if isinstance(value, str) else None
