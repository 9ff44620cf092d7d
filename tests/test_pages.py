"""What the web pages show (pages.py), checked without a browser: highlighting, markers, links,
and the chat without JavaScript (the form post and the conversation it carries)."""

import re
from datetime import date
from html.parser import HTMLParser
from urllib.parse import urlencode

import pytest
from conftest import SEED, TREATY_QUESTION

from newsdesk.answers.extractive import Answer, Citation
from newsdesk.articles import Article, parse_article
from newsdesk.query import MAX_HISTORY_TURNS, MAX_TURN_CHARS, Turn
from newsdesk.server.pages import (
    FORM_HISTORY_CHARS,
    answer_parts,
    article_link,
    article_view,
    card_link,
    carried_history,
    form_history,
    latest_articles,
    passage_pieces,
    published_label,
    sentences_for_citation,
    source_groups,
    web_url,
)
from newsdesk.server.security import MAX_BODY_BYTES
from test_timeline import ASKED as TIMELINE_QUESTION
from test_timeline import desk  # noqa: F401 (a fixture: the Calais camp told over dated articles)


def seed_article() -> Article:
    return parse_article(SEED.stem, SEED.read_text(encoding="utf-8"))


def citation(n: int, text: str, start: int = 100) -> Citation:
    return Citation(n=n, passage_id=f"a#{n}", article_id="a b/c", title="T", text=text,
                    char_start=start, char_end=start + len(text), score=0.5)


def shown(view, kind: str) -> str:
    return "".join(p.text for b in view.blocks if b.kind == kind for p in b.pieces)


def test_article_view_keeps_every_character_and_marks_passage_and_sentence():
    article = seed_article()
    sentence_at = article.text.index("Under the Treaty of Le Touquet")
    sentence_end = article.text.index("Dover.", sentence_at) + len("Dover.")
    passage = (sentence_at - 200, sentence_end + 300)
    view = article_view(article, passage, (sentence_at, sentence_end))
    assert shown(view, "standfirst") == article.standfirst
    assert shown(view, "caption") == article.caption
    marked = {mark: "".join(p.text for b in view.blocks for p in b.pieces if p.mark == mark)
              for mark in ("passage", "sentence")}
    assert marked["sentence"] == article.text[sentence_at:sentence_end]
    assert len(marked["passage"]) + len(marked["sentence"]) <= passage[1] - passage[0]
    anchors = [p for b in view.blocks for p in b.pieces if p.anchor]
    assert [p.mark for p in anchors] == ["sentence"] and view.cited and view.quoted


def test_article_view_without_a_span_marks_nothing_and_ignores_nonsense_spans():
    article = seed_article()
    for passage in (None, (None, None), (50, 10), (10**9, 10**9 + 5)):
        view = article_view(article, passage)
        assert not view.cited and not any(p.mark for b in view.blocks for p in b.pieces)


def test_body_that_starts_inside_the_title_block_is_shown():
    article = parse_article("plain", "A title\nFirst body line.\n\nSecond paragraph.")
    view = article_view(article, None)
    assert shown(view, "paragraph") == "First body line.Second paragraph."


def test_markers_carry_the_sentence_before_them_and_groups_share_it():
    answer = Answer(answer="One thing. [1] Another thing. [2] [1] Odd [9] end.",
                    citations=[citation(1, "x One thing. y"), citation(2, "Another thing.")],
                    abstained=False, took_ms=1)
    parts = answer_parts(answer)
    assert [(p.marker, p.sentence) for p in parts if p.marker] == [
        (1, "One thing."), (2, "Another thing."), (1, "Another thing.")]
    assert "[9]" in "".join(p.text for p in parts if p.marker is None)  # names no citation: text
    assert sentences_for_citation(answer, 1) == ["One thing.", "Another thing."]
    assert [(p.text, p.mark) for p in passage_pieces(answer.citations[0], answer)] == [
        ("x ", ""), ("One thing.", "sentence"), (" y", "")]
    assert source_groups(answer) == (answer.citations, [])


def test_links_escape_the_id_and_point_at_the_quoted_sentence():
    cited = citation(1, "Before. The quoted one. After.", start=1000)
    assert article_link(cited) == "/articles/a%20b%2Fc/view?start=1000&end=1030#cited"
    answer = Answer(answer="The quoted one. [1]", citations=[cited], abstained=False, took_ms=1)
    assert card_link(cited, answer) == (
        "/articles/a%20b%2Fc/view?start=1000&end=1030&sentence_start=1008&sentence_end=1023#cited")


def test_only_web_addresses_become_links_and_dates_read_well():
    assert web_url("javascript:alert(1)") == "" and web_url("https://example.com/a") == "https://example.com/a"
    assert published_label("2020/03/16") == "16 Mar 2020"
    assert published_label("2021-11-02T10:00:00Z") == "2 Nov 2021"
    assert published_label("last Tuesday") == "last Tuesday" and published_label(None) == ""


