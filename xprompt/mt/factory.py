"""Build a translator from settings: a seq2seq MT model, the tiny test model, or self-translate.

Model names:

- a local directory or hub name of an MT model (NLLB-200, M2M-100, MADLAD):
  :class:`~xprompt.backends.seq2seq.Seq2SeqTranslator`;
- ``tiny`` / ``tiny-m2m100`` / ``tiny-madlad``: the tiny random test models
  (NLLB-style, M2M-100-style or MADLAD-style language tokens), built locally on first use;
- ``self``: self-translate with the run's own LLM backend
  (:class:`~xprompt.mt.self_translate.SelfTranslator`), which needs an exemplar file.
- ``ldp``: linguistically-diverse prompts with the run's own LLM backend
  (:class:`~xprompt.ldp.translator.LDPTranslator`; settings in ``ldp``).

With a cache path the translator is wrapped in a
:class:`~xprompt.mt.cache.CachedTranslator` (same interface).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from xprompt.backends.base import Backend
from xprompt.errors import ConfigError
from xprompt.mt.base import DecodingSettings, Translator, model_identity
from xprompt.mt.cache import CachedTranslator, TranslationCache, default_cache_path
from xprompt.registry import Registry
from xprompt.types import Sampling

if TYPE_CHECKING:
    from xprompt.ldp.settings import LDPSettings

SELF = "self"
LDP = "ldp"
TINY_MODELS = {
    "tiny": "nllb",
    "tiny-nllb": "nllb",
    "tiny-m2m100": "m2m100",
    "tiny-madlad": "madlad",
}


@dataclass(frozen=True)
class SelfTranslateSettings:
    """Self-translate settings (see :class:`~xprompt.mt.self_translate.SelfTranslator`)."""

    exemplars: str | None = None
    shots: int = 4
    max_tokens: int = 64
    exemplar_lang: Literal["same", "any"] = "same"
    prompt_format: Literal["raw", "chat"] = "raw"
    max_exemplar_chars: int = 100


@dataclass(frozen=True)
class TranslatorSettings:
    """Everything needed to build a translator."""

    model: str
    decoding: DecodingSettings = field(default_factory=DecodingSettings)
    device: str = "auto"
    dtype: str = "auto"
    batch_tokens: int = 16384
    max_batch_size: int = 64
    sort_by_length: bool = True
    cache: str | None = "default"
    self_translate: SelfTranslateSettings = field(default_factory=SelfTranslateSettings)
    ldp: LDPSettings | None = None

    def cache_path(self) -> str | None:
        """The SQLite file to use, None when caching is off (``none``)."""
        if self.cache in (None, "", "none", "off"):
            return None
        return str(default_cache_path()) if self.cache == "default" else self.cache

    def identity(self) -> str:
        """What the translations depend on, known without loading the model (for run signatures)."""
        if self.model == LDP:
            from xprompt.ldp.settings import LDPSettings

            return (self.ldp or LDPSettings()).identity()
        if self.model == SELF:
            s = self.self_translate
            return (
                f"self-translate(k={s.shots},exemplars={_file_digest(s.exemplars)}/{s.exemplar_lang}"
                f"/<{s.max_exemplar_chars},"
                f"max={s.max_tokens},format={s.prompt_format})"
            )
        return f"{model_identity(resolve_mt_model(self.model))}:{self.decoding.signature()}"


def _file_digest(path: str | None) -> str:
    import hashlib
    from pathlib import Path

    if path is None:
        return "none"
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]
    except OSError as exc:
        raise ConfigError(f"self-translate exemplar file {path}: {exc.strerror}") from None


def resolve_mt_model(model: str) -> str:
    """The directory or hub name to load (builds a tiny test model when asked for one)."""
    if model in TINY_MODELS:
        from xprompt.testing.tiny_models import ensure_tiny_m2m100, ensure_tiny_madlad

        if TINY_MODELS[model] == "madlad":
            return str(ensure_tiny_madlad())
        return str(ensure_tiny_m2m100(style=TINY_MODELS[model]))
    return model


#: Translators by kind: ``self`` and ``ldp`` by their model names; any other model name is a seq2seq model.
TRANSLATORS = Registry(
    "translator",
    {
        SELF: "xprompt.mt.factory:build_self_translator",
        LDP: "xprompt.mt.factory:build_ldp_translator",
        "seq2seq": "xprompt.mt.factory:build_seq2seq_translator",
    },
)


def translator_kind(model: str) -> str:
    """The registry entry a model name is built by (``seq2seq`` for MT model names and paths)."""
    return model if model in TRANSLATORS else "seq2seq"


def build_translator(settings: TranslatorSettings, *, llm: Backend | None = None) -> Translator:
    """The translator the settings describe (``llm`` is needed for ``self`` and ``ldp``)."""
    inner: Translator = TRANSLATORS.load(translator_kind(settings.model))(settings, llm)
    path = settings.cache_path()
    return CachedTranslator(inner, TranslationCache(path)) if path is not None else inner


def build_ldp_translator(settings: TranslatorSettings, llm: Backend | None) -> Translator:
    """LDP with the run's own LLM (:class:`~xprompt.ldp.translator.LDPTranslator`)."""
    from xprompt.ldp.settings import LDPSettings

    if llm is None:
        raise ConfigError("ldp needs an LLM backend (mt_model=ldp in a run, --llm in translate)")
    return (settings.ldp or LDPSettings()).build(llm)


def build_self_translator(settings: TranslatorSettings, llm: Backend | None) -> Translator:
    """Self-translate with the run's own LLM (:class:`~xprompt.mt.self_translate.SelfTranslator`)."""
    from xprompt.mt.self_translate import DEFAULT_SAMPLING, SelfTranslator, read_translation_pairs

    s = settings.self_translate
    if llm is None:
        raise ConfigError("self-translate needs an LLM backend (mt_model=self in a run)")
    if s.exemplars is None:
        raise ConfigError(
            "self-translate needs an exemplar file of translation pairs "
            "(option self_translate_exemplars=FILE; rows: lang, text, target, target_lang)"
        )
    sampling = Sampling(
        temperature=0.0, max_tokens=s.max_tokens, stop=DEFAULT_SAMPLING.stop, seed=0
    )
    return SelfTranslator(
        llm,
        read_translation_pairs(s.exemplars),
        shots=s.shots,
        sampling=sampling,
        exemplar_lang=s.exemplar_lang,
        max_exemplar_chars=s.max_exemplar_chars,
        prompt_format=s.prompt_format,
    )


def build_seq2seq_translator(settings: TranslatorSettings, llm: Backend | None) -> Translator:
    """An NLLB / M2M-100 / MADLAD model through transformers (the LLM is not used)."""
    from xprompt.backends.seq2seq import Seq2SeqTranslator

    return Seq2SeqTranslator(
        resolve_mt_model(settings.model),
        decoding=settings.decoding,
        device=settings.device,
        dtype=settings.dtype,
        batch_tokens=settings.batch_tokens,
        max_batch_size=settings.max_batch_size,
        sort_by_length=settings.sort_by_length,
    )
