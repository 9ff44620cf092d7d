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
