"""What every strategy is: a fixed sequence of batched steps over a list of examples.

A strategy gets a whole chunk of examples and a backend, sends *all* requests
of a step in one ``backend.generate`` call, and returns one ``Prediction`` per
example, in order. An example that fails (a template error, a prompt too long
for the context) gets a ``Prediction`` with ``error`` set; the others go on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from xprompt.backends.base import Backend
from xprompt.chat_format import reasoning_fields
from xprompt.types import Completion, Example, LangCheck, Prediction, Request, StepOutput

#: ``check(text, expected_lang) -> LangCheck``: the off-target check a strategy applies to its texts.
LangChecker = Callable[[str, str], LangCheck]


@runtime_checkable
class Strategy(Protocol):
    """A prompting strategy."""

    name: str

    @property
    def fields(self) -> tuple[str, ...]:
        """The input fields every example must have."""
        ...

    def signature(self) -> str:
        """Every setting that can change the result, as a short stable string."""
        ...

    def run(self, examples: Sequence[Example], backend: Backend) -> list[Prediction]:
        """One prediction per example, same order."""
        ...


def step_output(
    step: str,
    request: Request,
    completion: Completion,
    *,
    lang: str | None = None,
    checker: LangChecker | None = None,
) -> StepOutput:
    """Record one step's result for one example, checking every text against ``lang`` when given."""
    checks: tuple[LangCheck, ...] = ()
    if lang is not None and checker is not None and completion.ok:
        checks = tuple(checker(text, lang) for text in completion.texts)
    return StepOutput(
        **reasoning_fields(completion.reasoning, lang, checker),
        step=step,
        prompt_digest=request.digest(),
        texts=completion.texts,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        lang=lang,
        checks=checks,
        error=completion.error,
    )


def failed(example: Example, error: str, steps: Sequence[StepOutput] = ()) -> Prediction:
    """A prediction for an example that could not be answered."""
    return Prediction(example_id=example.id, answer=None, steps=tuple(steps), error=error)


def isolated(
    example: Example, steps: Sequence[StepOutput], score: Callable[[], Prediction]
) -> Prediction:
    """``score()`` (extraction, vote, details of one example), or that example's error if it raises.

    Generated text is untrusted input: whatever a parser or a vote does with it,
    one example's exception must not end the chunk, so it becomes that
    example's ``error`` (naming the stage and the exception) with its steps kept.
    """
    try:
        return score()
    except Exception as exc:
        return failed(example, f"scoring failed: {type(exc).__name__}: {exc}", steps)
