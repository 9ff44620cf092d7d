"""Embeddings: the model that turns passages and questions into unit vectors — the interface in
`base`, one module a backend (`torch_fp32`, `onnx_int8`), the factory that picks one, the
embedder that loads it on demand (`on_demand`) and the indexing progress bar (`progress`)."""

from __future__ import annotations

import threading

from newsdesk.embeddings.base import Embedder
from newsdesk.embeddings.on_demand import OnDemandEmbedder, model_facts
from newsdesk.settings import Settings

_EMBEDDERS: dict[tuple, Embedder] = {}
_EMBEDDERS_LOCK = threading.Lock()


def load_embedder(settings: Settings) -> Embedder:
    """One model per process and backend: loading takes seconds and hundreds of MB."""
    key = (settings.resolved_model_path, settings.backend, settings.batch_size)
    with _EMBEDDERS_LOCK:
        if key not in _EMBEDDERS:
            _EMBEDDERS[key] = _create_embedder(settings)
        return _EMBEDDERS[key]


def embedder_on_demand(settings: Settings) -> Embedder:
    """The model of load_embedder, loaded only once something is embedded: its identity and
    window come from its files (a build with nothing new to embed never loads it)."""
    facts = model_facts(settings.resolved_model_path, settings.backend)
    if facts is None:  # the files do not say the window: only the loaded model knows it
        return load_embedder(settings)
    return OnDemandEmbedder(facts, lambda: load_embedder(settings))


def _create_embedder(settings: Settings) -> Embedder:
    if settings.backend == "torch":
        from newsdesk.embeddings.torch_fp32 import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(settings.resolved_model_path, settings.batch_size)
    if settings.backend == "onnx-int8":
        from newsdesk.embeddings.onnx_int8 import OnnxInt8Embedder

        return OnnxInt8Embedder(settings.resolved_model_path, settings.batch_size)
    raise ValueError(f"unknown backend {settings.backend!r}: use 'torch' or 'onnx-int8'")
