"""The off-target guard: check every generated text, then apply the run's policy.

A strategy hands the guard a step's requests (all of them, one batch) with the
language each answer must be in; the guard calls the backend, checks every
text, and returns one ``StepOutput`` per request. The policy decides what
happens to texts in the wrong language:

- ``flag`` (default): record the check and keep the text. The run report shows
  the off-target rate beside the quality metric.
- ``retry``: send each request that came back off-target again, with a firmer
  instruction naming the language ("You must write your entire answer in Hausa
  only, not in English or any other language."), up to ``retries`` times; all retries of a round go
  in one batched call. A retried sample replaces the original only when its
  verdict is better (on > uncertain > off). The step records every attempt.
- ``rerank``: for requests with ``n > 1`` samples, order the samples by
  language-ID evidence (on-target first, by confidence; off-target last), a
  cheap cousin of language-informed decoding. Votes that break ties by order
  then prefer on-target samples; nothing is dropped.

A ``mixed`` text (an off-target line, e.g. an English preamble, beside on-target
text) is treated like ``off`` by retry and rerank unless ``mixed`` is set to
``accept``. ``trim`` (off by default) first drops a leading off-target line of
a mixed text and keeps the rest when that checks better; the step records
which samples were trimmed (``guard.trimmed``).

Every strategy can use it: replace ``backend.generate(requests)`` and
``step_output(...)`` by ``guard.run(backend, requests, langs=..., steps=...)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from xprompt import languages
from xprompt.backends.base import Backend
from xprompt.chat_format import reasoning_fields
from xprompt.errors import ConfigError, UnknownLanguageError
from xprompt.langid.config import LangidConfig
from xprompt.langid.text import normalize
from xprompt.types import Completion, LangCheck, Message, Request, StepOutput

Policy = Literal["flag", "retry", "rerank"]

#: The firmer instruction added on a retry; batch runs and the chat endpoint share it.
#: Placeholders: the fields of :func:`instruction_fields`.
FIRM_INSTRUCTION = (
    "You must write your entire answer in {lang_name}{lang_native_paren} only, "
    "not in {detected} or any other language."
)
#: Kept for callers of the first release.
DEFAULT_INSTRUCTION = FIRM_INSTRUCTION
INSTRUCTION_FIELDS = ("lang_name", "lang_native", "lang_native_paren", "lang_code", "detected")


def instruction_fields(code: str, detected: str | None = None) -> dict[str, str]:
    """The fields an instruction text may use, for language ``code``.

    ``lang_name`` (English name), ``lang_native`` (autonym, else the English
    name), ``lang_native_paren`` (" (autonym)" or empty), ``lang_code``, and
    ``detected``: the name of the language found instead (a canonical code or
    ``und``), "English" when not known (the usual off-target language), or
    "another language" when the expected language is English itself.
    """
    lang = languages.resolve(code)
    native = lang.native_name or lang.name
    found = "English" if lang.code != "eng_Latn" else "another language"
    if detected:
        try:
            found = languages.resolve(detected).name
        except UnknownLanguageError:
            found = "another language"  # und, und_Latn and the like
    return {
        "lang_name": lang.name,
        "lang_native": native,
        "lang_native_paren": f" ({native})" if native != lang.name else "",
        "lang_code": lang.code,
        "detected": found,
    }


def check_instruction(value: str, *, must_name_language: bool = True) -> str:
    """Validate an instruction's placeholders; a clear ValueError names the ones allowed."""
    try:
        value.format(**instruction_fields("hau_Latn", "eng_Latn"))
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"instruction {value!r} has an unknown or broken placeholder ({exc}); "
            f"use {', '.join('{' + f + '}' for f in INSTRUCTION_FIELDS)}"
        ) from None
    if must_name_language and not any(f"{{{f}}}" in value for f in ("lang_name", "lang_native")):
        raise ValueError("instruction must name the language: include {lang_name} or {lang_native}")
    return value


