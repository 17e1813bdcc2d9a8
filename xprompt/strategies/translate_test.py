"""Translate-test: translate the input into a pivot language, run another strategy there, map back.

Steps for a chunk of examples (each one batched call):

1. **MT to the pivot** (English by default): every field the template reads is
   translated *separately* (premise, hypothesis and each choice, as Artetxe et
   al. do), all fields of all examples in one translator call. Rows already in
   the pivot language are not translated. Each translation is checked with the
   off-target guard against the pivot language, and its copy-of-source flag,
   score and cache hit are kept in the prediction's details. The originals are
   kept: the inner strategy gets new ``Example`` records in the pivot language.
2. **The task in the pivot**: any other strategy (``direct`` zero/few-shot by
   default, with its own options) runs on the translated examples. Its
   exemplars are drawn for the pivot language.
3. **Map back**: a label answer is canonical and needs no mapping; a text
   answer that is one of the translated fields (e.g. a translated choice) is
   mapped back to that field's original text. For generation tasks (answer
   parser ``text``) the answer is translated back into the row's language and
   that back-translation is checked against it; it becomes the answer, and the
   pivot-language answer stays in the details.

MT settings are the strategy's options (``--opt mt_model=... --opt pivot=eng_Latn``);
``mt_model=self`` is self-translate with the run's own LLM (Etxaniz et al. 2024).
Translations go through the SQLite translation cache, so a re-run (or resume
after a crash) does not translate again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from xprompt import languages
from xprompt.backends.base import Backend
from xprompt.errors import ConfigError
from xprompt.mt.base import DecodingSettings, Translation, TranslationRequest, Translator
from xprompt.mt.factory import (
    LDP,
    SELF,
    SelfTranslateSettings,
    TranslatorSettings,
    build_translator,
)
from xprompt.mt.metrics import is_copy
from xprompt.strategies import StrategyParts, build_strategy, canonical_name, parse_options
from xprompt.strategies.base import LangChecker, Strategy, failed
from xprompt.templates import Template
from xprompt.types import Example, Prediction, StepOutput

if TYPE_CHECKING:
    from xprompt.config import RunConfig


class Options(BaseModel):
    """Options of ``--strategy translate-test`` (``--opt KEY=VALUE``)."""

    model_config = ConfigDict(extra="forbid")

    mt_model: str = Field(
        "facebook/nllb-200-distilled-600M",
        description="MT model directory or hub name; 'self' = self-translate with the run's LLM; 'ldp' = LDP with the run's LLM (diverse X->English pairs); 'tiny' = test model",
    )
    pivot: str = Field("eng_Latn", description="language the task is run in")
    fields: list[str] | None = Field(
        None, description="fields to translate (default: all the template reads)"
    )
    inner: str = Field("direct", description="strategy run on the translations")
    inner_options: dict[str, Any] = Field(
        default_factory=dict, description="options of the inner strategy"
    )
    back_translate: bool | None = Field(
        None, description="translate the answer back (default: for text answers only)"
    )
    mt_beams: int = Field(1, ge=1, description="1 = greedy, more = beam search")
    mt_max_new_tokens: int = Field(256, ge=1)
    mt_max_input_tokens: int = Field(256, ge=8)
    mt_split: Literal["long", "always", "never"] = "long"
    mt_device: str = "auto"
    mt_batch_tokens: int = Field(16384, ge=1)
    mt_batch_size: int = Field(64, ge=1)
    cache: str = Field("default", description="translation cache file; 'default' or 'none'")
    self_translate_exemplars: str | None = Field(
        None, description="translation pairs file (mt_model=self)"
    )
    self_translate_shots: int = Field(4, ge=0)
    self_translate_max_tokens: int | None = Field(
        None,
        ge=1,
        description="new tokens per translation (default: the paper's, 128 for MGSM, else 64)",
    )
    self_translate_exemplar_lang: Literal["same", "any"] = "same"
    self_translate_max_chars: int = Field(
        100, ge=1, description="exemplar sources shorter than this"
    )
    self_translate_format: Literal["raw", "chat"] = "raw"

    @field_validator("pivot")
    @classmethod
    def _pivot(cls, value: str) -> str:
        return languages.resolve(value).code

    def translator_settings(self, template: Template | None = None) -> TranslatorSettings:
        """The translator's settings; ``template`` (the task) picks self-translate's preset length."""
        max_tokens = self.self_translate_max_tokens or self_translate_max_tokens(template)
        return TranslatorSettings(
            model=self.mt_model,
            decoding=DecodingSettings(
                num_beams=self.mt_beams,
                max_new_tokens=self.mt_max_new_tokens,
                max_input_tokens=self.mt_max_input_tokens,
                split=self.mt_split,
            ),
            device=self.mt_device,
            batch_tokens=self.mt_batch_tokens,
            max_batch_size=self.mt_batch_size,
            cache=self.cache,
            self_translate=SelfTranslateSettings(
                exemplars=self.self_translate_exemplars,
                shots=self.self_translate_shots,
                max_tokens=max_tokens,
                exemplar_lang=self.self_translate_exemplar_lang,
                prompt_format=self.self_translate_format,
                max_exemplar_chars=self.self_translate_max_chars,
            ),
        )


def self_translate_max_tokens(template: Template | None) -> int:
    """Etxaniz et al.'s translation length: 128 new tokens for MGSM (numeric answers), 64 otherwise.

    About 40% of the English MGSM questions are longer than 64 tokens, so the
    paper gives MGSM twice the room; a task whose template answers with a
    number (parsers ``number`` / ``mgsm-paper``, or a template named ``mgsm*``)
    gets 128.
    """
    if template is None:
        return 64
    numeric = template.answer.parser in ("number", "mgsm-paper")
    return 128 if numeric or template.name.startswith("mgsm") else 64


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass
class TranslateTest:
    """Translate-test around an inner strategy (see the module docstring).

    Args:
        inner: the strategy that answers in the pivot language.
        template: the task template (decides which answers are text to translate back).
        settings: how to build the translator (loaded on first use).
        pivot: the pivot language (canonical code).
        fields: fields to translate (default: all the inner strategy reads).
        back_translate: translate answers back (None: for text answers only).
        checker: the off-target check applied to every translation.
        translator: an already built translator to use instead of ``settings``.
    """

    inner: Strategy
    template: Template
    settings: TranslatorSettings
    pivot: str = "eng_Latn"
    fields_to_translate: tuple[str, ...] | None = None
    back_translate: bool | None = None
    checker: LangChecker | None = None
    translator: Translator | None = None
    name: str = "translate-test"
    _llm_translator: dict[int, Translator] = field(default_factory=dict, repr=False)
    #: One chunk at a time: the MT model (built on first use) serves one caller, and loading it
    #: from two threads at once breaks transformers' meta-device initialisation.
    concurrent_chunks: ClassVar[bool] = False

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.inner.fields)

    @property
    def translated_fields(self) -> tuple[str, ...]:
        return self.fields_to_translate or self.fields

    @property
    def backtranslates(self) -> bool:
        if self.back_translate is not None:
            return self.back_translate
        return self.template.answer.parser == "text"

    def signature(self) -> str:
        return (
            f"{self.name}(mt={self.settings.identity()},pivot={self.pivot},"
            f"fields={'+'.join(self.translated_fields)},back={'yes' if self.backtranslates else 'no'},"
            f"inner={self.inner.signature()})"
        )

    def translator_for(self, backend: Backend) -> Translator:
        """The translator: the one given, else built once (self-translate: bound to ``backend``)."""
        if self.translator is not None:
            return self.translator
        if self.settings.model not in (SELF, LDP):
            self.translator = build_translator(self.settings)
            return self.translator
        key = id(backend)
        if key not in self._llm_translator:
            for old in self._llm_translator.values():
                old.close()
            self._llm_translator = {key: build_translator(self.settings, llm=backend)}
        return self._llm_translator[key]

    def _mt_step(self, name: str, source: str, result: Translation, lang: str) -> StepOutput:
        checks = ()
        if result.ok and self.checker is not None:
            checks = (self.checker(result.text or "", lang),)
        return StepOutput(
            step=name,
            prompt_digest=_digest(source),
            texts=(result.text,) if result.ok else (),
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.tokens,
            lang=lang,
            checks=checks,
            error=result.error,
        )

    def run(self, examples: Sequence[Example], backend: Backend) -> list[Prediction]:
        translator = self.translator_for(backend)
        requests: list[TranslationRequest] = []
        owners: list[tuple[int, str]] = []
        for i, example in enumerate(examples):
            if example.lang == self.pivot:
                continue
            for name in self.translated_fields:
                requests.append(TranslationRequest(example.fields[name], example.lang, self.pivot))
                owners.append((i, name))
        results = translator.translate(requests) if requests else []
        by_example: dict[int, dict[str, Translation]] = {}
        for (i, name), result in zip(owners, results, strict=True):
            by_example.setdefault(i, {})[name] = result

        outcome: list[Prediction | None] = [None] * len(examples)
        mt_steps: list[list[StepOutput]] = [[] for _ in examples]
        pivot_examples: list[Example] = []
        positions: list[int] = []
        for i, example in enumerate(examples):
            done = by_example.get(i, {})
            mt_steps[i] = [
                self._mt_step(f"mt:{name}", example.fields[name], t, self.pivot)
                for name, t in done.items()
            ]
            bad = next(((n, t) for n, t in done.items() if not t.ok), None)
            if bad is not None:
                outcome[i] = failed(
                    example,
                    f"translating field '{bad[0]}' from {example.lang} to {self.pivot}: {bad[1].error}",
                    mt_steps[i],
                )
                continue
            translated = {**example.fields, **{n: t.text or "" for n, t in done.items()}}
            pivot_examples.append(
                Example(example.id, self.pivot, translated, example.target, example.index)
            )
            positions.append(i)
        inner_predictions = self.inner.run(pivot_examples, backend) if pivot_examples else []

        answers: dict[int, Prediction] = {}
        mapped: dict[int, str] = {}
        back_requests: list[TranslationRequest] = []
        back_owner: list[int] = []
        for i, prediction in zip(positions, inner_predictions, strict=True):
            answers[i] = prediction
            example = examples[i]
            field_name = self._matching_field(prediction, by_example.get(i, {}))
            if field_name is not None:
                mapped[i] = field_name  # the original text is already in the row's language
            elif (
                self.backtranslates
                and prediction.error is None
                and prediction.answer
                and example.lang != self.pivot
            ):
                back_requests.append(
                    TranslationRequest(prediction.answer, self.pivot, example.lang)
                )
                back_owner.append(i)
        back_results = dict(
            zip(
                back_owner,
                translator.translate(back_requests) if back_requests else [],
                strict=True,
            )
        )
        for i, prediction in answers.items():
            outcome[i] = self._finish(
                examples[i],
                prediction,
                mt_steps[i],
                by_example.get(i, {}),
                mapped.get(i),
                back_results.get(i),
            )
        return [p for p in outcome if p is not None]

    @staticmethod
    def _matching_field(prediction: Prediction, translations: dict[str, Translation]) -> str | None:
        """The translated field a text answer repeats (a translated choice), if any."""
        if prediction.error is not None or not prediction.answer:
            return None
        key = prediction.answer.strip().casefold()
        for name, t in translations.items():
            if t.text is not None and key == t.text.strip().casefold():
                return name
        return None

    def _finish(
        self,
        example: Example,
        prediction: Prediction,
        mt_steps: list[StepOutput],
        translations: dict[str, Translation],
        mapped_field: str | None,
        back: Translation | None,
    ) -> Prediction:
        details: dict[str, Any] = dict(prediction.details)
        details["pivot"] = self.pivot
        details["mt"] = {
            name: {
                "copy": is_copy(t.text or "", t.source),
                "cached": t.cached,
                "score": None if t.score is None else round(t.score, 4),
                "segments": t.segments,
            }
            for name, t in translations.items()
        }
        steps = [*mt_steps, *prediction.steps]
        answer, error = prediction.answer, prediction.error
        if mapped_field is not None:
            details["mapped_from_field"] = mapped_field
            details["pivot_answer"] = answer
            answer = example.fields[mapped_field]
        if back is not None:
            steps.append(self._mt_step("mt:back", back.source, back, example.lang))
            details["pivot_answer"] = prediction.answer
            if back.ok:
                answer = back.text
            else:
                error = (
                    f"translating the answer back from {self.pivot} to {example.lang}: {back.error}"
                )
                answer = None
        return Prediction(
            example_id=example.id,
            answer=answer,
            steps=tuple(steps),
            extraction=prediction.extraction,
            error=error,
            details=details,
        )

    def close(self) -> None:
        """Release the MT model (the LLM backend belongs to the runner)."""
        for translator in [self.translator, *self._llm_translator.values()]:
            if translator is not None:
                translator.close()


def build(config: RunConfig, parts: StrategyParts) -> TranslateTest:
    """Factory used by ``xprompt run --strategy translate-test``."""
    options: Options = parse_options(Options, config.options, "translate-test")
    inner_name = canonical_name(options.inner)
    if inner_name == "translate-test":
        raise ConfigError(
            "translate-test cannot run itself as its inner strategy (use e.g. inner=direct)"
        )
    inner = build_strategy(
        config.model_copy(update={"strategy": inner_name, "options": options.inner_options}), parts
    )
    unknown = [f for f in options.fields or () if f not in inner.fields]
    if unknown:
        raise ConfigError(
            f"translate-test: fields {unknown} are not fields of template '{parts.template.name}' "
            f"(it reads: {', '.join(inner.fields)})"
        )
    if options.mt_model == SELF and not options.self_translate_exemplars:
        raise ConfigError(
            "translate-test with mt_model=self needs --opt self_translate_exemplars=FILE "
            "(translation pairs: lang, text, target, target_lang; e.g. examples/mt/topics.pairs.jsonl)"
        )
    settings = options.translator_settings(parts.template)
    settings.identity()  # reads the self-translate exemplar file before any engine starts
    return TranslateTest(
        inner=inner,
        template=parts.template,
        settings=settings,
        pivot=options.pivot,
        fields_to_translate=tuple(options.fields) if options.fields else None,
        back_translate=options.back_translate,
        checker=parts.checker,
    )
