"""Evaluation: a question set asked through the /ask code path, scored for retrieval, answers,
abstention and speed.

Two question formats are read: RealTimeQA (`question_id, question_date, question, answer_text[],
gold_doc_ids[], gold_passages[{doc_id, char_start, char_end}]`) and SQuAD 2.0 (`id, question,
answers[], is_impossible, gold_doc_id`). The metric code (metrics.py) only sees `Prediction`s, so
the baseline recipes in `baselines.py` and the suite in `suite.py` are scored by exactly the same
functions as newsdesk itself.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Callable, Iterable, Sequence

from newsdesk.evaluation.metrics import (
    CUTOFFS,
    MRR_CUTOFF,
    Ask,
    Cited,
    EvalQuestion,
    GoldSpan,
    Outcome,
    Prediction,
    mrr_at,
    percentile,
    recall_at,
    score,
)
from newsdesk.settings import Settings


@dataclass
class Report:
    recipe: str
    questions: int
    answerable: int
    unanswerable: int
    doc_recall: dict[int, float | None]
    doc_mrr10: float | None
    passage_hit: dict[int, float | None]
    answer_contains_gold: float | None  # over answerable questions
    answered_when_answerable: float | None
    abstained_when_unanswerable: float | None
    questions_per_second: float
    p50_ms: float
    p95_ms: float
    outcomes: list[Outcome] = field(default_factory=list, repr=False)

    def to_json(self, with_outcomes: bool = True) -> dict:
        data = asdict(self)
        data["doc_recall"] = {f"@{k}": v for k, v in self.doc_recall.items()}
        data["passage_hit"] = {f"@{k}": v for k, v in self.passage_hit.items()}
        if not with_outcomes:
            data.pop("outcomes")
        return data


# ---------------------------------------------------------------- reading question sets


def read_questions(path: Path) -> list[EvalQuestion]:
    """RealTimeQA or SQuAD 2.0 questions, one JSON object a line; the format is told by its keys."""
    questions = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                questions.append(_question_from_record(record))
            except (ValueError, KeyError, TypeError) as error:
                raise ValueError(f"{path}:{number}: not a RealTimeQA or SQuAD 2.0 question ({error})") from None
    if not questions:
        raise ValueError(f"{path}: no questions")
    return questions


def _question_from_record(record: dict) -> EvalQuestion:
    if "question_id" in record:  # RealTimeQA
        spans = tuple(GoldSpan(str(p["doc_id"]), int(p["char_start"]), int(p["char_end"]))
                      for p in record.get("gold_passages") or ())
        return EvalQuestion(
            id=str(record["question_id"]), question=record["question"].strip(),
            answers=tuple(record.get("answer_text") or ()),
            gold_doc_ids=tuple(str(d) for d in record.get("gold_doc_ids") or ()),
            gold_spans=spans, answerable=True, date=_iso_date(record.get("question_date")))
    impossible = bool(record.get("is_impossible", False))
    return EvalQuestion(  # SQuAD 2.0
        id=str(record["id"]), question=record["question"].strip(),
        answers=tuple(record.get("answers") or ()),
        gold_doc_ids=(str(record["gold_doc_id"]),) if record.get("gold_doc_id") else (),
        answerable=not impossible)


def off_corpus(questions: Iterable[EvalQuestion]) -> list[EvalQuestion]:
    """The questions asked of a corpus they were not written for: none is answerable from it,
    and their gold articles (from their own corpus) mean nothing there."""
    return [replace(q, answerable=False, gold_doc_ids=(), gold_spans=()) for q in questions]


def _iso_date(value) -> str | None:
    """'2022/01/07' → '2022-01-07'; anything unreadable → None."""
    if not isinstance(value, str):
        return None
    match = re.match(r"(\d{4})[/-](\d{2})[/-](\d{2})", value.strip())
    return "-".join(match.groups()) if match else None


# ---------------------------------------------------------------- per-question metrics


# ---------------------------------------------------------------- aggregates


def _share(flags: Sequence[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def summarise(recipe: str, outcomes: Sequence[Outcome], wall_seconds: float) -> Report:
    answerable = [o for o in outcomes if o.answerable]
    unanswerable = [o for o in outcomes if not o.answerable]
    doc_ranks = [o.doc_rank for o in answerable if o.has_gold_docs]
    passage_ranks = [o.passage_rank for o in answerable if o.has_gold_spans]
    latencies = [o.seconds * 1000 for o in outcomes]
    return Report(
        recipe=recipe, questions=len(outcomes), answerable=len(answerable),
        unanswerable=len(unanswerable),
        doc_recall={k: recall_at(doc_ranks, k) for k in CUTOFFS},
        doc_mrr10=mrr_at(doc_ranks, MRR_CUTOFF),
        passage_hit={k: recall_at(passage_ranks, k) for k in CUTOFFS},
        answer_contains_gold=_share([o.answer_contains_gold for o in answerable]),
        answered_when_answerable=_share([not o.abstained for o in answerable]),
        abstained_when_unanswerable=_share([o.abstained for o in unanswerable]) if unanswerable else None,
        questions_per_second=len(outcomes) / wall_seconds if wall_seconds > 0 else 0.0,
        p50_ms=percentile(latencies, 50), p95_ms=percentile(latencies, 95),
        outcomes=list(outcomes))


def evaluate(recipe: str, questions: Sequence[EvalQuestion], ask: Ask) -> Report:
    """Ask every question in order, timing each, and score the lot."""
    outcomes = []
    started = time.perf_counter()
    for question in questions:
        asked = time.perf_counter()
        prediction = ask(question)
        outcomes.append(score(question, prediction, time.perf_counter() - asked))
    return summarise(recipe, outcomes, time.perf_counter() - started)


# ---------------------------------------------------------------- newsdesk itself


def newsdesk_asker(desk, k: int = 10, use_dates: bool = True,
                   history: Callable[[EvalQuestion], list] | None = None) -> Ask:
    """Questions through service.Newsdesk.ask, the code path of POST /ask; history(question), if
    given, is the conversation (conversation.Turns) the question is asked after."""
    def ask(question: EvalQuestion) -> Prediction:
        as_of = date.fromisoformat(question.date) if use_dates and question.date else None
        turns = history(question) if history else None
        return prediction_of(desk.ask(question.question, k, as_of=as_of, history=turns or None))
    return ask


def prediction_of(answer) -> Prediction:
    """An answers.Answer as the metrics see it (its confidence only where it reports one)."""
    confidence = getattr(answer, "confidence", None)
    return Prediction(
        cited=tuple(Cited(c.article_id, c.char_start, c.char_end) for c in answer.citations),
        answer=answer.answer, abstained=answer.abstained,
        confidence=float(confidence) if confidence is not None else None)


def default_embeddings_folder(corpus: Path) -> Path:
    """.cache/eval-<corpus name>: git-ignored, reused (and updated incrementally) between runs."""
    name = corpus.name
    for suffix in (".jsonl.gz", ".jsonl", ".gz"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return Path(".cache") / f"eval-{name or 'corpus'}"


def index_corpus(corpus: Path, embeddings: Path, embedder=None, progress: bool = False,
                 log: Callable[[str], None] = lambda _: None):
    """Bring the evaluation index up to date (only new and changed articles are embedded)."""
    from newsdesk.embeddings import load_embedder
    from newsdesk.index.build import build_index

    settings = Settings.from_env(seeds=(corpus,), embeddings=embeddings)
    embedder = embedder or load_embedder(settings)
    return settings, embedder, build_index(settings, embedder, progress=progress, log=log)


# "newsdesk" passes each question's date as as_of, as a news app asking "this week" would;
# "newsdesk-undated" does not, which is how the baseline recipes rank.
NEWSDESK_RECIPES = ("newsdesk", "newsdesk-undated")


def newsdesk_over(corpus: Path, embeddings: Path, embedder=None, progress: bool = False):
    """A Newsdesk answering from the corpus's evaluation index, brought up to date first."""
    from newsdesk.service import Newsdesk

    settings, embedder, _ = index_corpus(corpus, embeddings, embedder, progress)
    return Newsdesk(settings, embedder)


