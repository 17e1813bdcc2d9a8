"""Server configuration: one validated model, from a YAML file and/or ``xprompt serve`` flags.

Defaults live here once. The engine section is xprompt's own
:class:`~xprompt.config.EngineConfig`; the language-ID section is
:class:`~xprompt.langid.LangidConfig`; the rest is the reply-language policy,
the streaming guard and the operational limits.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from xprompt import languages
from xprompt.config import EngineConfig, load_config
from xprompt.errors import UnknownLanguageError
from xprompt.guard import FIRM_INSTRUCTION, check_instruction
from xprompt.langid import LangidConfig

#: Environment variable with comma-separated API keys (keeps keys off the command line).
API_KEYS_ENV = "XPROMPT_API_KEYS"

PivotMode = Literal["off", "fallback", "always"]

DEFAULT_INSTRUCTION = "Always reply in {lang_name}{lang_native_paren}, the language of the user."
#: The firmer instruction of a retry is the one batch runs use (one wording, xprompt.guard).
DEFAULT_FIRM_INSTRUCTION = FIRM_INSTRUCTION
DEFAULT_PIVOT_INSTRUCTION = "Reply in English."


def _canonical(code: str, what: str) -> str:
    try:
        return languages.resolve(code).code
    except UnknownLanguageError as exc:
        raise ValueError(f"{what}: {exc}") from None


class PolicyConfig(BaseModel):
    """The reply-language policy: which language, how it is asked for, what happens when it is missed."""

    model_config = ConfigDict(extra="forbid")

    default_lang: str | None = Field(
        None,
        description="reply language when the conversation's cannot be determined "
        "(None: no language instruction and no check for such requests)",
    )
    languages: list[str] = Field(
        default_factory=list,
        description="languages this deployment serves; a detection outside them counts only "
        "through its script (one served language per script), else the language is undetermined",
    )
    detect_confidence: float = Field(
        0.8, gt=0, le=1, description="identifier confidence needed to take a detected language"
    )
    detect_min_letters: int = Field(
        12, ge=1, description="user text shorter than this many letters is not identified"
    )
    retries: int = Field(1, ge=0, le=5, description="retries with a firmer instruction when off")
    weak_langs: list[str] = Field(
        default_factory=list,
        description="languages the model is weak in: these may pivot (answer in English, translate)",
    )
    pivot: PivotMode = Field(
        "fallback",
        description="for weak languages: fallback (pivot after the retries stay off-target), "
        "always (always answer through the pivot), off",
    )
    pivot_lang: str = Field("eng_Latn", description="the language answered in before translating")
    translator: str | None = Field(
        None,
        description="pivot translator: an MT model directory or hub name (NLLB, M2M-100, MADLAD), "
        "'tiny-nllb' (the tiny local test model) or 'self' (the served LLM translates)",
    )
    instruction_role: Literal["system", "user"] = Field(
        "system",
        description="where the language instruction goes (user: for models without system)",
    )
    instruction: str = DEFAULT_INSTRUCTION
    firm_instruction: str = DEFAULT_FIRM_INSTRUCTION
    pivot_instruction: str = DEFAULT_PIVOT_INSTRUCTION
    conversations: int = Field(10_000, ge=0, description="conversation languages kept in memory")
    conversation_ttl_s: float = Field(
        24 * 3600, gt=0, description="how long a conversation's language is kept"
    )

    @field_validator("default_lang")
    @classmethod
    def _default(cls, value: str | None) -> str | None:
        return None if value is None else _canonical(value, "default_lang")

    @field_validator("pivot_lang")
    @classmethod
    def _pivot(cls, value: str) -> str:
        return _canonical(value, "pivot_lang")

    @field_validator("languages", "weak_langs")
    @classmethod
    def _codes(cls, value: list[str]) -> list[str]:
        return [_canonical(code, "language") for code in value]

    @field_validator("instruction", "firm_instruction", "pivot_instruction")
    @classmethod
    def _instruction(cls, value: str) -> str:
        return check_instruction(value, must_name_language=False)


class GuardConfig(BaseModel):
    """The streaming guard: how much text is held back before the language is checked.

    32 letters (6-8 tokens of a real model) are enough for the checker to call an
    English or Swahili start of a Hausa reply off-target; at 24 some related-language
    starts are still ``uncertain``.
    """

    model_config = ConfigDict(extra="forbid")

    hold_letters: int = Field(
        32,
        ge=0,
        description="letters held back per choice before the first check (0: no hold, check at the end)",
    )


class LimitsConfig(BaseModel):
    """Operational limits (each answered with a clear error naming the limit)."""

    model_config = ConfigDict(extra="forbid")

    max_request_bytes: int = Field(1_000_000, ge=1024, description="largest request body (413)")
    max_tokens_default: int = Field(512, ge=1, description="max_tokens when the client gives none")
    max_tokens_limit: int = Field(4096, ge=1, description="largest max_tokens a client may ask for")
    max_n: int = Field(8, ge=1, description="largest n a client may ask for")
    max_messages: int = Field(1000, ge=1, description="most messages in one request")
    request_timeout_s: float = Field(
        600.0, gt=0, description="a request still generating after this long is aborted (504)"
    )
    shutdown_timeout_s: float = Field(
        30.0, ge=0, description="on SIGTERM, how long requests in flight may still finish"
    )


class ServeConfig(BaseModel):
    """Everything ``xprompt serve`` needs."""

    model_config = ConfigDict(extra="forbid")

    engine: EngineConfig = Field(default_factory=EngineConfig)
    served_model_name: str | None = Field(
        None, description="the model name clients send and /v1/models lists (default: the model)"
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    api_keys: list[str] = Field(
        default_factory=list,
        description=f"accepted Bearer keys (also from ${API_KEYS_ENV}, comma-separated); none: open",
    )
    temperature: float = Field(
        1.0, ge=0, le=2, description="temperature when the client gives none"
    )
    seed: int | None = Field(
        0, description="sampling seed when the client gives none (None: not reproducible)"
    )
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    guard: GuardConfig = Field(default_factory=GuardConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    langid: LangidConfig = Field(default_factory=LangidConfig)
    page: bool = Field(True, description="serve the browser chat page at /")
    access_log: bool = Field(True, description="one JSON line per request (no bodies, no keys)")

    def keys(self) -> list[str]:
        """API keys from the configuration and the environment."""
        env = [k.strip() for k in os.environ.get(API_KEYS_ENV, "").split(",") if k.strip()]
        return [*self.api_keys, *env]


def load_serve_config(path: str | Path | None, overrides: dict[str, Any]) -> ServeConfig:
    """A ServeConfig from an optional YAML file with command-line ``overrides`` on top."""
    return load_config(ServeConfig, path, overrides, what="serve")
