"""`auto`: an existing index keeps its backend; a new one gets fp16 on a CUDA GPU, else int8 ONNX
where it runs, else torch; the manifest and the query-time embedder follow the choice."""

import logging
import sys

import pytest
from fakes import FakeEmbedder

import newsdesk.embeddings as embeddings
from newsdesk.embeddings import choice, embedder_on_demand, load_embedder
from newsdesk.embeddings.base import model_identity
from newsdesk.index.build import build_index
from newsdesk.index.store import load_generation


class Machine:
    """What the machine offers, set by each test: a CUDA GPU, a working int8 ONNX export."""

    def __init__(self, monkeypatch):
        self.cuda, self.onnx = False, True
        monkeypatch.setattr(choice, "cuda_available", lambda: self.cuda)
        monkeypatch.setattr(choice, "onnx_problem",
                            lambda model_path: None if self.onnx else "ModuleNotFoundError: onnxruntime")


@pytest.fixture
def machine(monkeypatch) -> Machine:
    return Machine(monkeypatch)


@pytest.fixture
def models(monkeypatch) -> list[str]:
    """The factory builds a fake that reports the backend it was asked for, with that backend's
    identity, instead of loading a model; the backends it was asked for, in order."""
    made = []

    def create(model_path: str, backend: str, batch_size: int):
        made.append(backend)
        fake = FakeEmbedder()
        fake.identity, fake.backend = model_identity(model_path, backend), backend
        return fake

    monkeypatch.setattr(embeddings, "_create_embedder", create)
    monkeypatch.setattr(embeddings, "_EMBEDDERS", {})  # never leave a fake in the process's cache
    return made


def built_backend(settings) -> tuple[str, str]:
    """Index the seeds as `newsdesk index` does; the manifest's backend and identity."""
    build_index(settings, embedder_on_demand(settings))
    model = load_generation(settings.embeddings).manifest["model"]
    return model["backend"], model["identity"]


def test_a_new_index_gets_the_int8_model_where_it_runs(settings, machine, models):
    assert settings.backend == "auto"
    backend, identity = built_backend(settings)
    assert backend == "onnx-int8" == models[0]
    assert identity == model_identity(settings.resolved_model_path, "onnx-int8")
    # the service embeds questions with the backend that made the vectors
    assert load_embedder(settings).identity == identity


def test_without_onnxruntime_a_new_index_gets_torch_and_says_so_once(settings, monkeypatch, caplog):
    monkeypatch.setattr(choice, "cuda_available", lambda: False)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` fails
    choice.onnx_problem.cache_clear()
    try:
        with caplog.at_level(logging.INFO, logger="newsdesk"):
            assert choice.chosen_backend(settings) == "torch"
    finally:
        choice.onnx_problem.cache_clear()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "torch" in lines[0] and "onnxruntime" in lines[0]
    assert caplog.records[0].levelno == logging.WARNING  # a fallback, not an error


def test_an_existing_torch_index_keeps_torch(settings, machine, models):
    machine.onnx = False
    assert built_backend(settings)[0] == "torch"

    machine.onnx, machine.cuda = True, True  # faster backends now run here: still no re-embed
    report = build_index(settings, embedder_on_demand(settings))
    assert report.passages_embedded == 0 and not report.wrote
    assert load_generation(settings.embeddings).manifest["model"]["backend"] == "torch"
    assert load_embedder(settings).identity == model_identity(settings.resolved_model_path, "torch")
    assert models == ["torch"]  # the second build never loaded a model


def test_an_index_whose_backend_cannot_run_here_is_made_anew_with_a_warning(settings, machine, models,
                                                                             caplog):
    assert built_backend(settings)[0] == "onnx-int8"
    machine.onnx = False
    with caplog.at_level(logging.WARNING, logger="newsdesk"):
        backend, _ = built_backend(settings)
    assert backend == "torch"
    assert any("onnx-int8" in r.getMessage() and "re-embeds" in r.getMessage() for r in caplog.records)


def test_a_cuda_gpu_indexes_in_fp16_under_an_identity_of_its_own(settings, monkeypatch):
    # No GPU here: the choice is tested, torch on CUDA itself is not.
    import torch

    monkeypatch.setattr(choice, "NVIDIA_DRIVER", settings.embeddings.parent)  # a path that exists
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    embedder = embedder_on_demand(settings)
    assert embedder.backend == "torch-cuda-fp16" and not embedder.loaded
    torch_cpu = model_identity(settings.resolved_model_path, "torch")
    assert "torch-cuda-fp16" in embedder.identity and embedder.identity != torch_cpu


def test_without_nvidias_driver_cuda_is_not_asked_for(monkeypatch, tmp_path):
    monkeypatch.setattr(choice, "NVIDIA_DRIVER", tmp_path / "absent")
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)  # never reached
    assert choice.cuda_available() is False


def test_a_backend_set_explicitly_is_used_as_given(settings, machine, models):
    assert built_backend(settings)[0] == "onnx-int8"
    assert built_backend(settings.with_(backend="torch"))[0] == "torch"


@pytest.mark.parametrize("manifest, backend", [
    ({"model": {"identity": "all-MiniLM-L6-v2:onnx-int8:b000", "backend": "onnx-int8"}}, "onnx-int8"),
    ({"model": {"backend": "torch-cuda-fp16"}}, "torch-cuda-fp16"),
    ({"model": {"backend": "fake"}}, None),
    ({"model": "torch"}, None),
    ({}, None),
])
def test_the_backend_is_read_from_the_manifests_model(manifest, backend):
    assert choice.index_backend(manifest) == backend
