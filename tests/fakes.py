"""A small deterministic embedder for fast tests: hashed bag of words, unit length."""

from __future__ import annotations

import hashlib
import re
from typing import Sequence

import numpy as np

_WORD = re.compile(r"\w+|[^\w\s]")


class FakeEmbedder:
    identity = "fake-bag-of-words:1"
    backend = "fake"
    dimension = 64
    max_tokens = 256

    def __init__(self):
        self.embedded: list[str] = []  # every text ever embedded, so tests can count work

    def embed(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        self.embedded.extend(texts)
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                bucket = int(hashlib.md5(word.encode()).hexdigest()[:8], 16) % self.dimension
                vectors[row, bucket] += 1.0
            norm = np.linalg.norm(vectors[row])
            vectors[row] = vectors[row] / norm if norm else vectors[row]
            if not norm:
                vectors[row, 0] = 1.0
        return vectors

    def token_offsets(self, texts: Sequence[str]) -> list[list[int]]:
        return [[m.start() for m in _WORD.finditer(text)] for text in texts]
