"""The evaluation suite (`newsdesk eval --suite`): its conversation metrics, pairings and goals on
hand-made cases and stub desks, a tiny end-to-end run with the fake embedder, and its real data."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field

from datetime import date

from conftest import ROOT, run_cli, shared_data

from newsdesk.evaluation.metrics import (
    Cited,
    EvalQuestion,
    Prediction,
    answer_articles,
    answered_from_earlier_topic,
)
from newsdesk.evaluation.run import evaluate, off_corpus, read_questions
from newsdesk.evaluation.suite import (
    CHIT_CHAT,
    NEW_TOPIC,
    OFF_CORPUS,
    PARTS,
    PROBES,
    Figure,
    Probe,
    SuitePaths,
    measure,
    probe_pairs,
    read_followups,
    run_suite,
    unrelated_partners,
)


def prediction(answer: str, *article_ids: str, abstained: bool = False) -> Prediction:
    return Prediction(tuple(Cited(a, 0, 10) for a in article_ids), answer, abstained)


# ---------------------------------------------------------------- conversation metrics


def test_the_articles_an_answer_quotes_are_those_its_markers_name():
    assert answer_articles(prediction("B said so. [2] C agreed. [3] B again. [2]", "a", "b", "c")) == ("b", "c")
    assert answer_articles(prediction("No markers here.", "a", "b")) == ("a",)  # then the first citation
    assert answer_articles(prediction("Out of range [7] and [0].", "a")) == ()
    assert answer_articles(prediction("Not covered. [1]", "a", abstained=True)) == ()
    assert answer_articles(prediction("Nothing cited.")) == ()


def test_a_later_answer_is_from_the_earlier_topic_when_it_quotes_an_article_the_first_turn_cited():
    first = prediction("Holmes was convicted. [1]", "theranos", "snow", "volcano")
    assert answered_from_earlier_topic(first, prediction("Snow fell. [1]", "snow", "peru"))
    # Cited by the first turn but only retrieved, not quoted, by the later answer: not counted.
    assert not answered_from_earlier_topic(first, prediction("Lima is the capital. [1]", "peru", "theranos"))
    assert not answered_from_earlier_topic(first, prediction("Not covered.", "theranos", abstained=True))


def test_off_corpus_questions_are_all_unanswerable_and_carry_no_gold():
    questions = [EvalQuestion("a", "Who?", ("X",), ("sq-1",), answerable=True),
                 EvalQuestion("b", "What?", (), ("sq-2",), answerable=False)]
    moved = off_corpus(questions)
    assert [(q.id, q.answerable, q.gold_doc_ids, q.answers) for q in moved] == \
        [("a", False, (), ("X",)), ("b", False, (), ())]
    report = evaluate("x", moved, lambda q: prediction("Not covered.", abstained=q.id == "a"))
    assert report.abstained_when_unanswerable == 0.5 and report.answerable == 0


# ---------------------------------------------------------------- goals


def test_a_figure_says_whether_it_met_its_goal_and_by_how_much_it_missed():
    assert Figure("p", "R@5", 0.922, 0.95).verdict == "missed by 0.028"
    assert Figure("p", "answered", 0.98, 0.98).verdict == "met"  # a share equal to its goal meets it
    ceiling = Figure("p", "from earlier topic", 0.05, 0.0, at_least=False, goal_note="never")
    assert (ceiling.met, ceiling.goal_text, ceiling.verdict) == (False, "≤ 0.000 (never)", "missed by 0.050")
    assert Figure("p", "ratio", 1.12, 0.9, unit="×").goal_text == "≥ 0.90×"
    assert Figure("p", "not asked", None, 0.9).verdict == "not measured"
    assert Figure("p", "p50", 14.0, unit="ms").verdict == "" and Figure("p", "p50", 14.0).met is None


# ---------------------------------------------------------------- pairings


def questions(n: int, shared_gold: dict[int, str] | None = None) -> list[EvalQuestion]:
    shared_gold = shared_gold or {}
    return [EvalQuestion(f"q{i}", f"Question {i}?", (f"doc{i}",), (shared_gold.get(i, f"doc{i}"),),
                         date="2022-07-08") for i in range(n)]


def test_every_probe_follows_three_different_questions_and_there_are_at_least_40_pairs():
    assert len(PROBES) >= 20 and len({p.text for p in PROBES}) == len(PROBES)
    assert {p.kind for p in PROBES} == {CHIT_CHAT, OFF_CORPUS, NEW_TOPIC}
    dev = questions(153)
    pairs = probe_pairs(dev)
    assert len(pairs) >= 40 and pairs == probe_pairs(dev)  # deterministic
    for probe in PROBES:
        firsts = [pair.first.id for pair in pairs if pair.probe == probe]
        assert len(firsts) == 3 == len(set(firsts)), probe


def test_a_new_topic_probe_never_follows_a_question_on_its_own_article():
    # q2 is the probe's source; q4 shares its article; pair 0 would put the probe after q0.
    dev = questions(6, shared_gold={2: "eiffel", 4: "eiffel"})
    probe = Probe("Which landmark is riddled with rust?", NEW_TOPIC, source="q2")
    pairs = probe_pairs(dev, [probe], topics_per_probe=6)
    assert [p.first.id for p in pairs] == ["q0", "q3", "q5", "q0", "q3", "q5"]


def test_each_question_is_asked_after_another_that_shares_no_article_with_it():
    dev = questions(5, shared_gold={0: "same", 2: "same"})
    partners = unrelated_partners(dev, offset=2)
    assert {q: p.id for q, p in partners.items()} == {"q0": "q3", "q1": "q3", "q2": "q4", "q3": "q0", "q4": "q1"}


# ---------------------------------------------------------------- measure, with stub desks


@dataclass
class StubCitation:
    article_id: str
    char_start: int = 0
    char_end: int = 100


@dataclass
class StubAnswer:
    answer: str
    citations: list
    abstained: bool
    confidence: float | None = None


NOT_COVERED = StubAnswer("Not covered.", [], True, 0.1)


@dataclass
class StubDesk:
    """Answers a question from the article named after it (its gold), so dev questions score
    perfectly; what it does with probes, off-corpus questions and histories is set per test."""

    gold: dict[str, str]  # question text → article id
    with_history: str = "ignore"  # "ignore" | "answer from it" (quote the first turn's article)
    asked: list = field(default_factory=list)

    def ask(self, question, k, as_of=None, history=None):
        self.asked.append((question, as_of, tuple(t.content for t in history or ())))
        if history and self.with_history == "answer from it":
            earlier = self.gold.get(history[0].content)
            if earlier:
                return StubAnswer("From before. [1]", [StubCitation(earlier)], False, 0.5)
        article = self.gold.get(question)
        if article is None:
            return NOT_COVERED
        return StubAnswer(f"From {article}. [1]", [StubCitation(article), StubCitation("other")], False, 0.9)


def stub_data(n: int = 12):
    dev = questions(n)
    squad = [EvalQuestion(f"s{i}", f"Squad {i}?", ("x",), (f"sq{i}",), answerable=i % 2 == 0) for i in range(4)]
    return dev, squad


def test_measure_reports_every_figure_with_its_goal_when_history_is_ignored():
    dev, squad = stub_data()
    dev_desk = StubDesk({q.question: q.gold_doc_ids[0] for q in dev})
    # The SQuAD desk answers the answerable ones and one unanswerable: 2/2 answered, 1/2 declined.
    squad_desk = StubDesk({"Squad 0?": "sq0", "Squad 2?": "sq2", "Squad 1?": "sq1"})
    result = measure(PARTS, 10, dev_desk, squad_desk, dev, squad, log=lambda _: None)
    values = {(f.part, f.name): f for f in result.figures}
    assert values["realtimeqa", "doc R@5"].value == 1.0 and values["realtimeqa", "doc R@5"].verdict == "met"
    assert values["realtimeqa", "confidence p50, answered"].value == 0.9
    assert values["squad", "answerable answered"].value == 1.0
    assert values["squad", "unanswerable declined"].value == 0.5
    assert values["squad", "unanswerable declined"].verdict == "missed by 0.100"
    assert values["off-corpus", "SQuAD questions declined"].value == 1.0  # the dev desk knows none
    assert values["off-corpus", "RealTimeQA dev questions answered"].value == 1.0
    earlier = values["conversation", "probes answered from the earlier topic"]
    assert (earlier.value, earlier.verdict) == (0.0, "met")
    assert values["conversation", "chit-chat probes declined"].value == 1.0
    after = values["conversation", "doc R@5 after an unrelated question"]
    assert (after.value, after.goal, after.verdict) == (1.0, 1.0, "met")
    assert len(result.probes) == 3 * len(PROBES)
    # Each probe was asked on its first question's date, after that question and its answer.
    probe_asks = [a for a in dev_desk.asked if a[0] in {p.text for p in PROBES}]
    assert probe_asks[0] == (PROBES[0].text, date(2022, 7, 8), ("Question 0?", "From doc0. [1]"))
    table = result.table()
    assert "| RealTimeQA dev (12 questions, dev corpus) | doc R@5 | 1.000 | ≥ 0.950 | met |" in table
    assert table.rstrip().endswith("unanswerable declined)")  # the one missed goal is named


def test_measure_catches_answers_from_the_earlier_topic_and_a_history_that_hurts_retrieval():
    dev, _ = stub_data()
    desk = StubDesk({q.question: q.gold_doc_ids[0] for q in dev}, with_history="answer from it")
    result = measure(["conversation"], 10, dev_desk=desk, dev_questions=dev)
    values = {f.name: f for f in result.figures}
    assert values["probes answered from the earlier topic"].verdict == "missed by 1.000"
    assert values["chit-chat probes declined"].value == 0.0
    after = values["doc R@5 after an unrelated question"]
    assert (after.value, after.goal) == (0.0, 1.0) and after.verdict == "missed by 1.000"
    assert all(p.from_earlier_topic and p.answer_articles == (p.earlier_articles[0],) for p in result.probes)
    assert [f.part for f in result.figures] == ["conversation"] * len(result.figures)  # only the part asked


def test_followups_part_compares_the_follow_up_with_history_to_the_question_written_out(tmp_path):
    path = tmp_path / "followups.jsonl"
    path.write_text("".join(json.dumps({
        "id": f"fu-{i}", "question_date": "2022/07/08", "first": f"First {i}?", "follow_up": f"And then {i}?",
        "full": f"Full {i}?", "answer_text": ["x"], "gold_doc_ids": [f"doc{i}"],
        "gold_passages": [{"doc_id": f"doc{i}", "char_start": 0, "char_end": 50}]}) + "\n" for i in range(4)))
    followups = read_followups(path)
    assert followups[0].written_out.question == "Full 0?" and followups[0].follow_up.date == "2022-07-08"
    gold = {f"Full {i}?": f"doc{i}" for i in range(4)} | {f"First {i}?": f"doc{i}" for i in range(4)}
    # History answers the follow-up from the first question's article: 4 of 4, like written out.
    desk = StubDesk(gold, with_history="answer from it")
    values = {f.name: f for f in measure(["followups"], 10, dev_desk=desk, followups=followups).figures}
    assert values["passage hit@5, follow-up with history / written out"].value == 1.0
    assert values["passage hit@5, follow-up alone"].value == 0.0
    # Without help from the history the follow-up finds nothing: 0 of the written-out 1.0.
    plain = {f.name: f for f in measure(["followups"], 10, dev_desk=StubDesk(gold), followups=followups).figures}
    assert plain["passage hit@5, follow-up with history / written out"].verdict == "missed by 0.90×"


# ---------------------------------------------------------------- end to end with the fake embedder

from test_evaluation import ARTICLES  # noqa: E402  the three stories the harness tests use too


def rtqa(qid, date, question, answer, doc):
    return {"question_id": qid, "question_date": date, "question": question, "answer_text": [answer],
            "gold_doc_ids": [doc], "gold_passages": [{"doc_id": doc, "char_start": 0, "char_end": 60}]}


def write_suite_data(root):
    """A miniature ../shared/data and follow-up set, laid out as the suite reads them."""
    (root / "realtimeqa").mkdir(parents=True)
    (root / "squad_v2").mkdir()
    with gzip.open(root / "realtimeqa" / "dev_corpus.jsonl.gz", "wt") as handle:
        handle.writelines(json.dumps({"doc_id": i, "title": t, "publish_date": d, "text": x}) + "\n"
                          for i, t, d, x in ARTICLES)
    dev = [rtqa("q1", "2022/01/20", "Near which country did a huge underwater volcano erupt?", "Tonga", "volcano"),
           rtqa("q2", "2022/01/07", "Elizabeth Holmes was found guilty of fraud at which company?", "Theranos",
                "theranos"),
           rtqa("q3", "2022/01/07", "What stranded drivers on Interstate 95?", "heavy snowfall", "snow")]
    (root / "realtimeqa" / "dev_questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in dev))
    (root / "squad_v2" / "contexts.jsonl").write_text(json.dumps(
        {"doc_id": "sq-1", "text": "Photosynthesis turns light into chemical energy in green plants."}) + "\n")
    (root / "squad_v2" / "dev_questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in [
        {"id": "s1", "question": "What does photosynthesis turn light into?", "answers": ["chemical energy"],
         "is_impossible": False, "gold_doc_id": "sq-1"},
        {"id": "s2", "question": "What does photosynthesis turn sound into?", "answers": [],
         "is_impossible": True, "gold_doc_id": "sq-1"}]))
    followups = root / "followups.jsonl"
    followups.write_text(json.dumps({
        "id": "fu-q2", "question_date": "2022/01/07", "first": "What was Elizabeth Holmes found guilty of?",
        "follow_up": "When did her company collapse?", "full": "When did Theranos collapse?",
        "answer_text": ["2018"], "gold_doc_ids": ["theranos"],
        "gold_passages": [{"doc_id": "theranos", "char_start": 0, "char_end": 200}]}) + "\n")
    return SuitePaths(root, followups)


def test_the_whole_suite_runs_end_to_end_with_the_fake_embedder(tmp_path, monkeypatch, fake_embedder):
    paths = write_suite_data(tmp_path / "data")
    monkeypatch.chdir(tmp_path)  # the indexes go to ./.cache/eval-<corpus>
    out = tmp_path / "suite.json"
    result = run_suite(PARTS, paths, k=3, embedder=fake_embedder, progress=False, json_out=out)
    assert (tmp_path / ".cache" / "eval-dev_corpus" / "CURRENT").exists()
    assert (tmp_path / ".cache" / "eval-contexts" / "CURRENT").exists()
    values = {(f.part, f.name): f.value for f in result.figures}
    assert values["realtimeqa", "doc R@5"] == 1.0  # three articles, k = 3: every gold article is cited
    assert values["conversation", "doc R@5 after an unrelated question"] == 1.0
    assert all(v is not None for v in values.values())
    table = result.table()
    for title in result.titles.values():
        assert f"| {title} |" in table
    written = json.loads(out.read_text())
    assert [f["name"] for f in written["figures"]] == [f.name for f in result.figures]
    assert written["figures"][0]["verdict"] in ("met", f"missed by {written['figures'][0]['shortfall']:.3f}")
    assert len(written["probes"]) == 3 * len(PROBES) and len(written["reports"]["realtimeqa-dev"]["outcomes"]) == 3
    # A second run indexes nothing new and scores the same.
    again = run_suite(["realtimeqa"], paths, k=3, embedder=fake_embedder, progress=False)
    assert [f.value for f in again.figures if f.unit != "ms"] == \
        [f.value for f in result.figures if f.part == "realtimeqa" and f.unit != "ms"]


def test_cli_suite_errors_are_one_line(tmp_path):
    done = run_cli("eval")
    assert (done.returncode, done.stderr.strip()) == (1, "newsdesk: eval needs --corpus and --questions, or --suite")
    done = run_cli("eval", "--suite", "all", "--recipe", "bm25")
    assert done.returncode == 1 and "drop --recipe" in done.stderr
    done = run_cli("eval", "--suite", "squad", "--data", str(tmp_path))
    assert done.returncode == 1
    assert done.stderr.strip() == (f"newsdesk: the suite needs {tmp_path}/squad_v2/dev_questions.jsonl, "
                                   f"{tmp_path}/squad_v2/contexts.jsonl")


# ---------------------------------------------------------------- the real data the suite reads


def test_the_suite_data_pairs_as_designed():
    """The real question sets: 153 dev questions, 191 SQuAD ones, follow-ups and probes on dev stories."""
    dev = read_questions(shared_data("realtimeqa/dev_questions.jsonl"))
    squad = read_questions(shared_data("squad_v2/dev_questions.jsonl"))
    assert (len(dev), len(squad)) == (153, 191)
    by_id = {q.id: q for q in dev}
    pairs = probe_pairs(dev)
    assert len(pairs) >= 40 and len({p.first.id for p in pairs}) == len(pairs)  # every pair its own topic
    rust = [p for p in pairs if p.probe.kind == NEW_TOPIC]
    source = by_id[rust[0].probe.source]
    assert "riddled with rust" in source.question
    assert all(not set(p.first.gold_doc_ids) & set(source.gold_doc_ids) for p in rust)
    partners = unrelated_partners(dev)
    assert all(not set(by_id[q].gold_doc_ids) & set(p.gold_doc_ids) for q, p in partners.items())
    with gzip.open(shared_data("realtimeqa/dev_corpus.jsonl.gz"), "rt") as handle:
        articles = {json.loads(line)["doc_id"] for line in handle}
    for followup in read_followups(ROOT / "benchmarks" / "followups.jsonl"):
        assert set(followup.follow_up.gold_doc_ids) <= articles, followup.follow_up.id
