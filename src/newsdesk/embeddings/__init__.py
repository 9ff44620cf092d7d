"""Embeddings: the model that turns passages and questions into unit vectors — the interface in
`base`, one module a backend (`torch_fp32`, which also runs fp16 on a CUDA GPU, and `onnx_int8`),
which backend `auto` means (`choice`), the factory below, the embedder that loads it on demand
(`on_demand`) and the indexing progress bar (`progress`)."""

from __future__ import annotations

import threading

from newsdesk.embeddings.base import Embedder
from newsdesk.embeddings.choice import ONNX_INT8, TORCH, TORCH_CUDA_FP16, chosen_backend
from newsdesk.embeddings.on_demand import OnDemandEmbedder, model_facts
from newsdesk.settings import Settings

_EMBEDDERS: dict[tuple, Embedder] = {}
_EMBEDDERS_LOCK = threading.Lock()


def load_embedder(settings: Settings) -> Embedder:
    """One model per process and backend: loading takes seconds and hundreds of MB."""
    backend = chosen_backend(settings)
    key = (settings.resolved_model_path, backend, settings.batch_size)
    with _EMBEDDERS_LOCK:
        if key not in _EMBEDDERS:
            _EMBEDDERS[key] = _create_embedder(settings.resolved_model_path, backend, settings.batch_size)
        return _EMBEDDERS[key]


def embedder_on_demand(settings: Settings) -> Embedder:
    """The model of load_embedder, loaded only once something is embedded: its identity and
    window come from its files (a build with nothing new to embed never loads it)."""
    backend = chosen_backend(settings)
    # The choice is made once here: a build that writes the index must not change its mind.
    settings = settings.with_(backend=backend)
    facts = model_facts(settings.resolved_model_path, backend)
    if facts is None:  # the files do not say the window: only the loaded model knows it
        return load_embedder(settings)
    return OnDemandEmbedder(facts, lambda: load_embedder(settings))


def _create_embedder(model_path: str, backend: str, batch_size: int) -> Embedder:
    if backend in (TORCH, TORCH_CUDA_FP16):
        from newsdesk.embeddings.torch_fp32 import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(model_path, batch_size, cuda_fp16=backend == TORCH_CUDA_FP16)
    if backend == ONNX_INT8:
        from newsdesk.embeddings.onnx_int8 import OnnxInt8Embedder

        return OnnxInt8Embedder(model_path, batch_size)
    raise ValueError(f"unknown backend {backend!r}: use 'auto', 'torch', '{TORCH_CUDA_FP16}' or 'onnx-int8'")
