"""The web chat in a real browser: Playwright drives Debian's chromium against `newsdesk serve`
with the real model over a temporary seeds folder (the seed article and a hostile one)."""

from __future__ import annotations

import re
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import SEED_ID, TREATY_QUESTION, Server, index_seed_folder
from test_timeline import ASKED as TIMELINE_QUESTION
from test_timeline import desk  # noqa: F401 (a fixture: the Calais camp told over dated articles)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
SCRIPT_PAYLOAD = "<script>alert(1)</script>"
IMAGE_PAYLOAD = "<img src=x onerror=alert(1)>"
HOSTILE_ID = "hostile_article"
HOSTILE_ARTICLE = f"""Vandals post {SCRIPT_PAYLOAD} and {IMAGE_PAYLOAD} on the Millbrook council website

The Millbrook town council said on Tuesday that its website had been defaced overnight.

The vandals replaced the library opening hours page with the text {SCRIPT_PAYLOAD} and the image tag {IMAGE_PAYLOAD}, hoping that visitors' browsers would run it.

Council staff restored the library page within two hours, and the council's digital officer said no resident data had been taken.
"""
HOSTILE_QUESTION = "What did the vandals put on the Millbrook council library page?"
UNCOVERED_QUESTION = "What is a good recipe for banana bread?"


