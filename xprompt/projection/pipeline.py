"""Label projection in both directions, over batches of sentences, with CODEC or the marker baseline.

- **translate-train**: gold spans of (English) training sentences go onto their
  translations. CODEC's template is the translation of the plain sentence; the
  baseline translates the marked sentence.
- **translate-test**: a test sentence is translated into English, tagged there
  (by the user's tagger, or spans from a file), and the English spans come back
  onto the original sentence, which is CODEC's template. The baseline translates
  the marked English back and looks the spans up in the original.

Each function takes a whole batch and makes one translator call per step.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Literal

from xprompt.errors import ConfigError
from xprompt.mt.base import Translation, TranslationRequest, Translator
from xprompt.projection.markers import MarkerProjector, MarkerTask, locate_in
from xprompt.projection.projector import CodecProjector, ProjectionTask
from xprompt.projection.records import EntityProjection, ProjectionResult, failed
from xprompt.projection.spans import Span, SpanSentence, span_problem

Method = Literal["codec", "markers"]
Projector = CodecProjector | MarkerProjector
#: A tagger: English texts in, spans per text out (same order).
Tagger = Callable[[list[str]], list[list[Span]]]

PIVOT = "eng_Latn"


def _failed_entities(spans: Sequence[Span], reason: str) -> tuple[EntityProjection, ...]:
    return tuple(EntityProjection(s, None, reason) for s in spans)


def translate_train(
    sentences: Sequence[SpanSentence],
    tgt: str,
    projector: Projector,
    translator: Translator,
) -> list[ProjectionResult]:
    """Project each sentence's spans onto its translation into ``tgt`` (one result per sentence)."""
    if isinstance(projector, MarkerProjector):
        return projector.project([MarkerTask(s.text, s.spans, s.lang, tgt) for s in sentences])
    translations = translator.translate(
        [TranslationRequest(s.text, s.lang, tgt) for s in sentences]
    )
    tasks: list[ProjectionTask] = []
    owners: list[int] = []
    results: dict[int, ProjectionResult] = {}
    for n, (sentence, translation) in enumerate(zip(sentences, translations, strict=True)):
        if not translation.ok or not (translation.text or "").strip():
            reason = f"translation failed: {translation.error or 'empty translation'}"
            results[n] = failed(reason, _failed_entities(sentence.spans, reason))
            continue
        tasks.append(
            ProjectionTask(sentence.text, sentence.spans, sentence.lang, translation.text, tgt)
        )
        owners.append(n)
    for n, result in zip(owners, projector.project(tasks), strict=True):
        results[n] = result
    return [results[n] for n in range(len(sentences))]


def translate_to_pivot(
    sentences: Sequence[SpanSentence], translator: Translator, pivot: str = PIVOT
) -> list[Translation]:
    """The first step of translate-test: every sentence translated into the pivot language."""
    return translator.translate([TranslationRequest(s.text, s.lang, pivot) for s in sentences])


def translate_test(
    originals: Sequence[SpanSentence],
    english: Sequence[tuple[str, tuple[Span, ...]] | str],
    projector: Projector,
    pivot: str = PIVOT,
) -> list[ProjectionResult]:
    """Project tagged pivot-language spans back onto the original sentences.

    ``english[n]`` is the tagged translation of ``originals[n]`` as ``(text,
    spans)``, or a string saying why there is none (that sentence fails with it).
    The originals' own spans (gold, if any) are not used.
    """
    results: dict[int, ProjectionResult] = {}
    owners: list[int] = []
    for n, item in enumerate(english):
        if isinstance(item, str):
            results[n] = failed(item)
            continue
        problem = span_problem(item[0], item[1])
        if problem is not None:
            results[n] = failed(f"English spans: {problem}")
            continue
        owners.append(n)
    if isinstance(projector, MarkerProjector):
        tasks = [MarkerTask(*english[n], pivot, originals[n].lang) for n in owners]  # type: ignore[misc]
        for n, result in zip(owners, projector.project(tasks), strict=True):
            results[n] = locate_in(originals[n].text, result)
    else:
        codec_tasks = [
            ProjectionTask(
                english[n][0],  # type: ignore[index]
                english[n][1],  # type: ignore[index]
                pivot,
                originals[n].text,
                originals[n].lang,
            )
            for n in owners
        ]
        for n, result in zip(owners, projector.project(codec_tasks), strict=True):
            results[n] = result
    return [results[n] for n in range(len(originals))]


def load_tagger(spec: str) -> Tagger:
    """Import a tagger given as ``module:function`` (the function takes texts, returns spans).

    The function may return :class:`Span` objects or ``{"start", "end", "label"}`` dicts.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"--tagger takes MODULE:FUNCTION, got '{spec}'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"--tagger {spec}: cannot import {module_name} ({exc})") from None
    function = getattr(module, attr, None)
    if not callable(function):
        raise ConfigError(f"--tagger {spec}: {module_name} has no function {attr}")

    def tagger(texts: list[str]) -> list[list[Span]]:
        out = function(texts)
        if not isinstance(out, list) or len(out) != len(texts):
            raise ConfigError(
                f"tagger {spec} must return one list of spans per text ({len(texts)}), "
                f"got {type(out).__name__}"
            )
        return [[_as_span(s, spec) for s in spans] for spans in out]

    return tagger


def _as_span(value: object, spec: str) -> Span:
    if isinstance(value, Span):
        return value
    if isinstance(value, dict) and {"start", "end", "label"} <= value.keys():
        return Span(int(value["start"]), int(value["end"]), str(value["label"]))
    raise ConfigError(f"tagger {spec} returned {value!r}; expected Span or {{start, end, label}}")
