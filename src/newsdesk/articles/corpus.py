"""The JSONL corpus reader: one article per line, {doc_id, title, text, url?, publish_date?},
or the same under the field names other corpora use (id, body, content, link, date, ...)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import BinaryIO, Iterator

from newsdesk.articles.records import (
    MAX_ARTICLE_BYTES,
    MAX_ID_LENGTH,
    Article,
    InputNote,
    InputProblem,
    capped_title,
    is_valid_unicode,
)

SUFFIXES = (".jsonl", ".jsonl.gz")

# Each field's names, newsdesk's own first: the first one a line has (with a usable value) is read.
ID_FIELDS = ("doc_id", "id")
TEXT_FIELDS = ("text", "body", "content")
TITLE_FIELDS = ("title", "headline")
URL_FIELDS = ("url", "link")
PUBLISHED_FIELDS = ("publish_date", "published", "published_at", "date")
_LISTED_FIELDS = 12  # an error lists at most this many of the fields a line has


def read_corpus(path: Path, problems: list[InputProblem], notes: list[InputNote]) -> Iterator[Article]:
    """The corpus's articles; a bad line is reported and skipped, and the field names read in
    place of newsdesk's own (text from "body", say) are said once for the file, in notes."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as handle:
        yield from read_corpus_lines(handle, path, problems, notes)


def read_corpus_lines(handle: BinaryIO, path: Path, problems: list[InputProblem],
                      notes: list[InputNote]) -> Iterator[Article]:
    """read_corpus over an open binary handle (a file, or the ingest API's records in memory);
    path names it in problems, notes and each article's source."""
    seen: set[str] = set()
    aliases: dict[str, list[str]] = {}  # "text" -> ["body"]: the other names this file's lines used
    try:
        number = 0
        for number, line in _corpus_lines(handle):
            if line is None:
                problems.append(_line_problem(
                    path, f"line too large for one article (limit {MAX_ARTICLE_BYTES:,} bytes)", number))
                continue
            if not line.strip():
                continue
            article = _article_from_line(line, path, number, problems, aliases)
            if article is None:
                continue
            if article.id in seen:
                problems.append(_line_problem(path, f"duplicate doc_id {article.id!r}", number))
                continue
            seen.add(article.id)
            yield article
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        problems.append(InputProblem(str(path), f"corpus cut short ({error})"))
        return
    finally:
        if aliases:
            notes.append(InputNote(str(path), ", ".join(
                f"{field} from {_listed(names, 'and')}" for field, names in aliases.items())))
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


def _article_from_line(line: bytes, path: Path, number: int, problems: list[InputProblem],
                       aliases: dict[str, list[str]]) -> Article | None:
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:  # RecursionError: absurd nesting
        problems.append(_line_problem(path, f"not valid JSON ({error})", number))
        return None
    if not isinstance(record, dict):
        problems.append(_line_problem(path, "not a JSON object", number))
        return None
    id_field = next((name for name in ID_FIELDS if name in record), None)
    doc_id = record.get(id_field) if id_field else None
    if not isinstance(doc_id, (str, int)) or str(doc_id).strip() == "" or len(str(doc_id)) > MAX_ID_LENGTH:
        reason = "missing or invalid doc_id" + ("" if id_field else _fields_note(ID_FIELDS, record))
        problems.append(_line_problem(path, reason, number))
        return None
    text_field = _first(record, TEXT_FIELDS, lambda v: isinstance(v, str) and v.strip() != "")
    if text_field is None:
        problems.append(_line_problem(path, "missing or empty text" + _fields_note(TEXT_FIELDS, record), number))
        return None
    text = record[text_field]
    title_field = _first(record, TITLE_FIELDS, lambda v: isinstance(v, str))
    url_field = _first(record, URL_FIELDS, _is_filled_string)
    published_field = _first(record, PUBLISHED_FIELDS, _is_filled_string)
    title = record[title_field] if title_field else ""
    url = record[url_field].strip() if url_field else None
    published = record[published_field].strip() if published_field else None
    if not is_valid_unicode(str(doc_id), text, title, url or "", published or ""):
        problems.append(_line_problem(path, "invalid Unicode (a lone surrogate escape)", number))
        return None
    for fields, used in ((ID_FIELDS, id_field), (TEXT_FIELDS, text_field), (TITLE_FIELDS, title_field),
                         (URL_FIELDS, url_field), (PUBLISHED_FIELDS, published_field)):
        if used and used != fields[0] and used not in aliases.setdefault(fields[0], []):
            aliases[fields[0]].append(used)
    return Article(
        id=str(doc_id).strip(),
        title=capped_title(title.strip()),
        text=text,  # verbatim: the corpus's own character offsets must stay valid
        url=url,
        published=published,
        source=f"{path}:{number}",
    )


def _first(record: dict, names: tuple[str, ...], usable) -> str | None:
    return next((name for name in names if name in record and usable(record[name])), None)


def _is_filled_string(value) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _fields_note(names: tuple[str, ...], record: dict) -> str:
    """Why no field was read: the names looked for, and those the line has."""
    present = [name for name in names if name in record]
    if present:
        return f" ({_listed(present, 'and')} {'is' if len(present) == 1 else 'are'} empty or not text)"
    wanted = _listed(names, "or")
    found = [str(key)[:40] for key in list(record)[:_LISTED_FIELDS]]
    more = f" and {len(record) - _LISTED_FIELDS} more" if len(record) > _LISTED_FIELDS else ""
    return f" (no {wanted} field; the line has {', '.join(found) + more if found else 'no fields'})"


def _listed(names: list[str] | tuple[str, ...], conjunction: str) -> str:
    """'a', 'a' and 'b', 'a', 'b' or 'c'."""
    quoted = [repr(name) for name in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} {conjunction} {quoted[-1]}"


def _line_problem(path: Path, reason: str, number: int) -> InputProblem:
    return InputProblem(str(path), reason, number, whole_file=False)