@pytest.fixture(scope="module")
def playwright():
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM} (`make chromium` installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need Playwright for Python (`pip install -e '.[test]'`)")
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(playwright):
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    index_seed_folder(root, {f"{HOSTILE_ID}.txt": HOSTILE_ARTICLE})
    server = Server(root / "embeddings")
    yield server
    server.stop()


class Watched:
    """A page with every dialog and console error recorded: a test ends with none of either."""

    def __init__(self, page):
        self.page = page
        self.dialogs: list[str] = []
        self.console_errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("console", lambda message: message.type == "error" and self.console_errors.append(message.text))
        page.on("pageerror", lambda error: self.console_errors.append(str(error)))

    def _dialog(self, dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def assert_clean(self) -> None:
        assert self.dialogs == [], f"a dialog opened: {self.dialogs}"
        assert self.console_errors == [], f"console errors (CSP violations show here): {self.console_errors}"


@pytest.fixture
def open_page(browser, server):
    contexts = []

    def open_page(width: int = 1280, height: int = 900, javascript: bool = True,
                  timezone: str | None = None) -> Watched:
        context = browser.new_context(base_url=server.url, viewport={"width": width, "height": height},
                                      java_script_enabled=javascript, timezone_id=timezone)
        contexts.append(context)
        return Watched(context.new_page())

    yield open_page
    for context in contexts:
        context.close()


def ask(page, question: str):
    """Type the question, press Enter, wait for the answer bubble; returns the newest turn."""
    from playwright.sync_api import expect

    box = page.get_by_label("Your question")
    box.fill(question)
    box.press("Enter")
    turn = page.locator(".turn").last
    expect(turn.locator(".question")).to_have_text(question)
    expect(turn.locator(".answer:not(.streaming)")).to_be_visible(timeout=30_000)  # finished
    return turn


def post_form(page, question: str):
    """Type the question and press the send button: the form post a page without JavaScript
    makes (with JavaScript, the button asks as Enter does); returns the newest turn."""
    page.get_by_label("Your question").fill(question)
    page.get_by_role("button", name="Send the question").click()
    return page.locator(".turn").last


def test_treaty_answer_has_markers_that_open_the_highlighted_passage(open_page):
    from playwright.sync_api import expect

    watched = open_page()
    page = watched.page
    page.goto("/")
    expect(page.locator("#stats-text")).to_have_text(re.compile(r"^2 articles · \d+ passages$"))
    box = page.get_by_label("Your question")
    box.press_sequentially("first line")
    box.press("Shift+Enter")
    box.press_sequentially("second line")
    assert box.input_value() == "first line\nsecond line"
    assert page.locator(".turn").count() == 0

    turn = ask(page, TREATY_QUESTION)
    expect(box).to_have_value("")
    answer = turn.locator(".answer-text")
    expect(answer).to_contain_text("passports")
    expect(turn.locator(".bubble.question")).to_be_in_viewport()
    marker = answer.locator("a.marker").first
    expect(marker).to_be_visible()
    card = turn.locator(".card").first
    expect(card.locator(".card-title")).to_contain_text("Britain and France")
    expect(card.locator("mark", has_text="passports")).to_be_visible()  # one of up to 3 quoted

    marker.click()
    page.wait_for_url(re.compile(rf"/articles/{SEED_ID}/view\?start=\d+&end=\d+&sentence_start=\d+&sentence_end=\d+#cited$"))
    expect(page.locator("h1")).to_have_text(re.compile("^Britain and France pledge"))
    expect(page.locator(".standfirst")).to_be_visible()
    expect(page.locator(".tags li").first).to_have_text("Brexit")
    quoted = page.locator("mark.sentence#cited")  # the answer's sentence, inside the cited passage
    expect(quoted).to_have_text(re.compile("^Under the Treaty of Le Touquet, .*check passports in Calais"))
    expect(quoted).to_be_in_viewport()
    assert quoted.text_content() in cited_text(page)
    assert page.locator("article mark.passage").count() >= 1

    page.get_by_role("link", name="Back to the chat").first.click()
    expect(page.locator(".turn .answer-text")).to_contain_text("passports")  # the tab kept it
    watched.assert_clean()


def test_question_the_articles_do_not_cover_says_so_plainly(open_page):
    from playwright.sync_api import expect

    watched = open_page()
    watched.page.goto("/")
    turn = ask(watched.page, UNCOVERED_QUESTION)
    expect(turn.locator(".answer.abstained .answer-label")).to_have_text("Not covered")
    expect(turn.locator(".answer-text")).to_have_text("The indexed articles don't cover this question.")
    assert turn.locator(".answer-text a.marker").count() == 0
    watched.assert_clean()


def test_thinking_state_then_server_and_network_errors_are_said_plainly(open_page):
    from playwright.sync_api import expect

    watched = open_page()
    page = watched.page
    page.goto("/")
    held = []
    page.route("**/ask/stream", lambda route: held.append(route))
    page.get_by_label("Your question").fill(TREATY_QUESTION)
    page.get_by_label("Your question").press("Enter")
    thinking = page.locator(".turn .thinking")
    expect(thinking).to_be_visible()
    expect(thinking).to_contain_text("Searching")
    expect(page.locator("#send")).to_be_disabled()
    held[0].fulfill(status=503, json={"detail": "no index in embeddings: run `newsdesk index` first"})
    error = page.locator(".turn .bubble.error")
    expect(error).to_contain_text("could not answer (error 503): no index in embeddings")
    expect(thinking).to_have_count(0)

    page.unroute("**/ask/stream")
    page.route("**/ask/stream", lambda route: route.abort("connectionrefused"))
    error.get_by_role("button", name="Try again").click()
    expect(page.locator(".turn .bubble.error")).to_contain_text("Could not reach the newsdesk server")
    expect(page.locator(".turn")).to_have_count(1)
    # The refused connection is the one console error expected here.
    watched.console_errors = [e for e in watched.console_errors if "ERR_CONNECTION_REFUSED" not in e
                              and "Failed to load resource" not in e]
    watched.assert_clean()


def test_keyboard_alone_reaches_a_marker_and_opens_its_passage(open_page):
    from playwright.sync_api import expect

    watched = open_page()
    page = watched.page
    page.goto("/")
    expect(page.get_by_label("Your question")).to_be_focused()  # where there is a keyboard
    page.keyboard.type(TREATY_QUESTION)
    page.keyboard.press("Enter")
    expect(page.locator(".turn .answer:not(.streaming)")).to_be_visible(timeout=30_000)
    for _ in range(12):  # back from the box, through the answer's sources, to its marker
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.matches('.answer-text a.marker')"):
            break
    expect(page.locator(":focus")).to_have_attribute("aria-label", re.compile(r"^Source \d: Britain and France"))
    page.keyboard.press("Enter")
    expect(page.locator("mark#cited")).to_be_focused()  # reading starts at the passage
    watched.assert_clean()


def test_follow_up_question_is_sent_with_the_conversation_so_far(open_page):
    from playwright.sync_api import expect

    watched = open_page()
    page = watched.page
    page.goto("/")
    ask(page, TREATY_QUESTION)
    with page.expect_request("**/ask/stream") as sent:
        second = ask(page, "Who wants to change it?")
    user, assistant = sent.value.post_data_json["history"]
    assert user == {"role": "user", "content": TREATY_QUESTION}
    assert assistant["role"] == "assistant"
    assert re.fullmatch(r"Under the Treaty of Le Touquet, .* \[\d\]", assistant["content"])
    expect(second.locator(".answer-text")).not_to_be_empty()
    expect(page.locator(".turn")).to_have_count(2)
    watched.assert_clean()


# The page's fetch of /ask/stream, fed to it one server-sent event at a time when the test says:
# the real server's real stream, slowed down so that each stage can be seen.
ONE_EVENT_AT_A_TIME = """
(() => {
  const realFetch = window.fetch.bind(window);
  window.fetch = async (input, init) => {
    const response = await realFetch(input, init);
    if (!String(input).endsWith("/ask/stream") || !response.ok) return response;
    const frames = (await response.text()).split("\\n\\n").filter((f) => f.trim());
    const encoder = new TextEncoder();
    window.eventsLeft = () => frames.length;
    const body = new ReadableStream({
      async pull(controller) {
        if (!frames.length) return controller.close();
        await new Promise((resolve) => { window.nextEvent = resolve; });
        controller.enqueue(encoder.encode(frames.shift() + "\\n\\n"));
      },
    });
    return new Response(body, { status: response.status, headers: response.headers });
  };
})();
"""


def release_event(page) -> None:
    page.wait_for_function("() => typeof window.nextEvent === 'function'")
    page.evaluate("() => { const next = window.nextEvent; window.nextEvent = null; next(); }")


def test_streamed_answer_shows_the_passages_first_then_the_text_as_it_comes(open_page):
    from playwright.sync_api import expect

    watched = open_page()
    page = watched.page
    page.add_init_script(ONE_EVENT_AT_A_TIME)
    page.goto("/")
    box = page.get_by_label("Your question")
    box.fill(TREATY_QUESTION)
    box.press("Enter")
    streaming = page.locator(".turn .answer.streaming")

    release_event(page)  # event: citations
    expect(streaming.locator(".card").first).to_be_visible()
    expect(streaming.locator(".card-title").first).to_contain_text("Britain and France")
    expect(streaming.locator(".answer-text")).to_have_text("")
    expect(streaming).to_have_attribute("aria-busy", "true")

    release_event(page)  # event: answer, the first sentence
    expect(streaming.locator(".answer-text")).to_contain_text(
        "Under the Treaty of Le Touquet, British immigration officials check passports")
    expect(streaming.locator(".answer-text a.marker").first).to_be_visible()

    while page.evaluate("() => window.eventsLeft()"):  # the other sentences, then done
        release_event(page)
    answer = page.locator(".turn .answer")
    expect(answer).not_to_have_class(re.compile("streaming"))
    expect(answer.locator(".took")).to_contain_text("Answered in")
    expect(answer.locator(".card mark").first).to_contain_text("passports")
    watched.assert_clean()


def test_article_html_shows_as_text_and_never_runs(open_page):
    from playwright.sync_api import expect

    watched = open_page()
    page = watched.page
    page.goto("/")
    turn = ask(page, HOSTILE_QUESTION)
    expect(turn.locator(".answer-text")).to_contain_text(SCRIPT_PAYLOAD)
    expect(turn.locator(".answer-text")).to_contain_text(IMAGE_PAYLOAD)
    expect(turn.locator(".card-title").first).to_have_text(re.compile(re.escape(SCRIPT_PAYLOAD)))
    assert page.locator("img").count() == 0
    assert page.locator("script:not([src])").count() == 0

    turn.locator(".card").first.click()
    page.wait_for_url(re.compile(rf"/articles/{HOSTILE_ID}/view"))
    expect(page.locator("h1")).to_contain_text(f"{SCRIPT_PAYLOAD} and {IMAGE_PAYLOAD}")
    expect(page.locator("mark#cited")).to_be_visible()
    assert SCRIPT_PAYLOAD in cited_text(page)
    assert page.locator("img").count() == 0
    assert page.locator("script:not([src])").count() == 0
    page.wait_for_timeout(300)  # give an escaped handler the chance it must never get
    watched.assert_clean()


def test_phone_width_has_no_horizontal_scroll(open_page):
    from playwright.sync_api import expect

    watched = open_page(width=360, height=780)
    page = watched.page
    page.goto("/")
    turn = ask(page, TREATY_QUESTION)
    turn.locator("details.more summary").first.click()
    assert _no_horizontal_scroll(page)
    turn.locator("a.marker").first.click()
    expect(page.locator("mark#cited")).to_be_in_viewport()
    assert _no_horizontal_scroll(page)
    watched.assert_clean()


def cited_text(page) -> str:
    """The highlighted passage: one mark per paragraph it spans."""
    return " ".join(page.locator("article mark").all_text_contents())


def _no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def test_without_javascript_the_form_posts_and_gets_an_answer_page(open_page):
    from playwright.sync_api import expect

    watched = open_page(javascript=False)
    page = watched.page
    page.goto("/")
    post_form(page, TREATY_QUESTION)
    expect(page.locator(".turn .question")).to_have_text(TREATY_QUESTION)
    expect(page.locator(".answer-text")).to_contain_text("passports")
    expect(page.locator(".card mark").first).to_contain_text("passports")
    page.locator(".answer-text a.marker").first.click()
    expect(page.locator("mark.sentence#cited")).to_contain_text("check passports in Calais")
    watched.assert_clean()


def test_without_javascript_the_conversation_carries_on_from_page_to_page(open_page):
    from playwright.sync_api import expect

    watched = open_page(javascript=False)
    page = watched.page
    page.goto("/")
    hint = page.locator("#composer-hint")  # what it says is true here: Enter makes a new line
    expect(hint).to_have_text(re.compile("The arrow button sends the question"), use_inner_text=True)
    expect(hint).not_to_have_text(re.compile("Enter"), use_inner_text=True)
    expect(page.get_by_label("News up to")).to_have_value(date.today().isoformat())  # the server's day
    post_form(page, TREATY_QUESTION)
    expect(page.locator(".answer-text")).to_contain_text("passports")
    post_form(page, "Who wants to change it?")
    turns = page.locator(".turn")
    expect(turns).to_have_count(2)
    expect(turns.first.locator(".question")).to_have_text(TREATY_QUESTION)
    expect(turns.first.locator(".answer-text")).to_contain_text("check passports in Calais")
    expect(turns.last.locator(".question")).to_have_text("Who wants to change it?")
    expect(turns.last.locator(".answer-text")).not_to_be_empty()
    watched.assert_clean()


# Far from UTC, so that the reader's today is not the server's for most of the day.
READER_TIMEZONE = "Pacific/Kiritimati"


def test_the_chat_asks_as_of_the_readers_today_another_day_or_any_time(open_page):
    from playwright.sync_api import expect

    watched = open_page(timezone=READER_TIMEZONE)
    page = watched.page
    page.goto("/")
    readers_today = datetime.now(ZoneInfo(READER_TIMEZONE)).date().isoformat()
    expect(page.get_by_label("News up to")).to_have_value(readers_today)
    hint = page.locator("#composer-hint")
    expect(hint).to_have_text(re.compile(r"Enter to send · Shift\+Enter for a new line"), use_inner_text=True)
    expect(hint).not_to_have_text(re.compile("arrow button"), use_inner_text=True)
    with page.expect_request("**/ask/stream") as sent:
        ask(page, TREATY_QUESTION)
    assert sent.value.post_data_json["as_of"] == readers_today

    page.get_by_label("News up to").fill("2016-02-07")
    with page.expect_request("**/ask/stream") as sent:
        ask(page, "Who wants to change it?")
    assert sent.value.post_data_json["as_of"] == "2016-02-07"

    page.get_by_label("Any time").check()
    expect(page.get_by_label("News up to")).to_be_disabled()
    with page.expect_request("**/ask/stream") as sent:
        ask(page, "What did Sarkozy say?")
    assert "as_of" not in sent.value.post_data_json
    watched.assert_clean()


def test_a_conversation_the_server_rendered_is_sent_as_history_by_the_chat(open_page):
    from playwright.sync_api import expect

    watched = open_page()
    page = watched.page
    page.goto("/")
    page.get_by_label("Your question").fill(TREATY_QUESTION)
    with page.expect_navigation():
        page.evaluate("document.getElementById('ask-form').submit()")  # the post a page without JS makes
    expect(page.locator(".turn .answer-text")).to_contain_text("passports")
    with page.expect_request("**/ask/stream") as sent:
        ask(page, "Who wants to change it?")
    user, assistant = sent.value.post_data_json["history"]
    assert user == {"role": "user", "content": TREATY_QUESTION}
    assert assistant["role"] == "assistant" and "Le Touquet" in assistant["content"]
    expect(page.locator(".turn")).to_have_count(2)
    watched.assert_clean()


# -- issue 15, item 4: the chat on a phone and in dark mode

TWO_MARKER_QUESTION = "What happens to the Calais camp and the treaties if Hollande loses?"
PHONE_WIDTHS = [360, *range(320, 416, 4)]  # 360 first; the others move each line's end

# For each marker in the answer: its box and the box of the last character of the text before it.
MARKER_LINES = """() => Array.from(document.querySelectorAll('.turn:last-child .answer-text a.marker'), (marker) => {
  const paragraph = marker.closest('.answer-text');
  const walker = document.createTreeWalker(paragraph, NodeFilter.SHOW_TEXT);
  let before = null;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (marker.compareDocumentPosition(node) & Node.DOCUMENT_POSITION_FOLLOWING) break;
    if (!node.parentElement.closest('a.marker') && node.textContent.trim()) before = node;
  }
  const end = before.textContent.trimEnd().length;
  const range = document.createRange();
  range.setStart(before, end - 1);
  range.setEnd(before, end);
  const word = range.getBoundingClientRect();
  const box = marker.getBoundingClientRect();
  return {marker: marker.textContent, markerTop: box.top, wordTop: word.top,
          word: before.textContent.trimEnd().slice(-12)};
})"""


def _markers_off_their_line(page) -> list[str]:
    """Markers whose top is not within 3 px of the top of the word before them, at each phone
    width (a marker that wraps sits a whole line, about 28 px, lower)."""
    off = []
    for width in PHONE_WIDTHS:
        page.set_viewport_size({"width": width, "height": 780})
        for line in page.evaluate(MARKER_LINES):
            if abs(line["markerTop"] - line["wordTop"]) > 3:
                off.append(f"{width} px: [{line['marker']}] {line['markerTop'] - line['wordTop']:+.0f} px "
                           f"from '…{line['word']}'")
    return off


@pytest.mark.parametrize("javascript", [True, False], ids=["rendered-by-js", "rendered-by-server"])
def test_phone_width_keeps_each_marker_on_the_line_of_the_word_before_it(open_page, javascript):
    from playwright.sync_api import expect

    watched = open_page(width=360, height=780, javascript=javascript)
    page = watched.page
    page.goto("/")
    turn = ask(page, TWO_MARKER_QUESTION) if javascript else post_form(page, TWO_MARKER_QUESTION)
    expect(turn.locator(".answer-text a.marker")).to_have_count(2)  # a real answer, two sentences
    assert _markers_off_their_line(page) == []
    page.set_viewport_size({"width": 360, "height": 780})
    assert _no_horizontal_scroll(page)
    watched.assert_clean()


def test_cards_and_avatar_are_the_same_with_and_without_javascript(open_page):
    from playwright.sync_api import expect

    excerpts = []
    for javascript in (True, False):
        watched = open_page(javascript=javascript)
        page = watched.page
        page.goto("/")
        post_form(page, TWO_MARKER_QUESTION)
        expect(page.locator(".turn .answer:not(.streaming) .took")).to_be_visible(timeout=30_000)
        logo = page.locator(".top .brand-mark")  # one mark: the answer's avatar is the logo
        assert page.locator(".turn .avatar").inner_html() == logo.inner_html() != ""
        cards = page.locator(".turn .card-passage")
        excerpts.append([(card.text_content(), card.locator("mark").all_text_contents()) for card in cards.all()])
        watched.assert_clean()
    with_js, without_js = excerpts
    assert with_js == without_js
    assert any(text.startswith("… ") for text, _ in with_js)  # trimmed before the quoted sentence
    assert all(text.endswith(" …") and len(text) < 600 for text, _ in with_js)  # and after it
    assert all(marks for _, marks in with_js[:2])  # the two sources show their quoted sentence


def _contrast(page, first: str, second: str) -> float:
    """WCAG contrast ratio between two computed colours, e.g. 'rgb(214, 178, 92)'."""
    return page.evaluate("""([a, b]) => {
      const luminance = (colour) => {
        const [r, g, b] = colour.match(/[\\d.]+/g).slice(0, 3).map((v) => {
          const c = Number(v) / 255;
          return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
        });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
      };
      const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
      return (hi + 0.05) / (lo + 0.05);
    }""", [first, second])


def _colours(locator) -> tuple[str, str]:
    return tuple(locator.evaluate("e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]"))


def test_dark_mode_sets_the_quoted_sentence_clearly_apart_from_its_passage(browser, server):
    from playwright.sync_api import expect

    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900},
                                  color_scheme="dark", reduced_motion="reduce")
    try:
        watched = Watched(context.new_page())
        page = watched.page
        page.goto("/")
        turn = ask(page, TWO_MARKER_QUESTION)
        card = turn.locator(".card").first
        quoted_text, quoted_bg = _colours(card.locator("mark").first)
        _, card_bg = _colours(card)
        assert _contrast(page, quoted_bg, card_bg) >= 3  # the highlight stands out of the card
        assert _contrast(page, quoted_text, quoted_bg) >= 4.5  # and reads (WCAG AA)

        turn.locator(".answer-text a.marker").first.click()
        expect(page.locator("mark.sentence#cited")).to_be_in_viewport()
        sentence_text, sentence_bg = _colours(page.locator("article mark.sentence"))
        passage_text, passage_bg = _colours(page.locator("article mark.passage").first)
        assert _contrast(page, sentence_bg, passage_bg) >= 3  # was 2.3 (two dark ambers)
        assert _contrast(page, sentence_text, sentence_bg) >= 4.5
        assert _contrast(page, passage_text, passage_bg) >= 4.5
        watched.assert_clean()
    finally:
        context.close()


