"""Self-consistency (Wang et al. 2023): sample k reasoning paths and vote on their answers.

The k paths of an example are **one request with n=k** (vLLM samples them
together, sharing the prompt's KV cache), never k requests; the whole chunk is
one batched call. Each sample's answer is extracted with the answer parser,
each sample is checked against the language it was asked to reason in, and
the answers are put to a plain majority vote (ties: the earliest sample). The
record keeps every sample, the vote, and the first sample's answer, so the
summary reports maj@k (the accuracy) next to the single-sample baseline
(``first_sample_accuracy``). With the ``rerank`` off-target policy the
samples are ordered on-target first before the vote, so ties prefer them.

Few-shot chain-of-thought: with ``--shots K --exemplars POOL`` the pool's
target column holds worked solutions (ending in ``Answer: N``), which the
template shows as the exemplars' answer turns.

Preset decoding (used for every setting not given explicitly): n=5 samples at
temperature 0.7, top_p 1, up to 512 new tokens, seed 0. Wang et al. sampled
up to 40 paths at T=0.5-0.7; set ``--n`` for more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

from xprompt import answers, reasoning
from xprompt.backends.base import Backend
from xprompt.errors import ConfigError, TemplateError
from xprompt.exemplars import ExemplarSelector, NotEnoughExemplars
from xprompt.guard import Guard
from xprompt.strategies import StrategyParts, parse_options
from xprompt.strategies.base import LangChecker, failed, isolated
from xprompt.strategies.options import answer_parser, language_code, preset_sampling
from xprompt.templates import Template, render_as_prompt
from xprompt.types import Example, Prediction, Request, Sampling, StepOutput

if TYPE_CHECKING:
    from xprompt.config import RunConfig

#: Wang et al.'s decoding, with a modest k (their largest runs used 40 paths).
PRESET = {"n": 5, "temperature": 0.7, "top_p": 1.0, "max_tokens": 512}


class Options(BaseModel):
    """Options of ``--strategy self-consistency`` (k and the temperature are ``--n`` and ``--temperature``)."""

    model_config = ConfigDict(extra="forbid")

    parser: str | None = Field(None, description="answer parser (default: the template's)")
    reasoning_lang: str | None = Field(
        None,
        description="language the paths are checked against (default: the template's output "
        "language, else the question's)",
    )
    exclude_off_target: bool = Field(False, description="leave off-target samples out of the vote")

    @field_validator("reasoning_lang")
    @classmethod
    def _code(cls, value: str | None) -> str | None:
        return None if value is None else language_code(value, "reasoning_lang")


@dataclass
class SelfConsistency:
    """k sampled reasoning paths per example in one ``n=k`` request, then a majority vote."""

    template: Template
    selector: ExemplarSelector
    sampling: Sampling
    parser: str = "number"
    reasoning_lang: str | None = None
    exclude_off_target: bool = False
    prompt_format: str = "chat"
    checker: LangChecker | None = None
    guard: Guard | None = None
    name: str = "self-consistency"
    step: str = "reason"

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.template.fields)

    def signature(self) -> str:
        return (
            f"{self.name}({self.selector.signature()},template={self.template.name}@{self.template.digest},"
            f"format={self.prompt_format},sampling={self.sampling.signature()},parser={self.parser},"
            f"reasoning_lang={self.reasoning_lang or 'template'},"
            f"exclude_off_target={'yes' if self.exclude_off_target else 'no'})"
        )

    def path_lang(self, example: Example) -> str:
        """The language an example's reasoning paths should be in."""
        return (
            self.reasoning_lang or self.template.expected_output_lang(example.lang) or example.lang
        )

    def request(self, example: Example) -> Request:
        """One request with ``n=k`` samples (raises TemplateError / NotEnoughExemplars)."""
        messages = self.template.render(example, self.selector.select(example))
        request_id = f"{example.id}/{self.step}"
        if self.prompt_format == "raw":
            return Request(request_id, prompt=render_as_prompt(messages), sampling=self.sampling)
        return Request(request_id, messages=messages, sampling=self.sampling)

    def extract(self, text: str, example: Example) -> answers.Extraction:
        spec = self.template.answer
        return answers.extract(
            text,
            self.parser,
            lang=self.path_lang(example),
            choices=self.template.choices,
            shown=self.template.choice_names(example.lang) if self.template.choices else None,
            pattern=spec.pattern,
        )

    def _score(self, example: Example, step: StepOutput) -> Prediction:
        """Extract every sample's answer of one example and vote."""
        verdicts = [c.verdict for c in step.checks] or [None] * len(step.texts)
        paths = [
            reasoning.PathResult(None, self.extract(text, example), verdict, step.step, k)
            for k, (text, verdict) in enumerate(zip(step.texts, verdicts, strict=True))
        ]
        result = reasoning.vote(
            paths, exclude_off_target=self.exclude_off_target, parser=self.parser
        )
        details = reasoning.path_details(
            paths,
            result,
            parser=self.parser,
            target=example.target,
            exclude_off_target=self.exclude_off_target,
            samples=True,
        )
        details["exemplar_ids"] = [e.id for e in self.selector.select(example)]
        return Prediction(
            example.id, result.answer, (step,), result.rule, details=details, parser=self.parser
        )

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
        langs = [self.path_lang(examples[i]) for i in positions]
        steps = guard.run(backend, requests, langs=langs, steps=[self.step] * len(requests))
        for i, step in zip(positions, steps, strict=True):
            example = examples[i]
            if step.error is not None:
                results[i] = failed(example, step.error, [step])
                continue
            results[i] = isolated(example, (step,), lambda e=example, s=step: self._score(e, s))
        return [r for r in results if r is not None]


def build(config: RunConfig, parts: StrategyParts) -> SelfConsistency:
    """Factory used by ``xprompt run --strategy self-consistency``."""
    options = parse_options(Options, config.options, "self-consistency")
    sampling = preset_sampling(config, "self-consistency", **PRESET)
    if sampling.n < 2:
        raise ConfigError(
            "strategy 'self-consistency' votes over several samples: use --n K with K >= 2 "
            "(and --temperature > 0), or leave both out for the preset (n=5, temperature 0.7)"
        )
    return SelfConsistency(
        template=parts.template,
        selector=parts.selector,
        sampling=sampling,
        parser=answer_parser(options.parser, parts.template, "self-consistency"),
        reasoning_lang=options.reasoning_lang,
        exclude_off_target=options.exclude_off_target,
        prompt_format=config.prompt_format,
        checker=parts.checker,
        guard=parts.guard,
    )
