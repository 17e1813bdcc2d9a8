"""LDP as a run strategy: translate every row with linguistically-diverse prompts.

``xprompt run --strategy ldp -t ldp-translate --opt tgt=eng_Latn`` translates
the ``text`` field of every row into ``tgt`` (see :mod:`xprompt.ldp.translator`
for how each direction gets its exemplars). ``--exemplars SET`` adds an
exemplar set (synthetic English -> X pairs from ``xprompt synth pairs``, X -> Y
triples, or human parallel pairs); the shipped diverse X -> English pairs are
always available unless ``--opt diverse_set=none``. The number of exemplars is
``--opt shots=N`` (default 8; ``-k`` is not used, since the diverse set needs
no pool file), ``--select first|random`` and ``--seed`` pick them.

The prediction is the translation; every step (one, or two for a chain through
English) is recorded with its prompt digest and the off-target check of its
output, and the details name the mode, the exemplar ids and the English pivot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from xprompt.backends.base import Backend
from xprompt.errors import ConfigError
from xprompt.ldp.exemplar_set import DEFAULT_DIVERSE_LANGS, ENGLISH
from xprompt.ldp.prompt import LDPPrompt
from xprompt.ldp.settings import LDPSettings
from xprompt.ldp.translator import LDPTranslator
from xprompt.mt.base import TranslationRequest
from xprompt.strategies import StrategyParts, parse_options
from xprompt.strategies.base import LangChecker, failed
from xprompt.strategies.options import language_code, language_list
from xprompt.templates import Template
from xprompt.types import Example, Prediction, StepOutput

if TYPE_CHECKING:
    from xprompt.config import RunConfig


class Options(BaseModel):
    """Options of ``--strategy ldp`` (``--opt KEY=VALUE``)."""

    model_config = ConfigDict(extra="forbid")

    tgt: str = Field("eng_Latn", description="language to translate into")
    shots: int = Field(8, ge=0, description="exemplars per prompt (0 = zero-shot)")
    tags: Literal["native", "none", "english", "code"] = Field(
        "native", description="language tags: native names, none, English names, [xx] codes"
    )
    x2en: Literal["auto", "diverse", "in-language"] = Field(
        "auto", description="X->English exemplars: diverse high-resource pairs or in-language pairs"
    )
    diverse_set: str = Field("default", description="diverse pairs file; 'default' or 'none'")
    diverse_langs: list[str] = Field(
        default_factory=lambda: list(DEFAULT_DIVERSE_LANGS),
        description="diverse languages, interleaved in this order",
    )
    max_tokens: int = Field(128, ge=1, description="new tokens per translation")
    prompt_format: Literal["raw", "chat"] = Field(
        "raw", description="raw text prompt (base models, as in the paper) or one chat turn"
    )

    @field_validator("tgt")
    @classmethod
    def _tgt(cls, value: str) -> str:
        return language_code(value, "tgt")

    @field_validator("diverse_langs", mode="before")
    @classmethod
    def _langs(cls, value: Any) -> list[str]:
        return language_list(value, "diverse_langs")


@dataclass
class LDPStrategy:
    """Translate the ``text`` field of every example into ``tgt`` with LDP prompts."""

    settings: LDPSettings
    tgt: str
    template: Template
    checker: LangChecker | None = None
    name: str = "ldp"
    _translators: dict[int, LDPTranslator] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        try:
            self.prompt = LDPPrompt(self.settings.tags, pair_template=self.template)  # type: ignore[arg-type]
        except ValueError as exc:
            raise ConfigError(f"strategy 'ldp': {exc}; use -t ldp-translate") from None
        self.pool = self.settings.read_pool()

    @property
    def fields(self) -> tuple[str, ...]:
        """Rows need a ``text`` field (map another column with ``--field text=COLUMN``)."""
        return ("text",)

    def signature(self) -> str:
        """Target language, LDP settings (with the pool digest) and template."""
        return f"ldp(tgt={self.tgt},{self.settings.identity()},template={self.template.name}@{self.template.digest})"

    def translator(self, backend: Backend) -> LDPTranslator:
        """The translator on ``backend`` (one per backend, so exemplar draws are cached)."""
        key = id(backend)
        if key not in self._translators:
            s = self.settings
            self._translators[key] = LDPTranslator(
                backend,
                self.pool,
                shots=s.shots,
                tags=s.tags,  # type: ignore[arg-type]
                x2en=s.x2en,  # type: ignore[arg-type]
                diverse_langs=s.diverse_langs,
                select=s.select,  # type: ignore[arg-type]
                seed=s.seed,
                sampling=s.sampling(),
                prompt_format=s.prompt_format,  # type: ignore[arg-type]
                prompt=self.prompt,
            )
        return self._translators[key]

    def run(self, examples: Sequence[Example], backend: Backend) -> list[Prediction]:
        """One prediction (the translation) per example, same order; failures keep their steps."""
        translator = self.translator(backend)
        requests = [TranslationRequest(e.fields["text"], e.lang, self.tgt) for e in examples]
        predictions: list[Prediction] = []
        for example, output in zip(examples, translator.translate_detailed(requests), strict=True):
            translation = output.translation
            steps: list[StepOutput] = []
            digests = list(output.prompt_digests)
            if output.pivot is not None and len(digests) == 2:
                steps.append(self._step("english", digests[0], output.pivot, ENGLISH, 0, 0))
                digests = digests[1:]
            if translation.text is not None:
                steps.append(
                    self._step(
                        "translate",
                        digests[0] if digests else "",
                        translation.text,
                        self.tgt,
                        output.prompt_tokens,
                        output.completion_tokens,
                    )
                )
            if not translation.ok:
                predictions.append(failed(example, translation.error or "failed", steps))
                continue
            predictions.append(
                Prediction(
                    example.id,
                    translation.text,
                    tuple(steps),
                    extraction="text",
                    details=output.details(),
                )
            )
        return predictions

    def _step(
        self, step: str, digest: str, text: str, lang: str, prompt_tokens: int, tokens: int
    ) -> StepOutput:
        checks = (self.checker(text, lang),) if self.checker is not None else ()
        return StepOutput(
            step=step,
            prompt_digest=digest,
            texts=(text,),
            prompt_tokens=prompt_tokens,
            completion_tokens=tokens,
            lang=lang,
            checks=checks,
        )


def build(config: RunConfig, parts: StrategyParts) -> LDPStrategy:
    """Factory used by ``xprompt run --strategy ldp``."""
    options: Options = parse_options(Options, config.options, "ldp")
    if config.exemplars.shots:
        raise ConfigError(
            "strategy 'ldp' takes the number of exemplars as --opt shots=N (default 8), not "
            "-k/--shots: its diverse X->English pairs need no --exemplars file"
        )
    if config.exemplars.select == "balanced":
        raise ConfigError("strategy 'ldp' selects exemplars with --select first or random")
    if options.tgt == ENGLISH and options.x2en == "in-language" and not config.exemplars.pool:
        raise ConfigError("x2en=in-language needs X->English pairs: pass --exemplars FILE")
    settings = LDPSettings(
        exemplars=(config.exemplars.pool,) if config.exemplars.pool else (),
        diverse_set=options.diverse_set,
        diverse_langs=tuple(options.diverse_langs),
        shots=options.shots,
        tags=options.tags,
        x2en=options.x2en,
        select=config.exemplars.select,
        seed=config.seed,
        max_tokens=options.max_tokens,
        prompt_format=options.prompt_format,
    )
    return LDPStrategy(settings, options.tgt, parts.template, parts.checker)
