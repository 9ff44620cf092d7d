"""Recency: the prior that favours recent articles, and the time words of a question.

News questions are about "now" unless they say otherwise. With an `as_of` date (the reader's
today in the web chat), an article's fused score is scaled by a prior that falls smoothly with
its age; a question that names a time ("yesterday", "last week", "in March 2023", "in 2016")
adds a window whose articles keep their full weight too. The window only ever raises a weight:
"founded in 2003" inside a question about this week's news must not bury this week's articles.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Window:
    """The days a question's time words name, both ends included."""

    start: date
    end: date
    words: str  # the words that named it, for explanations and tests

    def distance(self, day: date) -> int:
        """Days from the window to day; 0 inside it."""
        if day < self.start:
            return (self.start - day).days
        return max(0, (day - self.end).days)


@dataclass(frozen=True)
class RecencyPrior:
    """How much an article's score is kept, by its age in days on the question's date.

    An article published up to as_of keeps its whole score for full_days ("this week"), then
    floor + (1 - floor) · 2^(-(age - full_days) / half_life): a smooth fall to the floor, the shape
    of Elasticsearch's exp decay with an offset. (The step it replaces kept 1 for 7 days, then
    0.5 at once, and lost articles published 8-14 days before the question.) An article
    published after as_of could not have been read that day: later_weight. Fitted with
    cross-validation on RealTimeQA dev (benchmarks/fit_recency.py; docs/evaluation.md).
    """

    full_days: float = 5.0
    half_life_days: float = 30.0
    floor: float = 0.5
    later_weight: float = 0.3

    def weight(self, published: date | None, as_of: date | None, window: Window | None = None) -> float:
        if published is None or (as_of is None and window is None):
            return 1.0
        weights = []
        if as_of is not None:
            age = (as_of - published).days
            weights.append(self.later_weight if age < 0 else self._decay(age))
        if window is not None:
            weights.append(self._decay(window.distance(published)))
        return max(weights)

    def _decay(self, days: int) -> float:
        late = max(0.0, days - self.full_days)
        return self.floor + (1 - self.floor) * 2 ** (-late / self.half_life_days)


# ---------------------------------------------------------------- time words in a question

_MONTHS = {name.lower(): n for n, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): n for n, name in enumerate(calendar.month_abbr) if name})
_MONTHS.pop("may", None)  # "may" is a verb far more often than a month; "in May 2023" still reads
_MONTH_NAMES = "|".join(sorted((*_MONTHS, "may"), key=len, reverse=True))
_WEEKDAYS = {name.lower(): n for n, name in enumerate(calendar.day_name)}

_RELATIVE = re.compile(r"\b(yesterday|today|tonight|this morning|last night|"
                       r"(?:this|last|past) (?:week|month|year|weekend))\b", re.IGNORECASE)
_ON_WEEKDAY = re.compile(r"\b(?:on|last) (" + "|".join(_WEEKDAYS) + r")\b", re.IGNORECASE)
_MONTH_YEAR = re.compile(r"\b(?:in|during|since|of) (" + _MONTH_NAMES + r")\.? (\d{4})\b", re.IGNORECASE)
_DAY_MONTH_YEAR = re.compile(r"\b(?:on )?(\d{1,2}) (" + _MONTH_NAMES + r")\.? (\d{4})\b"
                             r"|\b(?:on )?(" + _MONTH_NAMES + r")\.? (\d{1,2}),? (\d{4})\b", re.IGNORECASE)
_YEAR = re.compile(r"\b(?:in|during|of) ((?:19|20)\d{2})\b(?![-/]\d)", re.IGNORECASE)


def time_window(question: str, as_of: date | None) -> Window | None:
    """The days the question's time words name, relative to as_of where they need a 'now'."""
    found = _absolute(question)
    if found is not None or as_of is None:
        return found
    match = _RELATIVE.search(question)
    if match:
        return _relative(match.group(1).lower(), as_of, match.group(0))
    match = _ON_WEEKDAY.search(question)
    if match:
        back = (as_of.weekday() - _WEEKDAYS[match.group(1).lower()]) % 7 or 7
        day = as_of - timedelta(days=back)
        return Window(day, day + timedelta(days=1), match.group(0))  # the day, and its reports
    return None


def _absolute(question: str) -> Window | None:
    match = _DAY_MONTH_YEAR.search(question)
    if match:
        day, month, year = ((match.group(1), match.group(2), match.group(3)) if match.group(1)
                            else (match.group(5), match.group(4), match.group(6)))
        try:
            start = date(int(year), _month(month), int(day))
        except ValueError:
            return None
        return Window(start, start + timedelta(days=1), match.group(0).strip())
    match = _MONTH_YEAR.search(question)
    if match:
        year, month = int(match.group(2)), _month(match.group(1))
        last = calendar.monthrange(year, month)[1]
        return Window(date(year, month, 1), date(year, month, last), match.group(0))
    match = _YEAR.search(question)
    if match:
        year = int(match.group(1))
        return Window(date(year, 1, 1), date(year, 12, 31), match.group(0))
    return None


def _month(name: str) -> int:
    return _MONTHS.get(name.lower().rstrip("."), 5)  # the only name left out above is "may"


def _relative(words: str, as_of: date, said: str) -> Window:
    if words in ("today", "tonight", "this morning"):
        return Window(as_of, as_of, said)
    if words in ("yesterday", "last night"):
        return Window(as_of - timedelta(days=1), as_of, said)  # yesterday's news, reported today
    which, unit = words.split()
    if unit in ("week", "weekend"):
        return Window(as_of - timedelta(days=14 if which == "last" else 7), as_of, said)
    if unit == "month":
        if which == "last":
            end = as_of.replace(day=1) - timedelta(days=1)
            return Window(end.replace(day=1), end, said)
        return Window(as_of - timedelta(days=31), as_of, said)
    if which == "last":  # last year: the calendar year before as_of's
        return Window(date(as_of.year - 1, 1, 1), date(as_of.year - 1, 12, 31), said)
    if which == "this":
        return Window(date(as_of.year, 1, 1), as_of, said)
    return Window(as_of - timedelta(days=365), as_of, said)  # the past year
