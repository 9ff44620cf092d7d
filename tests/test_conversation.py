"""Conversation: follow-up questions with history, streamed answers over SSE, the OpenAI-compatible
endpoint, and the LLM writer's citation checks and fallback (the live-model test is test_llm.py)."""

import json
import shutil

import httpx
import pytest
from conftest import SEED, TREATY_QUESTION, Server, free_port
from fastapi.testclient import TestClient

from newsdesk.answers.extractive import Citation
from newsdesk.server.app import create_app
from newsdesk.answers.conversation import Turn, understand
from newsdesk.index.build import build_index
from newsdesk.service import Newsdesk
from newsdesk.answers.extractive import WriterFailed
from newsdesk.answers.writers import check_sentence, checked_sentences, draft_of, once_supported

CHANGE_IT = "Who wants to change it?"
CORBYN = "And what did Corbyn say?"
BRIDGE = ("Leeds opens a new footbridge over the Aire\n\n"
          "A new footbridge over the River Aire in Leeds opened on Monday after two years of work. "
          "The bridge cost 4 million pounds and links the station to the south bank.")


def turns(*exchanges: str) -> list[Turn]:
    """User and assistant turns, alternating, from their texts."""
    return [Turn(role="user" if i % 2 == 0 else "assistant", content=text)
            for i, text in enumerate(exchanges)]


