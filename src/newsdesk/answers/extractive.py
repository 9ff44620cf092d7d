"""Answers: cited, extractive answers built from retrieved passages, or a plain abstention."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol, Sequence

import numpy as np
from pydantic import BaseModel

from newsdesk.answers.conversation import content_words
from newsdesk.answers.coverage import Evidence, confidence_of
from newsdesk.answers.kinds import Kind, asked_kind, holds_kind
from newsdesk.index.lexical import query_terms, tokenize
from newsdesk.passages import sentence_spans
from newsdesk.retrieval.hybrid import Hit, Margins, Retriever

NOT_COVERED = "The indexed articles don't cover this question."
# With filters the reader must learn which it was: no article passes them, or those that pass
# don't answer. Either way they can widen the filters; "don't cover" alone would hide that.
NOTHING_MATCHES = "No indexed article matches the filters ({filters})."
NOT_COVERED_FILTERED = "The indexed articles that match the filters ({filters}) don't cover this question."
MAX_ANSWER_SENTENCES = 3
SENTENCE_PASSAGES = 3  # answer sentences come from the best few passages only
# A sentence whose words are mostly the question's own restates it and answers nothing.
RESTATED_SHARE = 0.8
RANK_PRIOR = 0.1  # per place: the first passage's sentence beats an equal one of the third by 0.2
# A follow-up's borrowed words found its passages; in choosing the sentence that answers, they
# only break ties between sentences that hold as much of the question's own words.
CONTEXT_TERM_WEIGHT = 0.25
# A sentence that holds the kind of thing asked (a name for "who") over one that doesn't.
KIND_WEIGHT = 0.2
# A further sentence must hold this share of the question's own (idf-weighted) words that the
# sentences before it lack.
NEW_WORDS_SHARE = 0.1


class Citation(BaseModel):
    n: int
    passage_id: str
    article_id: str
    title: str
    text: str
    char_start: int
    char_end: int
    score: float
    url: str | None = None
    published: str | None = None
    # The outlets of the same story's other copies (retrieval/stories.py): the story is cited
    # once, from the copy whose passage scored best (the earliest on a tie), the others named here.
    also_in: list[str] = []


class TimelineEntry(BaseModel):
    """One dated step of a story in a timeline answer (answers/timeline.py)."""

    date: str  # YYYY-MM-DD
    dated_by: Literal["published", "sentence"]  # the article's date, or a day the sentence names
    citation: int  # the n of its Citation
    text: str  # the sentence, as in the article
    char_start: int  # the sentence's offsets in the article
    char_end: int


class Answer(BaseModel):
    answer: str
    citations: list[Citation]
    abstained: bool
    # How sure newsdesk is that the cited articles answer the question, 0..1 (coverage.py);
    # below the abstain_below setting (default 0.5) it declines.
    confidence: float = 0.0
    small_talk: bool = False  # a plain reply to "Thanks!" or "Tell me a joke": nothing searched
    took_ms: float
    generation: str | None = None
    note: str | None = None  # why the answer is not what was asked for, e.g. the LLM writer failed
    flagged_sentences: list[str] = []  # written sentences no valid [n] marker supports
    timeline: list[TimelineEntry] = []  # a timeline answer's entries, in the order asked


@dataclass(frozen=True)
class AnswerSentence:
    citation: int  # 1-based, as the [n] marker
    text: str
    score: float
    start: int  # offset in the article
    end: int
    shared: float = 0.0  # share of the question's own (idf-weighted) words the sentence holds
    article_id: str = ""
    terms: frozenset[str] = frozenset()  # its stemmed words
    holds_kind: bool = False  # it holds the kind of thing asked for (a number for "how many")


@dataclass(frozen=True)
class Draft:
    """A writer's answer: the text with [n] markers, and the sentences it could not support."""

    text: str
    flagged_sentences: tuple[str, ...] = ()
    note: str | None = None


class WriterFailed(Exception):
    """The writer could not answer (unreachable, timed out, nothing usable): answer extractively."""


class AnswerWriter(Protocol):
    """The seam for a generator (an LLM): takes the hits, returns the answer text. It cannot change
    which passages are cited or their order: that is retrieval/rerank.py's seam."""

    def write(self, question: str, hits: Sequence[Hit], citations: Sequence[Citation]) -> Draft: ...


def cite(hits: Sequence[Hit], generation) -> list[Citation]:
    citations = []
    for n, hit in enumerate(hits, start=1):
        passage = hit.passage
        article = generation.articles[passage.article_id]
        citations.append(Citation(
            n=n, passage_id=passage.passage_id, article_id=passage.article_id, title=passage.title,
            text=passage.text, char_start=passage.char_start, char_end=passage.char_end,
            score=round(float(hit.score), 6), url=article.url, published=article.published,
            also_in=list(hit.also_in),
        ))
    return citations


