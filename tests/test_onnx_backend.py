"""The int8 ONNX backend: close to the fp32 model, same chunking, recorded in the manifest."""

import numpy as np
import pytest
from conftest import SEED

from newsdesk.articles import read_articles
from newsdesk.settings import Settings
from newsdesk.index.build import build_index
from newsdesk.index.store import load_generation
from newsdesk.passages import Chunker, ChunkerSettings

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed: pip install -e '.[onnx]'")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def onnx_embedder():
    from newsdesk.embeddings import load_embedder

    return load_embedder(Settings(backend="onnx-int8"))


def seed_passages(embedder):
    article = read_articles([SEED]).articles[0]
    chunker = Chunker(ChunkerSettings(model_max_tokens=embedder.max_tokens), embedder.token_offsets)
    return chunker.passages_for(article)


def test_vectors_are_close_to_the_fp32_model(onnx_embedder, real_embedder):
    texts = [p.embedding_text() for p in seed_passages(real_embedder)]
    texts.append("What does the Treaty of Le Touquet do?")
    int8, fp32 = onnx_embedder.embed(texts), real_embedder.embed(texts)
    assert int8.shape == fp32.shape == (len(texts), 384)
    assert int8.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-4)
    assert (int8 * fp32).sum(axis=1).min() > 0.98


def test_same_tokenizer_same_passages(onnx_embedder, real_embedder):
    texts = ["Under the Treaty of Le Touquet, British officials check passports in Calais.",
             "Naïve café—“quoted” text, 2015's numbers: 1,234.5%"]
    assert onnx_embedder.token_offsets(texts) == real_embedder.token_offsets(texts)
    assert onnx_embedder.max_tokens == real_embedder.max_tokens == 256
    assert ([(p.char_start, p.char_end) for p in seed_passages(onnx_embedder)]
            == [(p.char_start, p.char_end) for p in seed_passages(real_embedder)])


def test_the_model_sees_the_tokens_the_transformers_tokenizer_gives(onnx_embedder):
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(Settings().resolved_model_path)
    texts = ["A short one.", "Naïve café—“quoted” text, 2015's numbers: 1,234.5% " * 80]
    expected = reference(texts, padding=True, truncation=True, max_length=256, return_tensors="np")
    encodings = onnx_embedder._encoder.encode_batch(texts)
    assert [e.ids for e in encodings] == expected["input_ids"].tolist()  # truncated at 256, padded
    assert [e.attention_mask for e in encodings] == expected["attention_mask"].tolist()


def test_the_int8_embedder_never_imports_torch():
    import subprocess
    import sys

    code = ("import sys; from newsdesk.settings import Settings; from newsdesk.embeddings import "
            "load_embedder; load_embedder(Settings(backend='onnx-int8')).embed(['x']); "
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.stdout.strip() == "False", done.stderr[-2000:]


def test_a_question_ranks_the_right_passage_first(onnx_embedder):
    passages = seed_passages(onnx_embedder)
    vectors = onnx_embedder.embed([p.embedding_text() for p in passages])
    question = onnx_embedder.embed(["What does the Treaty of Le Touquet do?"])[0]
    assert "Le Touquet" in passages[int(np.argmax(vectors @ question))].text


def test_manifest_records_the_backend_and_switching_rebuilds(settings, onnx_embedder, real_embedder):
    build_index(settings, real_embedder)
    assert load_generation(settings.embeddings).manifest["model"]["backend"] == "torch"

    report = build_index(settings.with_(backend="onnx-int8"), onnx_embedder)
    manifest = load_generation(settings.embeddings).manifest
    assert manifest["model"]["backend"] == "onnx-int8"
    assert "onnx-int8" in manifest["model"]["identity"]
    assert manifest["model"]["identity"] != real_embedder.identity
    assert report.rebuilt_reason == "model changed"
    assert report.passages_embedded == report.passages_total > 0

    again = build_index(settings.with_(backend="onnx-int8"), onnx_embedder)
    assert not again.wrote and again.passages_embedded == 0


def test_the_export_is_cached_per_model(onnx_embedder):
    from newsdesk.embeddings.onnx_int8 import exported_model

    path = exported_model(Settings().resolved_model_path, onnx_embedder.identity)
    modified = path.stat().st_mtime_ns
    assert exported_model(Settings().resolved_model_path, onnx_embedder.identity) == path
    assert path.stat().st_mtime_ns == modified
    assert onnx_embedder.identity.replace(":", "-") in str(path)


def test_auto_gives_a_new_index_the_int8_model(settings, onnx_embedder, monkeypatch):
    from newsdesk.embeddings import choice, embedder_on_demand

    monkeypatch.setattr(choice, "cuda_available", lambda: False)
    assert choice.onnx_problem(settings.resolved_model_path) is None  # the real export check
    on_demand = embedder_on_demand(settings)
    assert (on_demand.backend, on_demand.identity) == ("onnx-int8", onnx_embedder.identity)
    assert not on_demand.loaded
