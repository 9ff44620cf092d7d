"""The evaluation suite: every figure of issue 12 beside its goal, from one command
(`newsdesk eval --suite all`).

Every part asks through service.Newsdesk.ask (the code path of POST /ask) and is scored by
evaluation.py's metric code:

- realtimeqa: the RealTimeQA dev questions over the dev corpus (retrieval, answers, speed);
- squad: the SQuAD 2.0 sample over its own paragraphs (answerable answered, unanswerable declined);
- off-corpus: the same SQuAD questions asked of the RealTimeQA dev corpus, where none is
  answerable, beside the share of dev questions answered;
- conversation: (a) chit-chat and off-corpus probes asked after a dev question and newsdesk's
  answer to it, (b) every dev question asked after an unrelated one and its answer;
- followups: benchmarks/followups.jsonl, follow-ups asked with their history against the same
  questions written out in full.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable, Iterable, Sequence

from newsdesk.evaluation.metrics import (
    EvalQuestion,
    GoldSpan,
    Prediction,
    answer_articles,
    answered_from_earlier_topic,
    percentile,
)
from newsdesk.evaluation.run import (
    Report,
    default_embeddings_folder,
    evaluate,
    index_corpus,
    newsdesk_asker,
    off_corpus,
    prediction_of,
    read_questions,
)
from newsdesk.query import MAX_TURN_CHARS, Turn

PARTS = ("realtimeqa", "squad", "off-corpus", "conversation", "followups")
EPSILON = 1e-9  # shares are ratios of small integers: 0.98 must meet a goal of 0.98


@dataclass(frozen=True)
class SuitePaths:
    """Where the suite's data lives, relative to the checkout (the Makefile runs from there)."""

    data: Path = Path("../shared/data")
    followups: Path = Path("benchmarks/followups.jsonl")

    @property
    def dev_corpus(self) -> Path:
        return self.data / "realtimeqa" / "dev_corpus.jsonl.gz"

    @property
    def dev_questions(self) -> Path:
        return self.data / "realtimeqa" / "dev_questions.jsonl"

    @property
    def squad_corpus(self) -> Path:
        return self.data / "squad_v2" / "contexts.jsonl"

    @property
    def squad_questions(self) -> Path:
        return self.data / "squad_v2" / "dev_questions.jsonl"

    def needed(self, parts: Iterable[str]) -> list[Path]:
        parts = set(parts)
        paths = []
        if parts & {"realtimeqa", "off-corpus", "conversation", "followups"}:
            paths += [self.dev_corpus, self.dev_questions]
        if parts & {"squad", "off-corpus"}:
            paths += [self.squad_questions]
        if "squad" in parts:
            paths += [self.squad_corpus]
        if "followups" in parts:
            paths += [self.followups]
        return paths


# ---------------------------------------------------------------- figures and goals


@dataclass(frozen=True)
class Figure:
    """One number of the report, with its goal where it has one."""

    part: str
    name: str
    value: float | None
    goal: float | None = None
    at_least: bool = True  # the goal is a floor (value ≥ goal); False: a ceiling (value ≤ goal)
    unit: str = ""  # "" a share or score, "ms", "×" a ratio
    goal_note: str = ""  # what the goal is, where the number alone does not say it

    @property
    def met(self) -> bool | None:
        if self.goal is None or self.value is None:
            return None
        if self.at_least:
            return self.value >= self.goal - EPSILON
        return self.value <= self.goal + EPSILON

    @property
    def shortfall(self) -> float | None:
        """How far the value is from its goal (0 when met); None without a goal or a value."""
        if self.met is None:
            return None
        gap = self.goal - self.value if self.at_least else self.value - self.goal
        return max(0.0, gap)

    @property
    def verdict(self) -> str:
        if self.goal is None:
            return ""
        if self.met is None:
            return "not measured"
        return "met" if self.met else f"missed by {_number(self.shortfall, self.unit)}"

    @property
    def goal_text(self) -> str:
        if self.goal is None:
            return ""
        text = f"{'≥' if self.at_least else '≤'} {_number(self.goal, self.unit)}"
        return f"{text} ({self.goal_note})" if self.goal_note else text

    def to_json(self) -> dict:
        return {**asdict(self), "met": self.met, "shortfall": self.shortfall, "verdict": self.verdict}


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "×":
        return f"{value:.2f}×"
    return f"{value:.3f}"


# ---------------------------------------------------------------- conversation probes

CHIT_CHAT, OFF_CORPUS, NEW_TOPIC = "chit-chat", "off-corpus", "new topic"


