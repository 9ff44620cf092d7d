"""What the web pages show (pages.py), checked without a browser: highlighting, markers, links."""

from conftest import SEED

from newsdesk.answers import Answer, Citation
from newsdesk.articles import Article, parse_article
from newsdesk.pages import (answer_parts, article_link, article_view, card_link, latest_articles,
                            passage_pieces, published_label, sentences_for_citation, source_groups,
                            web_url)


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

    from newsdesk.api import create_app
    from newsdesk.config import Settings
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
