"""Answers: cited, extractive answers built from retrieved passages, or a plain abstention."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import date
from typing import Protocol, Sequence

import numpy as np
from pydantic import BaseModel

from .lexical import tokenize
from .passages import sentence_spans
from .retrieval import Hit, Retriever

NOT_COVERED = "The indexed articles don't cover this question."
MAX_ANSWER_SENTENCES = 3
SENTENCE_PASSAGES = 3  # answer sentences come from the best few passages only
# A sentence whose words are mostly the question's own restates it and answers nothing.
RESTATED_SHARE = 0.8
RANK_PRIOR = 0.1  # per place: the first passage's sentence beats an equal one of the third by 0.2
CONTEXT_TERM_WEIGHT = 0.5


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


class Answer(BaseModel):
    answer: str
    citations: list[Citation]
    abstained: bool
    took_ms: float
    generation: str | None = None
    note: str | None = None  # why the answer is not what was asked for, e.g. the LLM writer failed
    flagged_sentences: list[str] = []  # written sentences no valid [n] marker supports


@dataclass(frozen=True)
class AnswerSentence:
    citation: int  # 1-based, as the [n] marker
    text: str
    score: float
    start: int  # offset in the article
    end: int
    shared: float = 0.0  # share of the question's (idf-weighted) words the sentence holds


@dataclass(frozen=True)
class Draft:
    """A writer's answer: the text with [n] markers, and the sentences it could not support."""

    text: str
    flagged_sentences: tuple[str, ...] = ()
    note: str | None = None


class WriterFailed(Exception):
    """The writer could not answer (unreachable, timed out, nothing usable): answer extractively."""


class AnswerWriter(Protocol):
    """The seam for a generator (an LLM) or a reranker: takes the hits, returns the answer text."""

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
        ))
    return citations


def best_sentences(question: str, hits: Sequence[Hit], retriever: Retriever,
                   query: str | None = None) -> list[AnswerSentence]:
    """Sentences of the top passages ranked by the question's rarer words and passage rank.

    No model runs here: embedding 20-30 candidate sentences per question was ~90% of /ask time,
    and on RealTimeQA dev this scorer finds the gold answer as often (0.62 vs 0.60 of 153
    questions; README, Evaluation). query: a follow-up's search terms, weighted at half.
    """
    candidates: list[tuple[int, int, int, str]] = []
    for n, hit in enumerate(hits[:SENTENCE_PASSAGES], start=1):
        passage = hit.passage
        for start, end in sentence_spans(passage.text):
            text = passage.text[start:end]
            if len(text) >= 20:
                candidates.append((n, passage.char_start + start, passage.char_start + end, text))
    if not candidates:
        return []
    sentence_terms = [set(words) for words in tokenize([c[3] for c in candidates])]
    question_terms = set(tokenize([question])[0])
    weights = _term_weights(question_terms, question, query, retriever)
    total = sum(weights.values()) or 1.0
    scored, informative = [], []
    for (n, start, end, text), words in zip(candidates, sentence_terms):
        overlap = sum(weights[t] for t in words & weights.keys()) / total
        rank_prior = RANK_PRIOR * (SENTENCE_PASSAGES - n)
        sentence = AnswerSentence(n, text, overlap + rank_prior, start, end, overlap)
        scored.append(sentence)
        if not _restates(question_terms, words):
            informative.append(sentence)
    return sorted(informative or scored, key=lambda s: -s.score)


def _term_weights(question_terms: set[str], question: str, query: str | None,
                  retriever: Retriever) -> dict[str, float]:
    """The question's words weighted by rarity (idf); a follow-up's context words at half that."""
    weights = {t: _idf(t, retriever) for t in question_terms}
    if query and query != question:
        for term in tokenize([query])[0]:
            weights.setdefault(term, CONTEXT_TERM_WEIGHT * _idf(term, retriever))
    return weights


