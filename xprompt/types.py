"""Frozen records that flow through xprompt, one way.

dataset row -> ``Example`` -> (template) -> ``Request`` -> (backend) -> ``Completion``
-> (strategy: extract, vote, check) -> ``Prediction`` -> result record.

Every record is immutable: a step returns new records and never writes into an
earlier stage's objects. A completion always holds a tuple of texts, also when
``n == 1``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from json.encoder import encode_basestring as _encode_string
from types import MappingProxyType
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]


def _frozen_map(values: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(values or {}))


@dataclass(frozen=True, slots=True)
class Message:
    """One chat turn."""

    role: Role
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True, slots=True)
class Example:
    """One dataset row, validated: an id, a canonical language code, text fields, a gold target.

    ``index`` is the row's position in its input (0-based); it orders output
    records and keys resume. ``fields`` holds the template's fields by their
    template names (already mapped from the file's column names).
    """

    id: str
    lang: str
    fields: Mapping[str, str]
    target: str | None = None
    index: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", _frozen_map(self.fields))

    def with_fields(self, **changes: str) -> Example:
        """A copy with some fields replaced (translate-test swaps in translations this way)."""
        merged = {**self.fields, **changes}
        return Example(self.id, self.lang, merged, self.target, self.index)


@dataclass(frozen=True, slots=True)
class Sampling:
    """One typed sampling configuration, converted to each engine's own form at the backend edge.

    ``temperature == 0`` is greedy decoding. ``n`` samples are produced by one
    request (self-consistency is one request with ``n=k``, never k requests).
    ``seed`` makes sampling reproducible; ``None`` leaves it to the engine.
    """

    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 64
    n: int = 1
    seed: int | None = 0
    stop: tuple[str, ...] = ()
    logprobs: int | None = None

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if self.n > 1 and self.temperature == 0:
            raise ValueError(
                "n > 1 needs temperature > 0 (greedy decoding gives n identical samples)"
            )
        object.__setattr__(self, "stop", tuple(self.stop))

    def signature(self) -> str:
        """Short stable description, part of every run signature."""
        parts = [f"t={self.temperature:g}", f"p={self.top_p:g}", f"max={self.max_tokens}"]
        parts.append(f"n={self.n}")
        parts.append(f"seed={self.seed}")
        if self.stop:
            parts.append("stop=" + json.dumps(list(self.stop), ensure_ascii=False))
        return ",".join(parts)


@dataclass(frozen=True, slots=True)
class Constraint:
    """An output constraint for constrained decoding: exactly one of a choice list or a regex."""

    choices: tuple[str, ...] | None = None
    regex: str | None = None

    def __post_init__(self) -> None:
        if (self.choices is None) == (self.regex is None):
            raise ValueError("a Constraint needs exactly one of choices or regex")
        if self.choices is not None:
            if not self.choices:
                raise ValueError("a choice constraint needs at least one choice")
            object.__setattr__(self, "choices", tuple(self.choices))

    @property
    def kind(self) -> str:
        return "choice" if self.choices is not None else "regex"


@dataclass(frozen=True, slots=True)
class Request:
    """One generation request: chat ``messages`` or a raw ``prompt`` (exactly one).

    ``id`` is unique within a batch (``"<example id>/<step>"`` by convention).
    """

    id: str
    messages: tuple[Message, ...] | None = None
    prompt: str | None = None
    sampling: Sampling = field(default_factory=Sampling)
    constraint: Constraint | None = None
    #: Chat-template keyword arguments of this request (``(("enable_thinking", False),)``),
    #: over the backend's own; sorted ``(name, value)`` pairs so the request stays hashable.
    chat_template_kwargs: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("a Request needs exactly one of messages or prompt")
        if self.messages is not None:
            object.__setattr__(self, "messages", tuple(self.messages))

    def digest(self) -> str:
        """SHA-256 (first 16 hex digits) of the rendered input: what was sent, not how.

        Never raises: text with a lone surrogate (which readers refuse, but a
        library caller may pass) is hashed by its code points (``surrogatepass``).
        """
        if self.messages is not None:
            text = _messages_json(self.messages)
        else:
            text = json.dumps(self.prompt, ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _messages_json(messages: tuple[Message, ...]) -> str:
    """``json.dumps([m.to_dict() for m in messages], ensure_ascii=False, sort_keys=True)``.

    The same text, written directly (twice as fast: a request digest is taken
    for every row); messages with a role or content that is not a string go
    through ``json.dumps``.
    """
    quote = _encode_string
    try:
        return (
            "["
            + ", ".join(
                f'{{"content": {quote(m.content)}, "role": {quote(m.role)}}}' for m in messages
            )
            + "]"
        )
    except TypeError:  # not a string (``encode_basestring`` takes str and its subclasses only)
        return json.dumps([m.to_dict() for m in messages], ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True, slots=True)
class Completion:
    """The backend's answer to one request: always a tuple of texts (length n), or an error."""

    request_id: str
    texts: tuple[str, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reasons: tuple[str, ...] = ()
    error: str | None = None
    #: A reasoning model's thinking per sample (None where it did not think), kept apart
    #: from ``texts``, which hold the answers; empty when no sample thought.
    reasoning: tuple[str | None, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None


#: ``mixed``: an off-target line (a preamble, a line of 5+ words) beside on-target text.
Verdict = Literal["on", "off", "uncertain", "mixed"]


@dataclass(frozen=True, slots=True)
class SegmentCheck:
    """Language-ID evidence for one segment (sentence) of a checked text."""

    start: int
    end: int
    detected: str
    confidence: float
    verdict: Verdict
    rule: str = ""


def _span_dict(span: SegmentCheck) -> dict[str, Any]:
    """A sentence's or a line's verdict as a record writes it."""
    return {
        "start": span.start,
        "end": span.end,
        "detected": span.detected,
        "confidence": round(span.confidence, 4),
        "verdict": span.verdict,
        "rule": span.rule,
    }


@dataclass(frozen=True, slots=True)
class LangCheck:
    """Evidence that a generated text is (or is not) in the language it was asked to be in.

    ``verdict`` is ``on``, ``off``, ``uncertain`` (too short, or no detector
    can tell) or ``mixed`` (an off-target line, e.g. an English preamble, beside
    on-target text; ``detected`` is then the off line's language); ``rule``
    names the check that decided; ``off_share`` is the share of the text's
    letters in off-target segments. ``segments`` holds per-sentence evidence
    when the text has more than one sentence, ``lines`` per-line evidence (lines
    of 5+ words, a preamble) when it has several lines or a preamble. ``flags``
    names problems that are not about the language (``repetition``: degenerate
    looping output; ``english-words``: Latin-script words inside the on-target
    lines of a non-Latin-script target).
    """

    expected: str
    verdict: Verdict
    detected: str
    confidence: float
    rule: str
    off_share: float = 0.0
    segments: tuple[SegmentCheck, ...] = ()
    flags: tuple[str, ...] = ()
    lines: tuple[SegmentCheck, ...] = ()

    @property
    def line_pass(self) -> bool:
        """Whether no line is known to be off-target (the Language Confusion Benchmark's LPR unit)."""
        return self.verdict not in ("off", "mixed")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "expected": self.expected,
            "verdict": self.verdict,
            "detected": self.detected,
            "confidence": round(self.confidence, 4),
            "rule": self.rule,
            "off_share": round(self.off_share, 4),
        }
        if self.segments:
            out["segments"] = [_span_dict(s) for s in self.segments]
        if self.flags:
            out["flags"] = list(self.flags)
        if self.lines:
            out["lines"] = [_span_dict(s) for s in self.lines]
        return out


@dataclass(frozen=True, slots=True)
class StepOutput:
    """What one strategy step produced for one example: the texts, their cost and their checks.

    ``lang`` is the language the texts were asked to be in (``None`` when the
    output is not natural-language text in a known language, e.g. a label).
    ``guard`` is the off-target policy's evidence when it acted (retries with
    their verdicts, or the re-ranked order of samples); tokens include retries.
    """

    step: str
    prompt_digest: str
    texts: tuple[str, ...]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    lang: str | None = None
    checks: tuple[LangCheck, ...] = ()
    error: str | None = None
    guard: Mapping[str, Any] | None = None
    #: A reasoning model's thinking per text (None where there was none), apart from ``texts``.
    reasoning: tuple[str | None, ...] = ()
    #: The language check of each thinking (against ``lang``: it records what the model thought in).
    reasoning_checks: tuple[LangCheck | None, ...] = ()

    def __post_init__(self) -> None:
        if self.guard is not None:
            object.__setattr__(self, "guard", _frozen_map(self.guard))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "step": self.step,
            "prompt_digest": self.prompt_digest,
            "texts": list(self.texts),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }
        if self.lang is not None:
            out["lang"] = self.lang
        if self.checks:
            out["checks"] = [c.to_dict() for c in self.checks]
        if self.error is not None:
            out["error"] = self.error
        if self.guard is not None:
            out["guard"] = dict(self.guard)
        if self.reasoning:
            out["reasoning"] = list(self.reasoning)
            out["reasoning_checks"] = [
                c.to_dict() if c is not None else None for c in self.reasoning_checks
            ]
        return out


@dataclass(frozen=True, slots=True)
class Prediction:
    """A strategy's result for one example.

    ``answer`` is canonical (a label from the template's label set, a number as
    text, or generated text); ``extraction`` names the rule that produced it;
    ``error`` is set when the example could not be answered (the steps done so
    far are still kept). ``details`` holds strategy-specific evidence (votes,
    per-path answers) as plain JSON-able values. ``parser`` names the answer
    parser whose notion of equality scores the answer (``mgsm-paper`` truncates,
    ``number`` rounds); None means the template's.
    """

    example_id: str
    answer: str | None
    steps: tuple[StepOutput, ...] = ()
    extraction: str | None = None
    error: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    parser: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "details", _frozen_map(self.details))
        object.__setattr__(self, "steps", tuple(self.steps))
