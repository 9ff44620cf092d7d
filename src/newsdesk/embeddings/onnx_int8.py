"""The int8 ONNX embedder: the same MiniLM, exported once, quantised, run with onnxruntime.

Indexing is bound by the model on a 2-core CPU; dynamic int8 quantisation of the linear layers
roughly halves that cost at a small loss of precision (the vectors stay within ~0.99 cosine of
fp32). The exported model is cached per model identity, so only the first use pays for export.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from newsdesk.embeddings.base import model_identity
from newsdesk.embeddings.progress import embed_longest_first

BACKEND = "onnx-int8"
OPSET = 17
INT8_FILE = "model-int8.onnx"
# Per-channel weight scales keep MiniLM within ~0.99 cosine of fp32; per-tensor scales fall to
# ~0.95. Bump the recipe name whenever the export or quantisation changes.
RECIPE = "qint8-per-channel-1"

log = logging.getLogger("newsdesk")


def cache_root() -> Path:
    """Where exported models live: the XDG user cache, shared by every index on the machine."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "newsdesk" / "onnx"


class OnnxInt8Embedder:
    """Embedder protocol over an int8 onnxruntime session; same tokenizer as the torch model."""

    backend = BACKEND

    def __init__(self, model_path: str, batch_size: int = 64):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import onnxruntime

        self.identity = model_identity(model_path, self.backend)
        self.batch_size = batch_size
        self.max_tokens = _max_seq_length(model_path)
        # The model's tokenizer.json through `tokenizers` itself, not transformers: importing
        # transformers imports torch (~5 s of a server's start), which this backend never runs.
        # tokenizer.json may carry padding and truncation of its own: set both here.
        self._offsets = _tokenizer(model_path)
        self._offsets.no_padding()
        self._offsets.no_truncation()
        self._encoder = _tokenizer(model_path)
        self._encoder.enable_truncation(self.max_tokens)
        pad = _config(model_path).get("pad_token", "[PAD]")
        self._encoder.enable_padding(pad_id=self._encoder.token_to_id(pad), pad_token=pad)
        model_file = exported_model(model_path, self.identity)
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle worker threads sleep instead of spinning: on a shared 2-core machine spinning cost
        # ~30% more CPU for the same wall time (benchmarks/).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(str(model_file), options,
                                                    providers=["CPUExecutionProvider"])
        self._input_names = {i.name for i in self.session.get_inputs()}
        self.dimension = int(self.session.get_outputs()[0].shape[-1])
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # Longest first in batches of similar length, as sentence-transformers does: less padding.
        return embed_longest_first(texts, self.dimension, self.batch_size, self._embed_batch, progress)

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        with self._lock:  # one encoder: keep batches from interleaving
            encodings = self._encoder.encode_batch(list(texts))
        columns = {"input_ids": [e.ids for e in encodings],
                   "attention_mask": [e.attention_mask for e in encodings],
                   "token_type_ids": [e.type_ids for e in encodings]}
        feed = {name: np.asarray(columns[name], dtype=np.int64) for name in self._input_names}
        return self.session.run(None, feed)[0]

    def token_offsets(self, texts: Sequence[str]) -> list[list[int]]:
        """Where each token of each text starts, as tokenizer_offsets gives for the torch model
        (no special tokens, no truncation)."""
        if not texts:
            return []
        with self._lock:
            encodings = self._offsets.encode_batch(list(texts), add_special_tokens=False)
        return [[start for start, _ in e.offsets] for e in encodings]


def _tokenizer(model_path: str):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(Path(model_path) / "tokenizer.json"))


def _config(model_path: str) -> dict:
    path = Path(model_path) / "tokenizer_config.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _max_seq_length(model_path: str) -> int:
    config = Path(model_path) / "sentence_bert_config.json"
    if config.exists():
        value = json.loads(config.read_text()).get("max_seq_length")
        if value:
            return int(value)
    return int(min(_config(model_path).get("model_max_length", 512), 512))


def exported_model(model_path: str, identity: str) -> Path:
    """The int8 ONNX file for this model, exported and quantised on first use."""
    folder = cache_root() / f"{identity.replace(':', '-')}-{RECIPE}"
    target = folder / INT8_FILE
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    log.info("exporting %s to int8 ONNX in %s (once per model)", identity, folder)
    # Build in a private temporary folder and rename: two processes exporting at once both
    # finish, and neither ever loads a half-written file.
    with tempfile.TemporaryDirectory(dir=folder, prefix=".export-") as scratch:
        fp32 = Path(scratch) / "model-fp32.onnx"
        int8 = Path(scratch) / INT8_FILE
        _export_fp32(model_path, fp32)
        _quantise(fp32, int8)
        os.replace(int8, target)
    return target


def _export_fp32(model_path: str, destination: Path) -> None:
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_path, device="cpu")
    encoder = _pooled_encoder(model[0].auto_model).eval()
    sample = model.tokenizer(["a sample sentence", "another, longer sample sentence here"],
                             padding=True, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
    axes = {name: {0: "batch", 1: "tokens"} for name in names}
    axes["embedding"] = {0: "batch"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about shapes; the graph is checked by tests
        torch.onnx.export(encoder, tuple(sample[n] for n in names), str(destination),
                          input_names=names, output_names=["embedding"], dynamic_axes=axes,
                          opset_version=OPSET, dynamo=False)


def _quantise(source: Path, destination: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic advises pre-processing on the root logger
    try:
        quantize_dynamic(str(source), str(destination), weight_type=QuantType.QInt8,
                         per_channel=True)
    finally:
        root.setLevel(level)


def _pooled_encoder(transformer):
    """The transformer plus sentence-transformers' mean pooling and L2 normalisation."""
    import torch

    class PooledEncoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            tokens = self.transformer(input_ids=input_ids, attention_mask=attention_mask,
                                      token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            mean = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1)

    return PooledEncoder()
