"""An embedder that loads its model only when something is embedded: a build with nothing new
to embed decides that from the model's identity and window, both read from its files, and
never pays the seconds that loading takes."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from newsdesk.embeddings.base import Embedder, model_identity


@dataclass(frozen=True)
class ModelFacts:
    """What a build needs to know about a model before it embeds anything."""

    identity: str
    max_tokens: int
    backend: str


def model_facts(model_path: str, backend: str) -> ModelFacts | None:
    """The identity and token window from the model's folder, as the loaded model reports them;
    None when its files do not say the window (the model must then be loaded to know it)."""
    config = Path(model_path) / "sentence_bert_config.json"
    try:
        window = json.loads(config.read_text(encoding="utf-8")).get("max_seq_length")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(window, int) or window <= 0:
        return None
    return ModelFacts(model_identity(model_path, backend), window, backend)


class OnDemandEmbedder:
    """The Embedder protocol over a model loaded on first use of anything but its identity and
    window; a test can count the loads through `load`."""

    def __init__(self, facts: ModelFacts, load: Callable[[], Embedder]):
        self.identity, self.max_tokens, self.backend = facts.identity, facts.max_tokens, facts.backend
        self._load, self._model, self._lock = load, None, threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def model(self) -> Embedder:
        with self._lock:
            if self._model is None:
                self._model = self._load()
                if (self._model.identity, self._model.max_tokens) != (self.identity, self.max_tokens):
                    # the files said one thing and the loaded model another: never mix the two
                    raise ValueError(f"the model loaded as {self._model.identity} with a "
                                     f"{self._model.max_tokens}-token window, not the {self.identity} "
                                     f"with {self.max_tokens} tokens its files describe")
            return self._model

    @property
    def dimension(self) -> int:
        return self.model.dimension

    def embed(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return self.model.embed(texts, progress)

    def token_offsets(self, texts: Sequence[str]) -> list[list[int]]:
        return self.model.token_offsets(texts)
