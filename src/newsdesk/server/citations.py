"""Citations as they travel beyond /ask (the OpenAI routes, MCP, Markdown): each with the link
a reader opens, the article's own http(s) URL or else this server's page for the passage."""

from __future__ import annotations

import re

from newsdesk.answers.extractive import Citation
from newsdesk.server.links import article_view_link, web_url

MARKER = re.compile(r"\[(\d+)\]")  # an answer's [n], naming the citation numbered n


class LinkedCitation(Citation):
    """A citation as /ask gives it, with its link."""

    link: str


def source_link(citation: Citation, base_url: str = "") -> str:
    """The article's own http(s) URL, else this server's page for it with the passage marked
    (absolute with base_url)."""
    return web_url(citation.url) or article_view_link(citation.article_id, citation.char_start,
                                                      citation.char_end, base_url)


def linked(citations: list[Citation], base_url: str = "") -> list[LinkedCitation]:
    return [LinkedCitation(**c.model_dump(), link=source_link(c, base_url)) for c in citations]


def cited_in(text: str, citations: list[Citation]) -> list[Citation]:
    """The citations whose [n] markers the text holds, in the order they first appear."""
    by_number = {c.n: c for c in citations}
    numbers = dict.fromkeys(int(n) for n in MARKER.findall(text))
    return [by_number[n] for n in numbers if n in by_number]
