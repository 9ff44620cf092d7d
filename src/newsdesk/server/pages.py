"""What the web pages show: articles as highlighted blocks, answers as text and [n] markers.

The templates only loop over these records; Jinja2 escapes every piece of text they hold.
The chat page's JavaScript (web/static/js/render.js) mirrors answer_parts, source_groups and
the links, for answers it fetches from POST /ask. The page without JavaScript carries its
conversation in hidden form fields (form_history, carried_history).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Iterable, Sequence
from urllib.parse import urlencode

from newsdesk.answers.extractive import Answer, Citation
from newsdesk.articles import Article
from newsdesk.articles.records import ArticleCard
from newsdesk.articles.dates import parse_date
from newsdesk.query import MAX_HISTORY_TURNS, MAX_TURN_CHARS, Turn
from newsdesk.server.citations import MARKER
from newsdesk.server.links import article_view_link, domain_of, web_url  # noqa: F401 (the templates and tests use them from here)

Span = tuple[int, int]


@dataclass(frozen=True)
class Piece:
    text: str
    mark: str = ""  # "passage" (the cited passage), "sentence" (the one the answer quotes) or ""
    anchor: bool = False  # the piece with id="cited", where the page scrolls to


@dataclass(frozen=True)
class Block:
    kind: str  # "title", "standfirst", "tags", "caption" or "paragraph"
    pieces: tuple[Piece, ...]


@dataclass(frozen=True)
class ArticleView:
    article: Article
    blocks: tuple[Block, ...]
    published: str
    domain: str
    original_url: str  # the article's own URL when it is a web address, else ""
    cited: bool  # whether a passage is highlighted
    quoted: bool  # whether the answer's sentence is highlighted in it
    shown: Span | None = None  # the characters shown when the article is too long to show whole

    @property
    def length(self) -> int:
        return len(self.article.text)


@dataclass(frozen=True)
class AnswerPart:
    text: str
    marker: int | None = None  # the citation number when this part is an [n] marker
    sentence: str = ""  # for a marker: the answer sentence it stands after


VIEW_CHARS = 100_000  # a longer article is shown in part, from a little before what is cited
VIEW_BLOCKS = 1_000  # and so is one of more paragraphs than this


def article_view(article: Article, passage: Span | None, sentence: Span | None = None) -> ArticleView:
    """The article split into readable blocks, the cited passage and the quoted sentence marked;
    a very long one only in part (VIEW_CHARS, VIEW_BLOCKS), so no page costs more than that."""
    passage, sentence = _valid(passage), _valid(sentence)
    spans, shown = _shown_spans(_article_spans(article), (passage or sentence or (0, 0))[0],
                                len(article.text))
    blocks = [Block(kind, _pieces(article.text, start, end, passage, sentence))
              for kind, start, end in spans]
    blocks = _anchor_first(blocks, "sentence" if sentence else "passage")
    return ArticleView(article, tuple(blocks), published_label(article.published),
                       domain_of(article.url), web_url(article.url),
                       any(p.anchor for b in blocks for p in b.pieces),
                       any(p.mark == "sentence" for b in blocks for p in b.pieces), shown)


def _shown_spans(spans: list[tuple[str, int, int]], focus: int,
                 length: int) -> tuple[list[tuple[str, int, int]], Span | None]:
    """The blocks to show: all of them, or (over VIEW_CHARS characters or VIEW_BLOCKS blocks)
    a run of them from a little before focus, the last cut to fit; and the characters that run
    covers, None when it is everything."""
    if sum(end - start for _, start, end in spans) <= VIEW_CHARS and len(spans) <= VIEW_BLOCKS:
        return spans, None
    first = next((n for n, (_, _, end) in enumerate(spans) if end > focus), 0)
    lead, back = 0, 0  # a little of what comes before the cited passage, for context
    while first > 0 and lead < VIEW_CHARS // 10 and back < VIEW_BLOCKS // 10:
        first, back = first - 1, back + 1
        lead += spans[first][2] - spans[first][1]
    shown, left = [], VIEW_CHARS
    for kind, start, end in spans[first:first + VIEW_BLOCKS]:
        if left <= 0:
            break
        if not shown and end - start > left:  # one huge block: from a little before focus
            start = max(start, min(focus, end) - VIEW_CHARS // 10)
        end = min(end, start + left)
        shown.append((kind, start, end))
        left -= end - start
    return shown, ((shown[0][1], shown[-1][2]) if shown else (0, 0))


def _valid(span: Span | None) -> Span | None:
    return span if span and span[0] is not None and span[1] is not None and 0 <= span[0] < span[1] else None


def _article_spans(article: Article) -> list[tuple[str, int, int]]:
    """The parts its reader found before the body (title, standfirst, ...), then its paragraphs."""
    return [*article.parts, *(("paragraph", start, end) for start, end in article.paragraphs())]


def _pieces(text: str, start: int, end: int, passage: Span | None, sentence: Span | None) -> tuple[Piece, ...]:
    edges = {start, end} | {edge for span in (passage, sentence) if span for edge in span if start < edge < end}
    pieces: list[Piece] = []
    cuts = sorted(edges)
    for left, right in zip(cuts, cuts[1:]):
        mark = ("sentence" if _covers(sentence, left, right)
                else "passage" if _covers(passage, left, right) else "")
        if pieces and pieces[-1].mark == mark:
            pieces[-1] = Piece(pieces[-1].text + text[left:right], mark)
        else:
            pieces.append(Piece(text[left:right], mark))
    return tuple(pieces)


def _covers(span: Span | None, start: int, end: int) -> bool:
    return span is not None and span[0] <= start and end <= span[1]


def _anchor_first(blocks: list[Block], mark: str) -> list[Block]:
    for b, block in enumerate(blocks):
        for p, piece in enumerate(block.pieces):
            if piece.mark == mark:
                pieces = list(block.pieces)
                pieces[p] = Piece(piece.text, piece.mark, anchor=True)
                blocks[b] = Block(block.kind, tuple(pieces))
                return blocks
    return blocks


def answer_parts(answer: Answer) -> list[AnswerPart]:
    """The answer text with each [n] that names a citation turned into a marker part.

    A marker's sentence is the text since the previous group of markers ("[1] [2]" is a group).
    """
    parts, position, sentence = [], 0, ""
    for match in MARKER.finditer(answer.answer):
        n = int(match.group(1))
        if not 1 <= n <= len(answer.citations):
            continue
        between = answer.answer[position:match.start()]
        if between:
            parts.append(AnswerPart(between))
        if between.strip():
            sentence = between.strip()
        parts.append(AnswerPart(match.group(0), n, sentence))
        position = match.end()
    if position < len(answer.answer):
        parts.append(AnswerPart(answer.answer[position:]))
    return parts


def sentences_for_citation(answer: Answer, n: int) -> list[str]:
    """The answer's sentences that cite [n], in order, each once."""
    return list(dict.fromkeys(p.sentence for p in answer_parts(answer) if p.marker == n and p.sentence))


