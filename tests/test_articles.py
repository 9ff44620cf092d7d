import gzip
import json

from conftest import SEED, SEED_ID

from newsdesk.articles import parse_article, read_articles


def test_seed_layout_is_parsed_into_fields():
    article = parse_article(SEED_ID, SEED.read_text())
    assert article.title == "Britain and France pledge to work together to address Calais crisis"
    assert article.standfirst.startswith("There are concerns any change in France")
    assert article.tags[:2] == ("Brexit", "Calais")
    assert "| Image:" in article.caption
    assert article.text[article.body_start:].startswith("Britain and France have pledged")


def test_file_without_the_layout_is_first_line_title_rest_body():
    article = parse_article("note", "Just a heading\nFirst line of body.\n\nSecond paragraph.")
    assert article.title == "Just a heading"
    assert article.text[article.body_start:].startswith("First line of body.")
    assert article.tags == ()


def test_a_body_right_under_the_title_line_is_a_paragraph():
    article = parse_article("x", "Storm Ciara\nWinds reached 90 mph.\n\nTrains were cancelled.")
    texts = [article.text[start:end] for start, end in article.paragraphs()]
    assert texts == ["Winds reached 90 mph.", "Trains were cancelled."]


def test_markdown_title_loses_its_hashes(tmp_path):
    (tmp_path / "story.md").write_text("# A markdown story\n\nBody text here.")
    result = read_articles([tmp_path])
    assert result.articles[0].title == "A markdown story"
    assert result.articles[0].id == "story"


