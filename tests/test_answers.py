"""Answer text, answer types, time words, the recency prior and the coverage model: the pieces
that decide what an answer says, tested without the model."""

from datetime import date

import pytest

from newsdesk.answers.kinds import asked_kind, holds_kind
from newsdesk.answers.extractive import AnswerSentence, QuestionTerms, compose
from newsdesk.answers.conversation import Turn, follow_up_signal, small_talk, understand
from newsdesk.answers.coverage import Evidence, confidence_of
from newsdesk.retrieval.recency import RecencyPrior, Window, time_window

TREATY = "What does the Treaty of Le Touquet do?"


def sentence(n, text, article="a", words=(), kind=False, start=0):
    return AnswerSentence(n, text, 0.0, start, start + len(text), 0.0, article, frozenset(words), kind)


# -- composing: lead with the answer, add only what adds an answer from the same story

TERMS = QuestionTerms(own={"eiffel": 3.0, "tower": 2.0, "rust": 4.0}, context={}, kind=None)


def test_an_answer_is_one_sentence_when_nothing_else_adds_to_it():
    lead = sentence(1, "The Eiffel Tower is riddled with rust.", words={"eiffel", "tower", "rust"})
    same_words = sentence(1, "The Eiffel Tower needs paint.", words={"eiffel", "tower"}, start=50)
    assert compose([lead, same_words], TERMS) == "The Eiffel Tower is riddled with rust. [1]"


def test_a_sentence_from_another_story_never_pads_the_answer():
    lead = sentence(1, "The Eiffel Tower needs paint.", words={"eiffel", "tower"})
    raleigh = sentence(2, "Raleigh got hurricane money to fix rust.", article="b", words={"rust"})
    assert compose([lead, raleigh], TERMS) == "The Eiffel Tower needs paint. [1]"


def test_a_further_sentence_of_the_same_story_that_adds_a_rare_question_word_is_kept():
    lead = sentence(1, "The Eiffel Tower needs paint.", words={"eiffel", "tower"})
    more = sentence(1, "Its iron is riddled with rust.", words={"rust"}, start=40)
    assert compose([lead, more], TERMS).endswith("Its iron is riddled with rust. [1]")


def test_a_further_sentence_that_holds_the_kind_asked_for_is_kept_once():
    terms = QuestionTerms(own={"paint": 3.0}, context={}, kind="number")
    lead = sentence(1, "The tower is being painted.", words={"paint"})
    cost = sentence(1, "The job costs 60 million euros.", kind=True, start=40)
    again = sentence(1, "It took 7 years last time.", kind=True, start=80)
    answer = compose([lead, cost, again], terms)
    assert "60 million" in answer and "7 years" not in answer


# -- answer types

@pytest.mark.parametrize("question, kind", [
    ("How many people died?", "number"), ("How much is its paint job costing?", "number"),
    ("When does the change begin?", "date"), ("In which state is the plant located?", "place"),
    ("Where was it discovered?", "place"), ("Who wants to change it?", "name"),
    ("Which airline announced a deal to buy Spirit Airlines?", "name"), (TREATY, None),
])
def test_the_kind_of_answer_a_question_asks_for(question, kind):
    assert asked_kind(question) == kind


def test_a_sentence_holds_a_kind_only_beyond_the_question_s_own_words():
    assert holds_kind("The bridge cost 4 million pounds.", "number", "How much did it cost?")
    assert not holds_kind("The bridge was expensive.", "number", "How much did it cost?")
    assert holds_kind("It opened on Monday.", "date", "When did it open?")
    assert not holds_kind("In 2022 it opened.", "date", "When in 2022 did it open?")
    assert holds_kind("Talks were led by Xavier Bertrand.", "name", "Who wants to change it?")


# -- the conversation cannot drag an old topic in

HISTORY = [Turn(role="user", content=TREATY), Turn(role="assistant", content="Under the Treaty ... [1]")]


@pytest.mark.parametrize("question", [
    "Tell me a joke", "Hello!", "thanks", "Thank you so much!", "Write a poem about cats",
    "Could you write me a short story?", "How are you?", "Goodbye"])
def test_small_talk_gets_a_plain_reply_and_no_search(question):
    understood = understand(question, HISTORY, confidence=lambda query: 1.0)
    assert understood.is_small_talk and not understood.is_follow_up


@pytest.mark.parametrize("question", [
    "Tell me about the Calais crisis", "Can you summarise the treaty?", "Who wrote the report?",
    "Help me understand the Calais crisis", "What did the story say about Dover?"])