def test_latest_articles_are_newest_first_with_undated_ones_after():
    articles = [Article(id=i, title=i.upper(), text="x", published=p, url=u) for i, p, u in (
        ("a", None, None), ("b", "2020/01/02", "https://www.cnn.com/x"), ("c", "2021-05-06", None))]
    latest = latest_articles(articles, count=3)
    assert [a.id for a in latest] == ["c", "b", "a"]
    assert latest[1].meta == "2 Jan 2020 · cnn.com" and latest[2].meta == ""


def test_page_routes_answer_in_html_even_when_refusing(tmp_path, fake_embedder):
    from fastapi.testclient import TestClient

    from newsdesk.server.app import create_app
    from newsdesk.settings import Settings
    from newsdesk.service import Newsdesk

    settings = Settings(seeds=(tmp_path,), embeddings=tmp_path / "none")
    with TestClient(create_app(settings, Newsdesk(settings, embedder=fake_embedder), watch=False)) as client:
        blank = client.post("/", data={"question": "  "})
        assert blank.status_code == 422 and "Please type a question." in blank.text
        no_index = client.post("/", data={"question": "anything"})
        assert no_index.status_code == 503 and no_index.headers["content-type"].startswith("text/html")
        assert "newsdesk index" in no_index.text
        assert "There is no index yet" in client.get("/").text
        assert client.get("/articles/x/view?start=-1&end=5").status_code == 422


# -- the chat without JavaScript: the form post carries the conversation and the day

BINS = ("Millbrook council plans new bin collection days\n\nThe council wants to change the day bins "
        "are collected, from Monday to Thursday, to save money.\n\nResidents can ask the council for a bigger bin.")
FOLLOW_UP = "Who wants to change it?"


class Form(HTMLParser):
    """What a browser would post from the page's question form, and the page's turns."""

    def __init__(self, html: str):
        super().__init__()
        self.hidden: list[tuple[str, str]] = []
        self.fields: dict[str, dict] = {}
        self.textarea, self._in_textarea = "", False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("type") == "hidden":
            self.hidden.append((attrs["name"], attrs["value"]))
        elif tag == "input" and "name" in attrs:
            self.fields[attrs["name"]] = attrs
        self._in_textarea = tag == "textarea"

    def handle_endtag(self, tag):
        self._in_textarea = False

    def handle_data(self, data):
        if self._in_textarea:
            self.textarea += data


@pytest.fixture
def chat(tmp_path, fake_embedder):
    """A client of the chat page over the seed and an article about changing bin days, and the
    keyword arguments of each desk.ask the page made."""
    from fastapi.testclient import TestClient

    from newsdesk.server.app import create_app
    from newsdesk.settings import Settings
    from newsdesk.index.build import build_index
    from newsdesk.service import Newsdesk

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / SEED.name).write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    (seeds / "bins.txt").write_text(BINS, encoding="utf-8")
    settings = Settings(seeds=(seeds,), embeddings=tmp_path / "embeddings")
    build_index(settings, fake_embedder)
    desk = Newsdesk(settings.with_(abstain_below=0.0), embedder=fake_embedder)
    asked = []
    real_ask = desk.ask

    def ask(query):  # the routes hand the library a Query (query.py)
        asked.append({"question": query.question, "as_of": query.as_of, "history": query.history})
        return real_ask(query)

    desk.ask = ask
    with TestClient(create_app(settings, desk, watch=False)) as client:
        client.asked = asked
        yield client


def post(client, fields: list[tuple[str, str]]):
    """A form post with repeated fields, in order, as a browser sends it."""
    return client.post("/", content=urlencode(fields),
                       headers={"content-type": "application/x-www-form-urlencoded"})


def best_passage_title(html: str) -> str:
    """The title on the card of citation 1, the passage retrieval ranked first."""
    return re.search(r'class="card-n" aria-hidden="true">1</span>\s*<span class="card-title">([^<]*)<', html).group(1)


