"""Near-duplicate stories, measured (issue 18, item 1):

1. corpus_10k: the groups found (how many, articles in them, the largest), the time to sketch
   the articles and to derive the groups, and a random sample of 50 grouped pairs with both
   articles' beginnings, for a hand check of precision (the judgements, made by reading those
   beginnings, are kept in benchmarks/duplicates_judgements.json and merged in here);
2. deriving the groups over 100,000 sketches (corpus_10k's and 90,000 random ones, which, like
   most articles, collide with nothing): the load-time cost (goal: well under a second);
3. the RealTimeQA dev questions through the /ask code path (`newsdesk eval`'s recipe
   "newsdesk"), once with the story groups emptied and once with them: the figures before/after.

    .venv/bin/python benchmarks/duplicates.py --dev-embeddings FOLDER

FOLDER is an evaluation index of the dev corpus (`newsdesk eval` keeps it in
.cache/eval-dev_corpus); it is brought up to date first, as `newsdesk eval` does.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from datetime import datetime, timezone
from itertools import combinations
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

from newsdesk.articles.dates import parse_date  # noqa: E402
from newsdesk.articles.folders import read_articles  # noqa: E402
from newsdesk.evaluation.run import evaluate, index_corpus, newsdesk_asker, read_questions  # noqa: E402
from newsdesk.index.duplicates import NUM_PERM, StoryGroups, StorySketches, shingles  # noqa: E402
from newsdesk.retrieval.filters import outlet_of  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "realtimeqa"
JUDGEMENTS = ROOT / "benchmarks" / "duplicates_judgements.json"
SAMPLE = 50
BEGINNING = 400  # characters of each article shown for the hand check


def measure_corpus(corpus: Path, seed: int) -> tuple[dict, list[dict], StorySketches]:
    articles = read_articles([corpus]).articles
    started = time.perf_counter()
    sketches = StorySketches.of_articles(articles)
    sketch_seconds = time.perf_counter() - started
    published = {a.id: d for a in articles if (d := parse_date(a.published)) is not None}
    started = time.perf_counter()
    groups = StoryGroups.of([sketches], None, published)
    group_seconds = time.perf_counter() - started
    by_id = {a.id: a for a in articles}
    sizes = [len(g) for g in groups.groups()]
    pairs = [pair for group in groups.groups() for pair in combinations(group, 2)]
    sample = random.Random(seed).sample(pairs, min(SAMPLE, len(pairs)))
    row = {article_id: n for n, article_id in enumerate(sketches.ids)}
    judged = json.loads(JUDGEMENTS.read_text()) if JUDGEMENTS.exists() else {}
    checked = []
    for first, second in sample:
        a, b = by_id[first], by_id[second]
        one, other = set(shingles(a.text[a.body_start:])), set(shingles(b.text[b.body_start:]))
        judgement = judged.get(f"{first} {second}", {})
        checked.append({
            "pair": [first, second],
            "outlets": [outlet_of(a.url), outlet_of(b.url)],
            "published": [a.published, b.published],
            "titles": [a.title, b.title],
            "estimated_jaccard": round(float((sketches.signatures[row[first]]
                                              == sketches.signatures[row[second]]).mean()), 3),
            "jaccard": round(len(one & other) / len(one | other), 3),
            "beginnings": [a.text[:BEGINNING], b.text[:BEGINNING]],
            "same_story": judgement.get("same_story"),
            "note": judgement.get("note"),
        })
    verdicts = [p["same_story"] for p in checked if p["same_story"] is not None]
    outlets = {}
    for group in groups.groups():
        kinds = {outlet_of(by_id[a].url) for a in group}
        key = "one outlet" if len(kinds) == 1 else "several outlets"
        outlets[key] = outlets.get(key, 0) + 1
    return {
        "articles": len(articles),
        "groups": len(groups),
        "articles_in_groups": sum(sizes),
        "largest_group": max(sizes, default=0),
        "group_sizes": {str(s): sizes.count(s) for s in sorted(set(sizes))},
        "groups_by_outlets": outlets,
        "pairs_in_groups": len(pairs),
        "sketch_seconds": round(sketch_seconds, 2),
        "sketch_ms_per_article": round(1000 * sketch_seconds / max(len(articles), 1), 2),
        "group_seconds": round(group_seconds, 4),
        "sample": {"pairs": len(checked), "judged": len(verdicts),
                   "same_story": sum(verdicts),
                   "precision": round(sum(verdicts) / len(verdicts), 3) if verdicts else None},
    }, checked, sketches


def measure_scale(real: StorySketches, total: int, seed: int) -> dict:
    """StoryGroups.of over total sketches: the real ones and random ones (unique articles)."""
    generator = np.random.default_rng(seed)
    extra = total - len(real)
    filler = StorySketches(tuple(f"filler-{n}" for n in range(extra)),
                           generator.integers(0, 2**32 - 1, size=(extra, NUM_PERM), dtype=np.uint32))
    segments = [real, *(filler.select(filler.ids[n:n + 10_000]) for n in range(0, extra, 10_000))]
    live = {i for s in segments for i in s.ids}
    times = []
    for _ in range(3):
        started = time.perf_counter()
        groups = StoryGroups.of(segments, live, {})
        times.append(time.perf_counter() - started)
    return {"sketches": total, "segments": len(segments), "groups": len(groups),
            "seconds_best_of_3": round(min(times), 3), "seconds_all": [round(t, 3) for t in times]}


def measure_dev(corpus: Path, questions: Path, embeddings: Path) -> dict:
    from newsdesk.service import Newsdesk

    settings, embedder, _ = index_corpus(corpus, embeddings)
    desk = Newsdesk(settings, embedder)
    desk.ask("warm up", 10)  # loads the generation
    generation = desk.generation
    stories = generation.stories
    asked = read_questions(questions)
    gold = {g for q in asked for g in q.gold_doc_ids}
    reports = {}
    for label, groups in (("before", StoryGroups.empty()), ("after", stories)):
        generation.stories = groups
        report = evaluate("newsdesk", asked, newsdesk_asker(desk, 10, True)).to_json(with_outcomes=False)
        reports[label] = report
    generation.stories = stories
    return {
        "articles": len(generation.articles),
        "groups": len(stories),
        "articles_in_groups": sum(len(g) for g in stories.groups()),
        "groups_holding_a_gold_article": sum(1 for g in stories.groups() if gold & set(g)),
        "members": [list(g) for g in stories.groups()],
        "before": reports["before"],
        "after": reports["after"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=DATA / "corpus_10k.jsonl.gz")
    parser.add_argument("--dev-corpus", type=Path, default=DATA / "dev_corpus.jsonl.gz")
    parser.add_argument("--dev-questions", type=Path, default=DATA / "dev_questions.jsonl")
    parser.add_argument("--dev-embeddings", type=Path, help="the dev corpus's evaluation index; "
                        "without it the dev figures are not measured")
    parser.add_argument("--scale", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()

    corpus, sample, sketches = measure_corpus(args.corpus, args.seed)
    print(json.dumps(corpus, indent=1), flush=True)
    scale = measure_scale(sketches, args.scale, args.seed)
    print(json.dumps(scale, indent=1), flush=True)
    dev = (measure_dev(args.dev_corpus, args.dev_questions, args.dev_embeddings)
           if args.dev_embeddings else None)
    if dev:
        for label in ("before", "after"):
            print(label, json.dumps({k: dev[label][k] for k in
                                     ("doc_recall", "doc_mrr10", "passage_hit", "answer_contains_gold")}))
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"duplicates-{stamp}.json"
    path.write_text(json.dumps({
        "measured_at": stamp, "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "corpus": str(args.corpus.name), "corpus_10k": corpus, "scale": scale, "dev": dev,
        "sample_pairs": sample}, indent=1, ensure_ascii=False))
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