@dataclass(frozen=True)
class QuestionTerms:
    """The question's stemmed words weighted by rarity (idf), and the kind of answer it asks for.

    own: the words the question itself says; context: a follow-up's borrowed words. Sentences
    are ranked by both, but whether the articles cover a question is judged on its own words.
    """

    own: dict[str, float]
    context: dict[str, float]
    kind: Kind | None

    def own_share(self, words: frozenset[str] | set[str]) -> float:
        """Share of the question's own idf weight these words hold (of the context's, if it has none)."""
        return _share(self.own or self.context, words)

    def context_share(self, words: frozenset[str] | set[str]) -> float:
        return _share(self.context, words)


def _share(weights: dict[str, float], words: frozenset[str] | set[str]) -> float:
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in words) / total if total else 0.0


def question_terms(question: str, query: str | None, retriever: Retriever) -> QuestionTerms:
    idf = retriever.generation.lexical.idf
    # Content words only: BM25's stopword list keeps "what", "did" and "say", which an index
    # that never saw them rates as its rarest words.
    own_text, query_text = (" ".join(content_words(text)) for text in (question, query or question))
    own = {t: idf(t) for t in query_terms(own_text)}
    context = {}
    if query and query != question:
        context = {t: idf(t) for t in query_terms(query_text) if t not in own}
    return QuestionTerms(own, context, asked_kind(question))


def best_sentences(question: str, hits: Sequence[Hit], retriever: Retriever,
                   query: str | None = None, terms: QuestionTerms | None = None) -> list[AnswerSentence]:
    """Sentences of the top passages ranked by the question's own rarer words, the kind of
    answer asked for, and passage rank; a follow-up's borrowed words (query) at a quarter.

    No model runs here: embedding 20-30 candidate sentences per question was ~90% of /ask time,
    and on RealTimeQA dev it found the gold answer no more often (docs/evaluation.md).
    """
    terms = terms or question_terms(question, query, retriever)
    candidates: list[tuple[int, str, int, int, str]] = []
    for n, hit in enumerate(hits[:SENTENCE_PASSAGES], start=1):
        passage = hit.passage
        for start, end in sentence_spans(passage.text):
            text = passage.text[start:end]
            if len(text) >= 20:
                candidates.append((n, passage.article_id, passage.char_start + start,
                                   passage.char_start + end, text))
    if not candidates:
        return []
    question_words = set(terms.own)
    scored, informative = [], []
    for (n, article_id, start, end, text), words in zip(
            candidates, tokenize([c[4] for c in candidates])):
        words = frozenset(words)
        own, kind = terms.own_share(words), holds_kind(text, terms.kind, question)
        score = (own + CONTEXT_TERM_WEIGHT * terms.context_share(words) + KIND_WEIGHT * kind
                 + RANK_PRIOR * (SENTENCE_PASSAGES - n))
        sentence = AnswerSentence(n, text, score, start, end, own, article_id, words, kind)
        scored.append(sentence)
        if not _restates(question_words, words):
            informative.append(sentence)
    return sorted(informative or scored, key=lambda s: -s.score)


def _restates(question_terms: set[str], words: frozenset[str]) -> bool:
    """True when most of the sentence's words are the question's (quiz pages repeat it)."""
    return bool(words) and len(words & question_terms) / len(words) >= RESTATED_SHARE


def compose(sentences: Sequence[AnswerSentence], terms: QuestionTerms) -> str:
    """The leading sentence, and the few after it that add an answer of their own.

    A further sentence must come from the lead's story (its article) and bring something the
    sentences before it lack: a rare question word they don't hold, or the kind of thing asked
    (a number for "how many") when they hold none. One sentence is a fine answer: padding with
    whatever shared a word with the question is what ended an Eiffel Tower answer with a
    sentence about hurricane money in Raleigh.
    """
    chosen = [sentences[0]]
    for sentence in sentences[1:]:
        if len(chosen) == MAX_ANSWER_SENTENCES:
            break
        if (sentence.article_id == chosen[0].article_id and not _overlaps(sentence, chosen)
                and _adds_an_answer(sentence, chosen, terms)):
            chosen.append(sentence)
    return " ".join(f"{s.text} [{s.citation}]" for s in chosen)


def _adds_an_answer(sentence: AnswerSentence, chosen: Sequence[AnswerSentence],
                    terms: QuestionTerms) -> bool:
    if sentence.holds_kind and not any(c.holds_kind for c in chosen):
        return True
    held = frozenset().union(*(c.terms for c in chosen))
    new_words = (sentence.terms & terms.own.keys()) - held
    return terms.own_share(new_words) >= NEW_WORDS_SHARE