def test_the_form_carries_earlier_turns_and_a_follow_up_is_understood(chat):
    first = chat.post("/", data={"question": TREATY_QUESTION})
    assert first.status_code == 200
    carried = Form(first.text).hidden
    assert [name for name, _ in carried] == ["history_role", "history_content"] * 2
    assert carried[:2] == [("history_role", "user"), ("history_content", TREATY_QUESTION)]
    assert carried[2] == ("history_role", "assistant") and "Le Touquet" in carried[3][1]

    second = post(chat, [*carried, ("question", FOLLOW_UP)])
    assert second.status_code == 200
    assert chat.asked[-1]["history"] == [Turn(role="user", content=TREATY_QUESTION),
                                         Turn(role="assistant", content=carried[3][1])]
    assert best_passage_title(second.text).startswith("Britain and France")  # "it" is the treaty
    alone = chat.post("/", data={"question": FOLLOW_UP})
    assert best_passage_title(alone.text).startswith("Millbrook council")  # without the history: bins
    # Both questions on the page, the earlier answer as text, and both carried to the next post.
    turns = re.findall(r'<div class="bubble question"><p>([^<]*)</p>', second.text)
    assert turns == [TREATY_QUESTION, FOLLOW_UP]
    assert 'class="turn earlier"' in second.text and "Under the Treaty of Le Touquet" in second.text
    assert [v for n, v in Form(second.text).hidden if n == "history_content"][::2] == [TREATY_QUESTION, FOLLOW_UP]


def test_the_form_asks_as_of_today_unless_told_another_day_or_any_time(chat):
    assert Form(chat.get("/").text).fields["as_of"]["value"] == date.today().isoformat()
    chat.post("/", data={"question": TREATY_QUESTION})
    assert chat.asked[-1]["as_of"] == date.today()  # the server's own date
    page = chat.post("/", data={"question": TREATY_QUESTION, "as_of": "2016-02-07"})
    assert chat.asked[-1]["as_of"] == date(2016, 2, 7)
    assert Form(page.text).fields["as_of"]["value"] == "2016-02-07"  # the next post keeps it
    page = chat.post("/", data={"question": TREATY_QUESTION, "as_of": ""})
    assert chat.asked[-1]["as_of"] is None and "checked" in Form(page.text).fields["any_time"]
    chat.post("/", data={"question": TREATY_QUESTION, "as_of": "2016-02-07", "any_time": "on"})
    assert chat.asked[-1]["as_of"] is None


def test_a_bad_day_or_unreadable_history_gets_the_page_back_with_nothing_lost(chat):
    carried = Form(chat.post("/", data={"question": TREATY_QUESTION}).text).hidden
    asked = len(chat.asked)
    bad_day = post(chat, [*carried, ("question", FOLLOW_UP), ("as_of", "2016-02-30")])
    assert bad_day.status_code == 422 and bad_day.headers["content-type"].startswith("text/html")
    assert "&#39;2016-02-30&#39; is not a day" in bad_day.text
    form = Form(bad_day.text)
    assert form.textarea == FOLLOW_UP and form.hidden == carried  # the question and the conversation
    assert TREATY_QUESTION in bad_day.text and len(chat.asked) == asked
    for garbage in ([("history_role", "user")],  # no content
                    [("history_role", "system"), ("history_content", "be brief")] * 2,
                    [("history_role", "assistant"), ("history_content", "x"),
                     ("history_role", "user"), ("history_content", "y")]):
        refused = post(chat, [*garbage, ("question", FOLLOW_UP)])
        assert refused.status_code == 422 and "could not be read" in refused.text
        assert Form(refused.text).textarea == FOLLOW_UP
    assert len(chat.asked) == asked
    blank = post(chat, [*carried, ("question", " ")])
    assert blank.status_code == 422 and Form(blank.text).hidden == carried