def passage_pieces(citation: Citation, answer: Answer) -> tuple[Piece, ...]:
    """The cited passage with the answer's sentences that cite it marked."""
    spans = sorted(span for sentence in sentences_for_citation(answer, citation.n)
                   if (span := _find(citation.text, sentence)))
    pieces, position = [], 0
    for start, end in spans:
        if start < position:
            continue
        pieces += [Piece(citation.text[position:start]), Piece(citation.text[start:end], "sentence")]
        position = end
    pieces.append(Piece(citation.text[position:]))
    return tuple(p for p in pieces if p.text)


def _find(text: str, sentence: str) -> Span | None:
    found = text.find(sentence)
    return (found, found + len(sentence)) if found >= 0 and sentence else None


def source_groups(answer: Answer) -> tuple[list[Citation], list[Citation]]:
    """(the citations the answer's markers name, the other passages); all are sources when the
    answer names none, as a writer without markers would."""
    named = {part.marker for part in answer_parts(answer) if part.marker is not None}
    if not named:
        return list(answer.citations), []
    return ([c for c in answer.citations if c.n in named],
            [c for c in answer.citations if c.n not in named])


def article_link(citation: Citation, sentence: str = "") -> str:
    """The article page with the passage marked; with the answer sentence that cites it, that too."""
    link = article_view_link(citation.article_id, citation.char_start, citation.char_end)
    span = _find(citation.text, sentence)
    if span:
        link += f"&sentence_start={citation.char_start + span[0]}&sentence_end={citation.char_start + span[1]}"
    return link + "#cited"


def card_link(citation: Citation, answer: Answer) -> str:
    sentences = sentences_for_citation(answer, citation.n)
    return article_link(citation, sentences[0] if sentences else "")


def published_label(value: str | None) -> str:
    """'2020/03/16' or an ISO date as '16 Mar 2020'; anything else as given."""
    if not value:
        return ""
    day = parse_date(value)
    return f"{day.day} {day:%b %Y}" if day else value.strip()


