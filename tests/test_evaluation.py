"""The evaluation harness: metric code on hand-made cases, question formats, a tiny end-to-end run."""

import json

import pytest
from conftest import run_cli

from newsdesk.evaluation.baselines import ChunkIndex, fixed_chunks, reciprocal_rank_fusion
from newsdesk.articles import Article
from newsdesk.evaluation.metrics import (
    Cited,
    EvalQuestion,
    GoldSpan,
    Outcome,
    Prediction,
    contains_answer,
    first_doc_rank,
    first_passage_rank,
    mrr_at,
    percentile,
    recall_at,
    score,
)
from newsdesk.evaluation.run import (
    evaluate,
    format_table,
    newsdesk_asker,
    read_questions,
    summarise,
)


def cited(*article_ids: str) -> tuple[Cited, ...]:
    return tuple(Cited(a, 0, 10) for a in article_ids)


# ---------------------------------------------------------------- ranks and aggregates


def test_first_doc_rank_is_the_rank_of_the_first_citation_from_any_gold_article():
    assert first_doc_rank(cited("x", "y", "gold", "gold2"), ["gold2", "gold"]) == 3
    assert first_doc_rank(cited("gold"), ["gold"]) == 1
    assert first_doc_rank(cited("x", "y"), ["gold"]) is None
    assert first_doc_rank((), ["gold"]) is None


def test_passage_rank_needs_the_gold_article_and_an_overlapping_span():
    spans = [GoldSpan("a", 100, 200)]
    ranking = (Cited("a", 0, 100),      # touches the gold span's start but does not overlap
               Cited("b", 120, 180),    # the right offsets in the wrong article
               Cited("a", 199, 300))    # overlaps by one character
    assert first_passage_rank(ranking, spans) == 3
    assert first_passage_rank(ranking[:2], spans) is None
    assert first_passage_rank((Cited("a", 150, 160),), spans) == 1  # inside the span


def test_known_ranks_give_known_recall_and_mrr():
    ranks = [1, 2, None, 5, 11]
    assert recall_at(ranks, 1) == pytest.approx(1 / 5)
    assert recall_at(ranks, 5) == pytest.approx(3 / 5)
    assert recall_at(ranks, 10) == pytest.approx(3 / 5)
    # MRR@10: 1 + 1/2 + 0 + 1/5 + 0 (rank 11 is past the cutoff), over 5 questions
    assert mrr_at(ranks, 10) == pytest.approx((1 + 0.5 + 0.2) / 5)
    assert recall_at([], 5) is None and mrr_at([]) is None


def test_percentile_interpolates_like_numpy():
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 50) == pytest.approx(25.0)
    assert percentile(values, 95) == pytest.approx(38.5)
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) == 0.0


def test_percentile_is_numpys_on_any_sample_so_every_published_pnn_means_one_thing():
    import numpy as np

    generator = np.random.default_rng(3)
    for size in (2, 7, 20, 101):
        values = list(generator.exponential(20.0, size))
        for p in (50, 95, 99):
            assert percentile(values, p) == pytest.approx(float(np.percentile(values, p)))


def test_answer_containment_ignores_case_and_spacing_but_not_words():
    assert contains_answer("It was Texas Lt. Gov.  Dan Patrick who said so. [1]", ["texas lt. gov. dan patrick"])
    assert contains_answer("The pause lasted 11 days. [2]", ["eleven", "11"])
    assert not contains_answer("The pause lasted 12 days.", ["11"])
    assert not contains_answer("anything", [""])


def test_summary_counts_squad_abstention_and_only_answerable_questions_for_recall():
    outcomes = [
        Outcome("a1", True, 1, None, True, False, True, False, 0.010),
        Outcome("a2", True, 3, None, True, False, False, False, 0.020),
        Outcome("a3", True, None, None, True, False, False, True, 0.030),
        Outcome("u1", False, 1, None, True, False, False, True, 0.040),
        Outcome("u2", False, None, None, True, False, False, False, 0.050),
    ]
    report = summarise("x", outcomes, wall_seconds=0.5)
    assert report.answerable == 3 and report.unanswerable == 2
    assert report.doc_recall[1] == pytest.approx(1 / 3)
    assert report.doc_recall[5] == pytest.approx(2 / 3)
    assert report.doc_mrr10 == pytest.approx((1 + 1 / 3) / 3)
    assert report.passage_hit[5] is None  # no gold spans anywhere
    assert report.answer_contains_gold == pytest.approx(1 / 3)
    assert report.answered_when_answerable == pytest.approx(2 / 3)
    assert report.abstained_when_unanswerable == pytest.approx(1 / 2)
    assert report.questions_per_second == pytest.approx(10.0)
    assert report.p50_ms == pytest.approx(30.0)
    table = format_table([report])
    assert "| doc MRR@10 | 0.444 |" in table
    assert "passage hit" not in table  # rows with no value are left out