def test_questions_that_start_like_small_talk_are_still_questions(question):
    assert small_talk(question) is None


def test_a_short_question_that_names_its_own_subject_stands_alone():
    # The earlier turns would raise the best cosine (an uncovered question always gains), but
    # "Peru" names the subject: nothing is borrowed.
    understood = understand("What is the capital of Peru?", HISTORY, confidence=lambda q: len(q) / 100)
    assert not understood.is_follow_up
    assert follow_up_signal("Which team won the 2022 Stanley Cup?") is None


@pytest.mark.parametrize("question", ["And Corbyn?", "What about Dover?", "Who wants to change it?"])
def test_ellipsis_and_words_that_refer_back_borrow_the_topic(question):
    assert understand(question, HISTORY, confidence=lambda q: 0.0).is_follow_up


# -- time words and the recency prior

AS_OF = date(2022, 6, 15)  # a Wednesday


@pytest.mark.parametrize("question, start, end", [
    ("What happened yesterday?", date(2022, 6, 14), AS_OF),
    ("What did the court rule last week?", date(2022, 6, 1), AS_OF),
    ("Who resigned this week?", date(2022, 6, 8), AS_OF),
    ("What happened last month?", date(2022, 5, 1), date(2022, 5, 31)),
    ("What did Biden sign this year?", date(2022, 1, 1), AS_OF),
    ("What happened in March 2023?", date(2023, 3, 1), date(2023, 3, 31)),
    ("Who won the election in 2016?", date(2016, 1, 1), date(2016, 12, 31)),
    ("What did Apple release on Monday?", date(2022, 6, 13), date(2022, 6, 14)),
    ("What happened on 7 February 2016?", date(2016, 2, 7), date(2016, 2, 8)),
])
def test_time_words_name_a_window_relative_to_as_of(question, start, end):
    window = time_window(question, AS_OF)
    assert (window.start, window.end) == (start, end)


def test_no_time_words_no_window_and_may_is_a_verb():
    assert time_window("Which team won the Stanley Cup?", AS_OF) is None
    assert time_window("Who may win the vote?", AS_OF) is None
    assert time_window("What happened yesterday?", None) is None  # nothing to count from
    assert time_window("What happened in May 2021?", None).start == date(2021, 5, 1)


def test_the_recency_prior_falls_smoothly_with_age():
    prior = RecencyPrior(full_days=0, half_life_days=7, floor=0.5)
    weights = [prior.weight(AS_OF.replace(day=15 - age), AS_OF) for age in range(0, 14)]
    assert weights[0] == 1.0 and all(a > b for a, b in zip(weights, weights[1:]))
    assert weights[7] == pytest.approx(0.75)
    assert prior.weight(date(2020, 1, 1), AS_OF) == pytest.approx(0.5, abs=1e-3)
    assert prior.weight(date(2022, 6, 20), AS_OF) == prior.later_weight
    assert prior.weight(None, AS_OF) == 1.0 and prior.weight(AS_OF, None) == 1.0


def test_a_window_only_ever_raises_an_article_s_weight():
    prior = RecencyPrior()
    window = Window(date(2016, 1, 1), date(2016, 12, 31), "in 2016")
    assert prior.weight(date(2016, 5, 1), AS_OF, window) == 1.0
    assert prior.weight(AS_OF, AS_OF, window) == 1.0  # this week's news keeps its weight too


# -- the coverage model

def test_confidence_rises_with_each_signal_and_stays_in_0_1():
    evidence = Evidence(cosine=0.3, dense_margin=0.02, lexical_margin=0.05, own_words=1.0)
    values = [confidence_of(evidence)]
    for field, value in (("cosine", 0.7), ("dense_margin", 0.15), ("lexical_margin", 0.4)):
        evidence = Evidence(**{**evidence.__dict__, field: value})
        values.append(confidence_of(evidence))
    assert all(0.0 <= v <= 1.0 for v in values)
    assert values == sorted(values) and values[-1] > 0.5 > values[0]


def test_a_follow_up_is_covered_only_when_the_passages_hold_its_own_words():
    strong = Evidence(cosine=0.7, dense_margin=0.15, lexical_margin=0.4, own_words=1.0)
    assert confidence_of(strong, follow_up=True) == confidence_of(strong) > 0.5
    lacking = Evidence(**{**strong.__dict__, "own_words": 0.0})
    assert confidence_of(lacking, follow_up=True) == 0.0
    assert confidence_of(lacking) > 0.5  # a stand-alone question is judged by the model alone
