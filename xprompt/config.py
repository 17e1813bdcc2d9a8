"""Run configuration: one validated model, filled from a YAML file and/or command-line flags.

Defaults live here once; the CLI shows them from here. Strategy-specific
settings go in ``options`` and are validated by the strategy's own options
model (``xprompt strategies`` lists them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from xprompt.errors import ConfigError
from xprompt.guard import GuardConfig
from xprompt.types import Sampling


class EngineConfig(BaseModel):
    """Which backend and model serve the requests, and the engine's options."""

    model_config = ConfigDict(extra="forbid")

    backend: str = Field(
        "vllm",
        description="vllm (in-process), openai (remote server), ray (vLLM in Ray actors) or module:Class",
    )
    model: str | None = Field(
        None, description="hub name or local model directory (default: the built tiny test model)"
    )
    tokenizer: str | None = None
    max_model_len: int | None = Field(None, gt=0)
    gpu_memory_utilization: float | None = Field(None, gt=0, le=1)
    tensor_parallel_size: int = Field(1, ge=1)
    pipeline_parallel_size: int = Field(1, ge=1)
    data_parallel_size: int = Field(1, ge=1)
    enable_prefix_caching: bool = True
    dtype: str = "auto"
    enforce_eager: bool | None = None
    chat_template: str | None = Field(
        None, description="chat template text or file overriding the model's"
    )
    chat_template_kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="chat-template keyword arguments (enable_thinking: false, ...)",
    )
    engine_options: dict[str, Any] = Field(
        default_factory=dict, description="further vllm.EngineArgs"
    )
    base_urls: list[str] = Field(
        default_factory=list, description="OpenAI-compatible server URLs (backend openai)"
    )
    api_key_env: str = Field(
        "OPENAI_API_KEY", description="environment variable holding the server's API key"
    )
    concurrency: int = Field(32, ge=1, description="requests in flight per server (backend openai)")
    timeout_s: float = Field(600.0, gt=0)
    ray_address: str | None = Field(
        None,
        description="Ray cluster to join (auto, HOST:PORT, ray://HOST:PORT); default: a new local one (backend ray)",
    )
    ray_actors: int | None = Field(
        None,
        ge=1,
        description="vLLM engines in Ray actors (default: the cluster's GPUs / (tp * pp), 1 without GPUs; backend ray)",
    )
    max_retries: int = Field(5, ge=0)

    @model_validator(mode="after")
    def _data_parallel_needs_a_server(self) -> EngineConfig:
        # vLLM's in-process LLM refuses data_parallel_size > 1 (it would hang); its server does it.
        if self.backend in ("vllm", "ray") and self.data_parallel_size > 1:
            raise ValueError(
                f"data_parallel_size={self.data_parallel_size} needs vLLM's server: start "
                f"'python -m vllm.entrypoints.openai.api_server --model MODEL --data-parallel-size "
                f"{self.data_parallel_size}' and run with --backend openai --base-url "
                "http://HOST:PORT/v1 (see the README, 'Scale out')"
            )
        return self

    def vllm_options(self) -> dict[str, Any]:
        """Keyword arguments of the in-process vLLM backends (``VLLMBackend``, ``AsyncVLLMBackend``)."""
        return {
            "tokenizer": self.tokenizer,
            "max_model_len": self.max_model_len,
            "gpu_memory_utilization": self.gpu_memory_utilization,
            "tensor_parallel_size": self.tensor_parallel_size,
            "pipeline_parallel_size": self.pipeline_parallel_size,
            "data_parallel_size": self.data_parallel_size,
            "enable_prefix_caching": self.enable_prefix_caching,
            "dtype": self.dtype,
            "enforce_eager": self.enforce_eager,
            "chat_template": self.chat_template,
            "chat_template_kwargs": self.chat_template_kwargs,
            "engine_options": self.engine_options,
        }


