"""MCP (issue 19): the SDK's own client against `newsdesk mcp` over stdio (a subprocess) and
against `newsdesk serve` at /mcp over streamable HTTP, behind the token; a real index (built
with the tests' embedder, which the processes use too: tests/fake_cli.py)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import httpx2
import pytest
from conftest import SEED_ID, TREATY_QUESTION, Server
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from newsdesk.index.build import build_index
from newsdesk.server.mcp_server import article_uri
from newsdesk.service import Newsdesk
from newsdesk.settings import Settings

FAKE_CLI = str(Path(__file__).resolve().parent / "fake_cli.py")
TOKEN = "mcp-test-token"
SLASHED_ID = "2020/03/16/harbour"  # ids may hold slashes; the resource URI carries them encoded
SLASHED = {"id": SLASHED_ID, "title": "Harbour bridge opens", "date": "2020-03-16",
           "body": "The harbour bridge opened on Monday with a brass band and a queue of cyclists."}


@pytest.fixture
def index(tmp_path, seeds, fake_embedder):
    (seeds / "harbour.jsonl").write_text(json.dumps(SLASHED) + "\n", encoding="utf-8")
    settings = Settings(seeds=(seeds,), embeddings=tmp_path / "embeddings")
    build_index(settings, fake_embedder)
    return settings, Newsdesk(settings, embedder=fake_embedder)


async def _session(client: Client, desk: Newsdesk) -> None:
    """What an assistant does: list the tools, search, ask, read an article and the resources;
    each result checked against the library's own."""
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {"search_articles", "ask", "get_article"}
    filters = {"published_after", "published_before", "sources"}
    assert set(tools["search_articles"].input_schema["properties"]) == {"query", "k"} | filters
    assert set(tools["ask"].input_schema["properties"]) == {"question", "history", "as_of", "k"} | filters
    assert all(tool.output_schema for tool in tools.values())

    found = await client.call_tool("search_articles", {"query": "Treaty of Le Touquet", "k": 3})
    assert not found.is_error
    passages = found.structured_content["passages"]
    expected = desk.search("Treaty of Le Touquet", 3)
    assert [(p["passage_id"], p["article_id"], p["char_start"], p["char_end"], p["title"]) for p in passages] == [
        (c.passage_id, c.article_id, c.char_start, c.char_end, c.title) for c in expected]
    assert passages[0]["link"].endswith(f"/articles/{SEED_ID}/view?start={expected[0].char_start}"
                                        f"&end={expected[0].char_end}")

    # The harbour story (dated 2020-03-16) is the only article the date filter keeps.
    dated = await client.call_tool("search_articles", {"query": "Treaty of Le Touquet", "k": 3,
                                                       "published_after": "2020-01-01"})
    assert {p["article_id"] for p in dated.structured_content["passages"]} == {SLASHED_ID}
    bad_range = await client.call_tool("search_articles", {"query": "bridge", "published_after": "2021-01-01",
                                                           "published_before": "2020-01-01"})
    assert bad_range.is_error and "published_before" in bad_range.content[0].text

    answered = await client.call_tool("ask", {"question": TREATY_QUESTION})
    library = desk.ask(TREATY_QUESTION)
    assert answered.structured_content["answer"] == library.answer and "[1]" in library.answer
    assert not answered.structured_content["abstained"]
    first = answered.structured_content["citations"][0]
    assert (first["n"], first["article_id"], first["char_start"], first["char_end"], first["text"]) == (
        1, library.citations[0].article_id, library.citations[0].char_start, library.citations[0].char_end,
        library.citations[0].text)
    follow_up = await client.call_tool("ask", {"question": "Who checks passports in Dover?", "as_of": "2016-09-01",
                                               "history": [{"role": "user", "content": TREATY_QUESTION},
                                                           {"role": "assistant", "content": library.answer}]})
    assert not follow_up.is_error and follow_up.structured_content["citations"]
    refused = await client.call_tool("ask", {"question": ""})
    assert refused.is_error and "question" in refused.content[0].text

    article = await client.call_tool("get_article", {"id": SLASHED_ID})
    assert article.structured_content["title"] == "Harbour bridge opens"
    assert article.structured_content["text"] == desk.article(SLASHED_ID).text
    assert article.structured_content["resource"] == article_uri(SLASHED_ID)
    missing = await client.call_tool("get_article", {"id": "no-such-article"})
    assert missing.is_error and "no-such-article" in missing.content[0].text

    resources = {r.name: r for r in (await client.list_resources()).resources}
    assert set(resources) == {SEED_ID, SLASHED_ID}
    read = await client.read_resource(str(resources[SLASHED_ID].uri))
    text = read.contents[0].text
    assert text.startswith("Harbour bridge opens\n") and text.endswith(desk.article(SLASHED_ID).text)


def test_the_sdk_client_over_stdio_searches_asks_and_reads_articles(index):
    settings, desk = index
    server = StdioServerParameters(command=sys.executable,
                                   args=[FAKE_CLI, "mcp", "--embeddings", str(settings.embeddings)],
                                   env={"HF_HUB_OFFLINE": "1"})

    async def run():
        async with Client(server, read_timeout_seconds=60) as client:
            await _session(client, desk)
    asyncio.run(run())


def test_the_sdk_client_over_streamable_http_on_the_server_behind_the_token(index):
    settings, desk = index
    server = Server(settings.embeddings, env={"NEWSDESK_API_TOKEN": TOKEN}, newsdesk=(sys.executable, FAKE_CLI))

    async def run(headers: dict):
        async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
            async with Client(streamable_http_client(server.url + "/mcp", http_client=http)) as client:
                await _session(client, desk)
    try:
        asyncio.run(run({"Authorization": f"Bearer {TOKEN}"}))
        with pytest.raises(Exception):  # the SDK says only "Server returned an error response"
            asyncio.run(run({}))
    finally:
        server.stop()
    log = server.log.read_text()
    assert "POST /mcp 200" in log and "POST /mcp 401" in log  # the request log tells which