_RANK = {"on": 3, "uncertain": 2, "mixed": 1, "off": 0}
MixedPolicy = Literal["off", "accept"]


class GuardConfig(BaseModel):
    """Run settings of the off-target guard: the policy and the language-ID settings."""

    model_config = ConfigDict(extra="forbid")

    policy: Policy = Field(
        "flag",
        description="flag (record only), retry (ask again, firmer, k times) or "
        "rerank (order the n samples by language-ID confidence)",
    )
    retries: int = Field(1, ge=1, le=10, description="retry rounds for policy 'retry'")
    mixed: MixedPolicy = Field(
        "off",
        description="how retry and rerank treat a 'mixed' text (an off-target line, such as an "
        "English preamble, beside on-target text): off (like off-target) or accept",
    )
    trim: bool = Field(
        False,
        description="drop a leading off-target line (a preamble) of a mixed text when the rest "
        "checks better; recorded in the step's guard evidence",
    )
    instruction: str = Field(
        FIRM_INSTRUCTION,
        description="firmer instruction added on a retry (placeholders: "
        + ", ".join(INSTRUCTION_FIELDS)
        + ")",
    )
    langid: LangidConfig = Field(default_factory=LangidConfig)

    @field_validator("instruction")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        return check_instruction(value)


@dataclass
class Guard:
    """Checks a step's texts and applies the policy (see the module docstring).

    ``checker`` is ``check(text, expected) -> LangCheck``; None switches checks
    (and therefore the policy) off.
    """

    checker: Any = None
    policy: Policy = "flag"
    retries: int = 1
    instruction: str = FIRM_INSTRUCTION
    mixed: MixedPolicy = "off"
    trim: bool = False
    jobs: int | None = None  # processes for a batch's checks (None: the usable cores, if it pays)

    def signature(self) -> str:
        """The policy as it enters run signatures (the checker signs itself)."""
        if self.checker is None:
            return "guard:off"
        extra = ""
        if self.mixed != "off":
            extra += f",mixed={self.mixed}"
        if self.trim:
            extra += ",trim"
        if self.policy == "retry":
            return (
                f"guard:retry(k={self.retries},instruction={_short_hash(self.instruction)}{extra})"
            )
        return f"guard:{self.policy}" + (f"({extra[1:]})" if extra else "")

    def bad(self, check: LangCheck) -> bool:
        """Whether the policy treats ``check`` as off-target (``mixed`` as configured)."""
        return check.verdict == "off" or (check.verdict == "mixed" and self.mixed == "off")

    def run(
        self,
        backend: Backend,
        requests: Sequence[Request],
        *,
        langs: Sequence[str | None],
        steps: Sequence[str],
    ) -> list[StepOutput]:
        """Generate ``requests`` in one batch, check against ``langs``, apply the policy.

        ``langs[i]`` is the language answer ``i`` must be in (None: not checked);
        ``steps[i]`` its step name. Returns one ``StepOutput`` per request, in order.
        """
        if not (len(requests) == len(langs) == len(steps)):
            raise ValueError("requests, langs and steps must have the same length")
        completions = list(backend.generate(requests)) if requests else []
        checked = self._checks_all(completions, langs)
        states = [
            _State(c, checks, self.bad) for c, checks in zip(completions, checked, strict=True)
        ]
        if self.checker is not None and self.trim:
            for state, lang in zip(states, langs, strict=True):
                if lang is not None:
                    state.trim(self.checker, lang)
        if self.checker is not None and self.policy == "retry":
            self._retry(backend, requests, langs, states)
        elif self.checker is not None and self.policy == "rerank":
            for state in states:
                state.rerank()
        return [
            state.step_output(name, request, lang, self.checker)
            for state, request, lang, name in zip(states, requests, langs, steps, strict=True)
        ]

    # -- policy ------------------------------------------------------------------------

    def _checks_all(
        self, completions: Sequence[Completion], langs: Sequence[str | None]
    ) -> list[list[LangCheck]]:
        """The checks of a whole batch; over several cores when the batch is large enough."""
        from xprompt.langid.parallel import check_many

        if len(completions) != len(langs):
            raise ValueError("the backend returned a different number of completions")
        wanted = [
            self.checker is not None and lang is not None and completion.ok
            for completion, lang in zip(completions, langs, strict=True)
        ]
        items = [
            (text, lang)
            for completion, lang, want in zip(completions, langs, wanted, strict=True)
            if want
            for text in completion.texts
        ]
        results = iter(check_many(self.checker, items, jobs=self.jobs) if items else [])
        return [
            [next(results) for _ in completion.texts] if want else []
            for completion, want in zip(completions, wanted, strict=True)
        ]

    def _checks(self, completion: Completion, lang: str | None) -> list[LangCheck]:
        if self.checker is None or lang is None or not completion.ok:
            return []
        return [self.checker(text, lang) for text in completion.texts]

    def _retry(
        self,
        backend: Backend,
        requests: Sequence[Request],
        langs: Sequence[str | None],
        states: list[_State],
    ) -> None:
        for attempt in range(1, self.retries + 1):
            todo = [i for i, state in enumerate(states) if state.any_off()]
            if not todo:
                return
            firmer = [self.firmer(requests[i], langs[i], states[i], attempt) for i in todo]
            answers = backend.generate(firmer)
            for i, request, completion in zip(todo, firmer, answers, strict=True):
                states[i].merge_retry(
                    attempt, request, completion, self._checks(completion, langs[i])
                )

    def firmer(self, request: Request, lang: str | None, state: _State, attempt: int) -> Request:
        """``request`` again with the firmer instruction and a shifted seed."""
        assert lang is not None
        off = [c.detected for c in state.checks if self.bad(c)]
        note = self.instruction.format(**instruction_fields(lang, off[0] if off else None))
        sampling = request.sampling
        if sampling.seed is not None:
            sampling = dataclasses.replace(sampling, seed=sampling.seed + attempt)
        request_id = f"{request.id}#retry{attempt}"
        if request.messages is not None:
            *head, last = request.messages
            if last.role == "user":
                messages = (*head, Message("user", f"{last.content}\n\n{note}"))
            else:
                messages = (*request.messages, Message("user", note))
            return dataclasses.replace(request, id=request_id, messages=messages, sampling=sampling)
        prompt = f"{note}\n\n{request.prompt}"
        return dataclasses.replace(request, id=request_id, prompt=prompt, sampling=sampling)


