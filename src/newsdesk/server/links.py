"""Links as a browser reads them: an article's own URL, the host shown beside it, and links to
this server's article pages.

A corpus URL is parsed the WHATWG way (ada, the parser Node.js uses), because that is what the
browser will do with the href: Python's urlsplit reads `https://evil.example\\@trusted.example/`
as trusted.example, a browser goes to evil.example. Only http(s) links are kept, the host is
shown as the browser will reach it (ASCII, so a look-alike name shows as xn--…), and bidi
controls never reach the display.
"""

from __future__ import annotations

from urllib.parse import quote

from ada_url import URL

# Marks that reorder text around them: in a host or title they make what is shown lie.
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_NO_BIDI = dict.fromkeys(map(ord, BIDI_CONTROLS))


def without_bidi_controls(text: str) -> str:
    return text.translate(_NO_BIDI)


def _parsed(url: str | None) -> URL | None:
    if not url or not isinstance(url, str):
        return None
    try:
        parsed = URL(url)
    except ValueError:
        return None
    return parsed if parsed.protocol in ("http:", "https:") and parsed.hostname else None


def web_url(url: str | None) -> str:
    """The URL as the browser will follow it (serialized by the WHATWG rules) when it is http(s),
    else "": a corpus could carry a javascript: or data: link."""
    parsed = _parsed(url)
    return parsed.href if parsed else ""


def domain_of(url: str | None) -> str:
    """The host an http(s) link really goes to, without `www.`; "" for any other link."""
    parsed = _parsed(url)
    if parsed is None:
        return ""
    return without_bidi_controls(parsed.hostname).rstrip(".").removeprefix("www.")


def article_view_link(article_id: str, start: int | None = None, end: int | None = None,
                      base_url: str = "") -> str:
    """This server's page for an article (the id encoded whole: `/`, `?`, `#` and newlines stay
    inside it), the passage start..end marked; absolute when base_url is given."""
    link = f"{base_url.rstrip('/')}/articles/{quote(article_id, safe='')}/view"
    if start is not None and end is not None:
        link += f"?start={int(start)}&end={int(end)}"
    return link