def _restates(question_terms: set[str], words: set[str]) -> bool:
    """True when most of the sentence's words are the question's (quiz pages repeat it)."""
    return bool(words) and len(words & question_terms) / len(words) >= RESTATED_SHARE


def _idf(term: str, retriever: Retriever) -> float:
    lexical = retriever.generation.lexical
    document_frequency = lexical.document_frequency(term)
    documents = max(1, lexical.documents)
    return math.log(1 + (documents - document_frequency + 0.5) / (document_frequency + 0.5))


def compose(sentences: Sequence[AnswerSentence]) -> str:
    chosen = [sentences[0]]
    for sentence in sentences[1:]:
        if len(chosen) == MAX_ANSWER_SENTENCES:
            break
        # Up to three sentences whatever their score (61% of RealTimeQA dev answers held the gold
        # answer, against 54% when a further one had to score 0.75 of the best), but each must
        # share a word with the question: otherwise the best passage's rank alone would pull in
        # a sentence about something else.
        if sentence.shared > 0 and not _overlaps(sentence, chosen):
            chosen.append(sentence)
    return " ".join(f"{s.text} [{s.citation}]" for s in chosen)


def _overlaps(sentence: AnswerSentence, chosen: Sequence[AnswerSentence]) -> bool:
    return any(sentence.text == c.text or (sentence.start < c.end and c.start < sentence.end)
               for c in chosen)


@dataclass(frozen=True)
class Retrieved:
    """The passages found for a question, cited, and whether they are good enough to answer from."""

    question: str
    query: str  # what was searched: the question, or a follow-up with its earlier terms
    query_vector: np.ndarray
    hits: list[Hit]
    citations: list[Citation]
    abstained: bool
    started: float  # perf_counter() when the question arrived

    @property
    def took_ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 2)


def retrieve(question: str, retriever: Retriever, k: int = 5, abstain_below: float = 0.30,
             retrieval_query: str | None = None, as_of: date | None = None) -> Retrieved:
    """Search for the question (or for retrieval_query, a follow-up written out) and cite the hits."""
    started = time.perf_counter()
    query = retrieval_query or question
    query_vector = retriever.embed_question(query)
    hits = retriever.search(query, k, query_vector=query_vector, as_of=as_of)
    citations = cite(hits, retriever.generation)
    abstained = not hits or max(h.dense for h in hits) < abstain_below
    return Retrieved(question, query, query_vector, hits, citations, abstained, started)


def extractive_answer(retrieved: Retrieved, retriever: Retriever) -> str | None:
    """The best sentences of the top passages with their markers; None when none qualifies."""
    # A follow-up's passages were found with the earlier turns' terms, but its answer sentences
    # must answer the question itself ("Who wants to change it?" → who): its words count double.
    sentences = best_sentences(retrieved.question, retrieved.hits, retriever, retrieved.query)
    return compose(sentences) if sentences else None


def answer_question(question: str, retriever: Retriever, k: int = 5,
                    abstain_below: float = 0.30, writer: AnswerWriter | None = None,
                    retrieval_query: str | None = None, as_of: date | None = None) -> Answer:
    """The /ask code path: retrieve, cite, then answer extractively or abstain."""
    retrieved = retrieve(question, retriever, k, abstain_below, retrieval_query, as_of)
    return answer_retrieved(retrieved, retriever, writer)


def answer_retrieved(retrieved: Retrieved, retriever: Retriever, writer: AnswerWriter | None = None,
                     writer_question: str | None = None) -> Answer:
    """Write the answer for passages already found: the writer's, else extractive, else abstain.

    writer_question is the question as the writer should read it (a follow-up with its context).
    """
    note, flagged = None, []
    text = NOT_COVERED if retrieved.abstained else None
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
        text = extractive_answer(retrieved, retriever)
    abstained = retrieved.abstained or text is None
    return Answer(answer=text or NOT_COVERED, citations=retrieved.citations, abstained=abstained,
                  took_ms=retrieved.took_ms, generation=retriever.generation.name, note=note,
                  flagged_sentences=flagged)