def test_an_abstained_answer_never_counts_as_containing_the_gold_answer():
    question = EvalQuestion("q", "Who?", ("Dan Patrick",), ("a",))
    outcome = score(question, Prediction(cited("a"), "Dan Patrick", abstained=True), 0.0)
    assert outcome.doc_rank == 1 and not outcome.answer_contains_gold


# ---------------------------------------------------------------- question formats


def test_both_question_formats_are_read(tmp_path):
    realtime = tmp_path / "rt.jsonl"
    realtime.write_text(json.dumps({
        "question_id": "20220107_13", "question_date": "2022/01/07", "question": " Who? ",
        "answer_text": ["Theranos"], "gold_doc_ids": ["d1"],
        "gold_passages": [{"doc_id": "d1", "char_start": 5, "char_end": 50}]}) + "\n")
    squad = tmp_path / "squad.jsonl"
    squad.write_text(json.dumps({"id": "s1", "question": "What?", "answers": [], "is_impossible": True,
                                 "gold_doc_id": "sq-1"}) + "\n\n")
    [rt] = read_questions(realtime)
    assert rt == EvalQuestion("20220107_13", "Who?", ("Theranos",), ("d1",), (GoldSpan("d1", 5, 50),),
                              True, "2022-01-07")
    [sq] = read_questions(squad)
    assert sq.answerable is False and sq.gold_doc_ids == ("sq-1",) and sq.date is None


def test_a_broken_question_file_is_reported_by_line(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"question_id": "1", "question": "ok"}\n{"nothing": 1}\n')
    with pytest.raises(ValueError, match="q.jsonl:2"):
        read_questions(path)


# ---------------------------------------------------------------- baselines


def test_fixed_chunks_cover_the_text_exactly():
    article = Article(id="a", title="T", text="x" * 2500)
    chunks = fixed_chunks([article], size=1000)
    assert [(c.start, c.end) for c in chunks] == [(0, 1000), (1000, 2000), (2000, 2500)]
    assert all(article.text[c.start:c.end] == c.text for c in chunks)


def test_reciprocal_rank_fusion_rewards_agreement():
    # 2 is second in both lists, 1 and 3 top one list each and miss the other
    assert reciprocal_rank_fusion([[1, 2], [3, 2]], k=60)[0] == 2
    assert reciprocal_rank_fusion([[1], [1]]) == [1]


# ---------------------------------------------------------------- end to end with the fake embedder

ARTICLES = [
    ("volcano", "Tonga volcano erupts", "2022-01-15",
     "A huge underwater volcano erupted near Tonga on Saturday. The blast sent tsunami waves across "
     "the Pacific. Ash covered the capital Nuku'alofa."),
    ("theranos", "Elizabeth Holmes found guilty", "2022-01-04",
     "A jury found Theranos founder Elizabeth Holmes guilty of fraud. Her blood testing company "
     "collapsed in 2018. She faces years in prison."),
    ("snow", "Heavy snowfall strands drivers", "2022-01-04",
     "Heavy snowfall stranded hundreds of drivers on Interstate 95 in Virginia. Some waited "
     "overnight in freezing cars."),
]
QUESTIONS = [
    {"question_id": "q1", "question_date": "2022/01/20", "question": "Near which country did a huge underwater volcano erupt?",
     "answer_text": ["Tonga"], "gold_doc_ids": ["volcano"],
     "gold_passages": [{"doc_id": "volcano", "char_start": 0, "char_end": 60}]},
    {"question_id": "q2", "question_date": "2022/01/07",
     "question": "Elizabeth Holmes was found guilty of fraud at which company?",
     "answer_text": ["Theranos"], "gold_doc_ids": ["theranos"],
     "gold_passages": [{"doc_id": "theranos", "char_start": 0, "char_end": 70}]},
    {"question_id": "q3", "question_date": "2022/01/07",
     "question": "What stranded drivers on Interstate 95?", "answer_text": ["heavy snowfall"],
     "gold_doc_ids": ["snow"], "gold_passages": [{"doc_id": "snow", "char_start": 0, "char_end": 40}]},
]


@pytest.fixture
def tiny_eval(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"doc_id": i, "title": t, "publish_date": d, "text": x}) + "\n"
                              for i, t, d, x in ARTICLES))
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    return corpus, questions


def test_end_to_end_through_the_ask_code_path_with_the_fake_embedder(tiny_eval, tmp_path, fake_embedder):
    from newsdesk.evaluation.run import index_corpus
    from newsdesk.service import Newsdesk

    corpus, questions_path = tiny_eval
    questions = read_questions(questions_path)
    settings, embedder, built = index_corpus(corpus, tmp_path / "index", fake_embedder)
    assert built.new == 3
    desk = Newsdesk(settings.with_(abstain_below=0.0), embedder)  # the fake's cosines run low
    first = evaluate("newsdesk", questions, newsdesk_asker(desk, k=3))
    assert first.doc_recall[1] == 1.0 and first.doc_mrr10 == 1.0
    assert first.passage_hit[1] == 1.0
    assert first.answer_contains_gold == 1.0
    assert [o.question_id for o in first.outcomes] == ["q1", "q2", "q3"]
    # Same questions, same corpus, same numbers: everything but the timings repeats exactly.
    again = evaluate("newsdesk", questions, newsdesk_asker(desk, k=3))
    assert [(o.doc_rank, o.passage_rank, o.answer) for o in again.outcomes] == \
        [(o.doc_rank, o.passage_rank, o.answer) for o in first.outcomes]
    # A second indexing run of the unchanged corpus embeds nothing.
    _, _, rebuilt = index_corpus(corpus, tmp_path / "index", fake_embedder)
    assert rebuilt.passages_embedded == 0 and rebuilt.unchanged == 3