@dataclass(frozen=True)
class Probe:
    """Something said after a first question that is not about that question's story."""

    text: str
    kind: str  # CHIT_CHAT, OFF_CORPUS (no article covers it), NEW_TOPIC (another story the corpus covers)
    source: str | None = None  # NEW_TOPIC: the dev question it paraphrases


# Written by hand. The off-corpus questions were checked against the dev corpus (none of its 1,877
# articles holds "Mona Lisa", "Pride and Prejudice", "photosynthesis", ...). "Which landmark is
# riddled with rust?" looks off-topic but is dev question 20220708_1 (the Eiffel Tower): a new
# topic the corpus covers, to be answered from its own article rather than declined.
PROBES: tuple[Probe, ...] = (
    Probe("Tell me a joke.", CHIT_CHAT),
    Probe("Thanks!", CHIT_CHAT),
    Probe("Hello", CHIT_CHAT),
    Probe("Write a poem about cats.", CHIT_CHAT),
    Probe("How are you?", CHIT_CHAT),
    Probe("Good morning!", CHIT_CHAT),
    Probe("What's your name?", CHIT_CHAT),
    Probe("Who are you?", CHIT_CHAT),
    Probe("Can you help me with my homework?", CHIT_CHAT),
    Probe("Ok, cool.", CHIT_CHAT),
    Probe("lol", CHIT_CHAT),
    Probe("Sing me a song.", CHIT_CHAT),
    Probe("Translate 'good night' into French.", CHIT_CHAT),
    Probe("Bye for now.", CHIT_CHAT),
    Probe("What is the capital of Peru?", OFF_CORPUS),
    Probe("Who painted the Mona Lisa?", OFF_CORPUS),
    Probe("Who wrote Pride and Prejudice?", OFF_CORPUS),
    Probe("What is photosynthesis?", OFF_CORPUS),
    Probe("What is the chemical symbol for gold?", OFF_CORPUS),
    Probe("How do I convert Celsius to Fahrenheit?", OFF_CORPUS),
    Probe("What is the Pythagorean theorem?", OFF_CORPUS),
    Probe("How do I reverse a list in JavaScript?", OFF_CORPUS),
    Probe("What is the periodic table?", OFF_CORPUS),
    Probe("How fast is the speed of light?", OFF_CORPUS),
    Probe("What is the cube root of 27?", OFF_CORPUS),
    Probe("What is the Fibonacci sequence?", OFF_CORPUS),
    Probe("Which landmark is riddled with rust?", NEW_TOPIC, source="20220708_1"),
)
TOPICS_PER_PROBE = 3
UNRELATED_OFFSET = 76  # about half of the 153 dev questions: another week, another story


@dataclass(frozen=True)
class ProbePair:
    first: EvalQuestion  # the dev question that opened the conversation
    probe: Probe


def probe_pairs(questions: Sequence[EvalQuestion], probes: Sequence[Probe] = PROBES,
                topics_per_probe: int = TOPICS_PER_PROBE) -> list[ProbePair]:
    """Pair m (m = 0, 1, ...) is probe m mod P after dev question 2m mod n, so each probe follows
    topics_per_probe different questions spread over the set. A new-topic probe skips to the next
    question while that one shares a gold article with the probe's source (its answer would
    rightly quote the same article)."""
    by_id = {q.id: q for q in questions}
    pairs = []
    for m in range(topics_per_probe * len(probes)):
        probe = probes[m % len(probes)]
        source = by_id.get(probe.source) if probe.source else None
        avoid = set(source.gold_doc_ids) if source else set()
        start = 2 * m % len(questions)
        first = next((questions[(start + step) % len(questions)] for step in range(len(questions))
                      if not _shares_gold(questions[(start + step) % len(questions)], source, avoid)),
                     questions[start])
        pairs.append(ProbePair(first, probe))
    return pairs


def _shares_gold(question: EvalQuestion, other: EvalQuestion | None, gold: set[str]) -> bool:
    return other is not None and (question.id == other.id or bool(gold & set(question.gold_doc_ids)))


def unrelated_partners(questions: Sequence[EvalQuestion],
                       offset: int = UNRELATED_OFFSET) -> dict[str, EvalQuestion]:
    """Question i's earlier question: (i + offset) mod n, or the next after it that is another
    question sharing no gold article with i."""
    partners = {}
    n = len(questions)
    for i, question in enumerate(questions):
        candidates = [questions[(i + offset + step) % n] for step in range(n)]
        candidates = [c for c in candidates if c.id != question.id]
        unrelated = [c for c in candidates if not set(c.gold_doc_ids) & set(question.gold_doc_ids)]
        if unrelated or candidates:
            partners[question.id] = (unrelated or candidates)[0]
    return partners


