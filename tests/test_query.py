"""The query record: each rule on a question defined once and held by the library itself."""

from __future__ import annotations

from datetime import date

import pytest
from conftest import TREATY_QUESTION
from pydantic import ValidationError

from newsdesk.index.build import build_index
from newsdesk.query import (
    DEFAULT_K,
    MAX_HISTORY_TURNS,
    MAX_K,
    MAX_QUESTION_CHARS,
    MAX_SOURCE_CHARS,
    MAX_SOURCES,
    MAX_TURN_CHARS,
    Filters,
    Query,
    Turn,
    first_problem,
)
from newsdesk.service import Newsdesk


def test_a_question_is_stripped_and_the_rest_defaults():
    query = Query(question="  What happened in Calais?\n")
    assert query == Query(question="What happened in Calais?", k=DEFAULT_K, as_of=None, history=[])


@pytest.mark.parametrize("fields, problem", [
    ({"question": ""}, ("question", "string should have at least 1 character")),
    ({"question": " \n\t"}, ("question", "must not be blank")),
    ({"question": "x" * (MAX_QUESTION_CHARS + 1)}, ("question", "string should have at most 2000 characters")),
    ({"question": "ok", "k": 0}, ("k", "input should be greater than or equal to 1")),
    ({"question": "ok", "k": MAX_K + 1}, ("k", "input should be less than or equal to 50")),
    ({"question": "ok", "as_of": "2024-02-30"}, ("as_of", "input should be a valid date or datetime, day value "
                                                  "is outside expected range")),
    ({"question": "ok", "history": [{"role": "user", "content": "q"}] * (MAX_HISTORY_TURNS + 1)},
     ("history", "list should have at most 20 items after validation, not 21")),
    ({"question": "ok", "history": [{"role": "user", "content": "x" * (MAX_TURN_CHARS + 1)}]},
     ("history", "string should have at most 2000 characters")),
    ({"question": "ok", "filters": {"source": "bbc"}}, ("filters", "extra inputs are not permitted")),
    ({"question": "ok", "published_after": "2024-03-02", "published_before": "2024-03-01"},
     ("published_before", "must not be earlier than published_after (2024-03-02)")),
    ({"question": "ok", "published_after": "last week"}, ("published_after", "input should be a valid date "
                                                          "or datetime, input is too short")),
    ({"question": "ok", "sources": ["cnn.com", "  "]}, ("sources", "a source must not be blank")),
    ({"question": "ok", "sources": [f"s{n}.com" for n in range(MAX_SOURCES + 1)]},
     ("sources", "list should have at most 20 items after validation, not 21")),
    ({"question": "ok", "sources": ["x" * (MAX_SOURCE_CHARS + 1)]},
     ("sources", "string should have at most 100 characters")),
])
def test_a_bad_query_is_refused_with_the_field_and_the_rule(fields, problem):
    with pytest.raises(ValidationError) as refused:
        Query(**fields)
    assert first_problem(refused.value) == problem


def test_the_limits_are_inclusive():
    query = Query(question="x" * MAX_QUESTION_CHARS, k=MAX_K, as_of=date(2024, 2, 29),
                  history=[Turn(role="user", content="y" * MAX_TURN_CHARS)] * MAX_HISTORY_TURNS)
    assert len(query.question) == MAX_QUESTION_CHARS and len(query.history) == MAX_HISTORY_TURNS


def test_a_query_is_frozen():
    with pytest.raises(ValidationError):
        Query(question="ok").k = 3


def test_of_takes_a_query_whole_or_builds_one():
    query = Query(question="ok", k=3)
    assert Query.of(query) is query
    assert Query.of("ok", 3) == query and Query.of("ok").k == DEFAULT_K
    with pytest.raises(TypeError):
        Query.of(query, k=4)  # which k? the caller must say it once


def test_the_library_holds_plain_questions_to_the_same_rules(settings, fake_embedder):
    build_index(settings, fake_embedder)
    desk = Newsdesk(settings.with_(abstain_below=0.0), embedder=fake_embedder)
    for bad in (dict(query="x" * (MAX_QUESTION_CHARS + 1)), dict(query="ok", k=0), dict(query="   ")):
        with pytest.raises(ValidationError):
            desk.ask(**bad)
        with pytest.raises(ValidationError):
            desk.ask_stream(**bad)
    plain = desk.ask(f"  {TREATY_QUESTION} ", 2, as_of=date(2016, 2, 7))
    typed = desk.ask(Query(question=TREATY_QUESTION, k=2, as_of=date(2016, 2, 7)))
    assert len(typed.citations) == 2 and typed.answer == plain.answer
    assert [c.passage_id for c in typed.citations] == [c.passage_id for c in plain.citations]


def test_filters_are_stripped_deduplicated_and_said_in_words():
    query = Query(question="ok", sources=[" cnn.com", "cnn.com ", "USA Today"],
                  published_after=date(2024, 3, 1), published_before=date(2024, 3, 1))
    assert query.sources == ["cnn.com", "USA Today"]
    assert query.filters == Filters(published_after=date(2024, 3, 1), published_before=date(2024, 3, 1),
                                    sources=("cnn.com", "USA Today"))
    assert query.filters.describe() == "published from 2024-03-01 to 2024-03-01, from cnn.com or USA Today"
    assert Query(question="ok", published_before=date(2024, 1, 2)).filters.describe() == (
        "published on or before 2024-01-02")
    assert Query(question="ok", sources="bbc.co.uk").sources == ["bbc.co.uk"]  # one is a list of one
    assert not Query(question="ok").filters.active


def test_sources_that_are_not_names_are_refused_not_a_crash():
    # Found by schemathesis: a list inside `sources` was hashed to drop repeats (a 500).
    with pytest.raises(ValidationError, match="sources"):
        Query(question="What happened?", sources=[["cnn.com"], {"x": 1}])
    assert Query(question="What happened?", sources=[" cnn.com", "cnn.com "]).sources == ["cnn.com"]
