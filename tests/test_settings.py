"""The settings object: values from the environment and flags, refused at start when bad, the
token kept secret, and the retrieval levers reaching the retriever."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TREATY_QUESTION

from newsdesk import cli
from newsdesk.index.build import build_index
from newsdesk.service import Newsdesk
from newsdesk.settings import Settings, SettingsError


def test_defaults_then_environment_then_overrides():
    environ = {"NEWSDESK_PASSAGE_TOKENS": "120", "NEWSDESK_INDEX_TYPE": "hnsw", "NEWSDESK_PORT": "9000",
               "NEWSDESK_HOST": "0.0.0.0", "NEWSDESK_ABSTAIN_BELOW": "0.25"}
    settings = Settings.from_env(environ, port=9100, embeddings=None)
    assert (settings.passage_tokens, settings.index_type, settings.host) == (120, "hnsw", "0.0.0.0")
    assert settings.port == 9100  # the flag wins; a flag not given (None) leaves the variable's value
    assert settings.abstain_below == 0.25 and settings.embeddings == Path("embeddings")
    assert Settings.from_env({}) == Settings()


def test_seeds_are_separated_by_the_path_separator_and_empty_variables_are_unset():
    settings = Settings.from_env({"NEWSDESK_SEEDS": os.pathsep.join(["a", "b/c", ""]), "NEWSDESK_BACKEND": ""})
    assert settings.seeds == (Path("a"), Path("b/c")) and settings.backend == "auto"


def test_from_env_reads_the_process_environment_unless_given_one(monkeypatch):
    monkeypatch.setenv("NEWSDESK_BATCH_SIZE", "8")
    assert Settings.from_env().batch_size == 8
    assert Settings.from_env({}).batch_size == 64


@pytest.mark.parametrize("variable, value, says", [
    ("NEWSDESK_PASSAGE_TOKENS", "abc", "NEWSDESK_PASSAGE_TOKENS: input should be a valid integer"),
    ("NEWSDESK_PASSAGE_TOKENS", "4000", "NEWSDESK_PASSAGE_TOKENS: input should be less than or equal to 512"),
    ("NEWSDESK_INDEX_TYPE", "annoy", "NEWSDESK_INDEX_TYPE: input should be 'flat', 'ivf' or 'hnsw' (got 'annoy')"),
    ("NEWSDESK_BACKEND", "cuda", "NEWSDESK_BACKEND: input should be 'auto', 'torch', 'torch-cuda-fp16' or 'onnx-int8'"),
    ("NEWSDESK_FUSION", "max", "NEWSDESK_FUSION: input should be 'scores' or 'rrf'"),
    ("NEWSDESK_ABSTAIN_BELOW", "1.5", "NEWSDESK_ABSTAIN_BELOW: input should be less than or equal to 1"),
    ("NEWSDESK_PORT", "0", "NEWSDESK_PORT: input should be greater than or equal to 1"),
    ("NEWSDESK_BATCH_SIZE", "0", "NEWSDESK_BATCH_SIZE: input should be greater than or equal to 1"),
    ("NEWSDESK_LLM_TIMEOUT", "0", "NEWSDESK_LLM_TIMEOUT: input should be greater than 0"),
    ("NEWSDESK_ABSTAIN_BELOW", "nan", "NEWSDESK_ABSTAIN_BELOW: input should be a finite number"),
    ("NEWSDESK_PUBLIC_URL", "news.example.org", "NEWSDESK_PUBLIC_URL: should start with http:// or https://"),
])
def test_a_bad_variable_is_refused_by_name(variable, value, says):
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({variable: value})
    assert str(refused.value).startswith(says)


def test_bad_overrides_and_unknown_names_are_refused_under_their_own_names():
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({}, port=70000, ray_adress="auto")
    assert refused.value.described({"port": "--port"}) == (
        "--port: input should be less than or equal to 65535 (got 70000); "
        "ray_adress: extra inputs are not permitted")
    with pytest.raises(SettingsError, match="^index_type: input should be 'flat'"):
        Settings().with_(index_type="annoy")


def test_the_api_token_never_shows():
    settings = Settings.from_env({"NEWSDESK_API_TOKEN": "s3cret-token"})
    assert settings.api_token.get_secret_value() == "s3cret-token"
    for shown in (repr(settings), str(settings), settings.model_dump_json(), repr(settings.with_(port=1))):
        assert "s3cret-token" not in shown
    assert settings.with_(port=1).api_token.get_secret_value() == "s3cret-token"


def test_settings_are_frozen():
    with pytest.raises(ValueError):
        Settings().port = 1


# ---------------------------------------------------------------- refused at start, by the CLI


def test_index_refuses_a_bad_variable_before_loading_the_model(tmp_path, seeds, monkeypatch, capsys):
    monkeypatch.setenv("NEWSDESK_INDEX_TYPE", "annoy")

    def no_model(*_):
        raise AssertionError("the model was loaded")
    monkeypatch.setattr("newsdesk.embeddings.load_embedder", no_model)
    code = cli.main(["index", "--seeds", str(seeds), "--embeddings", str(tmp_path / "embeddings"), "--quiet"])
    assert code == 2
    assert capsys.readouterr().err == (
        "newsdesk: NEWSDESK_INDEX_TYPE: input should be 'flat', 'ivf' or 'hnsw' (got 'annoy')\n")
    assert not (tmp_path / "embeddings").exists()


def test_a_bad_flag_is_refused_under_the_flag_name(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("uvicorn.run", lambda *_, **__: pytest.fail("the server started"))
    assert cli.main(["serve", "--embeddings", str(tmp_path), "--port", "70000"]) == 2
    assert capsys.readouterr().err == "newsdesk: --port: input should be less than or equal to 65535 (got 70000)\n"
    assert cli.main(["ask", "What happened?", "--embeddings", str(tmp_path), "-k", "0"]) == 2
    assert capsys.readouterr().err == "newsdesk: -k: input should be greater than or equal to 1\n"
    assert cli.main(["ask", " " * 3, "--embeddings", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "newsdesk: the question: must not be blank\n"
    assert cli.main(["eval", "--suite", "all", "-k", "51"]) == 2
    assert capsys.readouterr().err == "newsdesk: -k: input should be less than or equal to 50\n"


def test_the_command_line_says_one_line_and_no_traceback(tmp_path, seeds):
    environ = {**os.environ, "NEWSDESK_PASSAGE_TOKENS": "abc"}
    done = subprocess.run([sys.executable, "-m", "newsdesk.cli", "index", "--seeds", str(seeds),
                           "--embeddings", str(tmp_path / "embeddings")],
                          capture_output=True, text=True, env=environ, timeout=120)
    assert done.returncode == 2
    assert done.stderr == ("newsdesk: NEWSDESK_PASSAGE_TOKENS: input should be a valid integer, unable "
                           "to parse string as an integer (got 'abc')\n")


# ---------------------------------------------------------------- retrieval levers


def test_the_fusion_setting_reaches_the_retriever(settings, fake_embedder):
    """RRF scores are sums of 1 / (60 + rank): at most 2/61 with both weights 1; the default
    score fusion adds a cosine to a scaled BM25 score, far above that for the treaty story."""
    build_index(settings, fake_embedder)
    scores = Newsdesk(settings.with_(abstain_below=0.0), embedder=fake_embedder).ask(TREATY_QUESTION, 3)
    rrf = Newsdesk(settings.with_(abstain_below=0.0, fusion="rrf"), embedder=fake_embedder).ask(TREATY_QUESTION, 3)
    assert rrf.citations and max(c.score for c in rrf.citations) <= 2 / 61
    assert scores.citations[0].score > 0.5


def test_the_reranker_setting_offers_exactly_the_rerankers_there_are():
    from typing import get_args

    from newsdesk.retrieval.rerank import RERANKERS

    assert set(get_args(Settings.model_fields["reranker"].annotation)) == set(RERANKERS)
    with pytest.raises(SettingsError, match="NEWSDESK_RERANKER"):
        Settings.from_env({"NEWSDESK_RERANKER": "cross-encoder"})