def turns_after(question: str, answer: str) -> list:
    """The conversation so far: a question and the answer newsdesk gave it."""
    return [Turn(role="user", content=question[:MAX_TURN_CHARS]),
            Turn(role="assistant", content=(answer.strip() or "(no answer)")[:MAX_TURN_CHARS])]


@dataclass(frozen=True)
class ProbeOutcome:
    first_id: str
    probe: str
    kind: str
    abstained: bool
    from_earlier_topic: bool
    answer_articles: tuple[str, ...]
    earlier_articles: tuple[str, ...]
    answer: str
    seconds: float
    confidence: float | None = None


def ask_probes(desk, pairs: Sequence[ProbePair], firsts: dict[str, Prediction],
               k: int = 10) -> list[ProbeOutcome]:
    """Each probe asked after its first question and the answer newsdesk gave it (firsts), on
    the first question's date."""
    outcomes = []
    for pair in pairs:
        first = firsts[pair.first.id]
        as_of = date.fromisoformat(pair.first.date) if pair.first.date else None
        started = time.perf_counter()
        then = prediction_of(desk.ask(pair.probe.text, k, as_of=as_of,
                                      history=turns_after(pair.first.question, first.answer)))
        seconds = time.perf_counter() - started
        outcomes.append(ProbeOutcome(
            first_id=pair.first.id, probe=pair.probe.text, kind=pair.probe.kind,
            abstained=then.abstained, from_earlier_topic=answered_from_earlier_topic(first, then),
            answer_articles=answer_articles(then),
            earlier_articles=tuple(dict.fromkeys(c.article_id for c in first.cited)),
            answer=then.answer, seconds=seconds, confidence=then.confidence))
    return outcomes


# ---------------------------------------------------------------- follow-ups


@dataclass(frozen=True)
class FollowUp:
    """A hand-written conversation: a first question, a follow-up leaning on it, and the same
    follow-up written out in full, both carrying the gold of the dev question they ask about."""

    first: str
    follow_up: EvalQuestion
    written_out: EvalQuestion


def read_followups(path: Path) -> list[FollowUp]:
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        spans = tuple(GoldSpan(p["doc_id"], p["char_start"], p["char_end"]) for p in item["gold_passages"])
        def question(text: str) -> EvalQuestion:
            return EvalQuestion(id=item["id"], question=text, answers=tuple(item["answer_text"]),
                                gold_doc_ids=tuple(item["gold_doc_ids"]), gold_spans=spans,
                                date=item["question_date"].replace("/", "-"))
        items.append(FollowUp(item["first"], question(item["follow_up"]), question(item["full"])))
    return items


def followup_history(desk, followups: Sequence[FollowUp], k: int = 10) -> Callable:
    """history(question) for newsdesk_asker: the follow-up's first question and newsdesk's own
    answer to it, asked on the same date (so the follow-up's timing includes that first answer)."""
    firsts = {f.follow_up.id: f.first for f in followups}
    def history(question: EvalQuestion) -> list:
        first = firsts[question.id]
        as_of = date.fromisoformat(question.date) if question.date else None
        return turns_after(first, desk.ask(first, k, as_of=as_of).answer)
    return history


def followup_reports(desk, followups: Sequence[FollowUp], k: int = 10) -> list[Report]:
    """Written out in full, follow-up with its history, follow-up alone."""
    written = [f.written_out for f in followups]
    follow = [f.follow_up for f in followups]
    return [
        evaluate("written out in full", written, newsdesk_asker(desk, k)),
        evaluate("follow-up with history", follow, newsdesk_asker(desk, k, history=followup_history(desk, followups, k))),
        evaluate("follow-up alone", follow, newsdesk_asker(desk, k)),
    ]


FOLLOWUP_SHARE = 0.9  # follow-up hit@5 must reach this share of the written-out question's


# ---------------------------------------------------------------- the suite


