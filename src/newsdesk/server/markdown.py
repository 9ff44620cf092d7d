"""An answer as Markdown that travels (a note, an issue, a chat): its [n] markers and its list
of sources are links, to the article's own page or else to this server's view of the passage.

/ask gives it for `Accept: text/markdown` or `?format=markdown`; the chat's "Copy as Markdown"
button builds the same text in the browser (web/static/js/render.js, `answerMarkdown`).
"""

from __future__ import annotations

import re

from newsdesk.answers.extractive import Answer, Citation
from newsdesk.server.citations import MARKER, cited_in, source_link
from newsdesk.server.links import without_bidi_controls
from newsdesk.server.pages import published_label

MEDIA_TYPE = "text/markdown; charset=utf-8"
# Characters Markdown would read as formatting in text copied from an article.
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")
_SPACES = re.compile(r"\s+")


def answer_markdown(answer: Answer, base_url: str = "") -> str:
    """The answer's text with each [n] a link, its note, then its sources, one link a line."""
    by_number = {c.n: c for c in answer.citations}
    parts, last = [], 0
    for marker in MARKER.finditer(answer.answer):
        citation = by_number.get(int(marker.group(1)))
        if citation is None:
            continue
        parts.append(escaped(answer.answer[last:marker.start()]))
        parts.append(f"[\\[{citation.n}\\]]({_href(source_link(citation, base_url))})")
        last = marker.end()
    parts.append(escaped(answer.answer[last:]))
    blocks = ["".join(parts).strip()]
    if answer.note:
        blocks.append(f"*Note: {escaped(answer.note).strip()}*")
    cited = cited_in(answer.answer, answer.citations)
    if answer.abstained or answer.small_talk:
        cited = []
    elif not cited:  # a written answer without markers still came from these
        cited = list(answer.citations)
    if cited:
        blocks.append("**Sources**\n\n" + "\n".join(_source_line(c, base_url) for c in cited))
    return "\n\n".join(blocks) + "\n"


def _source_line(citation: Citation, base_url: str) -> str:
    title = escaped(citation.title).strip() or "Untitled article"
    day = published_label(citation.published)
    return (f"- \\[{citation.n}\\] [{title}]({_href(source_link(citation, base_url))})"
            + (f", {escaped(day)}" if day else "")
            + (f", also in: {escaped(', '.join(citation.also_in))}" if citation.also_in else ""))


def escaped(text: str) -> str:
    """Text that Markdown shows as written, on one line."""
    return _SPECIAL.sub(r"\\\1", _one_line(text))


def _one_line(text: str) -> str:
    return _SPACES.sub(" ", without_bidi_controls(text or ""))


def _href(url: str) -> str:
    """A link destination Markdown reads whole: no spaces, no unbalanced parentheses."""
    return url.replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace("<", "%3C").replace(">", "%3E")


def wants_markdown(format: str | None, accept: str | None) -> bool:
    """True for ?format=markdown, or an Accept header that names text/markdown, unless it
    weighs application/json as much or more (JSON stays the default)."""
    if format is not None:
        return format == "markdown"
    weights = _accepted(accept or "")
    markdown = weights.get("text/markdown", 0.0)
    return markdown > 0 and markdown > weights.get("application/json", 0.0)


def _accepted(header: str) -> dict[str, float]:
    """Accept's media ranges and their q weights (RFC 9110)."""
    weights = {}
    for part in header.split(","):
        kind, *params = [piece.strip() for piece in part.split(";")]
        if not kind:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        weights[kind.lower()] = q
    return weights
