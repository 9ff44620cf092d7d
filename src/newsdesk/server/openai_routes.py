"""An OpenAI-compatible face: `POST /v1/chat/completions` and `GET /v1/models`, so chat front
ends and SDKs can use newsdesk as a "model".

The last user message is the question and the earlier user and assistant messages are the
history; system messages are ignored (newsdesk answers from its articles, whatever the persona).
The reply's content is the cited answer followed by a "Sources:" list; `stream: true` sends
`chat.completion.chunk` events ending with `data: [DONE]`.

The citations also travel as data (newsdesk's own `citations` field, each with its ids, offsets
and `link`): on the reply, and in a stream on the chunk whose text holds their [n] marker (the
Sources chunk carries the ones it lists), so a client can tie each sentence to its passage.
"""

from __future__ import annotations

import time
import uuid
from datetime import date
from typing import Iterator, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from newsdesk.answers.extractive import Answer, Citation
from newsdesk.answers.streaming import AnswerPiece, CitationsEvent, DoneEvent
from newsdesk.index.errors import IndexError_
from newsdesk.query import MAX_HISTORY_TURNS, MAX_TURN_CHARS, Query, Turn, first_problem
from newsdesk.server.citations import LinkedCitation, cited_in, linked, source_link
from newsdesk.server.links import without_bidi_controls
from newsdesk.server.security import StrictJSONRoute
from newsdesk.service import Newsdesk

MODEL_ID = "newsdesk"
MAX_MESSAGES = 100


class TextPart(BaseModel):
    type: str = "text"
    text: str = ""


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content if part.type == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    # Sampling options (temperature, top_p, ...) mean nothing to an extractive answerer.
    model_config = ConfigDict(extra="ignore")

    model: str = MODEL_ID
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False
    # newsdesk's filters as extra body fields (the openai SDK's extra_body), held to /ask's rules.
    published_after: date | None = None
    published_before: date | None = None
    sources: list[str] = Field(default_factory=list)

    @property
    def filters(self) -> dict:
        return {"published_after": self.published_after, "published_before": self.published_before,
                "sources": self.sources}


class ChatResponseMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: ChatResponseMessage
    finish_reason: Literal["stop"] = "stop"


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage = Usage()
    # newsdesk's own: the sources and the confidence, as /ask gives them
    citations: list[LinkedCitation] = []
    confidence: float | None = None


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: Literal["stop"] | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    # newsdesk's own: the citations whose [n] this chunk's text holds (or whose lines it lists)
    citations: list[LinkedCitation] | None = None
    confidence: float | None = None  # newsdesk's own, on the last chunk: as /ask's


class Model(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "newsdesk"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]


def openai_router(desk: Newsdesk, public_url: str = "") -> APIRouter:
    """The /v1 routes; the Sources links are absolute, from public_url or else the request's base URL."""
    router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"], route_class=StrictJSONRoute)
    started = int(time.time())

    @router.get("/models", response_model=ModelList)
    def models() -> ModelList:
        return ModelList(data=[Model(id=MODEL_ID, created=started)])

    @router.post("/chat/completions", response_model=ChatCompletion,
                 responses={200: {"content": {"text/event-stream": {}}}})
    def chat_completions(request: ChatRequest, http: Request):
        query = query_of(request.messages, request.filters)
        base_url = public_url or str(http.base_url)
        completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        try:
            if request.stream:
                events = desk.ask_stream(query)
                return StreamingResponse(_chunks(events, completion_id, created, request.model, base_url),
                                         media_type="text/event-stream",
                                         headers={"Cache-Control": "no-cache"})
            answer = desk.ask(query)
        except IndexError_ as error:
            raise HTTPException(503, str(error)) from None
        return ChatCompletion(id=completion_id, created=created, model=request.model,
                              choices=[Choice(message=ChatResponseMessage(content=reply_text(answer, base_url)))],
                              citations=linked(answer.citations, base_url), confidence=answer.confidence)

    return router


def query_of(messages: list[ChatMessage], filters: dict | None = None) -> Query:
    """The last message is the question (a user's); earlier user/assistant turns are the history;
    filters: published_after, published_before and sources. The question and the filters are held
    to the query's rules (query.py), as /ask's are."""
    turns = [m for m in messages if m.role in ("user", "assistant") and m.text.strip()]
    if not turns or turns[-1].role != "user":
        raise _invalid_messages("the last message must be the user's question")
    # Front ends send the whole conversation back each time: keep the recent part, and only
    # the start of long turns (our own replies carry their sources list).
    history = [Turn(role=m.role, content=m.text.strip()[:MAX_TURN_CHARS])
               for m in turns[:-1][-MAX_HISTORY_TURNS:]]
    try:
        return Query(question=turns[-1].text, history=history, **(filters or {}))
    except ValidationError as error:
        field, problem = first_problem(error)
        if field in (filters or {}):
            raise RequestValidationError([{"type": "value_error", "loc": ("body", field), "msg": problem,
                                           "input": None}]) from None
        raise _invalid_messages(f"the question (the last message): {problem}") from None


def _invalid_messages(message: str) -> RequestValidationError:
    """A 422 shaped like FastAPI's own (detail: a list of errors), as /openapi.json documents it."""
    return RequestValidationError([{"type": "value_error", "loc": ("body", "messages"), "msg": message,
                                    "input": None}])


def reply_text(answer: Answer, base_url: str = "") -> str:
    return answer.answer + _tail(answer.note, answer.citations, base_url)


def sources(citations: list[Citation], base_url: str = "") -> str:
    """One line per citation: its title and a link a client can open, the article's own http(s)
    URL or this server's page for it (absolute with base_url); a title or id cannot add lines."""
    lines = [f"[{c.n}] {_one_line(c.title) or 'Untitled article'} — {source_link(c, base_url)}"
             for c in citations]
    return "Sources:\n" + "\n".join(lines) if lines else ""


def _one_line(text: str) -> str:
    return " ".join(without_bidi_controls(text).split())


def _tail(note: str | None, citations: list[Citation], base_url: str = "") -> str:
    parts = [f"Note: {note}"] if note else []
    if citations:
        parts.append(sources(citations, base_url))
    return "".join(f"\n\n{part}" for part in parts)


def _chunks(events, completion_id: str, created: int, model: str, base_url: str = "") -> Iterator[str]:
    def chunk(delta: Delta, finish: Literal["stop"] | None = None,
              confidence: float | None = None, cited: list[Citation] | None = None) -> str:
        body = ChatCompletionChunk(id=completion_id, created=created, model=model,
                                   choices=[ChunkChoice(delta=delta, finish_reason=finish)],
                                   citations=linked(cited, base_url) if cited else None,
                                   confidence=confidence)
        return f"data: {body.model_dump_json(exclude_none=True)}\n\n"

    yield chunk(Delta(role="assistant", content=""))
    citations: list[Citation] = []
    confidence = None
    for event in events:
        if isinstance(event.data, CitationsEvent):
            citations = event.data.citations
        elif isinstance(event.data, AnswerPiece):
            yield chunk(Delta(content=event.data.text), cited=cited_in(event.data.text, citations))
        elif isinstance(event.data, DoneEvent):
            confidence = event.data.confidence
            tail = _tail(event.data.note, citations, base_url)
            if tail:
                yield chunk(Delta(content=tail), cited=citations)
    yield chunk(Delta(), finish="stop", confidence=confidence)
    yield "data: [DONE]\n\n"
