"""Writers: an LLM behind an OpenAI-compatible chat endpoint writes the answer from the passages.

The model sees the retrieved passages only, numbered as the citations are, and is asked to end
every sentence with its [n] marker. Nothing it writes is trusted: a marker that names no citation
is removed, and a sentence without a valid marker, or whose words its cited passages do not
contain, is flagged. When the endpoint fails, times out, or writes no sentence the passages
support, WriterFailed sends the caller back to the extractive answer, with a note saying so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

from newsdesk.answers.extractive import Citation, Draft, WriterFailed
from newsdesk.index.lexical import tokenize
from newsdesk.passages import sentence_spans
from newsdesk.retrieval.hybrid import Hit
from newsdesk.settings import Settings

PROMPT_PASSAGES = 3  # a small local model reads the best few passages only
PASSAGE_CHARS = 1000
MAX_ANSWER_TOKENS = 200
SUPPORTED_SHARE = 0.5  # share of a sentence's words its cited passages must contain
SYSTEM_PROMPT = (
    "You answer questions about news articles. Use only the numbered passages you are given. "
    "Write one to three short sentences. End every sentence with the number of the passage it "
    "comes from in square brackets, for example [1]. If the passages do not answer the question, "
    "say that the articles do not cover it."
)

_MARKER = re.compile(r"\s*\[(\d+)\]")
_LEADING_MARKERS = re.compile(r"^(?:\s*\[\d+\])+")


@dataclass(frozen=True)
class CheckedSentence:
    text: str  # the sentence with only its valid [n] markers
    flagged: bool  # no valid marker, or the passages it cites don't hold its words


def writer_for(settings: Settings) -> "LLMWriter | None":
    """The LLM writer when NEWSDESK_LLM_URL is set; None keeps answers extractive."""
    if not settings.llm_url:
        return None
    return LLMWriter(settings.llm_url, model=settings.llm_model, timeout=settings.llm_timeout)


class LLMWriter:
    """Answers written by a chat model over OpenAI's API (llama.cpp's server, Ollama, vLLM)."""

    def __init__(self, url: str, model: str = "", timeout: float = 30.0):
        from openai import OpenAI

        self.url = api_base(url)
        self.model = model or "default"  # servers that hold one model ignore the name
        # No retries: a slow or absent model must not hold the question up twice.
        self.client = OpenAI(base_url=self.url, api_key="unused", timeout=timeout, max_retries=0)

    def write(self, question: str, hits: Sequence[Hit], citations: Sequence[Citation]) -> Draft:
        return draft_of(self.stream(question, hits, citations))

    def stream(self, question: str, hits: Sequence[Hit],
               citations: Sequence[Citation]) -> Iterator[CheckedSentence]:
        """Checked sentences as the model finishes them; WriterFailed when it can't answer."""
        import openai

        try:
            chunks = self.client.chat.completions.create(
                model=self.model, messages=prompt(question, citations), temperature=0.0,
                max_tokens=MAX_ANSWER_TOKENS, stream=True)
            yield from once_supported(checked_sentences(_deltas(chunks), citations), self.url)
        except openai.APITimeoutError:
            raise WriterFailed(f"the LLM at {self.url} timed out") from None
        except openai.OpenAIError as error:
            raise WriterFailed(f"the LLM at {self.url} failed ({_reason(error)})") from None


def once_supported(sentences: Iterable[CheckedSentence], url: str) -> Iterator[CheckedSentence]:
    """The sentences, held back until one of them is supported; WriterFailed if none ever is.

    An answer none of whose sentences the passages support is not an answer from the articles,
    however fluent: the extractive one is better.
    """
    held: list[CheckedSentence] | None = []  # None once a supported sentence has vouched
    for sentence in sentences:
        if held is not None and sentence.flagged:
            held.append(sentence)
            continue
        if held is not None:
            yield from held
            held = None
        yield sentence
    if held is not None:
        what = f"no sentence its cited passages support (of {len(held)})" if held else "no answer"
        raise WriterFailed(f"the LLM at {url} wrote {what}")


def api_base(url: str) -> str:
    """The API root (…/v1) whether the setting names it or its chat completions endpoint."""
    url = url.rstrip("/")
    for suffix in ("/chat/completions", "/completions"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    return url


def prompt(question: str, citations: Sequence[Citation]) -> list[dict]:
    passages = "\n\n".join(f"[{c.n}] {c.title}\n{c.text[:PASSAGE_CHARS]}"
                           for c in citations[:PROMPT_PASSAGES])
    return [{"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": f"Passages:\n\n{passages}\n\nQuestion: {question}"}]


def checked_sentences(deltas: Iterable[str], citations: Sequence[Citation]) -> Iterator[CheckedSentence]:
    """Split the streamed text into sentences as each one ends, and check each."""
    buffer = ""
    for delta in deltas:
        buffer += delta
        sentences = _sentences(buffer)
        # The last sentence may still grow, or its marker may still be on its way.
        if len(sentences) < 2 or sentences[-1].startswith("["):
            continue
        for sentence in sentences[:-1]:
            checked = check_sentence(sentence, citations)
            if checked:
                yield checked
        buffer = buffer[buffer.rindex(sentences[-1]):]
    for sentence in _sentences(buffer):
        checked = check_sentence(sentence, citations)
        if checked:
            yield checked


def check_sentence(sentence: str, citations: Sequence[Citation]) -> CheckedSentence | None:
    """The sentence with invalid markers removed and a flag when nothing cited supports it."""
    by_number = {c.n: c for c in citations}
    cited = [by_number[int(n)] for n in _MARKER.findall(sentence) if int(n) in by_number]
    words = _MARKER.sub("", sentence).strip()
    if not re.search(r"[^\W\d_]", words):
        return None  # a marker, a list number: no words to check
    markers = "".join(f" [{n}]" for n in dict.fromkeys(c.n for c in cited))
    return CheckedSentence(words + markers, flagged=not cited or not supported(words, cited))


def supported(sentence: str, cited: Sequence[Citation]) -> bool:
    """Whether the cited passages contain most of the sentence's (stemmed) words."""
    words = set(tokenize([sentence])[0])
    if not words:
        return False
    passage_words = set(tokenize([" ".join(c.text for c in cited)])[0])
    return len(words & passage_words) / len(words) >= SUPPORTED_SHARE


def draft_of(sentences: Iterable[CheckedSentence]) -> Draft:
    sentences = list(sentences)
    flagged = tuple(s.text for s in sentences if s.flagged)
    note = None
    if flagged:
        note = (f"{len(flagged)} of {len(sentences)} sentences written by the LLM have no support "
                "in the cited passages")
    return Draft(" ".join(s.text for s in sentences), flagged, note)


def _sentences(text: str) -> list[str]:
    """Sentences with the markers written after their full stop moved back onto them."""
    sentences: list[str] = []
    for start, end in sentence_spans(text):
        sentence = text[start:end]
        leading = _LEADING_MARKERS.match(sentence)
        if leading and sentences:
            sentences[-1] += leading.group(0)
            sentence = sentence[leading.end():].strip()
        if sentence:
            sentences.append(sentence)
    return sentences


def _deltas(chunks) -> Iterator[str]:
    for chunk in chunks:
        if chunk.choices and chunk.choices[0].delta.content:
            yield chunk.choices[0].delta.content


def _reason(error: Exception) -> str:
    status = getattr(error, "status_code", None)
    return f"HTTP {status}" if status else type(error).__name__