LONG_QUESTION = ("I have been reading about the camps near the Channel ports, the lorries, the fences, "
                 "the police on both sides and the arguments between London and Paris about who should "
                 "pay for what and who should check whose papers, and about what the candidates in "
                 "next year's French election say they would change if they won. " * 3
                 + TREATY_QUESTION)


@pytest.mark.parametrize("javascript", [True, False], ids=["asked-by-js", "posted-without-js"])
def test_after_a_long_question_the_page_shows_the_answers_start(open_page, javascript):
    from playwright.sync_api import expect

    watched = open_page(width=360, height=780, javascript=javascript)
    page = watched.page
    page.goto("/")
    if javascript:
        ask(page, LONG_QUESTION)
    else:
        post_form(page, LONG_QUESTION)
    expect(page.locator(".turn .answer-text")).to_contain_text("passports")
    question = page.locator(".turn .question").last
    assert question.bounding_box()["height"] > 780  # the question alone is taller than the screen
    # The answer's start sits in the top half of the screen, below the header, once scrolled.
    page.wait_for_function("""() => {
      const answer = document.querySelector('.turn:last-child .answer').getBoundingClientRect();
      const header = document.querySelector('.top').getBoundingClientRect();
      return answer.top >= header.bottom && answer.top < window.innerHeight / 2;
    }""", timeout=5_000)
    watched.assert_clean()


