"""Answer types: what kind of thing a question asks for, and whether a sentence holds one.

"How many ...?" wants a number, "When ...?" a date, "Where ...?" a place, "Who ...?" a name.
A sentence that holds the kind asked for, beyond the question's own words, can answer; one
that only repeats the question's words cannot. Patterns, not a model: no NER model can be
downloaded here, and these cues cost microseconds per sentence (/ask must stay within 2× the
question's embedding time).
"""

from __future__ import annotations

import re
from typing import Literal

Kind = Literal["number", "date", "place", "name"]

_NUMBER_QUESTION = re.compile(
    r"\b(how (many|much|long|far|old|big|high|tall|large|fast|often|deep)|what (percentage|percent|"
    r"share|proportion|number|amount|price|age|fraction)|how many)\b", re.IGNORECASE)
_DATE_QUESTION = re.compile(r"^\W*when\b|\b(what|which) (year|date|day|month|time)\b|\bsince when\b",
                            re.IGNORECASE)
_PLACE_QUESTION = re.compile(r"^\W*where\b|\b(what|which|in which|in what) (country|city|state|town|"
                             r"region|county|province|nation|continent|island|place|location)\b",
                             re.IGNORECASE)
_NAME_QUESTION = re.compile(r"^\W*(who|whom|whose)\b|\b(which|what) (company|team|person|president|"
                            r"leader|player|star|singer|actor|actress|firm|airline|brand|group|"
                            r"organi[sz]ation|official|minister|show|film|movie|book|band|artist|"
                            r"agency|party|network|retailer|chain|candidate|senator|governor)\b",
                            re.IGNORECASE)

_NUMBER_WORDS = ("one two three four five six seven eight nine ten eleven twelve dozen dozens "
                 "hundred hundreds thousand thousands million millions billion billions trillion "
                 "half third quarter percent").split()
_NUMBER = re.compile(r"\d|\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)
_DATE = re.compile(r"\b(1[89]\d\d|20\d\d|january|february|march|april|may|june|july|august|september|"
                   r"october|november|december|monday|tuesday|wednesday|thursday|friday|saturday|"
                   r"sunday|yesterday|today|tomorrow|last (week|month|year)|next (week|month|year)|"
                   r"spring|summer|autumn|fall|winter)\b", re.IGNORECASE)
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'’&.-]*[a-zA-Z]")


def asked_kind(question: str) -> Kind | None:
    """The kind of answer the question asks for, or None (what/why/how questions)."""
    if _NUMBER_QUESTION.search(question):
        return "number"
    if _DATE_QUESTION.search(question):
        return "date"
    if _PLACE_QUESTION.search(question):
        return "place"
    if _NAME_QUESTION.search(question):
        return "name"
    return None


def holds_kind(sentence: str, kind: Kind | None, question: str) -> bool:
    """True when the sentence holds something of the kind asked that the question doesn't say."""
    if kind is None:
        return False
    asked = question.casefold()
    if kind == "number":
        return any(m.group(0).casefold() not in asked for m in _NUMBER.finditer(sentence))
    if kind == "date":
        return any(m.group(0).casefold() not in asked for m in _DATE.finditer(sentence))
    # Places and names: a capitalised word inside the sentence that the question doesn't use.
    return any(m.group(0).casefold() not in asked for m in _CAPITALISED.finditer(sentence))
