"""Timelines: which questions ask for one, and the answer over a corpus with a dated story — one
dated sentence per article, in date order, cited with exact offsets; through the library, /ask,
/ask/stream and `newsdesk ask --timeline`. Questions that ask no timeline keep the answer path."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from newsdesk import service
from newsdesk.answers.extractive import NOT_COVERED
from newsdesk.answers.timeline import asks_for_timeline, order_asked, story_of
from newsdesk.index.build import build_index
from newsdesk.query import Query
from newsdesk.server.app import create_app
from newsdesk.service import Newsdesk
from newsdesk.settings import Settings

FAKE_CLI = str(Path(__file__).resolve().parent / "fake_cli.py")
ASKED = "What has happened with the Calais camp?"

# (id, published, text): the Calais camp story over two years, an undated piece on it, a second
# outlet's copy of a report, and other news.
ARTICLES = [
    ("c1", "2015-07-29", "Hundreds of migrants tried to reach the Channel Tunnel from the Calais camp "
                         "overnight, police said. Freight trains were held for hours."),
    ("c2", "2016-02-29", "French authorities began clearing the southern half of the Calais camp on "
                         "Monday, as bulldozers moved in. Aid groups asked for more time."),
    ("c3", "2016-10-25", "The demolition of the Calais camp began on 24 October 2016, with thousands "
                         "moved to reception centres. Buses left from the gates all morning."),
    ("c4", "2016-10-27", "Officials declared the Calais camp empty yesterday after three days of "
                         "evacuations. Some families stayed in tents by the port."),
    ("c5", "2017-07-31", "A court ordered the state to provide water and showers to migrants near the "
                         "former Calais camp site. The mayor said she would appeal the ruling."),
    ("c6", "2017-08-01", "A court ordered the state to provide water and showers to migrants near the "
                         "former Calais camp site. The ruling was welcomed by charities."),
    ("u1", None, "Volunteers remember the Calais camp in a new exhibition about life in the camp "
                 "and the people who lived there."),
    ("w1", "2016-10-26", "Heavy rain is expected across the north of France this weekend, forecasters "
                         "said. Rivers may flood."),
    ("w2", "2016-06-12", "The football team won its opening match of the tournament in front of a full "
                         "stadium. Fans sang late into the night."),
    ("w3", "2017-01-05", "Stock markets rose at the start of the year as oil prices climbed and "
                         "investors bought shares in banks."),
]
STORY = {"c1", "c2", "c3", "c4", "c5", "c6"}


@pytest.fixture
def desk(tmp_path, fake_embedder) -> Newsdesk:
    corpus = tmp_path / "seeds" / "calais.jsonl"
    corpus.parent.mkdir()
    records = [{"doc_id": id_, "title": f"Report {id_}", "text": text,
                "url": f"https://news.example.com/{id_}", **({"publish_date": day} if day else {})}
               for id_, day, text in ARTICLES]
    corpus.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    settings = Settings(seeds=(corpus.parent,), embeddings=tmp_path / "embeddings", abstain_below=0.0)
    build_index(settings, fake_embedder)
    return Newsdesk(settings, embedder=fake_embedder)


# ---------------------------------------------------------------- which questions ask for one


@pytest.mark.parametrize("question", [
    ASKED, "Timeline of the Brittney Griner case", "Give me a timeline for Hurricane Ian",
    "How has the baby formula shortage developed?", "How did the Twitter deal unfold?",
    "What are the latest developments in the Uvalde inquiry?", "History of the Artemis programme",
    "What happened to the Powerball jackpot so far?",
])
def test_questions_about_how_a_story_developed_ask_for_a_timeline(question):
    assert asks_for_timeline(question)


@pytest.mark.parametrize("question", [
    "How many people have died so far?", "What does the Treaty of Le Touquet do?",
    "When did the camp close?", "Who won the history prize?", "What happened in Calais?",
])
def test_other_questions_do_not(question):
    assert not asks_for_timeline(question)


def test_the_latest_first_only_when_asked():
    assert order_asked("What are the latest developments in the Calais camp?") == "newest"
    assert order_asked("Timeline of the Calais camp, most recent first") == "newest"
    assert order_asked(ASKED) == "oldest"


def test_the_story_searched_is_the_question_without_its_timeline_words():
    assert story_of("Timeline of the Calais camp, newest first") == "of the Calais camp"
    assert story_of("Timeline") == "Timeline"  # nothing else to search for: the question itself


# ---------------------------------------------------------------- the timeline


def test_a_timeline_is_one_dated_sentence_from_each_article_in_date_order(desk):
    answer = desk.ask(Query(question=ASKED, k=10))
    assert not answer.abstained
    days = [entry.date for entry in answer.timeline]
    assert days == sorted(days) and len(days) >= 4
    cited = [c.article_id for c in answer.citations]
    assert len(cited) == len(set(cited)) == len(answer.timeline)
    assert set(cited) <= STORY  # not the undated piece, nor the rain the same week
    assert len({"c5", "c6"} & set(cited)) == 1  # the same report from two outlets: once
    for entry, citation in zip(answer.timeline, answer.citations):
        article = desk.article(citation.article_id)
        assert entry.citation == citation.n
        assert article.text[entry.char_start:entry.char_end] == entry.text
        assert citation.char_start <= entry.char_start < entry.char_end <= citation.char_end
        assert "Calais camp" in entry.text
    assert answer.answer.splitlines()[0] == f"29 Jul 2015: {answer.timeline[0].text} [1]"


def test_an_entry_is_dated_by_the_day_its_sentence_names(desk):
    answer = desk.ask(Query(question=ASKED, k=10))
    by_article = {c.article_id: e for c, e in zip(answer.citations, answer.timeline)}
    assert (by_article["c2"].date, by_article["c2"].dated_by) == ("2016-02-29", "sentence")  # "on Monday"
    assert (by_article["c3"].date, by_article["c3"].dated_by) == ("2016-10-24", "sentence")
    assert (by_article["c4"].date, by_article["c4"].dated_by) == ("2016-10-26", "sentence")  # "yesterday"
    assert by_article["c1"].dated_by == "published" and by_article["c1"].date == "2015-07-29"


def test_the_latest_first_when_asked(desk):
    answer = desk.ask(Query(question="What are the latest developments in the Calais camp?", k=10))
    days = [entry.date for entry in answer.timeline]
    assert days == sorted(days, reverse=True) and len(days) >= 4


def test_k_entries_at_most(desk):
    assert len(desk.ask(Query(question=ASKED, k=2)).timeline) == 2


def test_filters_and_as_of_bound_the_timeline(desk):
    autumn = desk.ask(Query(question=ASKED, published_after=date(2016, 10, 1),
                            published_before=date(2016, 12, 31)))
    assert {c.article_id for c in autumn.citations} == {"c3", "c4"}
    until_2016 = desk.ask(Query(question=ASKED, k=10, as_of=date(2016, 12, 31)))
    assert until_2016.timeline and max(e.date for e in until_2016.timeline) <= "2016-12-31"


def test_a_story_the_articles_do_not_tell_is_not_covered(desk):
    answer = desk.ask(Query(question="What has happened with the Antarctic ice shelf?"))
    assert answer.abstained and answer.answer == NOT_COVERED and answer.timeline == []


def test_the_mode_asks_for_a_timeline_or_an_answer_whatever_the_question_says(desk):
    assert desk.ask(Query(question="the Calais camp", mode="timeline", k=10)).timeline
    plain = desk.ask(Query(question=ASKED, mode="answer"))
    assert plain.timeline == [] and "\n" not in plain.answer
    with pytest.raises(ValidationError):
        Query(question=ASKED, mode="story")


def test_questions_that_ask_no_timeline_never_reach_its_code(desk, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a timeline was built for a plain question")
    monkeypatch.setattr(service, "timeline_answer", refuse)
    answer = desk.ask("Where did migrants try to reach the Channel Tunnel from?")
    assert not answer.abstained and answer.timeline == [] and "[1]" in answer.answer
    assert [e.name for e in desk.ask_stream("What did the court order the state to provide?")][-1] == "done"


def test_a_streamed_timeline_is_its_citations_the_text_and_done_with_the_entries(desk):
    events = list(desk.ask_stream(Query(question=ASKED, k=10)))
    assert [e.name for e in events] == ["citations", "answer", "done"]
    asked = desk.ask(Query(question=ASKED, k=10))
    assert events[-1].data.timeline == asked.timeline
    assert events[1].data.text == events[-1].data.answer == asked.answer


def test_ask_takes_the_mode_over_http(desk):
    with TestClient(create_app(desk.settings, desk, watch=False)) as client:
        reply = client.post("/ask", json={"question": "the Calais camp", "mode": "timeline", "k": 10})
        assert reply.status_code == 200
        assert [e["date"] for e in reply.json()["timeline"]] == sorted(e["date"] for e in reply.json()["timeline"])
        assert client.post("/ask", json={"question": ASKED, "mode": "story"}).status_code == 422
        assert "event: done" in client.post("/ask/stream", json={"question": ASKED}).text


def test_the_cli_prints_a_timeline_an_entry_a_line(desk):
    done = subprocess.run([sys.executable, FAKE_CLI, "ask", "the Calais camp", "--timeline", "-k", "3",
                           "--embeddings", str(desk.settings.embeddings)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # Each entry starts a line with its day (a long one wraps onto the next lines).
    days = [datetime.strptime(m.group(1), "%d %b %Y") for m in re.finditer(r"^(\d{1,2} \w{3} \d{4}): ",
                                                                          done.stdout, re.MULTILINE)]
    assert len(days) == 3 and days == sorted(days)
    assert "[3]\n\n[1] Report " in done.stdout  # the entries, a blank line, the sources