def count_label(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


@dataclass(frozen=True)
class ArticleSummary:
    id: str
    title: str
    meta: str  # "16 Mar 2020 · usatoday.com", either part when known

    @property
    def link(self) -> str:
        return article_view_link(self.id)


def latest_articles(articles: Iterable[ArticleCard], count: int = 4) -> list[ArticleSummary]:
    """The newest articles by publication date (undated ones after, in index order)."""
    newest = sorted(articles, key=lambda a: _date_key(a.published), reverse=True)  # stable
    return [ArticleSummary(a.id, a.title or "Untitled article",
                           " · ".join(p for p in (published_label(a.published), domain_of(a.url)) if p))
            for a in newest[:count]]


def _date_key(value: str | None) -> str:
    day = parse_date(value)
    return day.isoformat() if day else ""


# ---------------------------------------------------------------- the conversation without JavaScript

# The hidden history fields of one form post, URL-encoded, stay under this many characters: with
# a 2,000-character question (up to 18,000 encoded) the post stays within security.MAX_BODY_BYTES.
FORM_HISTORY_CHARS = 40_000
KEPT_TURNS = MAX_HISTORY_TURNS - MAX_HISTORY_TURNS % 2  # whole exchanges: question and answer
_MARKERS = re.compile(r"\s*\[\d+\]")


class FormProblem(ValueError):
    """A form field the page cannot use, said so that a person knows what to do."""


@dataclass(frozen=True)
class Exchange:
    """An earlier question and the text of its answer, as the page without JavaScript shows it."""

    question: str
    answer: str  # with its [n] markers, as it goes back to /ask as history

    @property
    def answer_text(self) -> str:
        """The answer without markers: its citations are not carried from page to page."""
        return _MARKERS.sub("", self.answer)


def form_history(roles: Sequence[str], contents: Sequence[str]) -> list[Turn]:
    """The earlier turns a form post carries in its history_role/history_content fields.

    They must pair up as a question then its answer; turns beyond the last MAX_HISTORY_TURNS and
    characters beyond MAX_TURN_CHARS are dropped, as the page itself drops them.
    """
    if len(roles) != len(contents) or len(roles) % 2:
        raise FormProblem(_UNREADABLE_HISTORY)
    turns = []
    for number, (role, content) in enumerate(zip(roles, contents)):
        content = content.replace("\r\n", "\n").strip()[:MAX_TURN_CHARS]
        if role != ("user" if number % 2 == 0 else "assistant") or not content:
            raise FormProblem(_UNREADABLE_HISTORY)
        turns.append(Turn(role=role, content=content))
    return turns[-KEPT_TURNS:] if KEPT_TURNS else []


_UNREADABLE_HISTORY = ("The earlier conversation sent with this question could not be read. "
                       "Your question is still in the box: send it again to start a new conversation.")


def carried_history(earlier: Sequence[Turn], question: str, answer: Answer) -> tuple[list[Turn], bool]:
    """The turns the next form post carries: the earlier ones and this exchange, the oldest
    exchanges dropped to stay within MAX_HISTORY_TURNS and FORM_HISTORY_CHARS; and whether any were."""
    turns = [*earlier, Turn(role="user", content=question[:MAX_TURN_CHARS]),
             Turn(role="assistant", content=(answer.answer.strip() or "(no answer)")[:MAX_TURN_CHARS])]
    kept = turns[-KEPT_TURNS:] if KEPT_TURNS else []
    while len(kept) > 2 and len(urlencode(history_fields(kept))) > FORM_HISTORY_CHARS:
        kept = kept[2:]
    return kept, len(kept) < len(turns)


def history_fields(turns: Sequence[Turn]) -> list[tuple[str, str]]:
    """(name, value) of the hidden fields that carry the turns, in order."""
    return [(name, value) for turn in turns
            for name, value in (("history_role", turn.role), ("history_content", turn.content))]


def exchanges(turns: Sequence[Turn]) -> list[Exchange]:
    """Question and answer pairs of turns that alternate user, assistant (as form_history checks)."""
    return [Exchange(turns[n].content, turns[n + 1].content) for n in range(0, len(turns) - 1, 2)]


def form_as_of(values: Sequence[str], any_time: bool, today: date) -> date | None:
    """The day a form post asks about: its last as_of value (YYYY-MM-DD), None for an empty one
    or any_time, today when it sends none."""
    if any_time:
        return None
    if not values:
        return today
    value = values[-1].strip()
    if not value:
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise FormProblem(f"'{value[:40]}' is not a day. Choose one with the date control "
                          "(YYYY-MM-DD), or tick Any time.") from None
