"""Streamed answers: the events of `POST /ask/stream`, in order — citations, answer pieces, done.

The citations go first because they are ready first (retrieval is the slow half); the answer
follows a sentence at a time, as the extractive composer or the LLM writer produces it; `done`
carries the whole answer as it finally stands, so a client that streamed pieces can check them,
plus the timing, the abstention flag and any note.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator, Literal

from pydantic import BaseModel

from newsdesk.answers.extractive import (
    Answer,
    AnswerWriter,
    Citation,
    Retrieved,
    TimelineEntry,
    WriterFailed,
    extractive_answer,
    not_covered,
)
from newsdesk.retrieval.hybrid import Retriever

# An extractive answer is "sentence [n] sentence [m]": each piece ends after its marker.
_AFTER_MARKER = re.compile(r"(?<=\])\s+(?=\S)")


class CitationsEvent(BaseModel):
    citations: list[Citation]


class AnswerPiece(BaseModel):
    text: str  # append to what came before; pieces after the first start with a space


class DoneEvent(BaseModel):
    answer: str  # the whole answer; it replaces the pieces when a writer failed midway
    abstained: bool
    confidence: float = 0.0  # as in /ask: that the cited articles answer the question, 0..1
    small_talk: bool = False  # as in /ask: a plain reply, nothing searched
    took_ms: float = 0.0
    generation: str | None = None
    note: str | None = None
    flagged_sentences: list[str] = []
    timeline: list[TimelineEntry] = []  # as in /ask: a timeline answer's entries


@dataclass(frozen=True)
class StreamEvent:
    name: Literal["citations", "answer", "done"]
    data: CitationsEvent | AnswerPiece | DoneEvent

    def sse(self) -> str:
        """The event in server-sent-events framing (one JSON line of data)."""
        return f"event: {self.name}\ndata: {self.data.model_dump_json()}\n\n"


def stream_answer(retrieved: Retrieved, retriever: Retriever, writer: AnswerWriter | None = None,
                  writer_question: str | None = None) -> Iterator[StreamEvent]:
    yield StreamEvent("citations", CitationsEvent(citations=retrieved.citations))
    pieces: list[str] = []
    note, flagged, streamed = None, [], False
    if not retrieved.abstained and writer is not None and hasattr(writer, "stream"):
        try:
            for sentence in writer.stream(writer_question or retrieved.question, retrieved.hits,
                                          retrieved.citations):
                if sentence.flagged:
                    flagged.append(sentence.text)
                pieces.append(sentence.text)
                streamed = True
                yield _piece(sentence.text, first=len(pieces) == 1)
        except WriterFailed as failure:
            note = f"{failure} — the answer is copied from the articles instead"
            pieces, flagged = [], []
    text = " ".join(pieces) or None
    if text is None and not retrieved.abstained:
        text = extractive_answer(retrieved)
        if text is not None and not streamed:  # else `done` replaces the writer's pieces
            for n, piece in enumerate(_AFTER_MARKER.split(text)):
                yield _piece(piece, first=n == 0)
    abstained = retrieved.abstained or text is None
    if abstained:
        text = not_covered(retriever)
        yield _piece(text, first=True)
    yield StreamEvent("done", DoneEvent(
        answer=text, abstained=abstained, confidence=round(retrieved.confidence, 4),
        took_ms=retrieved.took_ms,
        generation=retriever.generation.name, note=note, flagged_sentences=flagged))


def stream_reply(answer: Answer) -> Iterator[StreamEvent]:
    """An answer already whole (small talk) as the same events: no citations, one piece, done."""
    yield StreamEvent("citations", CitationsEvent(citations=answer.citations))
    yield _piece(answer.answer, first=True)
    yield StreamEvent("done", DoneEvent(
        answer=answer.answer, abstained=answer.abstained, confidence=answer.confidence,
        small_talk=True,
        took_ms=answer.took_ms, generation=answer.generation))


def _piece(text: str, first: bool) -> StreamEvent:
    return StreamEvent("answer", AnswerPiece(text=text if first else " " + text))