def parse_sse(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


# -- deciding what a follow-up leans on (no model needed)

@pytest.mark.parametrize("question", [CHANGE_IT, CORBYN, "Why?", "When did they agree to that?"])
def test_a_question_that_leans_on_the_last_one_borrows_its_key_terms(question):
    understood = understand(question, turns(TREATY_QUESTION, "Under the Treaty ... [1]"))
    assert understood.is_follow_up
    assert understood.retrieval_query.startswith(question)
    assert {"Treaty", "Le", "Touquet"} <= set(understood.context_terms)


@pytest.mark.parametrize("question", [
    "What is a good recipe for banana bread?",
    "How much did the Leeds footbridge cost to build?",
    TREATY_QUESTION,
])
def test_a_question_that_stands_on_its_own_is_searched_as_it_is(question):
    understood = understand(question, turns("Who won the Stanley Cup in 2022?", "The Avalanche [1]"))
    assert not understood.is_follow_up
    assert understood.retrieval_query == question


def test_a_chain_of_follow_ups_keeps_the_topic_that_started_it():
    understood = understand(CORBYN, turns(TREATY_QUESTION, "...", CHANGE_IT, "..."))
    assert {"Treaty", "Touquet", "change"} <= set(understood.context_terms)


def test_a_follow_up_reaches_back_only_to_the_turn_that_set_the_topic():
    history = turns("Who won the Stanley Cup in 2022?", "...", TREATY_QUESTION, "...")
    understood = understand(CHANGE_IT, history)
    assert "Stanley" not in understood.context_terms and "Touquet" in understood.context_terms


def test_a_short_question_is_a_follow_up_only_when_the_earlier_turns_help_retrieval():
    history = turns(TREATY_QUESTION, "...")
    def context_helps(query):
        return 0.6 if "Touquet" in query else 0.2

    def context_hurts(query):
        return 0.1 if "Touquet" in query else 0.7

    assert understand("Who signed the deal?", history, confidence=context_helps).is_follow_up
    assert not understand("Who won the Stanley Cup?", history, confidence=context_hurts).is_follow_up


def test_without_history_or_with_assistant_turns_only_nothing_is_borrowed():
    assert not understand(CHANGE_IT).is_follow_up
    assert not understand(CHANGE_IT, [Turn(role="assistant", content=TREATY_QUESTION)]).is_follow_up


# -- the HTTP contract over the fake embedder (fast)

@pytest.fixture
def client(settings, fake_embedder):
    build_index(settings, fake_embedder)
    desk = Newsdesk(settings.with_(abstain_below=0.0), embedder=fake_embedder)
    with TestClient(create_app(settings, desk, watch=False)) as client:
        yield client


def test_ask_accepts_history(client):
    body = client.post("/ask", json={"question": CHANGE_IT, "history": [
        {"role": "user", "content": TREATY_QUESTION},
        {"role": "assistant", "content": "Under the Treaty of Le Touquet ... [1]"}]}).json()
    assert body["citations"] and body["abstained"] is False
    assert 0.0 <= body["confidence"] <= 1.0


def test_the_openai_reply_carries_the_confidence_in_full_and_on_the_last_chunk(client):
    messages = [{"role": "user", "content": TREATY_QUESTION}]
    reply = client.post("/v1/chat/completions", json={"messages": messages}).json()
    asked = client.post("/ask", json={"question": TREATY_QUESTION}).json()
    assert reply["confidence"] == asked["confidence"]
    streamed = client.post("/v1/chat/completions", json={"messages": messages, "stream": True}).text
    chunks = [json.loads(line[6:]) for line in streamed.splitlines()
              if line.startswith("data: {")]
    assert chunks[-1]["confidence"] == asked["confidence"]
    assert all("confidence" not in chunk for chunk in chunks[:-1])


@pytest.mark.parametrize("history, fragment", [
    ([{"role": "user", "content": "q"}] * 21, "at most 20 items"),
    ([{"role": "user", "content": "x" * 2001}], "at most 2000 characters"),
    ([{"role": "system", "content": "be brief"}], "'user' or 'assistant'"),
    ([{"role": "user", "content": ""}], "at least 1 character"),
    ("not a list", "valid list"),
])
def test_bad_history_gets_a_readable_422(client, history, fragment):
    response = client.post("/ask", json={"question": CHANGE_IT, "history": history})
    assert response.status_code == 422
    assert fragment in response.text


def test_ask_stream_sends_citations_then_answer_pieces_then_done(client):
    response = client.post("/ask/stream", json={"question": TREATY_QUESTION, "k": 3})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    names = [name for name, _ in events]
    assert names[0] == "citations" and names[-1] == "done"
    assert set(names[1:-1]) == {"answer"}
    citations, done = events[0][1]["citations"], events[-1][1]
    assert [c["n"] for c in citations] == list(range(1, len(citations) + 1))
    assert "".join(data["text"] for name, data in events if name == "answer") == done["answer"]
    assert done["abstained"] is False and done["took_ms"] > 0
    assert done["answer"] == client.post("/ask", json={"question": TREATY_QUESTION, "k": 3}).json()["answer"]


def test_ask_stream_refuses_bad_input_before_streaming(client):
    assert client.post("/ask/stream", json={"question": " "}).status_code == 422


def test_openai_endpoint_rejects_a_conversation_that_does_not_end_with_a_question(client):
    response = client.post("/v1/chat/completions", json={"messages": [
        {"role": "user", "content": TREATY_QUESTION}, {"role": "assistant", "content": "..."}]})
    assert response.status_code == 422 and "last message" in response.text
    assert client.post("/v1/chat/completions", json={"messages": []}).status_code == 422


# -- the LLM writer: citation checks (no model needed) and the fallback

def citation(n: int, text: str) -> Citation:
    return Citation(n=n, passage_id=f"a#{n}", article_id="a", title="T", text=text,
                    char_start=0, char_end=len(text), score=1.0)


CITED = [citation(1, "Under the Treaty of Le Touquet, British officials check passports in Calais."),
         citation(2, "Xavier Bertrand wants a hotspot in France for asylum claims.")]


def test_markers_that_name_no_citation_are_removed_and_unsupported_sentences_flagged():
    checked = check_sentence("British officials check passports in Calais [1] [7].", CITED)
    assert checked.text == "British officials check passports in Calais. [1]" and not checked.flagged
    assert check_sentence("Bertrand wants a hotspot in France. [9]", CITED).flagged  # no valid marker
    assert check_sentence("The moon is made of cheese. [2]", CITED).flagged  # cited, not supported
    assert check_sentence("[3]", CITED) is None


def test_streamed_text_is_checked_sentence_by_sentence_with_markers_after_the_full_stop():
    deltas = ["Bertrand wants a hot", "spot in France. [", "2] British officials check", " passports. [1]"]
    sentences = list(checked_sentences(deltas, CITED))
    assert [s.text for s in sentences] == ["Bertrand wants a hotspot in France. [2]",
                                          "British officials check passports. [1]"]
    draft = draft_of(sentences + [check_sentence("Nobody knows why.", CITED)])
    assert draft.flagged_sentences == ("Nobody knows why.",) and "1 of 3" in draft.note


def test_an_llm_answer_is_given_only_when_the_passages_support_some_of_it():
    unsupported = check_sentence("The moon is made of cheese. [2]", CITED)
    supported = check_sentence("British officials check passports in Calais. [1]", CITED)
    assert list(once_supported([unsupported, supported], "u")) == [unsupported, supported]
    with pytest.raises(WriterFailed, match="no sentence its cited passages support"):
        list(once_supported([unsupported, unsupported], "u"))
    with pytest.raises(WriterFailed, match="wrote no answer"):
        list(once_supported([], "u"))


@pytest.fixture
def unreachable_llm(settings, fake_embedder):
    build_index(settings, fake_embedder)
    settings = settings.with_(abstain_below=0.0, llm_url=f"http://127.0.0.1:{free_port()}/v1",
                              llm_timeout=5.0)
    return Newsdesk(settings, embedder=fake_embedder)


def test_an_unreachable_llm_falls_back_to_the_extractive_answer_with_a_note(unreachable_llm, settings,
                                                                          fake_embedder):
    answer = unreachable_llm.ask(TREATY_QUESTION, 3)
    extractive = Newsdesk(settings.with_(abstain_below=0.0), embedder=fake_embedder).ask(TREATY_QUESTION, 3)
    assert answer.answer == extractive.answer
    assert "failed" in answer.note and "copied from the articles" in answer.note
    assert extractive.note is None


def test_the_stream_falls_back_too(unreachable_llm):
    events = list(unreachable_llm.ask_stream(TREATY_QUESTION, 3))
    done = events[-1].data
    assert "copied from the articles" in done.note
    assert "".join(e.data.text for e in events if e.name == "answer") == done.answer


# -- the seed article, the real model

@pytest.fixture(scope="module")
def seed_index(tmp_path_factory, real_embedder):
    from newsdesk.settings import Settings

    root = tmp_path_factory.mktemp("conversation")
    seeds = root / "seeds"
    seeds.mkdir()
    shutil.copy(SEED, seeds)
    (seeds / "bridge.txt").write_text(BRIDGE)
    settings = Settings(seeds=(seeds,), embeddings=root / "embeddings")
    build_index(settings, real_embedder)
    return settings


@pytest.fixture(scope="module")
def desk(seed_index, real_embedder):
    return Newsdesk(seed_index, embedder=real_embedder)


def top_texts(answer, top: int = 2) -> str:
    return "\n".join(c.text for c in answer.citations[:top])


@pytest.mark.slow
def test_who_wants_to_change_it_finds_sarkozy_and_bertrand(desk):
    alone = desk.ask(CHANGE_IT)
    assert alone.abstained  # on its own the question means nothing
    answer = desk.ask(CHANGE_IT, history=turns(TREATY_QUESTION, desk.ask(TREATY_QUESTION).answer))
    assert not answer.abstained
    cited = top_texts(answer)
    assert "Sarkozy" in cited and "hotspot" in cited
    first_sentence = answer.answer.split("[")[0]
    assert "Bertrand" in first_sentence or "Sarkozy" in first_sentence  # the answer leads


@pytest.mark.slow
@pytest.mark.parametrize("question", [
    "Tell me a joke", "Thanks!", "Write a poem about the sea", "Which landmark is riddled with rust?",
    "What is the capital of Peru?", "What about the capital of Peru?", "How many people died?"])
def test_after_a_conversation_uncovered_questions_never_get_the_old_topic(desk, question):
    history = turns(TREATY_QUESTION, desk.ask(TREATY_QUESTION).answer)
    answer = desk.ask(question, history=history)
    assert answer.abstained and answer.confidence < 0.5
    assert "Touquet" not in answer.answer and "Calais" not in answer.answer


@pytest.mark.slow
def test_small_talk_is_answered_plainly_over_http_and_the_stream(server):
    reply = httpx.post(f"{server.url}/ask", json={"question": "Hello!"}, timeout=30).json()
    assert reply["citations"] == [] and reply["abstained"] and "Hello" in reply["answer"]
    stream = httpx.post(f"{server.url}/ask/stream", json={"question": "Thanks"}, timeout=30)
    events = parse_sse(stream.text)
    assert [name for name, _ in events] == ["citations", "answer", "done"]
    assert events[-1][1]["confidence"] == 0.0 and events[0][1]["citations"] == []


@pytest.mark.slow
def test_and_what_did_corbyn_say_finds_the_moral_duty_passage(desk):
    history = turns(TREATY_QUESTION, "...", CHANGE_IT, "...")
    answer = desk.ask(CORBYN, history=history)
    assert "moral duty" in top_texts(answer)
    assert "moral duty" in answer.answer


@pytest.mark.slow
def test_a_new_topic_is_not_polluted_by_the_old_one(desk):
    history = turns(TREATY_QUESTION, "Under the Treaty of Le Touquet ... [1]")
    answer = desk.ask("How much did the Leeds footbridge cost?", history=history)
    assert answer.citations[0].article_id == "bridge"
    assert "4 million pounds" in answer.answer
    assert answer.answer == desk.ask("How much did the Leeds footbridge cost?").answer
    assert desk.ask("What is a good recipe for banana bread?", history=history).abstained


# -- over HTTP, as a user's client would: `newsdesk serve` and the official openai client

@pytest.fixture(scope="module")
def server(seed_index):
    server = Server(seed_index.embeddings)
    yield server
    server.stop()


@pytest.mark.slow
def test_ask_stream_over_http_sends_citations_before_the_answer(server):
    with httpx.stream("POST", server.url + "/ask/stream", timeout=60,
                      json={"question": CHANGE_IT, "history": [{"role": "user", "content": TREATY_QUESTION}]}
                      ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = parse_sse(response.read().decode())
    assert events[0][0] == "citations" and "hotspot" in json.dumps(events[0][1]["citations"][:2])
    assert events[-1][0] == "done" and events[-1][1]["took_ms"] > 0


@pytest.mark.slow
def test_the_openai_client_gets_a_cited_answer(server):
    from openai import OpenAI

    client = OpenAI(base_url=server.url + "/v1", api_key="unused")
    assert [m.id for m in client.models.list()] == ["newsdesk"]
    reply = client.chat.completions.create(model="newsdesk", messages=[
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": TREATY_QUESTION},
        {"role": "assistant", "content": "Under the Treaty of Le Touquet, ... [1]"},
        {"role": "user", "content": CORBYN}])
    content = reply.choices[0].message.content
    assert "moral duty" in content.split("Sources:")[0]
    assert "\n\nSources:\n[1] Britain and France pledge" in content
    assert reply.choices[0].finish_reason == "stop"


@pytest.mark.slow
def test_the_openai_client_streams(server):
    from openai import OpenAI

    client = OpenAI(base_url=server.url + "/v1", api_key="unused")
    chunks = list(client.chat.completions.create(
        model="newsdesk", stream=True, messages=[{"role": "user", "content": TREATY_QUESTION}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text.startswith("Under the Treaty of Le Touquet, British immigration officials check passports")
    assert "Sources:" in text
    assert len(chunks) >= 4 and chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.object == "chat.completion.chunk" for c in chunks)


def test_small_talk_is_a_plain_reply_on_the_page_not_a_failed_search(client):
    page = client.post("/", data={"question": "Thanks!"}).text
    assert "re welcome. Ask another question" in page and "Not covered" not in page
    body = client.post("/ask", json={"question": "Thanks!"}).json()
    assert body["small_talk"] and body["citations"] == [] and body["confidence"] == 0.0