def test_copy_as_markdown_puts_the_answer_with_its_sources_as_links_on_the_clipboard(open_page, server):
    """The button (issue 19) copies what /ask gives for `Accept: text/markdown`, to the letter."""
    import json

    import httpx
    from playwright.sync_api import expect

    watched = open_page()
    page = watched.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    sent = []
    page.on("request", lambda request: request.url.endswith("/ask/stream") and sent.append(request.post_data))
    page.goto("/")
    turn = ask(page, TREATY_QUESTION)
    button = turn.locator("button.copy-markdown")
    expect(button).to_have_accessible_name("Copy as Markdown")
    button.click()
    expect(button).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    # The same question, day and history as the page sent, asked for as Markdown.
    served = httpx.post(server.url + "/ask", json=json.loads(sent[-1]),
                        headers={"Accept": "text/markdown"}, timeout=30).text
    assert copied == served
    assert copied.startswith("Under the Treaty of Le Touquet")
    assert f"[\\[1\\]]({server.url}/articles/{SEED_ID}/view?start=" in copied
    assert "**Sources**\n\n- \\[1\\] [Britain and France pledge to work together" in copied
    watched.assert_clean()


def test_the_chats_filters_send_a_date_range_and_source_chips(open_page):
    """Issue 18: the filters fold out under the box; chips come from GET /sources; a range and a
    chip go with the question, and filters that leave nothing are said plainly."""
    import json

    from playwright.sync_api import expect

    watched = open_page()
    page = watched.page
    outlets = {"sources": [{"source": "bbc.co.uk", "articles": 12}, {"source": "cnn.com", "articles": 3}],
               "without_source": 1}
    page.route("**/sources", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(outlets)))
    page.goto("/")
    page.get_by_text("Filters", exact=True).click()
    chip = page.get_by_role("checkbox", name="bbc.co.uk, 12 articles")
    expect(chip).to_be_visible()
    page.get_by_label("from", exact=True).fill("2016-01-01")
    page.get_by_label("to", exact=True).fill("2016-01-31")
    chip.check()
    expect(page.locator("#filter-count")).to_have_text(" (2 on)")
    with page.expect_request("**/ask/stream") as sent:
        turn = ask(page, TREATY_QUESTION)
    body = sent.value.post_data_json
    assert (body["published_after"], body["published_before"], body["sources"]) == (
        "2016-01-01", "2016-01-31", ["bbc.co.uk"])
    expect(turn.locator(".answer")).to_contain_text(
        "No indexed article matches the filters (published from 2016-01-01 to 2016-01-31, from bbc.co.uk).")

    page.get_by_role("button", name="Clear filters").click()
    expect(page.locator("#filter-count")).to_have_text("")
    with page.expect_request("**/ask/stream") as sent:
        turn = ask(page, TREATY_QUESTION)
    assert not {"published_after", "published_before", "sources"} & set(sent.value.post_data_json)
    expect(turn.locator(".answer-text")).to_contain_text("passports")
    watched.assert_clean()