def _overlaps(sentence: AnswerSentence, chosen: Sequence[AnswerSentence]) -> bool:
    return any(sentence.text == c.text or (sentence.start < c.end and c.start < sentence.end)
               for c in chosen)


@dataclass(frozen=True)
class Retrieved:
    """The passages found for a question, cited, their best sentences, and how sure it is that
    they answer it."""

    question: str
    query: str  # what was searched: the question, or a follow-up with its earlier terms
    query_vector: np.ndarray
    hits: list[Hit]
    citations: list[Citation]
    terms: QuestionTerms
    sentences: list[AnswerSentence]  # best first
    evidence: Evidence
    confidence: float  # 0..1: that the articles answer the question (coverage.py)
    abstained: bool
    started: float  # perf_counter() when the question arrived

    @property
    def took_ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 2)


def retrieve(question: str, retriever: Retriever, k: int, abstain_below: float,
             retrieval_query: str | None = None, as_of: date | None = None,
             started: float | None = None, query_vector: np.ndarray | None = None) -> Retrieved:
    """Search for the question (or for retrieval_query, a follow-up written out), cite the hits,
    rank their sentences and judge whether they answer it (below abstain_below: they don't).
    started: perf_counter() when the question arrived, if before this call; query_vector: the
    query's embedding, where this request has it already."""
    started = time.perf_counter() if started is None else started
    query = retrieval_query or question
    if query_vector is None:
        query_vector = retriever.embed_question(query)
    hits, margins = retriever.search_with_margins(query, k, query_vector=query_vector, as_of=as_of)
    citations = cite(hits, retriever.generation)
    terms = question_terms(question, query, retriever)
    sentences = best_sentences(question, hits, retriever, query, terms) if hits else []
    evidence = _evidence(hits, margins, sentences, terms)
    confidence = confidence_of(evidence, follow_up=query != question)
    abstained = not sentences or confidence < abstain_below
    return Retrieved(question, query, query_vector, hits, citations, terms, sentences, evidence,
                     confidence, abstained, started)


def _evidence(hits: Sequence[Hit], margins: Margins, sentences: Sequence[AnswerSentence],
              terms: QuestionTerms) -> Evidence:
    """What coverage.py judges by, from the passages the answer is taken from (whatever k was)."""
    cosine = max((h.dense for h in hits[:SENTENCE_PASSAGES]), default=0.0)
    by_passage: dict[int, set[str]] = {}
    for sentence in sentences:
        by_passage.setdefault(sentence.citation, set()).update(sentence.terms)
    own_words = max((terms.own_share(words) for words in by_passage.values()), default=0.0)
    return Evidence(cosine, margins.dense, margins.lexical, own_words)


def not_covered(retriever: Retriever) -> str:
    """What a declined answer says: with filters, whether they left any article to search."""
    filters = retriever.filters
    if not filters.active:
        return NOT_COVERED
    template = NOTHING_MATCHES if retriever.matches_nothing else NOT_COVERED_FILTERED
    return template.format(filters=filters.describe())


def extractive_answer(retrieved: Retrieved) -> str | None:
    """The best sentences of the top passages with their markers; None when none qualifies."""
    return compose(retrieved.sentences, retrieved.terms) if retrieved.sentences else None


def answer_retrieved(retrieved: Retrieved, retriever: Retriever, writer: AnswerWriter | None = None,
                     writer_question: str | None = None) -> Answer:
    """Write the answer for passages already found: the writer's, else extractive, else abstain.

    writer_question is the question as the writer should read it (a follow-up with its context).
    """
    note, flagged = None, []
    text = not_covered(retriever) if retrieved.abstained else None
    if text is None and writer is not None:
        try:
            draft = writer.write(writer_question or retrieved.question, retrieved.hits,
                                 retrieved.citations)
        except WriterFailed as failure:
            note = f"{failure} — the answer is copied from the articles instead"
        else:
            text, flagged = draft.text, list(draft.flagged_sentences)
            note = draft.note
    if text is None:
        text = extractive_answer(retrieved)
    abstained = retrieved.abstained or text is None
    return Answer(answer=text or not_covered(retriever), citations=retrieved.citations, abstained=abstained,
                  confidence=round(retrieved.confidence, 4), took_ms=retrieved.took_ms,
                  generation=retriever.generation.name, note=note, flagged_sentences=flagged)


def small_talk_answer(reply: str, retriever: Retriever, started: float) -> Answer:
    """A plain reply to small talk: nothing was searched, so nothing is cited."""
    return Answer(answer=reply, citations=[], abstained=True, confidence=0.0, small_talk=True,
                  took_ms=round((time.perf_counter() - started) * 1000, 2),
                  generation=retriever.generation.name)