@dataclass
class SuiteResult:
    k: int
    parts: list[str]
    titles: dict[str, str]
    figures: list[Figure]
    reports: dict[str, Report] = field(default_factory=dict)
    probes: list[ProbeOutcome] = field(default_factory=list)

    def table(self) -> str:
        """One Markdown table: every figure, its goal and whether it was met."""
        lines = [f"newsdesk evaluation suite (k = {self.k}): {', '.join(self.parts)}", "",
                 "| part | figure | value | goal | verdict |", "|---|---|---:|---|---|"]
        shown = None
        for figure in self.figures:
            part = self.titles[figure.part] if figure.part != shown else ""
            shown = figure.part
            lines.append(f"| {part} | {figure.name} | {_number(figure.value, figure.unit)} | "
                         f"{figure.goal_text} | {figure.verdict} |")
        judged = [f for f in self.figures if f.met is not None]
        missed = [f for f in judged if not f.met]
        lines += ["", f"{len(judged)} goals: {len(judged) - len(missed)} met, {len(missed)} missed"
                  + (f" ({'; '.join(f'{f.part}: {f.name}' for f in missed)})" if missed else "")]
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {"k": self.k, "parts": self.parts, "titles": self.titles,
                "figures": [f.to_json() for f in self.figures],
                "reports": {name: report.to_json() for name, report in self.reports.items()},
                "probes": [asdict(p) for p in self.probes]}


def measure(parts: Sequence[str], k: int = 10, dev_desk=None, squad_desk=None,
            dev_questions: Sequence[EvalQuestion] = (), squad_questions: Sequence[EvalQuestion] = (),
            followups: Sequence[FollowUp] = (), log: Callable[[str], None] = lambda _: None) -> SuiteResult:
    """Ask and score the parts named: dev_desk answers over the RealTimeQA dev corpus,
    squad_desk over the SQuAD paragraphs (each anything with Newsdesk.ask's signature)."""
    parts = [p for p in PARTS if p in set(parts)]
    result = SuiteResult(k=k, parts=parts, titles={}, figures=[])
    add = result.figures.append
    dev = firsts = None
    if set(parts) & {"realtimeqa", "off-corpus", "conversation"}:
        log(f"asking {len(dev_questions)} RealTimeQA dev questions")
        firsts = {}
        dev = evaluate("realtimeqa-dev", dev_questions, _recording(newsdesk_asker(dev_desk, k), firsts))
        result.reports["realtimeqa-dev"] = dev

    if "realtimeqa" in parts:
        result.titles["realtimeqa"] = f"RealTimeQA dev ({dev.questions} questions, dev corpus)"
        add(Figure("realtimeqa", "doc R@5", dev.doc_recall[5], 0.95))
        add(Figure("realtimeqa", "doc MRR@10", dev.doc_mrr10, 0.85))
        add(Figure("realtimeqa", "passage hit@5", dev.passage_hit[5], 0.90))
        add(Figure("realtimeqa", "answer contains gold", dev.answer_contains_gold, 0.65))
        add(Figure("realtimeqa", "per-question time p50", dev.p50_ms, unit="ms"))
        _confidence_figure(add, "realtimeqa", "confidence p50, answered", dev.outcomes, answered=True)

    if "squad" in parts:
        log(f"asking {len(squad_questions)} SQuAD 2.0 questions of their paragraphs")
        squad = evaluate("squad-v2", squad_questions, newsdesk_asker(squad_desk, k))
        result.reports["squad-v2"] = squad
        result.titles["squad"] = (f"SQuAD 2.0 sample ({squad.answerable} answerable, "
                                  f"{squad.unanswerable} unanswerable; its paragraphs)")
        add(Figure("squad", "answerable answered", squad.answered_when_answerable, 0.90))
        add(Figure("squad", "unanswerable declined", squad.abstained_when_unanswerable, 0.60))
        add(Figure("squad", "answer contains gold (answerable)", squad.answer_contains_gold))
        add(Figure("squad", "per-question time p50", squad.p50_ms, unit="ms"))

    if "off-corpus" in parts:
        log(f"asking {len(squad_questions)} SQuAD questions of the RealTimeQA dev corpus")
        elsewhere = evaluate("off-corpus", off_corpus(squad_questions), newsdesk_asker(dev_desk, k))
        result.reports["off-corpus"] = elsewhere
        result.titles["off-corpus"] = (f"Off-corpus ({elsewhere.questions} SQuAD questions asked of "
                                       f"the dev corpus; {dev.questions} dev questions)")
        add(Figure("off-corpus", "SQuAD questions declined", elsewhere.abstained_when_unanswerable, 0.90))
        add(Figure("off-corpus", "RealTimeQA dev questions answered", dev.answered_when_answerable, 0.98))
        add(Figure("off-corpus", "per-question time p50", elsewhere.p50_ms, unit="ms"))
        _confidence_figure(add, "off-corpus", "confidence p50, SQuAD questions", elsewhere.outcomes)

    if "conversation" in parts:
        pairs = probe_pairs(dev_questions)
        log(f"asking {len(pairs)} probes after a dev question")
        result.probes = ask_probes(dev_desk, pairs, firsts, k)
        partners = unrelated_partners(dev_questions)
        log(f"asking {len(partners)} dev questions after an unrelated one")
        def unrelated_history(question: EvalQuestion) -> list | None:
            partner = partners.get(question.id)
            return turns_after(partner.question, firsts[partner.id].answer) if partner else None
        after = evaluate("after-unrelated", dev_questions, newsdesk_asker(dev_desk, k, history=unrelated_history))
        result.reports["after-unrelated"] = after
        result.titles["conversation"] = (f"Conversation, dev corpus ({len(pairs)} probes after a dev "
                                         f"question; {after.questions} questions after an unrelated one)")
        probes = result.probes
        add(Figure("conversation", "probes answered from the earlier topic",
                   _share([p.from_earlier_topic for p in probes]), 0.0, at_least=False, goal_note="never"))
        for kind, name in ((CHIT_CHAT, "chit-chat probes declined"), (OFF_CORPUS, "off-corpus probes declined")):
            add(Figure("conversation", name, _share([p.abstained for p in probes if p.kind == kind])))
        add(Figure("conversation", "new-topic probes answered",
                   _share([not p.abstained for p in probes if p.kind == NEW_TOPIC])))
        add(Figure("conversation", "doc R@5 after an unrelated question", after.doc_recall[5],
                   dev.doc_recall[5], goal_note="as asked alone"))

    if "followups" in parts:
        log(f"asking {len(followups)} follow-up conversations")
        written, with_history, alone = followup_reports(dev_desk, followups, k)
        for report in (written, with_history, alone):
            result.reports[f"followups: {report.recipe}"] = report
        result.titles["followups"] = f"Follow-ups ({len(followups)} conversations, dev corpus)"
        hit, full = with_history.passage_hit[5], written.passage_hit[5]
        add(Figure("followups", "passage hit@5, follow-up with history / written out",
                   hit / full if hit is not None and full else None, FOLLOWUP_SHARE, unit="×"))
        add(Figure("followups", "passage hit@5, written out", full))
        add(Figure("followups", "passage hit@5, follow-up with history", hit))
        add(Figure("followups", "passage hit@5, follow-up alone", alone.passage_hit[5]))
    return result