def test_an_old_citation_link_opens_a_page_that_says_why_and_leads_back_to_the_chat(open_page):
    # Issue 15, item 3: what a citation link shows after its article was removed, and a cut link.
    watched = open_page(width=360, height=780)
    page = watched.page
    for address, status in (("/articles/no-such-article/view?start=0&end=10", 404),
                            (f"/articles/{SEED_ID}/view?start=abc", 422)):
        response = page.goto(address)
        assert response.status == status and response.headers["content-type"].startswith("text/html")
        assert page.locator("h1").inner_text().strip(), address
        assert page.locator(".error-reason").inner_text().strip(), address
        assert _no_horizontal_scroll(page)
        page.locator("footer a.back").click()
        page.wait_for_url("**/")
        assert page.get_by_label("Your question").is_visible()
    # The browser's own "404" console line is the only error the page may log.
    assert all("status of 4" in error for error in watched.console_errors), watched.console_errors
    assert watched.dialogs == []


# -- a timeline answer: test_timeline.py's corpus (the Calais camp told over dated articles),
# served with the tests' embedder (fake_cli.py), so no model is loaded for it.

def _timeline_rows(turn) -> list[dict]:
    """Each entry of the turn's timeline as the page shows it: its day, its label, its text, its
    marker's number and link, and where it sits on the page."""
    return turn.locator("ol.timeline > li").evaluate_all("""items => items.map(item => {
        const time = item.querySelector("time.timeline-date");
        const marker = item.querySelector(".timeline-text a.marker");
        return {date: time.dateTime, label: time.textContent, text: item.querySelector(".timeline-text").innerText,
                marker: marker && marker.textContent, href: marker && marker.getAttribute("href"),
                top: item.getBoundingClientRect().top, bottom: item.getBoundingClientRect().bottom};
    })""")


