"""Filters: which passages a search may use, by their article's date and outlet (its URL's host).

An article's outlet is the host of its URL without "www." ("www.bbc.co.uk/news/…" is bbc.co.uk):
it is the one mark of an outlet every input kind carries (the JSONL corpora's url field, the seed
files' URL: line or front matter), and it names the outlet the way a reader writes it. A source
in a filter is a domain, which takes its subdomains too ("usatoday.com" keeps
college.usatoday.com), or an outlet's name, which matches a host with a label spelt the same
without spaces, punctuation, case or a leading "the" ("USA Today": usatoday.com; "Week": theweek.co.uk).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlsplit

import numpy as np

from newsdesk.index.store import Generation
from newsdesk.query import Filters

_NOT_ALNUM = re.compile(r"[^a-z0-9]")


@dataclass(frozen=True)
class OutletCount:
    """An outlet (its domain) and how many indexed articles it has."""

    source: str
    articles: int


def outlet_of(url: str | None) -> str | None:
    """The outlet of an article's URL: its host, lower case, without "www."; None without a host."""
    if not url:
        return None
    url = url.strip()
    try:
        host = urlsplit(url if "://" in url else "//" + url).hostname
    except ValueError:  # an unreadable URL (a bad port, a stray bracket) names no outlet
        return None
    if not host or "." not in host:
        return None
    return host.removeprefix("www.")


def matches(source: str, outlet: str) -> bool:
    """Whether a filter's source (a domain or an outlet's name) names this outlet."""
    wanted = source.strip().lower()
    if "://" in wanted or ("." in wanted and " " not in wanted):  # a domain, or a URL pasted whole
        domain = outlet_of(wanted)
        return domain is not None and (outlet == domain or outlet.endswith("." + domain))
    name = _NOT_ALNUM.sub("", wanted)
    labels = outlet.split(".")
    return bool(name) and (name in labels or "the" + name in labels)


DELETED = -2  # an article's outlet number when it was deleted from its segment


class ArticleFacts:
    """Each passage's article day and outlet, as arrays one filter is checked against at once.

    Built on the first filtered search (or outlet count) of a generation (unfiltered searches
    never pay for it) and shared by every search of that generation.
    """

    def __init__(self, generation: Generation, published: dict[str, date]):
        self.generation = generation
        self.published = published

    @functools.cached_property
    def _arrays(self) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
        """(day of each article, outlet number of each article, the outlets, article of each passage)."""
        # Numbered as the passages' articles are, deleted ones too (their rows are never searched).
        passages, articles = self.generation.passages, self.generation.articles
        outlets: dict[str, int] = {}
        days = np.full(len(passages.article_ids), -1, dtype=np.int64)  # -1: no readable date
        outlet_numbers = np.full(len(passages.article_ids), -1, dtype=np.int64)  # -1: no outlet
        for n, article_id in enumerate(passages.article_ids):
            if article_id not in articles:
                outlet_numbers[n] = DELETED
                continue
            day = self.published.get(article_id)
            if day is not None:
                days[n] = day.toordinal()
            outlet = outlet_of(articles.card(article_id).url)
            if outlet is not None:
                outlet_numbers[n] = outlets.setdefault(outlet, len(outlets))
        of_passage = passages.article_numbers
        return days, outlet_numbers, list(outlets), of_passage

    @functools.cached_property
    def outlet_counts(self) -> tuple[list[OutletCount], int]:
        """The outlets with their article counts, most articles first, and how many articles have
        no outlet (no URL): counted once per generation from the outlet of each article."""
        _, outlet_numbers, outlets, _ = self._arrays
        counts = np.bincount(outlet_numbers[outlet_numbers >= 0], minlength=len(outlets))
        ranked = sorted(zip(outlets, counts.tolist()), key=lambda item: (-item[1], item[0]))
        return [OutletCount(source, articles) for source, articles in ranked], int((outlet_numbers == -1).sum())

    def outlet(self, article_id: str) -> str | None:
        articles = self.generation.articles
        return outlet_of(articles.card(article_id).url) if article_id in articles else None

    def allowed(self, filters: Filters) -> np.ndarray | None:
        """One bool per passage: whether its article passes the filters; None when none are set."""
        if not filters.active:
            return None
        days, outlet_numbers, outlets, of_passage = self._arrays
        keep = np.ones(len(days), dtype=bool)
        if filters.published_after is not None:
            keep &= days >= filters.published_after.toordinal()
        if filters.published_before is not None:
            keep &= (days >= 0) & (days <= filters.published_before.toordinal())
        if filters.sources:
            named = [n for n, outlet in enumerate(outlets)
                     if any(matches(source, outlet) for source in filters.sources)]
            keep &= np.isin(outlet_numbers, np.asarray(named, dtype=np.int64))
        return keep[of_passage]
