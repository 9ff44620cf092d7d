"""End to end as a user runs it: the real model, a real FAISS index, `newsdesk serve` over HTTP."""

import gzip
import json
import time

import httpx
import pytest
from conftest import SEED_ID, TREATY_QUESTION, Server, index_seed_folder, run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    done = index_seed_folder(root)
    assert done.stdout.startswith("1 new, 0 changed, 0 removed, 0 unchanged")
    return root


@pytest.fixture(scope="module")
def server(indexed):
    server = Server(indexed / "embeddings")
    yield server
    server.stop()


def test_treaty_question_is_answered_with_the_passports_sentence(server):
    body = httpx.post(server.url + "/ask", json={"question": TREATY_QUESTION}, timeout=30).json()
    assert body["abstained"] is False
    assert "passports" in body["answer"]
    assert body["answer"].startswith("Under the Treaty of Le Touquet, British immigration officials check passports")
    first = body["citations"][0]
    assert first["article_id"] == SEED_ID
    article = httpx.get(f"{server.url}/articles/{SEED_ID}").json()
    assert article["text"][first["char_start"]:first["char_end"]] == first["text"]
    marker = body["answer"].split("[", 1)[1].split("]", 1)[0]
    cited = body["citations"][int(marker) - 1]
    assert "check passports in Calais" in cited["text"]


def test_unrelated_question_abstains_plainly(server):
    body = httpx.post(server.url + "/ask", json={"question": "What is a good recipe for banana bread?"},
                      timeout=30).json()
    assert body["abstained"] is True
    assert "don't cover" in body["answer"]


def test_bad_requests_are_4xx_never_500(server):
    for payload in ({"question": ""}, {"question": "  "}, {"question": "q", "k": 99}, {}, []):
        assert httpx.post(server.url + "/ask", json=payload).status_code == 422
    assert httpx.get(server.url + "/articles/missing").status_code == 404


def test_reindex_after_adding_an_article_embeds_only_it_and_the_server_picks_it_up(indexed, server):
    seeds, embeddings = indexed / "seeds", indexed / "embeddings"
    (seeds / "bridge.txt").write_text(
        "Leeds opens a new footbridge over the Aire\n\n"
        "A new footbridge over the River Aire in Leeds opened on Monday after two years of work. "
        "The bridge cost 4 million pounds and links the station to the south bank.")
    done = run_cli("index", "--seeds", str(seeds), "--embeddings", str(embeddings), "--quiet")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1 new, 0 changed, 0 removed, 1 unchanged — 1 passage embedded")
    deadline = time.monotonic() + 20
    while httpx.get(server.url + "/health").json()["articles"] != 2:
        assert time.monotonic() < deadline, "server did not pick up the new generation"
        time.sleep(0.2)
    body = httpx.post(server.url + "/ask", json={"question": "How much did the Leeds footbridge cost?"},
                      timeout=30).json()
    assert body["citations"][0]["article_id"] == "bridge"
    assert "4 million pounds" in body["answer"]


def test_jsonl_corpus_is_indexed_and_asked_from_the_cli(tmp_path):
    corpus = tmp_path / "corpus.jsonl.gz"
    rows = [
        {"doc_id": "storm-1", "title": "Storm Ciara closes schools", "url": "https://example.org/ciara",
         "publish_date": "2020-02-09",
         "text": "Storm Ciara closed hundreds of schools in Wales on Monday. Winds reached 97 mph in Aberdaron."},
        {"doc_id": "budget-1", "title": "Chancellor sets out budget", "text":
         "The chancellor raised the tax on tobacco by two per cent. Fuel duty was frozen for another year."},
    ]
    with gzip.open(corpus, "wt") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in rows)
    embeddings = tmp_path / "e"
    assert run_cli("index", "--seeds", str(corpus), "--embeddings", str(embeddings), "--quiet").returncode == 0
    asked = run_cli("ask", "--embeddings", str(embeddings), "--json", "How fast were the winds of Storm Ciara?")
    assert asked.returncode == 0, asked.stderr
    body = json.loads(asked.stdout)
    assert body["citations"][0]["article_id"] == "storm-1"
    assert body["citations"][0]["url"] == "https://example.org/ciara"
    assert body["citations"][0]["published"] == "2020-02-09"
    assert "97 mph" in body["answer"]


def test_cli_errors_are_one_line_and_nonzero(tmp_path):
    missing = run_cli("ask", "--embeddings", str(tmp_path / "nothing"), "anything")
    assert missing.returncode == 1 and missing.stderr.strip().count("\n") == 0
    assert "newsdesk index" in missing.stderr
    empty = run_cli("index", "--seeds", str(tmp_path / "no-such-folder"), "--embeddings", str(tmp_path / "e"))
    assert empty.returncode == 1 and "nothing was indexed" in empty.stderr
