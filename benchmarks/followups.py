"""Follow-up questions on the RealTimeQA dev corpus: is a follow-up asked with its history found as
well as the same question written out in full?

benchmarks/followups.jsonl holds 30 hand-written conversations over dev-set stories: a first
question that sets the topic, a follow-up that only makes sense after it ("How much did it
weigh?"), the follow-up written out in full, and the gold article and passage of the dev question
whose evidence it asks for. Each variant is scored by the evaluation harness's own metrics.

    .venv/bin/python benchmarks/followups.py --embeddings /tmp/nd-dev
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from newsdesk.config import Settings
from newsdesk.conversation import Turn
from newsdesk.evaluation import (Cited, EvalQuestion, GoldSpan, Prediction, evaluate, format_table,
                                 index_corpus)
from newsdesk.service import Newsdesk

HERE = Path(__file__).resolve().parent
SET = HERE / "followups.jsonl"
CORPUS = HERE.parent.parent / "shared" / "data" / "realtimeqa" / "dev_corpus.jsonl.gz"
REQUIRED_SHARE = 0.9  # follow-up hit@5 must reach this share of the written-out question's


def read_set(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def as_question(item: dict, text: str) -> EvalQuestion:
    spans = tuple(GoldSpan(p["doc_id"], p["char_start"], p["char_end"]) for p in item["gold_passages"])
    return EvalQuestion(id=item["id"], question=text, answers=tuple(item["answer_text"]),
                        gold_doc_ids=tuple(item["gold_doc_ids"]), gold_spans=spans,
                        date=item["question_date"].replace("/", "-"))


def asker(desk: Newsdesk, k: int, firsts: dict[str, str] | None = None):
    """Ask through Newsdesk.ask; with firsts, after the conversation's first question and answer."""
    def ask(question: EvalQuestion) -> Prediction:
        as_of = date.fromisoformat(question.date)
        history = None
        if firsts is not None:
            first = firsts[question.id]
            history = [Turn(role="user", content=first),
                       Turn(role="assistant", content=desk.ask(first, k, as_of=as_of).answer)]
        answer = desk.ask(question.question, k, as_of=as_of, history=history)
        cited = tuple(Cited(c.article_id, c.char_start, c.char_end) for c in answer.citations)
        return Prediction(cited=cited, answer=answer.answer, abstained=answer.abstained)
    return ask


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embeddings", type=Path, default=Path(".cache/eval-dev_corpus"),
                        help="an index of the dev corpus (built there when missing)")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--set", type=Path, default=SET)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--show", action="store_true", help="print each follow-up's retrieval query")
    args = parser.parse_args(argv)

    if (args.embeddings / "CURRENT").exists():
        settings = Settings.from_env(embeddings=args.embeddings)
        desk = Newsdesk(settings)
    else:
        settings, embedder, _ = index_corpus(args.corpus, args.embeddings, progress=True)
        desk = Newsdesk(settings, embedder)

    items = read_set(args.set)
    firsts = {item["id"]: item["first"] for item in items}
    full = [as_question(item, item["full"]) for item in items]
    follow = [as_question(item, item["follow_up"]) for item in items]
    reports = [
        evaluate("written out in full", full, asker(desk, args.k)),
        evaluate("follow-up with history", follow, asker(desk, args.k, firsts)),
        evaluate("follow-up alone", follow, asker(desk, args.k)),
    ]
    print(format_table(reports, f"{len(items)} follow-up conversations, dev corpus, k={args.k}"))
    if args.show:
        _show(desk, items, reports)
    written, followed = reports[0].passage_hit[5], reports[1].passage_hit[5]
    ratio = followed / written if written else 0.0
    print(f"\npassage hit@5: follow-up with history {followed:.3f} / written out {written:.3f} "
          f"= {ratio:.2f} (needs ≥ {REQUIRED_SHARE})")
    return 0 if ratio >= REQUIRED_SHARE else 1


def _show(desk: Newsdesk, items: list[dict], reports) -> None:
    ranks = {r.recipe: {o.question_id: o.passage_rank for o in r.outcomes} for r in reports}
    for item in items:
        as_of = date.fromisoformat(item["question_date"].replace("/", "-"))
        understood = desk.understand(item["follow_up"], [Turn(role="user", content=item["first"])], as_of)
        print(f"{item['id']}: full {ranks['written out in full'][item['id']]}, "
              f"with history {ranks['follow-up with history'][item['id']]}, "
              f"alone {ranks['follow-up alone'][item['id']]} | {understood.retrieval_query}")


if __name__ == "__main__":
    sys.exit(main())