def test_baseline_recipes_are_scored_by_the_same_metrics(tiny_eval, fake_embedder):
    corpus, questions_path = tiny_eval
    questions = read_questions(questions_path)
    chunks = ChunkIndex.for_corpus(corpus, embedder=fake_embedder)
    for recipe in ("bm25", "dense", "fusion"):
        report = evaluate(recipe, questions, chunks.asker(recipe, k=3))
        assert report.doc_recall[1] == 1.0, recipe  # one chunk per article: the right one wins
        assert report.answer_contains_gold == 1.0, recipe


def test_cli_reports_bad_paths_in_one_line(tmp_path):
    done = run_cli("eval", "--corpus", str(tmp_path / "missing.jsonl"), "--questions", str(tmp_path / "q.jsonl"))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"newsdesk: no such file or folder: {tmp_path / 'missing.jsonl'}"]


# ---------------------------------------------------------------- as_of: news is about "this week"


def test_as_of_prefers_the_article_published_in_the_days_up_to_it(tmp_path, fake_embedder):
    from datetime import date

    from newsdesk.evaluation.run import index_corpus
    from newsdesk.service import Newsdesk

    story = "The city council voted to close the old harbour bridge for repairs next month."
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"doc_id": i, "title": "Harbour bridge to close",
                                          "publish_date": d, "text": story}) + "\n"
                              for i, d in (("2019", "2019/03/01"), ("2021", "2021/06/10"),
                                           ("2023", "2023/01/05"))))
    settings, embedder, _ = index_corpus(corpus, tmp_path / "index", fake_embedder)
    desk = Newsdesk(settings, embedder)
    question = "Why will the harbour bridge close?"
    assert desk.ask(question, 3).citations[0].article_id == "2019"  # a tie: the first wins
    assert desk.ask(question, 3, as_of=date(2021, 6, 12)).citations[0].article_id == "2021"
    # Published after as_of (2021, 2023) ranks below published long before it (2019).
    assert desk.ask(question, 3, as_of=date(2021, 1, 1)).citations[0].article_id == "2019"
    assert desk.ask(question, 3, as_of=date(2023, 1, 9)).citations[0].article_id == "2023"


def test_dates_are_read_in_the_shapes_corpora_use():
    from datetime import date

    from newsdesk.articles.dates import parse_date

    assert parse_date("2022/01/07") == date(2022, 1, 7)
    assert parse_date("2022-01-07T10:00:00Z") == date(2022, 1, 7)
    assert parse_date("2022-13-40") is None
    assert parse_date("yesterday") is None and parse_date(None) is None


def test_ask_over_http_takes_an_optional_as_of_date(tmp_path, fake_embedder):
    from fastapi.testclient import TestClient

    from newsdesk.evaluation.run import index_corpus
    from newsdesk.server.app import create_app
    from newsdesk.service import Newsdesk

    story = "The city council voted to close the old harbour bridge for repairs next month."
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"doc_id": i, "title": "Harbour bridge to close",
                                          "publish_date": d, "text": story}) + "\n"
                              for i, d in (("2019", "2019/03/01"), ("2023", "2023/01/05"))))
    settings, embedder, _ = index_corpus(corpus, tmp_path / "index", fake_embedder)
    desk = Newsdesk(settings.with_(abstain_below=0.0), embedder)
    with TestClient(create_app(settings, desk, watch=False)) as client:
        def first_cited(**extra) -> str:
            answer = client.post("/ask", json={"question": "Why will the harbour bridge close?", **extra})
            assert answer.status_code == 200, answer.text
            return answer.json()["citations"][0]["article_id"]

        assert first_cited() == "2019"  # the same text: a tie, which the first article wins
        assert first_cited(as_of="2023-01-09") == "2023"  # the days up to as_of are preferred
        assert first_cited(as_of="2019-03-02") == "2019"
        refused = client.post("/ask", json={"question": "Why?", "as_of": "last week"})
        assert refused.status_code == 422 and "as_of" in refused.text


def test_a_sentence_that_only_restates_the_question_is_not_the_answer():
    from newsdesk.answers.extractive import _restates
    from newsdesk.index.lexical import tokenize

    question = set(tokenize(["Which company is accused of turning off the AC in its stores?"])[0])
    assert _restates(question, set(tokenize(["Which company is accused of turning off the AC in stores?"])[0]))
    assert not _restates(question, set(tokenize(["Bed Bath & Beyond was accused of turning off the AC "
                                                 "to cut costs as sales fell."])[0]))
