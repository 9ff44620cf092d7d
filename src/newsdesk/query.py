"""The question asked, as one typed record: its text, how many passages to cite, the day it is
asked about and the conversation before it. The library validates it (Newsdesk.ask builds one
from plain arguments), so the JSON API, the OpenAI routes, the chat form and the CLI share each
rule instead of keeping their own copies.

No `filters` field yet: nothing in the retriever can restrict a search (by source, by date
range), and a field that is accepted and then ignored would be a lie to the caller.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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