def _recording(ask, into: dict[str, Prediction]):
    """The asker, keeping each question's prediction (the conversations are built on them)."""
    def recorded(question: EvalQuestion) -> Prediction:
        into[question.id] = prediction = ask(question)
        return prediction
    return recorded


def _share(flags: Sequence[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def _confidence_figure(add, part: str, name: str, outcomes, answered: bool = False) -> None:
    """The answers' median confidence, where Answer reports one (no goal: for calibrating)."""
    values = [o.confidence for o in outcomes
              if o.confidence is not None and (not answered or not o.abstained)]
    if values:
        add(Figure(part, name, percentile(values, 50)))


def run_suite(parts: Sequence[str] = PARTS, paths: SuitePaths = SuitePaths(), k: int = 10,
              embedder=None, progress: bool = True, json_out: Path | None = None,
              log: Callable[[str], None] = lambda _: None) -> SuiteResult:
    """What `newsdesk eval --suite` does: bring each corpus's index (.cache/eval-<corpus>) up to
    date, ask every part's questions, and score them against their goals."""
    parts = [p for p in PARTS if p in set(parts)]
    missing = [str(p) for p in paths.needed(parts) if not p.exists()]
    if missing:
        raise ValueError("the suite needs " + ", ".join(missing))
    desks = {}
    def desk(corpus: Path):
        nonlocal embedder
        from newsdesk.service import Newsdesk

        if corpus not in desks:
            log(f"index {corpus} → {default_embeddings_folder(corpus)}")
            settings, embedder, _ = index_corpus(corpus, default_embeddings_folder(corpus), embedder,
                                                 progress=progress, log=log)
            desks[corpus] = Newsdesk(settings, embedder)
        return desks[corpus]

    uses_dev = set(parts) & {"realtimeqa", "off-corpus", "conversation", "followups"}
    result = measure(
        parts, k,
        dev_desk=desk(paths.dev_corpus) if uses_dev else None,
        squad_desk=desk(paths.squad_corpus) if "squad" in parts else None,
        dev_questions=read_questions(paths.dev_questions) if uses_dev else (),
        squad_questions=read_questions(paths.squad_questions) if set(parts) & {"squad", "off-corpus"} else (),
        followups=read_followups(paths.followups) if "followups" in parts else (),
        log=log)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result.to_json(), indent=1, ensure_ascii=False))
    return result