# ---------------------------------------------------------------- reporting

_ROWS = [
    ("doc recall@1", lambda r: r.doc_recall[1]),
    ("doc recall@5", lambda r: r.doc_recall[5]),
    ("doc recall@10", lambda r: r.doc_recall[10]),
    ("doc MRR@10", lambda r: r.doc_mrr10),
    ("passage hit@1", lambda r: r.passage_hit[1]),
    ("passage hit@5", lambda r: r.passage_hit[5]),
    ("passage hit@10", lambda r: r.passage_hit[10]),
    ("answer contains gold", lambda r: r.answer_contains_gold),
    ("answered (answerable)", lambda r: r.answered_when_answerable),
    ("abstained (unanswerable)", lambda r: r.abstained_when_unanswerable),
    ("questions/s", lambda r: r.questions_per_second),
    ("p50 ms", lambda r: r.p50_ms),
    ("p95 ms", lambda r: r.p95_ms),
]


def format_table(reports: Sequence[Report], title: str = "") -> str:
    """A Markdown table, one column per recipe; rows with no value anywhere are left out."""
    header = ["metric"] + [r.recipe for r in reports]
    lines = []
    if title:
        lines.append(title)
        lines.append("")
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * len(reports)) + "|")
    for label, value in _ROWS:
        values = [value(r) for r in reports]
        if all(v is None for v in values):
            continue
        lines.append("| " + " | ".join([label] + [_cell(label, v) for v in values]) + " |")
    if reports:
        first = reports[0]
        lines.append("")
        lines.append(f"{first.questions} questions ({first.unanswerable} unanswerable)"
                     if first.unanswerable else f"{first.questions} questions")
    return "\n".join(lines)


