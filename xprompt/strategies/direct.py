"""Direct prompting: zero- and k-shot, one batched call per chunk.

Each example is rendered with its exemplars (see ``xprompt.exemplars``) by the
template, sent as one request, and the model's text is mapped back to a
canonical answer. For a label task the output can be forced into the label set
by constrained decoding (vLLM structured outputs, ``choice``), so every answer
is a valid label. With ``n > 1`` samples the answer is their majority vote
(ties: earliest sample) and the first sample's answer is kept too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from xprompt import answers
from xprompt.backends.base import Backend
from xprompt.errors import TemplateError
from xprompt.exemplars import ExemplarSelector, NotEnoughExemplars
from xprompt.guard import Guard
from xprompt.strategies import StrategyParts, parse_options
from xprompt.strategies.base import LangChecker, failed, isolated
from xprompt.templates import Template, render_as_prompt
from xprompt.types import Constraint, Example, Prediction, Request, Sampling, StepOutput

if TYPE_CHECKING:
    from xprompt.config import RunConfig

PromptFormat = Literal["chat", "raw"]


@dataclass
class Direct:
    """Zero-/few-shot prompting with a template.

    Args:
        template: the prompt template.
        selector: picks the exemplars (``k=0`` for zero-shot).
        sampling: decoding settings (greedy by default).
        constrained: force label answers into the label set (template ``answer.constrain``
            when None).
        prompt_format: ``chat`` (the model's chat template) or ``raw`` (messages
            joined as plain text, for base models).
        checker: off-target check applied to texts that should be in a language.
        guard: the off-target policy (flag, retry, rerank); None: flag with ``checker``.
    """

    template: Template
    selector: ExemplarSelector
    sampling: Sampling = field(default_factory=Sampling)
    constrained: bool | None = None
    prompt_format: PromptFormat = "chat"
    checker: LangChecker | None = None
    guard: Guard | None = None
    name: str = "direct"
    step: str = "answer"

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.template.fields)

    @property
    def is_constrained(self) -> bool:
        if self.template.answer.parser != "choice":
            return False
        return self.template.answer.constrain if self.constrained is None else self.constrained

    def signature(self) -> str:
        constraint = "choice" if self.is_constrained else "none"
        return (
            f"{self.name}({self.selector.signature()},template={self.template.name}@{self.template.digest},"
            f"format={self.prompt_format},constraint={constraint},sampling={self.sampling.signature()})"
        )

    def request(self, example: Example) -> Request:
        """The request for one example (raises TemplateError / NotEnoughExemplars)."""
        exemplars = self.selector.select(example)
        messages = self.template.render(example, exemplars)
        constraint = None
        if self.is_constrained:
            constraint = Constraint(choices=tuple(self.template.choice_names(example.lang)))
        request_id = f"{example.id}/{self.step}"
        if self.prompt_format == "raw":
            return Request(
                request_id,
                prompt=render_as_prompt(messages),
                sampling=self.sampling,
                constraint=constraint,
            )
        return Request(request_id, messages=messages, sampling=self.sampling, constraint=constraint)

    def extract(self, text: str, example: Example) -> answers.Extraction:
        """Map one generated text to a canonical answer with the template's parser."""
        spec = self.template.answer
        if spec.parser == "choice":
            assert self.template.choices is not None
            return answers.extract_choice(
                text, self.template.choice_names(example.lang), self.template.choices
            )
        if spec.parser == "number":
            return answers.extract_number(text)
        if spec.parser == "regex":
            assert spec.pattern is not None
            return answers.extract_regex(text, spec.pattern)
        return answers.extract_text(text)

    def _score(self, example: Example, step: StepOutput) -> Prediction:
        """Extract (and vote over the samples of) one example's generated texts."""
        extractions = [self.extract(text, example) for text in step.texts]
        details: dict[str, object] = {"exemplar_ids": [e.id for e in self.selector.select(example)]}
        if len(extractions) > 1:
            answer, votes = answers.majority_vote([e.value for e in extractions])
            details.update(
                votes=votes,
                first_answer=extractions[0].value,
                answers=[e.value for e in extractions],
            )
            rule = "majority" if answer is not None else extractions[0].rule
        else:
            answer, rule = extractions[0].value, extractions[0].rule
        return Prediction(example.id, answer, (step,), extraction=rule, details=details)

    def run(self, examples: Sequence[Example], backend: Backend) -> list[Prediction]:
        results: list[Prediction | None] = [None] * len(examples)
        requests: list[Request] = []
        positions: list[int] = []
        for i, example in enumerate(examples):
            try:
                requests.append(self.request(example))
                positions.append(i)
            except (TemplateError, NotEnoughExemplars) as exc:
                results[i] = failed(example, str(exc))
        guard = self.guard or Guard(self.checker)
        langs = [self.template.expected_output_lang(examples[i].lang) for i in positions]
        steps = guard.run(backend, requests, langs=langs, steps=[self.step] * len(requests))
        for i, step in zip(positions, steps, strict=True):
            example = examples[i]
            if step.error is not None:
                results[i] = failed(example, step.error or "generation failed", [step])
                continue
            results[i] = isolated(example, (step,), lambda e=example, s=step: self._score(e, s))
        return [r for r in results if r is not None]


class Options(BaseModel):
    """Direct prompting takes no options beyond the shared ones (shots, sampling, constraint)."""

    model_config = ConfigDict(extra="forbid")


def build(config: RunConfig, parts: StrategyParts) -> Direct:
    """Factory used by ``xprompt run --strategy direct``."""
    parse_options(Options, config.options, "direct")
    return Direct(
        template=parts.template,
        selector=parts.selector,
        sampling=parts.sampling,
        constrained=config.constrained,
        prompt_format=config.prompt_format,
        checker=parts.checker,
        guard=parts.guard,
    )
