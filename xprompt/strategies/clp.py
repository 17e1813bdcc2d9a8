"""Cross-lingual prompting (CLP) and cross-lingual self-consistent prompting (CLSP), Qin et al. 2023.

CLP is a two-turn chat. Turn 1 (cross-lingual alignment, ``clp-align``):
"Please act as an expert in multi-lingual understanding in {source}. Request:
{question} Let's understand the task in {target} step-by-step!" at temperature
1, top_p 1. Turn 2 (task solver, the run's template, ``clp-solve``), sent
after the model's reply: "After understanding, you should act as an expert in
{task phrase} in {target}. Let's resolve the task you understand above
step-by-step! Finally, you should format your answer as 'Answer: [num]'." at
temperature 0.2, top_p 1. The answer is extracted from the turn-2 reply.
Putting both prompts in one turn cost the paper 10.4 points, so the two turns
are kept.

CLSP runs CLP once per reasoning language (preset: en, de, es, fr, ja, ru, zh;
that order is also the tie order), extracts one answer per path and takes a
plain majority vote (see ``xprompt.reasoning``).

Each turn is one batched backend call over the whole chunk: all turn-1
requests of all examples and all reasoning languages together, then all
turn-2 requests. Both turns of every path are checked against the path's
reasoning language; off-target paths are flagged and counted, and vote unless
``exclude_off_target`` is set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

from xprompt import answers, reasoning
from xprompt.backends.base import Backend
from xprompt.errors import ConfigError, TemplateError
from xprompt.guard import Guard
from xprompt.strategies import StrategyParts, parse_options
from xprompt.strategies.base import LangChecker, failed, isolated
from xprompt.strategies.options import (
    answer_parser,
    language_code,
    preset_sampling,
    prompt_language_name,
)
from xprompt.templates import Template, load_template
from xprompt.types import Example, Message, Prediction, Request, Sampling, StepOutput

if TYPE_CHECKING:
    from xprompt.config import RunConfig

#: Template fields the strategy fills itself (every other field comes from the dataset row).
SUPPLIED_FIELDS = frozenset({"source_language", "target_language", "task_phrase"})

#: The paper's decoding for the two turns. The authors set no length limit, and 30-38% of
#: their recorded Japanese / Chinese alignment turns run past ~512 tokens (a 512 cap cut
#: turn 2's ``Answer:`` line off), so each turn may run to 2,048 new tokens; ``--max-tokens``
#: lowers it for small contexts (prompt + max_tokens must fit the model's context).
PRESET = {"align_temperature": 1.0, "solve_temperature": 0.2, "top_p": 1.0, "max_tokens": 2048}


class CrossLingualOptions(BaseModel):
    """Options shared by CLP and CLSP."""

    model_config = ConfigDict(extra="forbid")

    task_phrase: str = Field(
        "arithmetic reasoning", min_length=1, description="what the solver is an expert in"
    )
    align_template: str = Field("clp-align", description="the turn-1 (alignment) template")
    align_temperature: float = Field(
        PRESET["align_temperature"], ge=0, description="turn-1 temperature (the paper: 1)"
    )
    solve_temperature: float = Field(
        PRESET["solve_temperature"], ge=0, description="turn-2 temperature (the paper: 0.2)"
    )
    top_p: float = Field(PRESET["top_p"], gt=0, le=1, description="top_p of both turns")
    parser: str | None = Field(None, description="answer parser (default: the template's)")
    exclude_off_target: bool = Field(False, description="leave off-target paths out of the vote")


class Options(CrossLingualOptions):
    """Options of ``--strategy clp``: one reasoning language (the paper: English)."""

    reasoning_lang: str = Field("eng_Latn", description="the language to reason in")

    @field_validator("reasoning_lang")
    @classmethod
    def _code(cls, value: str) -> str:
        return language_code(value, "reasoning_lang")


@dataclass
class CrossLingual:
    """CLP over one or more reasoning languages, with a vote when there are several (CLSP).

    Args:
        align: the turn-1 template (fields: the row's fields plus source_language, target_language).
        solve: the turn-2 template (fields: task_phrase, target_language).
        reasoning_langs: canonical codes, in tie order.
        task_phrase: the solver's expertise ("arithmetic reasoning").
        align_sampling, solve_sampling: decoding of the two turns.
        parser: answer parser name (``xprompt.answers.PARSERS``).
        exclude_off_target: leave off-target paths out of the vote.
        checker: the off-target check (``xprompt.langid.check``), None to skip.
        guard: the off-target policy (flag, retry, rerank); None: flag with ``checker``.
    """

    align: Template
    solve: Template
    reasoning_langs: tuple[str, ...]
    task_phrase: str
    align_sampling: Sampling
    solve_sampling: Sampling
    parser: str = "number"
    exclude_off_target: bool = False
    checker: LangChecker | None = None
    guard: Guard | None = None
    name: str = "clp"

    @property
    def fields(self) -> tuple[str, ...]:
        names = [f for f in self.align.fields if f not in SUPPLIED_FIELDS]
        names += [f for f in self.solve.fields if f not in SUPPLIED_FIELDS and f not in names]
        return tuple(names)

    def signature(self) -> str:
        return (
            f"{self.name}(langs={'+'.join(self.reasoning_langs)},task={self.task_phrase!r},"
            f"align={self.align.name}@{self.align.digest},solve={self.solve.name}@{self.solve.digest},"
            f"align_sampling={self.align_sampling.signature()},"
            f"solve_sampling={self.solve_sampling.signature()},parser={self.parser},"
            f"exclude_off_target={'yes' if self.exclude_off_target else 'no'})"
        )

    def _filled(self, example: Example, lang: str) -> Example:
        return example.with_fields(
            source_language=prompt_language_name(example.lang),
            target_language=prompt_language_name(lang),
            task_phrase=self.task_phrase,
        )

    def align_request(self, example: Example, lang: str) -> Request:
        """Turn 1 for one example and one reasoning language."""
        messages = self.align.render(self._filled(example, lang))
        return Request(
            f"{example.id}/align:{lang}", messages=messages, sampling=self.align_sampling
        )

    def solve_request(self, example: Example, lang: str, turn1: Request, reply: str) -> Request:
        """Turn 2: the turn-1 conversation, the model's reply, then the solver prompt."""
        solver = self.solve.render(self._filled(example, lang))[-1]
        assert turn1.messages is not None
        messages = (*turn1.messages, Message("assistant", reply), solver)
        return Request(
            f"{example.id}/solve:{lang}", messages=messages, sampling=self.solve_sampling
        )

    def extract(self, text: str, lang: str) -> answers.Extraction:
        """One path's answer from its turn-2 reply (``lang``: the language it reasons in)."""
        return answers.extract(
            text,
            self.parser,
            lang=lang,
            choices=self.solve.choices,
            shown=self.solve.choices,
            pattern=self.solve.answer.pattern,
        )

    def run(self, examples: Sequence[Example], backend: Backend) -> list[Prediction]:
        steps: dict[tuple[int, str], list[StepOutput]] = {}
        errors: dict[tuple[int, str], str] = {}
        results: dict[int, Prediction] = {}

        # Turn 1: every example x every reasoning language, one batched call.
        align_requests: list[tuple[int, str, Request]] = []
        for i, example in enumerate(examples):
            try:
                align_requests += [
                    (i, lang, self.align_request(example, lang)) for lang in self.reasoning_langs
                ]
            except TemplateError as exc:
                results[i] = failed(example, str(exc))
        guard = self.guard or Guard(self.checker)
        turn1 = guard.run(
            backend,
            [r for _, _, r in align_requests],
            langs=[lang for _, lang, _ in align_requests],
            steps=[f"align:{lang}" for _, lang, _ in align_requests],
        )

        # Turn 2: every path whose turn 1 succeeded, one batched call.
        solve_requests: list[tuple[int, str, Request]] = []
        for (i, lang, request), step in zip(align_requests, turn1, strict=True):
            steps[i, lang] = [step]
            if step.error is not None:
                errors[i, lang] = f"turn 1 ({lang}): {step.error}"
                continue
            try:
                follow = self.solve_request(examples[i], lang, request, step.texts[0])
            except TemplateError as exc:
                errors[i, lang] = str(exc)
                continue
            solve_requests.append((i, lang, follow))
        turn2 = guard.run(
            backend,
            [r for _, _, r in solve_requests],
            langs=[lang for _, lang, _ in solve_requests],
            steps=[f"solve:{lang}" for _, lang, _ in solve_requests],
        )
        for (i, lang, _), step in zip(solve_requests, turn2, strict=True):
            steps[i, lang].append(step)
            if step.error is not None:
                errors[i, lang] = f"turn 2 ({lang}): {step.error}"

        for i, example in enumerate(examples):
            if i not in results:
                done = [s for lang in self.reasoning_langs for s in steps.get((i, lang), [])]
                results[i] = isolated(
                    example, done, lambda e=example, k=i: self._predict(e, k, steps, errors)
                )
        return [results[i] for i in range(len(examples))]

    def _predict(
        self,
        example: Example,
        i: int,
        steps: dict[tuple[int, str], list[StepOutput]],
        errors: dict[tuple[int, str], str],
    ) -> Prediction:
        all_steps = [s for lang in self.reasoning_langs for s in steps.get((i, lang), [])]
        paths: list[reasoning.PathResult] = []
        for lang in self.reasoning_langs:
            path_steps = steps.get((i, lang), [])
            verdict = reasoning.combine_verdicts(c.verdict for s in path_steps for c in s.checks)
            error = errors.get((i, lang))
            if error is not None:
                paths.append(
                    reasoning.PathResult(
                        lang, answers.Extraction(None, "error"), verdict, None, 0, error
                    )
                )
                continue
            final = path_steps[-1]
            extraction = self.extract(final.texts[0], lang)
            paths.append(reasoning.PathResult(lang, extraction, verdict, final.step, 0))
        if all(p.error is not None for p in paths):
            detail = "; ".join(p.error or "" for p in paths[:3])
            message = (
                detail if len(paths) == 1 else f"all {len(paths)} reasoning paths failed: {detail}"
            )
            return failed(example, message, all_steps)
        result = reasoning.vote(
            paths, exclude_off_target=self.exclude_off_target, parser=self.parser
        )
        details = reasoning.path_details(
            paths,
            result,
            parser=self.parser,
            target=example.target,
            order=self.reasoning_langs,
            exclude_off_target=self.exclude_off_target,
        )
        return Prediction(
            example.id, result.answer, all_steps, result.rule, details=details, parser=self.parser
        )


def _templates(config: RunConfig, parts: StrategyParts, align_name: str, strategy: str) -> Template:
    solve = parts.template
    if "target_language" not in solve.fields or solve.system is not None:
        raise ConfigError(
            f"strategy '{strategy}': template '{solve.name}' is not a CLP solver template "
            "(it must declare the field target_language and have no system prompt, being turn 2 "
            "of a chat); use -t clp-solve"
        )
    try:
        align = load_template(align_name)
    except TemplateError as exc:
        raise ConfigError(f"strategy '{strategy}': align_template: {exc}") from None
    if "target_language" not in align.fields:
        raise ConfigError(
            f"strategy '{strategy}': align_template '{align.name}' must declare the field "
            "target_language (use clp-align)"
        )
    if config.exemplars.shots:
        raise ConfigError(
            f"strategy '{strategy}' is zero-shot as published; drop --shots {config.exemplars.shots}"
        )
    if config.prompt_format != "chat":
        raise ConfigError(
            f"strategy '{strategy}' is a two-turn chat (the two turns are part of the method); "
            "use a chat model and --prompt-format chat"
        )
    return align


def build_cross_lingual(
    config: RunConfig,
    parts: StrategyParts,
    options: CrossLingualOptions,
    langs: list[str],
    name: str,
) -> CrossLingual:
    align = _templates(config, parts, options.align_template, name)
    hint = " and use --opt align_temperature=... --opt solve_temperature=... --opt top_p=..."
    common = {
        "fixed": ("temperature", "top_p", "n"),
        "hint": hint,
        "max_tokens": PRESET["max_tokens"],
    }
    return CrossLingual(
        align=align,
        solve=parts.template,
        reasoning_langs=tuple(langs),
        task_phrase=options.task_phrase,
        align_sampling=preset_sampling(
            config, name, temperature=options.align_temperature, top_p=options.top_p, **common
        ),
        solve_sampling=preset_sampling(
            config, name, temperature=options.solve_temperature, top_p=options.top_p, **common
        ),
        parser=answer_parser(options.parser, parts.template, name),
        exclude_off_target=options.exclude_off_target,
        checker=parts.checker,
        guard=parts.guard,
        name=name,
    )


def build(config: RunConfig, parts: StrategyParts) -> CrossLingual:
    """Factory used by ``xprompt run --strategy clp -t clp-solve``."""
    options = parse_options(Options, config.options, "clp")
    return build_cross_lingual(config, parts, options, [options.reasoning_lang], "clp")