class SamplingConfig(BaseModel):
    """Decoding settings; converted to the typed ``Sampling`` record."""

    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(0.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(16, ge=1)
    n: int = Field(1, ge=1)
    seed: int | None = 0
    stop: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _greedy_n(self) -> SamplingConfig:
        if self.n > 1 and self.temperature == 0:
            raise ValueError(
                "n > 1 needs temperature > 0 (greedy decoding gives n identical samples)"
            )
        return self

    def to_sampling(self) -> Sampling:
        return Sampling(
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_tokens,
            n=self.n,
            seed=self.seed,
            stop=tuple(self.stop),
        )


class DataConfig(BaseModel):
    """Where the rows come from and how their columns map to template fields."""

    model_config = ConfigDict(extra="forbid")

    input: str = Field(..., description="JSONL/CSV/TSV/TXT file or hf:NAME[:CONFIG]:SPLIT")
    format: Literal["jsonl", "csv", "tsv", "txt", "hf"] | None = None
    fields: dict[str, str] = Field(default_factory=dict, description="template field -> column")
    id_field: str = "id"
    lang_field: str = "lang"
    target_field: str | None = Field(None, description="gold answer column (enables accuracy)")
    lang: str | None = Field(None, description="language of rows that have no language column")
    max_chars: int = Field(100_000, gt=0, description="longest accepted text field, in characters")
    limit: int | None = Field(None, ge=1, description="only the first N rows")


class ExemplarConfig(BaseModel):
    """Few-shot exemplars: pool, how many, which."""

    model_config = ConfigDict(extra="forbid")

    shots: int = Field(0, ge=0)
    pool: str | None = Field(None, description="exemplar pool file (same columns as the input)")
    select: Literal["first", "random", "balanced"] = "first"
    lang: str = Field(
        "same", description="'same' (query language), 'any' (mixed) or a language code"
    )
    per_row: bool = False


class RunConfig(BaseModel):
    """Everything that defines a run. Anything that can change results is in the run signature."""

    model_config = ConfigDict(extra="forbid")

    data: DataConfig
    output: str = Field(..., description="results JSONL (appended; resumed when it exists)")
    template: str = Field(..., description="template name or YAML path")
    strategy: str = "direct"
    options: dict[str, Any] = Field(default_factory=dict, description="strategy-specific options")
    engine: EngineConfig = Field(default_factory=EngineConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    exemplars: ExemplarConfig = Field(default_factory=ExemplarConfig)
    constrained: bool | None = Field(
        None, description="force label answers into the label set (template default)"
    )
    prompt_format: Literal["chat", "raw"] = "chat"
    langid: bool = Field(True, description="check generated texts against their expected language")
    guard: GuardConfig = Field(
        default_factory=GuardConfig,
        description="off-target guard: policy (flag, retry, rerank) and language-ID settings",
    )
    seed: int = 0
    # 1024: vLLM batches up to max_num_seqs (256 to 1024 by device) at once, and each chunk ends
    # with a short tail of a few sequences; a smaller chunk would leave a big GPU's batch part-empty.
    chunk_size: int = Field(
        1024, ge=1, description="rows per batched backend call (and per resume unit)"
    )
    chunks_in_flight: int = Field(
        3,
        ge=1,
        description="chunks worked on at once: one generates while the next is rendered and the "
        "last is checked and written (1: chunk by chunk); the records are the same",
    )
    overwrite: bool = False
    retry_errors: bool = Field(
        False,
        description="on resume, run rows whose record has an error again (e.g. after an outage)",
    )

    @field_validator("strategy")
    @classmethod
    def _strategy_name(cls, value: str) -> str:
        return value.strip().lower()


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def format_validation_error(exc: ValidationError, origin: str) -> str:
    lines = [f"{origin}: invalid configuration:"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        lines.append(f"  {where}: {err['msg']}")
    return "\n".join(lines)


ConfigT = TypeVar("ConfigT", bound=BaseModel)


def load_config(
    model: type[ConfigT], path: str | Path | None, overrides: dict[str, Any], *, what: str
) -> ConfigT:
    """A ``model`` config from an optional YAML file with command-line ``overrides`` on top.

    Nested mappings merge key by key (``--max-model-len`` overrides one engine
    setting, not the whole ``engine`` section); errors name the file and the field.
    """
    base: dict[str, Any] = {}
    origin = "command line"
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{p}: not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{p}: a {what} config must be a YAML mapping")
        base, origin = loaded, str(p)
    try:
        return model.model_validate(_merge(base, overrides))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, origin)) from None


def load_run_config(path: str | Path | None, overrides: dict[str, Any]) -> RunConfig:
    """A RunConfig from an optional YAML file with command-line ``overrides`` on top."""
    return load_config(RunConfig, path, overrides, what="run")