def test_jsonl_corpus_keeps_text_verbatim_and_reports_bad_lines(tmp_path):
    corpus = tmp_path / "c.jsonl.gz"
    lines = [json.dumps({"doc_id": "a", "title": "A", "text": "  Alpha text.\n", "url": "http://x",
                         "publish_date": "2020-01-01"}),
             "{not json",
             json.dumps({"doc_id": "a", "title": "dup", "text": "again"}),
             json.dumps({"doc_id": "b", "title": "B", "text": "Beta text."})]
    with gzip.open(corpus, "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    result = read_articles([corpus])
    assert [a.id for a in result.articles] == ["a", "b"]
    assert result.articles[0].text == "  Alpha text.\n"  # gold offsets point into the raw text
    assert result.articles[0].published == "2020-01-01"
    reasons = {(p.line, p.reason.split(" (")[0]) for p in result.problems}
    assert (2, "not valid JSON") in reasons
    assert (3, "duplicate doc_id 'a'") in reasons


def test_broken_files_are_reported_by_name_and_the_rest_indexed(tmp_path):
    (tmp_path / "good.txt").write_text("Good title\n\nGood body.")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02")
    (tmp_path / "latin1.txt").write_bytes("Caf\xe9 au lait\n\nbody".encode("latin-1"))
    (tmp_path / "loop.txt").symlink_to(tmp_path / "loop.txt")
    (tmp_path / "ignored.csv").write_text("a,b")
    result = read_articles([tmp_path])
    assert [a.id for a in result.articles] == ["good"]
    skipped = {p.path.split("/")[-1]: p.reason for p in result.problems}
    assert set(skipped) == {"empty.txt", "binary.txt", "latin1.txt", "loop.txt"}
    assert "UTF-8" in skipped["latin1.txt"]


def test_mixed_files_and_folders_and_duplicate_ids(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_text("X\n\nbody")
    (tmp_path / "x.md").write_text("X again\n\nbody")
    result = read_articles([tmp_path / "a", tmp_path / "x.md", tmp_path / "missing"])
    assert [a.id for a in result.articles] == ["x"]
    assert any("duplicate article id" in p.reason for p in result.problems)
    assert any("no such file" in p.reason for p in result.problems)


# -- dates and addresses at the top of a .txt/.md article

FRONT_MATTER = """---
published: 2016-02-07
url: https://example.com/calais
author: Someone   # keys newsdesk does not use are ignored
tags:
  - Brexit
---
"""


def test_front_matter_sets_published_and_url_and_leaves_the_seed_layout_as_it_was():
    plain = parse_article(SEED_ID, SEED.read_text())
    dated = parse_article(SEED_ID, FRONT_MATTER + SEED.read_text())
    assert (dated.published, dated.url) == ("2016-02-07", "https://example.com/calais")
    assert dated.text == plain.text  # the front matter is not part of the text offsets point into
    assert (dated.title, dated.standfirst, dated.tags, dated.caption, dated.body_start) == (
        plain.title, plain.standfirst, plain.tags, plain.caption, plain.body_start)
    assert (plain.published, plain.url) == (None, None)


def test_published_and_url_lines_near_the_top_are_read_and_taken_out_of_the_text():
    plain = parse_article(SEED_ID, SEED.read_text())
    title, rest = SEED.read_text().split("\n", 1)
    dated = parse_article(SEED_ID, f"{title}\nPublished: 7 February 2016\nURL: https://example.com/c\n{rest}")
    assert (dated.published, dated.url) == ("2016-02-07", "https://example.com/c")
    assert dated.text == plain.text and dated.tags == plain.tags
    between_blocks = parse_article("n", "Storm Ciara\n\nPublished: Feb 9, 2020\n\nWinds reached 90 mph.")
    assert between_blocks.published == "2020-02-09"
    assert between_blocks.text == "Storm Ciara\n\nWinds reached 90 mph."


def test_a_front_matter_title_that_the_text_does_not_repeat_makes_all_of_it_body():
    article = parse_article("m", "---\ntitle: 'Storm Ciara'\ndate: 2020-02-09T10:00:00Z\n---\n\n"
                                 "Winds reached 90 mph.\n\nTrains were cancelled.", markdown=True)
    assert (article.title, article.published) == ("Storm Ciara", "2020-02-09")
    assert [article.text[s:e] for s, e in article.paragraphs()] == ["Winds reached 90 mph.", "Trains were cancelled."]
    repeated = parse_article("m", "---\ntitle: Storm Ciara\n---\n# Storm Ciara\n\nWinds.", markdown=True)
    assert repeated.title == "Storm Ciara" and repeated.text[repeated.body_start:] == "Winds."


def test_unreadable_metadata_skips_the_file_and_says_which_line(tmp_path):
    (tmp_path / "good.txt").write_text("---\npublished: 2016-02-07\n---\nGood title\n\nGood body.")
    (tmp_path / "bad_date.txt").write_text("---\npublished: 2016-02-30\n---\nTitle\n\nBody.")
    (tmp_path / "bad_line.md").write_text("# Title\nPublished: last Tuesday\n\nBody.")
    (tmp_path / "unclosed.txt").write_text("---\npublished: 2016-02-07\nTitle\n\nBody.")
    (tmp_path / "only_metadata.txt").write_text("---\nurl: https://example.com\n---\n")
    result = read_articles([tmp_path])
    assert [(a.id, a.published) for a in result.articles] == [("good", "2016-02-07")]
    problems = {p.path.split("/")[-1]: p for p in result.problems}
    assert str(problems["bad_date.txt"]).endswith(
        "bad_date.txt:2: published date '2016-02-30' is not a date; write it as YYYY-MM-DD, e.g. 2016-02-07")
    assert problems["bad_line.md"].line == 2 and "'last Tuesday'" in problems["bad_line.md"].reason
    assert "no closing '---'" in problems["unclosed.txt"].reason
    assert "no article text" in problems["only_metadata.txt"].reason
    assert result.files_skipped == 4


def test_the_date_and_url_of_a_dated_file_reach_the_citations(settings, seeds, fake_embedder):
    from newsdesk.index.build import build_index
    from newsdesk.service import Newsdesk

    seed = seeds / SEED.name
    seed.write_text(FRONT_MATTER + seed.read_text())
    build_index(settings, fake_embedder)
    desk = Newsdesk(settings.with_(abstain_below=0.0), embedder=fake_embedder)
    answer = desk.ask("What does the Treaty of Le Touquet do?", 3)
    assert answer.citations
    assert {(c.published, c.url) for c in answer.citations} == {("2016-02-07", "https://example.com/calais")}
    article = desk.article(SEED_ID)
    assert "---" not in article.text and article.text == parse_article(SEED_ID, SEED.read_text()).text
    assert all(article.text[c.char_start:c.char_end] == c.text for c in answer.citations)


def test_titles_are_capped_at_a_word(tmp_path):
    from newsdesk.articles import read_articles
    from newsdesk.articles.records import MAX_TITLE_CHARS

    (tmp_path / "long.txt").write_text("word " * 1_000_000 + "\n\nThe body of the article.\n")
    (tmp_path / "corpus.jsonl").write_text(json.dumps({"doc_id": "j", "title": "t" * 5_000_000,
                                                       "text": "Body text."}) + "\n")
    read = read_articles([tmp_path])
    titles = {a.id: a.title for a in read.articles}
    assert set(titles) == {"long", "j"}
    assert all(len(t) <= MAX_TITLE_CHARS for t in titles.values())
    assert titles["long"].endswith("word…") and titles["j"].endswith("t…")
