"""Timelines on the RealTimeQA dev corpus: are the answers in date order, do they cite several dated
articles, and are the articles they cite about the story?

benchmarks/timeline_set.jsonl holds 14 hand-written questions about stories the dev corpus tells
in several dated articles (Brittney Griner, Hurricane Ian, the Paul Pelosi attack, ...): the
question, the order it asks for, the articles judged on the story (`on_story`, chosen from the
titles and leads of the articles that name it before any timeline was built) and those judged
off it (`off_story`: cited articles that were not yet judged, read and judged afterwards).
Each question is asked through Newsdesk.ask, as POST /ask does. Per answer:

- in order: its entries' dates run in the order asked (oldest or newest first);
- ≥ 3 dated: it cites at least three distinct articles, each entry dated;
- on story: the share of its cited articles judged on the story; an article not yet judged
  either way is listed (--show) and counts as off until someone reads and judges it.

    .venv/bin/python benchmarks/timelines.py --embeddings .cache/eval-dev_corpus --show
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from newsdesk.answers.extractive import Answer
from newsdesk.evaluation.run import index_corpus
from newsdesk.query import Query
from newsdesk.service import Newsdesk

HERE = Path(__file__).resolve().parent
SET = HERE / "timeline_set.jsonl"
CORPUS = HERE.parent.parent / "shared" / "data" / "realtimeqa" / "dev_corpus.jsonl.gz"
MIN_ARTICLES = 3


@dataclass(frozen=True)
class Story:
    story: str
    question: str
    order: str  # "oldest" or "newest": which comes first, as the question asks
    on_story: frozenset[str]
    off_story: frozenset[str]


@dataclass(frozen=True)
class Scored:
    story: Story
    answer: Answer
    in_order: bool
    dated_articles: int
    on: int
    unjudged: list[str]


def read_set(path: Path) -> list[Story]:
    stories = []
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            stories.append(Story(row["story"], row["question"], row["order"],
                                 frozenset(row["on_story"]), frozenset(row["off_story"])))
    return stories


def score(story: Story, answer: Answer) -> Scored:
    days = [entry.date for entry in answer.timeline]
    in_order = bool(days) and days == sorted(days, reverse=story.order == "newest")
    cited = [c.article_id for c in answer.citations] if answer.timeline else []
    dated = len({c for c, entry in zip(cited, answer.timeline) if entry.date})
    return Scored(story, answer, in_order, dated, sum(c in story.on_story for c in cited),
                  [c for c in cited if c not in story.on_story | story.off_story])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embeddings", type=Path, default=Path(".cache/eval-dev_corpus"),
                        help="an index of the dev corpus (built there when missing)")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--set", type=Path, default=SET)
    parser.add_argument("-k", type=int, default=6, help="entries per timeline")
    parser.add_argument("--show", action="store_true", help="print each timeline and its unjudged articles")
    args = parser.parse_args(argv)

    settings, embedder, _ = index_corpus(args.corpus, args.embeddings)
    desk = Newsdesk(settings, embedder)
    results = [score(story, desk.ask(Query(question=story.question, k=args.k)))
               for story in read_set(args.set)]
    for result in results:
        cited = len(result.answer.timeline)
        print(f"{result.story.story:18} entries {cited:2}  in order {'yes' if result.in_order else 'NO ':3}  "
              f"dated articles {result.dated_articles:2}  on story {result.on}/{cited}")
        if args.show:
            print("   " + result.answer.answer.replace("\n", "\n   "))
            for article_id in result.unjudged:
                print(f"   unjudged: {article_id} {desk.article(article_id).title}")
    answered = [r for r in results if r.answer.timeline]
    cited = sum(len(r.answer.timeline) for r in answered)
    print(f"\n{len(results)} stories: {len(answered)} answered with a timeline, "
          f"{sum(r.in_order for r in results)} in date order, "
          f"{sum(r.dated_articles >= MIN_ARTICLES for r in results)} cite ≥ {MIN_ARTICLES} dated articles; "
          f"cited articles on story {sum(r.on for r in answered)}/{cited}"
          + (f" ({sum(len(r.unjudged) for r in results)} not judged yet)" if any(r.unjudged for r in results) else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
