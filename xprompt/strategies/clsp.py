"""Cross-lingual self-consistent prompting (CLSP, Qin et al. 2023): CLP per reasoning language, then a vote.

CLP (see ``xprompt.strategies.clp``) runs once per reasoning language (the
paper's: en, de, es, fr, ja, ru, zh), both turns in that language; one answer
is extracted per path and the answers are put to a plain majority vote. Paths
without an answer are skipped; ties go to the earliest language in the
configured order (the paper's rule, which moves the MGSM average by several
points). All paths, their language checks and the vote distribution are kept
in the record. Turn 1 of every path of every example is one batched call, and
so is turn 2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator

from xprompt import reasoning
from xprompt.strategies import StrategyParts, parse_options
from xprompt.strategies.clp import CrossLingual, CrossLingualOptions, build_cross_lingual
from xprompt.strategies.options import language_list

if TYPE_CHECKING:
    from xprompt.config import RunConfig


class Options(CrossLingualOptions):
    """Options of ``--strategy clsp``: the reasoning languages, in tie order."""

    reasoning_langs: list[str] = Field(
        default=list(reasoning.CLSP_PAPER_LANGS),
        description="reasoning languages; their order breaks ties",
    )

    @field_validator("reasoning_langs", mode="before")
    @classmethod
    def _codes(cls, value: Any) -> list[str]:
        return language_list(value, "reasoning_langs")


def build(config: RunConfig, parts: StrategyParts) -> CrossLingual:
    """Factory used by ``xprompt run --strategy clsp -t clp-solve``."""
    options = parse_options(Options, config.options, "clsp")
    return build_cross_lingual(config, parts, options, options.reasoning_langs, "clsp")