class _State:
    """One request's completion, checks, extra cost and policy evidence, while the policy runs."""

    def __init__(
        self,
        completion: Completion,
        checks: list[LangCheck],
        bad: Callable[[LangCheck], bool] = lambda c: c.verdict == "off",
    ) -> None:
        self.completion = completion
        self.texts = list(completion.texts)
        self.reasoning = list(completion.reasoning)
        self.checks = checks
        self.bad = bad
        self.prompt_tokens = completion.prompt_tokens
        self.completion_tokens = completion.completion_tokens
        self.evidence: dict[str, Any] | None = None
        self.trimmed: list[dict[str, Any]] = []

    def any_off(self) -> bool:
        return any(self.bad(c) for c in self.checks)

    def trim(self, checker: Any, lang: str) -> None:
        """Drop the leading off-target line of mixed texts when the rest checks better."""
        for j, check in enumerate(self.checks):
            if check.verdict != "mixed" or not check.lines or check.lines[0].verdict != "off":
                continue
            lead = check.lines[0]
            text = normalize(self.texts[j])
            if text[: lead.start].strip():
                continue  # the off line is not the leading one
            rest = text[lead.end :].lstrip(" \t\r\n:")
            if not rest:
                continue
            new = checker(rest, lang)
            if _RANK[new.verdict] > _RANK[check.verdict]:
                self.trimmed.append(
                    {"sample": j, "dropped": text[: lead.end], "verdict": new.verdict}
                )
                self.texts[j] = rest
                self.checks[j] = new

    def merge_retry(
        self, attempt: int, request: Request, completion: Completion, checks: list[LangCheck]
    ) -> None:
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens
        record: dict[str, Any] = {"attempt": attempt, "prompt_digest": request.digest()}
        if not completion.ok:
            record["error"] = completion.error
        else:
            replaced = []
            for j, (old, new) in enumerate(zip(self.checks, checks, strict=False)):
                if self.bad(old) and _RANK[new.verdict] > _RANK[old.verdict]:
                    self.texts[j] = completion.texts[j]
                    if self.reasoning or completion.reasoning:
                        self.reasoning = _padded(self.reasoning, len(self.texts))
                        self.reasoning[j] = _padded(list(completion.reasoning), len(self.texts))[j]
                    self.checks[j] = new
                    replaced.append(j)
            record["verdicts"] = [c.verdict for c in checks]
            record["replaced"] = replaced
        if self.evidence is None:
            self.evidence = {"policy": "retry", "attempts": []}
        self.evidence["attempts"].append(record)

    def rerank(self) -> None:
        if len(self.checks) < 2:
            return
        order = sorted(
            range(len(self.checks)), key=lambda j: (_rank_key(self.checks[j], self.bad), j)
        )
        self.texts = [self.texts[j] for j in order]
        if self.reasoning:
            self.reasoning = [self.reasoning[j] for j in order]
        self.checks = [self.checks[j] for j in order]
        self.evidence = {"policy": "rerank", "order": order}

    def step_output(
        self, step: str, request: Request, lang: str | None, checker: Any = None
    ) -> StepOutput:
        evidence = self.evidence
        if self.trimmed:
            evidence = {**(evidence or {"policy": "trim"}), "trimmed": self.trimmed}
        return StepOutput(
            **reasoning_fields(self.reasoning, lang, checker),
            step=step,
            prompt_digest=request.digest(),
            texts=tuple(self.texts),
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            lang=lang,
            checks=tuple(self.checks),
            error=self.completion.error,
            guard=evidence,
        )


