"""The HTML reader: a saved web page's article text, title, date and author, found by trafilatura
(the page's navigation, adverts and comments left out); the feeds save fetched pages this way too."""

from __future__ import annotations

import logging
from pathlib import Path

from newsdesk.articles.records import (
    MAX_ARTICLE_BYTES,
    Article,
    InputNote,
    InputProblem,
    capped_title,
    is_valid_unicode,
    normalise_text,
)

SUFFIXES = (".html", ".htm")
MIN_TEXT_CHARS = 40  # less than a sentence: a page of links or a cookie wall, not an article


class NotAnArticle(ValueError):
    """A page in which no article text was found; the message says why, for the problem line."""


def read_html_file(path: Path, problems: list[InputProblem], notes: list[InputNote]) -> list[Article]:
    """The page's article, its id the file name without the suffix; or none, said in problems."""
    size = path.stat().st_size
    if size > MAX_ARTICLE_BYTES:
        problems.append(InputProblem(str(path), f"too large for one article ({size:,} bytes, limit {MAX_ARTICLE_BYTES:,})"))
        return []
    try:
        article = article_from_html(path.read_bytes(), path.name[: -len(path.suffix)], str(path))
    except NotAnArticle as error:
        problems.append(InputProblem(str(path), str(error)))
        return []
    return [article]


def article_from_html(page: bytes | str, article_id: str, source: str, url: str | None = None,
                      title: str = "", published: str | None = None, author: str = "") -> Article:
    """The article in a page: its text as paragraphs (blank-line separated, the way every reader
    hands text on), the headline as title, the date as YYYY-MM-DD, the author as a first "By"
    line (Article has no author field; in the text a question about the writer can find it).
    title, published, author: what to use where the page says nothing (a feed's own fields)."""
    if not page.strip():
        raise NotAnArticle("empty file")
    document = _extract(page, url)
    body = normalise_text(document.text or "") if document else ""
    if len(body) < MIN_TEXT_CHARS:
        raise NotAnArticle("no article text found in the page")
    title = " ".join((document.title or title).split())
    lines = [line.strip() for line in body.split("\n") if line.strip()]
    if title and lines and lines[0] == title:  # the page's own headline, already the title
        lines = lines[1:] or lines
    author = " ".join((document.author or author).split())
    if author and not lines[0].lower().startswith("by "):
        lines.insert(0, f"By {author}")
    text = "\n\n".join(lines)  # trafilatura puts one newline between paragraphs
    if not is_valid_unicode(article_id, text, title):
        raise NotAnArticle("invalid Unicode in the page")
    return Article(id=article_id, title=capped_title(title), text=text,
                   url=url or document.url or None, published=document.date or published, source=source)


def _extract(page: bytes | str, url: str | None):
    import trafilatura  # seconds of imports (lxml, justext, dateparser) only when a page is read

    logging.getLogger("trafilatura").setLevel(logging.ERROR)  # its own warnings repeat our problem line
    try:
        return trafilatura.bare_extraction(page, url=url, with_metadata=True, include_comments=False,
                                           include_tables=True, date_extraction_params={
                                               "extensive_search": True, "original_date": True})
    except (ValueError, TypeError) as error:  # trafilatura's own parse failures on garbage
        raise NotAnArticle(f"not a readable HTML page ({error})") from None