def _cell(label: str, value: float | None) -> str:
    if value is None:
        return "–"
    if label.endswith("ms") or label.endswith("/s"):
        return f"{value:.1f}"
    return f"{value:.3f}"


def run_recipes(corpus: Path, questions_path: Path, recipes: Sequence[str], k: int = 10,
                embeddings: Path | None = None, json_out: Path | None = None,
                progress: bool = True, off_corpus_questions: bool = False) -> str:
    """What `newsdesk eval --corpus --questions` does: index, ask, score every recipe; the table,
    and JSON if asked. off_corpus_questions: the questions were written for another corpus, so
    every one counts as unanswerable (the share declined is the figure)."""
    questions = read_questions(questions_path)
    if off_corpus_questions:
        questions = off_corpus(questions)
    embeddings = embeddings or default_embeddings_folder(corpus)
    reports, chunks, desk = [], None, None
    for recipe in dict.fromkeys(recipes):  # each once, in the order given
        if recipe in NEWSDESK_RECIPES:
            # Both newsdesk recipes ask the same desk: one index check, one model load.
            desk = desk or newsdesk_over(corpus, embeddings, progress=progress)
            reports.append(evaluate(recipe, questions, newsdesk_asker(desk, k, recipe == "newsdesk")))
            continue
        if chunks is None:
            from newsdesk.embeddings import load_embedder
            from newsdesk.evaluation.baselines import ChunkIndex

            chunks = ChunkIndex.for_corpus(corpus, cache=embeddings.parent / "baselines",
                                           embedder=load_embedder(Settings.from_env()))
        if recipe != "bm25":
            chunks.vectors  # embed (or load) the chunks first: that is indexing, not answering
        reports.append(evaluate(recipe, questions, chunks.asker(recipe, k)))
    title = f"{questions_path.name} over {corpus.name} (k={k}{', off-corpus' if off_corpus_questions else ''})"
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps({"corpus": str(corpus), "questions": str(questions_path), "k": k,
                                        "off_corpus": off_corpus_questions,
                                        "reports": [r.to_json() for r in reports]}, indent=1))
    return format_table(reports, title)
