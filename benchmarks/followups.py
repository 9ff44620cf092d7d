"""Follow-up questions on the RealTimeQA dev corpus: is a follow-up asked with its history found as
well as the same question written out in full?

benchmarks/followups.jsonl holds 30 hand-written conversations over dev-set stories: a first
question that sets the topic, a follow-up that only makes sense after it ("How much did it
weigh?"), the follow-up written out in full, and the gold article and passage of the dev question
whose evidence it asks for. Each variant is scored by the evaluation harness's own metrics; the
code that asks them is the evaluation suite's (`newsdesk eval --suite followups` prints the same
figure beside its goal). This script adds --show, each follow-up's retrieval query.

    .venv/bin/python benchmarks/followups.py --embeddings .cache/eval-dev_corpus --show
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from newsdesk.settings import Settings
from newsdesk.answers.conversation import Turn
from newsdesk.evaluation.run import format_table, index_corpus
from newsdesk.evaluation.suite import FOLLOWUP_SHARE, FollowUp, followup_reports, read_followups
from newsdesk.service import Newsdesk

HERE = Path(__file__).resolve().parent
SET = HERE / "followups.jsonl"
CORPUS = HERE.parent.parent / "shared" / "data" / "realtimeqa" / "dev_corpus.jsonl.gz"


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

    followups = read_followups(args.set)
    reports = followup_reports(desk, followups, args.k)
    print(format_table(reports, f"{len(followups)} follow-up conversations, dev corpus, k={args.k}"))
    if args.show:
        _show(desk, followups, reports)
    written, followed = reports[0].passage_hit[5], reports[1].passage_hit[5]
    ratio = followed / written if written else 0.0
    print(f"\npassage hit@5: follow-up with history {followed:.3f} / written out {written:.3f} "
          f"= {ratio:.2f} (needs ≥ {FOLLOWUP_SHARE})")
    return 0 if ratio >= FOLLOWUP_SHARE else 1


def _show(desk: Newsdesk, followups: list[FollowUp], reports) -> None:
    ranks = {r.recipe: {o.question_id: o.passage_rank for o in r.outcomes} for r in reports}
    for followup in followups:
        question = followup.follow_up
        understood = desk.understand(question.question, [Turn(role="user", content=followup.first)],
                                     date.fromisoformat(question.date))
        print(f"{question.id}: full {ranks['written out in full'][question.id]}, "
              f"with history {ranks['follow-up with history'][question.id]}, "
              f"alone {ranks['follow-up alone'][question.id]} | {understood.retrieval_query}")


if __name__ == "__main__":
    sys.exit(main())