def test_a_timeline_answer_lists_its_dated_entries_in_order_with_working_markers(browser, desk, tmp_path):
    from playwright.sync_api import expect

    from newsdesk.query import Query
    from newsdesk.server.pages import published_label

    expected = desk.ask(Query(question=TIMELINE_QUESTION)).timeline
    assert len(expected) >= 3
    server = Server(desk.settings.embeddings, env={"NEWSDESK_ABSTAIN_BELOW": "0"},
                    newsdesk=(sys.executable, str(Path(__file__).resolve().parent / "fake_cli.py")))
    try:
        shown = {}
        for javascript in (True, False):
            context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900},
                                          java_script_enabled=javascript)
            watched = Watched(context.new_page())
            page = watched.page
            page.goto("/")
            turn = ask(page, TIMELINE_QUESTION) if javascript else post_form(page, TIMELINE_QUESTION)
            expect(turn.locator("ol.timeline > li")).to_have_count(len(expected))
            expect(turn.locator(".answer .answer-text")).to_have_count(0)  # a list, not a paragraph
            rows = _timeline_rows(turn)
            assert [r["date"] for r in rows] == [e.date for e in expected]
            assert [r["date"] for r in rows] == sorted(r["date"] for r in rows)  # oldest first
            for row, entry in zip(rows, expected):
                assert row["label"] == published_label(entry.date)  # "29 Jul 2015"
                assert row["text"] == f"{entry.text} {entry.citation}"
                assert row["marker"] == str(entry.citation)
                assert f"sentence_start={entry.char_start}&sentence_end={entry.char_end}#cited" in row["href"]
            # An entry a line: each below the one before, not run together as one paragraph.
            assert all(a["bottom"] <= b["top"] for a, b in zip(rows, rows[1:])), rows
            assert turn.locator(".card").count() == len(expected)  # each entry's source card
            # The last entry's marker opens its article at the entry's sentence.
            turn.locator("ol.timeline > li").last.locator("a.marker").click()
            expect(page.locator("mark.sentence#cited")).to_have_text(expected[-1].text)
            watched.assert_clean()
            shown[javascript] = [{k: r[k] for k in ("date", "label", "text", "href")} for r in rows]
            context.close()
        assert shown[True] == shown[False]  # the page without JavaScript shows what the chat shows
    finally:
        server.stop()
