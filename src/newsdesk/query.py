"""The question asked, as one typed record: its text, how many passages to cite, the day it is
asked about and the conversation before it. The library validates it (Newsdesk.ask builds one
from plain arguments), so the JSON API, the OpenAI routes, the chat form and the CLI share each
rule instead of keeping their own copies.

Filters (published_after, published_before, sources) restrict the search itself: the retriever
keeps only the articles they allow before it ranks and cuts the top k (retrieval/filters.py).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

# 2,000 characters is a long paragraph; questions and the turns before them are far shorter.
MAX_QUESTION_CHARS = 2000
MAX_TURN_CHARS = 2000
MAX_HISTORY_TURNS = 20
DEFAULT_K = 5
# The fusion ranks 100 candidates from each side (retrieval/hybrid.py), and 50 passages of up
# to 2,000 characters make a 100 KB reply already.
MAX_K = 50
# How many passages to cite: the rule for /ask's k and the CLI's -k (ask and eval) alike.
PassageCount = Annotated[int, Field(ge=1, le=MAX_K)]
# A reader picks a few outlets; a longer list is a mistake or an attempt to make every query slow.
MAX_SOURCES = 20
MAX_SOURCE_CHARS = 100  # a domain is at most 253 characters, but no outlet's is near 100
# A domain ("bbc.co.uk", any subdomain too) or an outlet's name ("USA Today"); retrieval/filters.py
# says how each is matched against an article's URL.
SourceName = Annotated[str, Field(min_length=1, max_length=MAX_SOURCE_CHARS)]


class Filters(BaseModel):
    """Which articles a search may use: published in a date range (inclusive) and from some outlets.

    An article without a readable date is outside any date range, and one without a URL is from no
    outlet: a filter can only keep what it can check.
    """

    model_config = ConfigDict(frozen=True)

    published_after: date | None = None
    published_before: date | None = None
    sources: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.published_after or self.published_before or self.sources)

    def describe(self) -> str:
        """The filters in words, for an answer that says what they left out: "published from
        2022-01-01 to 2022-03-31, from cnn.com or bbc.co.uk"."""
        after, before = self.published_after, self.published_before
        words = []
        if after and before:
            words.append(f"published from {after.isoformat()} to {before.isoformat()}")
        elif after:
            words.append(f"published on or after {after.isoformat()}")
        elif before:
            words.append(f"published on or before {before.isoformat()}")
        if self.sources:
            words.append("from " + " or ".join(self.sources))
        return ", ".join(words)


class Turn(BaseModel):
    """One earlier turn of the conversation."""

    role: Literal["user", "assistant"]
    content: str = Field(min_length=1, max_length=MAX_TURN_CHARS,
                         description=f"what was said, 1 to {MAX_TURN_CHARS:,} characters")


class Query(BaseModel):
    """A question for Newsdesk.ask and ask_stream, and the body of POST /ask."""

    # Unknown fields are refused: a misspelt "as_of" would otherwise be dropped without a word.
    model_config = ConfigDict(frozen=True, extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS,
                          description=f"The question, 1 to {MAX_QUESTION_CHARS:,} characters")
    k: PassageCount = Field(DEFAULT_K, description=f"How many passages to cite (1 to {MAX_K})")
    as_of: date | None = Field(None, description="Prefer articles published in the days up to this "
                               "date (YYYY-MM-DD), for questions about 'this week'")
    history: list[Turn] = Field(default_factory=list, max_length=MAX_HISTORY_TURNS,
                                description="The earlier turns, oldest first (at most "
                                f"{MAX_HISTORY_TURNS}), so a follow-up like 'Who wants to change it?' "
                                "is understood")
    published_after: date | None = Field(None, description="Only articles published on or after this "
                                         "date (YYYY-MM-DD); articles without a date are left out")
    published_before: date | None = Field(None, description="Only articles published on or before "
                                          "this date (YYYY-MM-DD); articles without a date are left out")
    sources: list[SourceName] = Field(default_factory=list, max_length=MAX_SOURCES,
                                      description="Only articles from these outlets: domains "
                                      "(\"bbc.co.uk\" takes its subdomains too) or names (\"USA Today\"); "
                                      f"at most {MAX_SOURCES} (GET /sources lists them)")
    mode: Literal["answer", "timeline"] | None = Field(
        None, description="\"timeline\": dated sentences from several articles in date order "
        "(docs/timelines.md); \"answer\": a plain answer; unset: a timeline when the question asks "
        "how something developed (\"What has happened with ...?\"), else an answer")

    @field_validator("sources", mode="before")
    @classmethod
    def _sources_without_surrounding_space(cls, value: Any) -> Any:
        """" bbc.co.uk " is bbc.co.uk; a blank name is a mistake, not a wildcard."""
        if isinstance(value, str):
            value = [value]  # ?sources=cnn.com and a CLI's single --source mean a list of one
        if isinstance(value, (list, tuple)):
            stripped = [item.strip() if isinstance(item, str) else item for item in value]
            if any(item == "" for item in stripped):
                raise ValueError("a source must not be blank")
            if all(isinstance(item, str) for item in stripped):
                return list(dict.fromkeys(stripped))  # the same outlet twice is once
            return stripped  # not names: the field's own type check refuses them (a 422)
        return value

    @field_validator("published_before")
    @classmethod
    def _not_before_published_after(cls, value: date | None, info: ValidationInfo) -> date | None:
        """The range is inclusive, so after == before is one day; after > before holds none."""
        after = info.data.get("published_after")
        if value is not None and after is not None and after > value:
            raise ValueError(f"must not be earlier than published_after ({after.isoformat()})")
        return value

    @property
    def filters(self) -> Filters:
        """The filters the search honours (Filters().active is False when none are given)."""
        return Filters(published_after=self.published_after, published_before=self.published_before,
                       sources=tuple(self.sources))

    @field_validator("question", mode="before")
    @classmethod
    def _without_surrounding_space(cls, value: Any) -> Any:
        """Lengths count the question itself; one of spaces only is blank, not short."""
        if isinstance(value, str):
            if value and not value.strip():
                raise ValueError("must not be blank")
            return value.strip()
        return value

    @classmethod
    def of(cls, question: "Query | str", k: int | None = None, as_of: date | None = None,
           history=None) -> "Query":
        """The query itself, or one made of a question and the arguments given (None: default)."""
        if isinstance(question, Query):
            if k is not None or as_of is not None or history is not None:
                raise TypeError("give k, as_of and history inside the Query")
            return question
        given = {"k": k, "as_of": as_of, "history": history}
        return cls(question=question, **{name: value for name, value in given.items() if value is not None})


def first_problem(error: ValidationError) -> tuple[str, str]:
    """(the field, what is wrong with it) of a refused query, for a one-line message:
    ("k", "input should be less than or equal to 50")."""
    problem = error.errors()[0]
    message = problem["msg"].removeprefix("Value error, ")
    return (str(problem["loc"][0]) if problem["loc"] else "", message[:1].lower() + message[1:])
