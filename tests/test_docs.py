"""Documentation kept true by tests: README's settings table is the one the settings generate,
and its example answer has the shape of a real one."""

import json
import re

import pytest
from conftest import ROOT, SEED_ID, TREATY_QUESTION
from fastapi.testclient import TestClient

from newsdesk.index.build import build_index
from newsdesk.server.app import create_app
from newsdesk.service import Newsdesk

from newsdesk.settings import Settings, settings_table, variable, with_settings_table


def test_readme_settings_table_is_generated_from_the_settings():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    # On failure: python -m newsdesk.settings --write README.md
    assert with_settings_table(readme) == readme


def test_the_table_has_a_row_with_a_description_for_every_setting():
    table = settings_table()
    for name, field in Settings.model_fields.items():
        assert field.description, name
        assert f"| `{variable(name)}` |" in table
    assert table.count("\n") == len(Settings.model_fields) + 2


def test_readme_leads_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert readme.index("make run") < readme.index("## Command line")
    assert "make test" in readme


# The README's example answer (the ```json block after the curl under "Two commands") has the
# shape of a real one: the same keys with the same types, citations with the same fields, and
# offsets that slice the seed article where the example says. Its text is not compared.

def readme_example() -> dict:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sh\ncurl [^`]*/ask[^`]*```\s*```json\n(.*?)```", readme, re.S)
    assert block, "README: the /ask curl example followed by its ```json answer"
    return json.loads(block.group(1))


def json_type(value) -> str:
    return "number" if isinstance(value, (int, float)) and not isinstance(value, bool) else type(value).__name__


def ask_about_the_seed(settings, embedder) -> dict:
    build_index(settings, embedder)
    desk = Newsdesk(settings, embedder=embedder)
    with TestClient(create_app(settings, desk, watch=False)) as client:
        response = client.post("/ask", json={"question": TREATY_QUESTION})
        assert response.status_code == 200
        body = response.json()
        body["_article"] = client.get(f"/articles/{SEED_ID}").json()
        return body


@pytest.fixture
def fake_answer(settings, fake_embedder) -> dict:
    # The bag-of-words embedder's confidence is not the model's: answer whatever is found.
    return ask_about_the_seed(settings.with_(abstain_below=0.0), fake_embedder)


@pytest.fixture
def real_answer(settings, real_embedder) -> dict:
    return ask_about_the_seed(settings, real_embedder)


def test_readme_example_answer_has_the_shape_of_a_real_answer(fake_answer):
    example = readme_example()
    real = {key: value for key, value in fake_answer.items() if key != "_article"}
    assert real["abstained"] is False and real["citations"]
    # The same keys in the same order, each holding a value of the same JSON type (a key that is
    # null in one may hold a value in the other: a note, a url).
    assert list(example) == list(real)
    for key, value in example.items():
        if key != "citations" and value is not None and real[key] is not None:
            assert json_type(value) == json_type(real[key]), key
    shown = [c for c in example["citations"] if isinstance(c, dict)]
    assert shown and all(c == "..." for c in example["citations"] if not isinstance(c, dict))
    for citation in shown:
        assert list(citation) == list(real["citations"][0])
        for key, value in citation.items():
            other = real["citations"][0][key]
            if value is not None and other is not None:
                assert json_type(value) == json_type(other), key
    assert 0 <= example["confidence"] <= 1 and example["took_ms"] > 0


@pytest.mark.slow  # passages are cut by the real model's tokens
def test_readme_example_citation_offsets_slice_the_seed_article(real_answer):
    """The example's offsets are today's: its passage is where the real model's passages are cut."""
    example = readme_example()
    text = real_answer["_article"]["text"]
    for citation in (c for c in example["citations"] if isinstance(c, dict)):
        assert citation["article_id"] == SEED_ID
        assert citation["passage_id"].startswith(f"{SEED_ID}#")
        passage = text[citation["char_start"]:citation["char_end"]]
        # The example may shorten a passage with a trailing "...": what it shows is its start.
        assert passage.startswith(citation["text"].removesuffix("..."))
        real = {c["passage_id"]: c for c in real_answer["citations"]}[citation["passage_id"]]
        assert (real["char_start"], real["char_end"]) == (citation["char_start"], citation["char_end"])
    # Each [n] in the example answer names a shown citation whose passage holds that sentence.
    by_n = {c["n"]: c for c in example["citations"] if isinstance(c, dict)}
    for sentence, n in re.findall(r"(.+?) \[(\d+)\]\s*", example["answer"]):
        citation = by_n[int(n)]
        assert sentence.strip() in text[citation["char_start"]:citation["char_end"]]


def test_real_citations_slice_the_article(fake_answer):
    text = fake_answer["_article"]["text"]
    for citation in fake_answer["citations"]:
        assert text[citation["char_start"]:citation["char_end"]] == citation["text"]


def test_readme_stays_a_short_page_for_users():
    # Issue 14: about 12 KB for users; the lab notebook lives in docs/. A new section that would
    # push it past this goes to docs/ with a line and a link here.
    assert len((ROOT / "README.md").read_bytes()) <= 13_500