def _padded(values: list[str | None], n: int) -> list[str | None]:
    return [*values, *([None] * (n - len(values)))][:n]


def _rank_key(
    check: LangCheck, bad: Callable[[LangCheck], bool] = lambda c: c.verdict == "off"
) -> tuple[int, float]:
    """Sort key, smaller first: on-target by confidence, then uncertain (and accepted mixed),
    then off (and mixed treated as off) by share."""
    if check.verdict == "on":
        return (0, -check.confidence)
    if not bad(check):
        return (1, 0.0)
    return (2, check.off_share)


def _short_hash(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def build_guard(config: GuardConfig, *, enabled: bool, samples: int) -> tuple[Guard, str]:
    """The guard for a run, and the checker's signature ('off' when checks are disabled).

    ``samples`` is the run's ``n``: re-ranking needs several samples per prompt.
    Raises ConfigError / DependencyMissingError naming the setting to change.
    """
    from xprompt.langid import default_checker, make_checker

    if not enabled:
        if config.policy != "flag":
            raise ConfigError(
                f"off-target policy '{config.policy}' needs language checks: drop --no-langid"
            )
        return Guard(None), "off"
    if config.policy == "rerank" and samples < 2:
        raise ConfigError(
            "off-target policy 'rerank' orders the n samples of each prompt: "
            "set --n 2 or more (with --temperature above 0)"
        )
    checker = default_checker() if config.langid == LangidConfig() else make_checker(config.langid)
    guard = Guard(
        checker, config.policy, config.retries, config.instruction, config.mixed, config.trim
    )
    return guard, checker.signature()
