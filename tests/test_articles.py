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


# -- the layout as each reader decides it: parts before the body, and the regions worth searching

def test_the_seed_reader_labels_each_part_before_the_body():
    article = parse_article(SEED_ID, SEED.read_text())
    kinds = [kind for kind, _, _ in article.parts]
    assert kinds == ["title", "standfirst", "tags", "caption"]
    shown = {kind: article.text[start:end] for kind, start, end in article.parts}
    assert shown["title"] == article.title and shown["standfirst"] == article.standfirst
    assert shown["caption"] == article.caption and shown["tags"].startswith("Brexit, Calais")
    # The standfirst alone, then the caption running on into the body: title and tags are edges.
    standfirst, rest = article.content_regions()
    assert article.text[slice(*standfirst)] == article.standfirst
    assert rest == (article.parts[3][1], len(article.text))


def test_a_plain_file_is_a_title_part_then_body_and_a_corpus_line_is_all_body(tmp_path):
    plain = parse_article("note", "Just a heading\n\nFirst line of body.")
    assert plain.parts == (("title", 0, plain.body_start),)
    assert plain.content_regions() == [(plain.body_start, len(plain.text))]
    (tmp_path / "c.jsonl").write_text(json.dumps({"doc_id": "a", "title": "A", "text": "Alpha. Beta."}) + "\n")
    (line,) = read_articles([tmp_path]).articles
    assert line.parts == () and line.content_regions() == [(0, len(line.text))]


def test_an_article_stored_before_records_had_parts_reads_back_the_same():
    from newsdesk.articles import Article

    for article in (parse_article(SEED_ID, SEED.read_text()), parse_article("n", "Heading\nBody.\n\nMore."),
                    parse_article("m", "---\ntitle: Only here\n---\nAll of it is body.")):
        earlier = article.to_record()
        del earlier["parts"]
        assert Article.from_record(earlier) == article
        assert Article.from_record(article.to_record()) == article


def test_a_reader_for_another_kind_of_file_is_one_entry_in_the_readers_table(tmp_path, monkeypatch):
    from newsdesk.articles import Article, folders

    def read_rss(path, problems, notes):
        body = path.read_text().split("<description>", 1)[1].split("</description>", 1)[0]
        return [Article(id=path.stem, title="From RSS", text=body)]

    (tmp_path / "wire.rss").write_text("<rss><description>The council met on Monday.</description></rss>")
    (tmp_path / "story.txt").write_text("Story\n\nBody.")
    assert [a.id for a in read_articles([tmp_path]).articles] == ["story"]  # .rss unknown so far
    monkeypatch.setitem(folders.READERS, (".rss",), read_rss)
    read = read_articles([tmp_path])
    assert [(a.id, a.title) for a in read.articles] == [("story", "Story"), ("wire", "From RSS")]
    assert not read.problems


# -- JSONL corpora under other field names

def write_jsonl(path, *records) -> None:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))


def test_a_corpus_with_id_and_body_is_read_and_the_fields_used_are_said_once(tmp_path):
    corpus = tmp_path / "bbc.jsonl"
    write_jsonl(corpus, *({"id": f"bbc-{n}", "category": "business", "title": f"Story {n}",
                           "body": f"Body of story {n}.\n\nSecond paragraph."} for n in range(3)))
    read = read_articles([corpus])
    assert [(a.id, a.title, a.text) for a in read.articles][0] == (
        "bbc-0", "Story 0", "Body of story 0.\n\nSecond paragraph.")
    assert len(read.articles) == 3 and not read.problems
    assert [str(note) for note in read.notes] == [f"read {corpus}: doc_id from 'id', text from 'body'"]


def test_content_link_and_each_date_name_are_read(tmp_path):
    corpus = tmp_path / "c.jsonl"
    write_jsonl(corpus,
                {"id": "a", "headline": "A", "content": "Alpha.", "link": "https://x.example/a", "date": "2020-01-02"},
                {"id": "b", "title": "B", "content": "Beta.", "published_at": "2021-03-04T10:00:00Z"},
                {"doc_id": "c", "title": "C", "text": "Gamma.", "published": "2022-05-06"},
                {"doc_id": "d", "title": "D", "text": "Delta.", "publish_date": "", "date": "2023-07-08"})
    read = read_articles([corpus])
    assert [(a.id, a.title, a.text, a.url, a.published) for a in read.articles] == [
        ("a", "A", "Alpha.", "https://x.example/a", "2020-01-02"),
        ("b", "B", "Beta.", None, "2021-03-04T10:00:00Z"),
        ("c", "C", "Gamma.", None, "2022-05-06"),
        ("d", "D", "Delta.", None, "2023-07-08")]
    (note,) = read.notes
    assert note.message == ("doc_id from 'id', text from 'content', title from 'headline', url from 'link', "
                            "publish_date from 'date', 'published_at' and 'published'")


def test_newsdesk_own_field_names_need_no_note(tmp_path):
    corpus = tmp_path / "c.jsonl"
    write_jsonl(corpus, {"doc_id": "a", "title": "A", "text": "Alpha.", "url": "http://x", "publish_date": "2020-01-01"})
    read = read_articles([corpus])
    assert len(read.articles) == 1 and read.notes == []


def test_a_line_without_text_names_the_fields_it_has(tmp_path):
    corpus = tmp_path / "c.jsonl"
    write_jsonl(corpus, {"id": "a", "category": "tech", "summary": "Short."},
                {"id": "b", "body": "   "},
                {"uid": "c", "body": "Some text."},
                {"id": "d", "body": "Fine."})
    read = read_articles([corpus])
    assert [a.id for a in read.articles] == ["d"]
    reasons = {p.line: p.reason for p in read.problems}
    assert reasons[1] == ("missing or empty text (no 'text', 'body' or 'content' field; "
                          "the line has id, category, summary)")
    assert reasons[2] == "missing or empty text ('body' is empty or not text)"
    assert reasons[3] == "missing or invalid doc_id (no 'doc_id' or 'id' field; the line has uid, body)"
    assert read.files_skipped == 0  # a corpus line's problem skips that line, not the file


def test_the_bbc_corpus_is_read_whole():
    from conftest import shared_data

    read = read_articles([shared_data("bbc/articles.jsonl.gz")])
    assert len(read.articles) > 2000 and not read.problems
    assert [note.message for note in read.notes] == ["doc_id from 'id', text from 'body'"]
    assert all(a.title and a.text.strip() for a in read.articles)
