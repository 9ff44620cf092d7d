"""Publication dates: the one reading of a date that articles, pages and retrieval share."""

from __future__ import annotations

import re
from datetime import date

_DATE = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})")


def parse_date(value: str | None) -> date | None:
    """The date at the start of '2022/01/07', '2022-01-07T10:00:00Z' and the like; else None."""
    match = _DATE.match(value.strip()) if value else None
    if not match:
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None
