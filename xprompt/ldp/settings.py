"""LDP translator settings, shared by ``xprompt translate -m ldp``, translate-test and the ldp strategy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from xprompt import languages
from xprompt.backends.base import Backend
from xprompt.errors import ConfigError, UnknownLanguageError
from xprompt.ldp.exemplar_set import (
    DEFAULT_DIVERSE_LANGS,
    DEFAULT_DIVERSE_SET,
    SetRecord,
    read_set,
    read_sets,
    records_digest,
)
from xprompt.ldp.prompt import TAG_STYLES
from xprompt.ldp.translator import DEFAULT_SHOTS, X2EN_MODES, LDPTranslator, x2en_label
from xprompt.types import Sampling


@dataclass(frozen=True)
class LDPSettings:
    """Everything that defines an LDP translator except the LLM.

    Args:
        exemplars: exemplar set files (pairs, triples) joined into one pool.
        diverse_set: the diverse X -> English pairs: ``default`` (shipped),
            a file, or ``none``.
        diverse_langs: the diverse languages used, in interleaving order.
        shots: exemplars per prompt.
        tags: ``native``, ``none``, ``english`` or ``code``.
        x2en: ``auto``, ``diverse`` or ``in-language``.
        select: ``first`` or ``random`` (seeded).
        seed: seed of ``random`` selection.
        max_tokens: new tokens per translation.
        prompt_format: ``raw`` or ``chat``.
    """

    exemplars: tuple[str, ...] = ()
    diverse_set: str = "default"
    diverse_langs: tuple[str, ...] = DEFAULT_DIVERSE_LANGS
    shots: int = DEFAULT_SHOTS
    tags: str = "native"
    x2en: str = "auto"
    select: str = "first"
    seed: int = 0
    max_tokens: int = 128
    prompt_format: str = "raw"

    def __post_init__(self) -> None:
        checks = {
            "tags": (self.tags, TAG_STYLES),
            "x2en": (self.x2en, X2EN_MODES),
            "select": (self.select, ("first", "random")),
            "prompt format": (self.prompt_format, ("raw", "chat")),
        }
        for name, (value, allowed) in checks.items():
            if value not in allowed:
                raise ConfigError(f"ldp {name} must be one of {', '.join(allowed)}, got '{value}'")
        if self.shots < 0 or self.max_tokens < 1:
            raise ConfigError("ldp shots must be >= 0 and max tokens >= 1")
        try:
            codes = tuple(languages.resolve(c).code for c in self.diverse_langs)
        except UnknownLanguageError as exc:
            raise ConfigError(f"ldp diverse languages: {exc}") from None
        object.__setattr__(self, "diverse_langs", codes)
        object.__setattr__(self, "exemplars", tuple(self.exemplars))

    def diverse_path(self) -> Path | None:
        """The diverse-pairs file, None for ``none``."""
        if self.diverse_set in ("", "none", "off"):
            return None
        return DEFAULT_DIVERSE_SET if self.diverse_set == "default" else Path(self.diverse_set)

    def read_pool(self) -> list[SetRecord]:
        """The exemplar pool: the diverse pairs (unless ``none``) and every exemplar file."""
        path = self.diverse_path()
        diverse = read_set(path) if path is not None else []
        extra = read_sets(self.exemplars) if self.exemplars else []
        taken = {r.id for r in diverse}
        return diverse + [r for r in extra if r.id not in taken]

    def sampling(self) -> Sampling:
        """Greedy, one line, ``max_tokens`` new tokens."""
        return Sampling(temperature=0.0, max_tokens=self.max_tokens, stop=("\n",), seed=0)

    def identity(self) -> str:
        """What the translations depend on, known without the LLM (for run and resume signatures)."""
        from xprompt.ldp.prompt import LDPPrompt

        pool = self.read_pool()
        x2en = x2en_label(self.x2en, pool, self.shots)
        return (
            f"ldp({LDPPrompt(self.tags).signature()},k={self.shots},x2en={x2en},"  # type: ignore[arg-type]
            f"diverse={'+'.join(self.diverse_langs)},select={self.select},seed={self.seed},"
            f"pool={records_digest(pool)},max={self.max_tokens},format={self.prompt_format})"
        )

    def build(self, backend: Backend) -> LDPTranslator:
        """The translator on ``backend``."""
        return LDPTranslator(
            backend,
            self.read_pool(),
            shots=self.shots,
            tags=self.tags,  # type: ignore[arg-type]
            x2en=self.x2en,  # type: ignore[arg-type]
            diverse_langs=self.diverse_langs,
            select=self.select,  # type: ignore[arg-type]
            seed=self.seed,
            sampling=self.sampling(),
            prompt_format=self.prompt_format,  # type: ignore[arg-type]
        )
