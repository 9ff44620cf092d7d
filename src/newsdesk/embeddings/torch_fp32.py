"""The torch embedder: all-MiniLM-L6-v2 (or any local sentence-transformers folder) in fp32 on
the CPU, or in fp16 on a CUDA GPU (a backend of its own: its vectors differ from fp32's)."""

from __future__ import annotations

import copy
import os
import threading
from typing import Sequence

import numpy as np

from newsdesk.embeddings.base import model_identity, tokenizer_offsets
from newsdesk.embeddings.progress import embed_longest_first


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 (or any local sentence-transformers folder) with torch: fp32 on the CPU,
    or fp16 on the CUDA GPU (cuda_fp16)."""

    def __init__(self, model_path: str, batch_size: int = 64, cuda_fp16: bool = False):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # no "Loading weights" bar on every start
        transformers_logging.set_verbosity_error()

        self.backend = "torch-cuda-fp16" if cuda_fp16 else "torch"
        self.model = SentenceTransformer(model_path, device="cuda" if cuda_fp16 else "cpu")
        if cuda_fp16:
            # Half the memory traffic and tensor cores on the GPU; the vectors are cast back to
            # float32 below, and stay within rounding of fp32's (the identity still differs).
            self.model.half()
        self.tokenizer = self.model.tokenizer
        self.batch_size = batch_size
        self.max_tokens = int(self.model.max_seq_length)
        self.dimension = int(self.model.get_embedding_dimension()
                             if hasattr(self.model, "get_embedding_dimension")
                             else self.model.get_sentence_embedding_dimension())
        self.identity = model_identity(model_path, self.backend)
        # A fast tokenizer is not safe across threads when calls change its truncation state
        # ("Already borrowed"): the build's token offsets (no truncation) get their own copy, so a
        # watcher's build never shares one with the requests' encode (which all truncate alike),
        # and no query waits behind a build's batches.
        self._offsets_tokenizer = copy.deepcopy(self.tokenizer)
        self._offsets_lock = threading.Lock()

    def embed(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if not progress:
            return self._encode(list(texts))
        # Our own bar (passages, rate, time left) instead of sentence-transformers' "Batches":
        # longest first, a few batches a call, as encode itself would batch them.
        return embed_longest_first(texts, self.dimension, 8 * self.batch_size, self._encode, progress=True)

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def token_offsets(self, texts: Sequence[str]) -> list[list[int]]:
        with self._offsets_lock:
            return tokenizer_offsets(self._offsets_tokenizer, texts)