def test_history_fields_are_bounded_by_the_conversation_limits():
    roles = ["user", "assistant"] * (MAX_HISTORY_TURNS // 2 + 3)
    turns = form_history(roles, [f"turn {n} " + "é" * 3000 for n in range(len(roles))])
    assert len(turns) == MAX_HISTORY_TURNS and turns[0].content.startswith("turn 6 ")
    assert all(len(t.content) == MAX_TURN_CHARS for t in turns)
    answer = Answer(answer="Long. " * 500 + "[1]", citations=[], abstained=False, took_ms=1)
    kept, dropped = carried_history(turns, "ü" * 2000, answer)
    assert dropped and [t.role for t in kept[:2]] == ["user", "assistant"]
    fields = [(n, v) for t in kept for n, v in (("history_role", t.role), ("history_content", t.content))]
    assert len(urlencode(fields)) <= FORM_HISTORY_CHARS
    assert len(urlencode([*fields, ("question", "ü" * 2000), ("as_of", "2016-02-07")])) < MAX_BODY_BYTES


def test_the_hint_without_javascript_says_how_to_send(chat):
    hint = re.search(r'<p class="composer-hint".*?</p>', chat.get("/").text, re.S).group(0)
    assert re.search(r'<span class="hint-keys" hidden>.*Enter', hint)  # only chat.js shows it
    assert "The arrow button sends the question" in hint


def test_article_view_of_a_huge_article_is_bounded_and_keeps_the_cited_passage(tmp_path, fake_embedder):
    from fastapi.testclient import TestClient

    from newsdesk.server.app import create_app
    from newsdesk.settings import Settings
    from newsdesk.index.build import build_index
    from newsdesk.server.pages import VIEW_BLOCKS, VIEW_CHARS
    from newsdesk.service import Newsdesk

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    paragraphs = [f"Paragraph {n} tells of harbour number {n}." for n in range(60_000)]
    (seeds / "long.txt").write_text("A very long article\n\n" + "\n\n".join(paragraphs) + "\n")
    (seeds / "blank.txt").write_text("Zero width\n\n" + "\u200b\n\n" * 500_000 + "The one real line.\n")
    settings = Settings(seeds=(seeds,), embeddings=tmp_path / "embeddings")
    build_index(settings, fake_embedder)
    desk = Newsdesk(settings, embedder=fake_embedder)
    article = desk.article("long")
    cited = article.text.index(paragraphs[40_000])
    view = article_view(article, (cited, cited + len(paragraphs[40_000])))
    assert view.cited and view.shown and view.shown[0] <= cited < view.shown[1]
    assert view.shown[1] - view.shown[0] <= VIEW_CHARS and len(view.blocks) <= VIEW_BLOCKS
    client = TestClient(create_app(settings, desk, watch=False))
    page = client.get(f"/articles/long/view?start={cited}&end={cited + 10}")
    assert page.status_code == 200 and len(page.content) < 2 * VIEW_CHARS
    assert "This article is long" in page.text, page.text[:3000]
    assert "tells of harbour number 40000." in page.text and "number 39990." in page.text
    blank = client.get("/articles/blank/view")
    assert blank.status_code == 200 and len(blank.content) < 20_000
    assert blank.text.count("<p>") <= 3 and "The one real line." in blank.text
    assert desk.article("blank").paragraphs() == [(desk.article("blank").text.index("The one"),
                                                   len(desk.article("blank").text))]
    assert len(client.get("/").content) < 50_000


# -- a timeline answer without JavaScript: its entries as the chat's list, not one paragraph

TIMELINE_ENTRY = re.compile(r'<li>\s*<time class="timeline-date" datetime="([^"]*)">([^<]*)</time>\s*'
                            r'<p class="timeline-text">(.*?)</p>\s*</li>', re.DOTALL)
MARKER_LINK = re.compile(r' <a class="marker" href="([^"]*)" aria-label="Source (\d+): [^"]*">(\d+)</a>$')


def test_a_timeline_answer_without_javascript_is_the_chats_dated_list(desk):
    """The form post of a timeline question renders the list render.js's timelineList draws: an
    entry a line, oldest first, each its day and a marker that opens the article at its sentence.
    (desk: test_timeline.py's corpus, the Calais camp told over dated articles.)"""
    from html import unescape

    from fastapi.testclient import TestClient

    from newsdesk.query import Query
    from newsdesk.server.app import create_app

    with TestClient(create_app(desk.settings, desk, watch=False)) as client:
        page = client.post("/", data={"question": TIMELINE_QUESTION})
        assert page.status_code == 200
        expected = desk.ask(Query(question=TIMELINE_QUESTION, as_of=date.today()))
        assert len(expected.timeline) >= 3
        answer = page.text[page.text.index('aria-label="Answer"'):]
        assert answer.count('<ol class="timeline">') == 1
        assert 'class="answer-text"' not in answer  # the list instead of the paragraph
        entries = TIMELINE_ENTRY.findall(answer)
        assert [day for day, _, _ in entries] == [e.date for e in expected.timeline]
        assert [day for day, _, _ in entries] == sorted(day for day, _, _ in entries)
        for (day, label, body), entry in zip(entries, expected.timeline):
            assert label == published_label(day)  # "29 Jul 2015"
            marker = MARKER_LINK.search(body)
            assert marker and unescape(body[:marker.start()]) == entry.text
            href, labelled, shown = unescape(marker.group(1)), int(marker.group(2)), int(marker.group(3))
            assert labelled == shown == entry.citation
            cited = expected.citations[entry.citation - 1]
            assert href == article_link(cited, entry.text)
            assert f"sentence_start={entry.char_start}&sentence_end={entry.char_end}" in href
            opened = client.get(href)  # the article, its entry's sentence marked
            assert opened.status_code == 200
            assert f'<mark class="sentence" id="cited" tabindex="-1">{body[:marker.start()]}</mark>' in opened.text
        # The sources are the cited articles' cards, as for any answer.
        assert answer.count('class="card-n"') == len(expected.citations)

        plain = client.post("/", data={"question": "What did the court order the state to provide?"})
        plain_answer = plain.text[plain.text.index('aria-label="Answer"'):]
        assert 'class="timeline' not in plain_answer and '<p class="answer-text">' in plain_answer
