"""Strategies by name, built lazily from a run configuration.

Each entry is ``"module:function"``; the function takes ``(config, parts)`` and
returns a ``Strategy``. The module also defines ``Options``, the pydantic model
of the strategy's own settings (``--opt KEY=VALUE``), which ``xprompt
strategies`` lists. ``parts`` holds what every strategy shares and the runner
builds once: the template, the exemplar selector, the sampling record, the
off-target checker and the off-target guard (its policy).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from xprompt.errors import ConfigError
from xprompt.registry import Registry

if TYPE_CHECKING:
    from xprompt.config import RunConfig
    from xprompt.exemplars import ExemplarSelector
    from xprompt.guard import Guard
    from xprompt.strategies.base import LangChecker, Strategy
    from xprompt.templates import Template
    from xprompt.types import Sampling

_BUILTIN = {
    "direct": "xprompt.strategies.direct:build",
    "clp": "xprompt.strategies.clp:build",
    "clsp": "xprompt.strategies.clsp:build",
    "self-consistency": "xprompt.strategies.self_consistency:build",
    "translate-test": "xprompt.strategies.translate_test:build",
    "ldp": "xprompt.strategies.ldp:build",
}

#: Other names users type for the same strategy.
ALIASES: dict[str, str] = {
    "fewshot": "direct",
    "few-shot": "direct",
    "zero-shot": "direct",
    "sc": "self-consistency",
    "self_consistency": "self-consistency",
    "translate_test": "translate-test",
}


#: Strategies by name: ``"module:build"``, with the other names users type for them.
STRATEGIES = Registry("strategy", _BUILTIN, aliases=ALIASES)


@dataclass(frozen=True)
class StrategyParts:
    """What the runner builds once and hands to every strategy factory."""

    template: Template
    selector: ExemplarSelector
    sampling: Sampling
    checker: LangChecker | None
    guard: Guard | None = None


def canonical_name(name: str) -> str:
    """The strategy ``name`` (or its alias) stands for; an unknown name is an error with suggestions."""
    return STRATEGIES.canonical(name)


def build_strategy(config: RunConfig, parts: StrategyParts) -> Strategy:
    """Build the configured strategy."""
    return STRATEGIES.load(config.strategy)(config, parts)


def strategy_module(name: str) -> ModuleType:
    """The module that implements a strategy (it defines ``build`` and ``Options``)."""
    return STRATEGIES.module(name)


def parse_options(model: type[BaseModel], options: dict[str, Any], strategy: str) -> Any:
    """Validate a strategy's ``options`` with its own model; unknown keys are errors."""
    try:
        return model.model_validate(options)
    except ValidationError as exc:
        lines = [f"strategy '{strategy}': invalid options:"]
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            lines.append(f"  {where}: {err['msg']}")
        fields = ", ".join(model.model_fields) or "none"
        lines.append(f"  (options this strategy takes: {fields})")
        raise ConfigError("\n".join(lines)) from None
