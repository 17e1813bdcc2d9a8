"""Reasoning paths: each path's answer and language verdict, the vote over them, and the record details.

CLP, CLSP and self-consistency all end the same way: several reasoning paths
(one per reasoning language, or one per sample), each with a final text. Each
path's answer is extracted, each path is checked against the language it was
asked to reason in, and the answers are put to a plain majority vote. The
tie rule is the *order of the paths*: the value whose first supporter comes
earliest wins (for CLSP the configured language order, as in Qin et al. 2023;
for samples, the sample order). Paths without an answer are skipped;
off-target paths vote unless ``exclude_off_target`` is set (the paper found
that dropping them did not help), and are flagged either way.

``path_details`` writes all of it into the result record (``details``) in one
documented shape, which ``xprompt score`` reads back to re-extract and re-vote
without a model, and ``xprompt.metrics`` reads to count paths per language:

```
details.parser              the answer parser used
details.paths[]             one per path, in vote order:
    path                    reasoning language code, or null for a sample
    step, sample            where its final text is: steps[step].texts[sample]
    answer, rule, matched   the extraction
    verdict                 language check of the path: on / off / uncertain / null
    voted                   whether it counted in the vote
    correct                 its own answer against the gold (null without gold)
    error                   why the path has no text (null when it has one)
details.vote                order, counts, winner, tie, voters, excluded_off_target, exclude_off_target
details.first_answer        (samples only) the first sample's answer: the single-sample baseline
details.first_correct       (samples only) whether it is right
```
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from xprompt import answers
from xprompt.answers import Extraction

#: The paper's CLSP reasoning languages, in its tie order (Qin et al. 2023).
CLSP_PAPER_LANGS = (
    "eng_Latn",
    "deu_Latn",
    "spa_Latn",
    "fra_Latn",
    "jpn_Jpan",
    "rus_Cyrl",
    "zho_Hans",
)


@dataclass(frozen=True, slots=True)
class PathResult:
    """One reasoning path: where its final text is, the answer it gave, and its language verdict."""

    path: str | None
    extraction: Extraction
    verdict: str | None = None
    step: str | None = None
    sample: int = 0
    error: str | None = None

    @property
    def answer(self) -> str | None:
        return None if self.error is not None else self.extraction.value


@dataclass(frozen=True, slots=True)
class Vote:
    """The outcome of a vote over paths (in vote order).

    ``rule`` is ``vote`` (several paths), the single path's own extraction
    rule (one path), or why there is no answer: the paths' failure rule
    (``no-number``, ...), ``all-off-target`` or ``all-failed``.
    """

    answer: str | None
    counts: dict[str, int]
    rule: str
    tie: bool
    voters: tuple[int, ...]
    excluded: tuple[int, ...]


def combine_verdicts(verdicts: Iterable[str | None]) -> str | None:
    """One verdict for a path from the verdicts of its texts: any ``off`` is off, else any
    ``mixed`` (an off-target line) is mixed; all ``on`` is on."""
    seen = [v for v in verdicts if v is not None]
    if not seen:
        return None
    if "off" in seen:
        return "off"
    if "mixed" in seen:
        return "mixed"
    if all(v == "on" for v in seen):
        return "on"
    return "uncertain"


def order_paths(paths: Sequence[PathResult], order: Sequence[str] | None) -> list[PathResult]:
    """Paths sorted by the position of their language in ``order``; others after, as they were."""
    if not order:
        return list(paths)
    rank = {code: i for i, code in enumerate(order)}
    return sorted(paths, key=lambda p: rank.get(p.path or "", len(rank)))


def vote(
    paths: Sequence[PathResult], *, exclude_off_target: bool = False, parser: str | None = None
) -> Vote:
    """Plain majority over the paths' answers; ties go to the earliest path (the order is the tie rule).

    When no path gives an answer, there is no prediction (xprompt's rule), except
    under a parser with a published fallback (``answers.NO_ANSWER_FALLBACK``:
    ``mgsm-paper`` predicts ``0``, as Qin et al.'s scripts do; rule
    ``paper-fallback``). Paths that all failed (generation errors) and votes
    emptied by ``exclude_off_target`` keep no prediction.
    """
    excluded = tuple(
        i
        for i, p in enumerate(paths)
        if exclude_off_target and p.answer is not None and p.verdict == "off"
    )
    voters = tuple(i for i, p in enumerate(paths) if p.answer is not None and i not in excluded)
    values = [paths[i].answer for i in voters]
    winner, counts = answers.majority_vote(values)
    top = max(counts.values(), default=0)
    tie = sum(1 for c in counts.values() if c == top) > 1
    if winner is not None:
        rule = paths[0].extraction.rule if len(paths) == 1 else "vote"
    elif excluded:
        rule = "all-off-target"
    elif all(p.error is not None for p in paths):
        rule = "all-failed"
    else:
        rule = next(p.extraction.rule for p in paths if p.error is None)
        fallback = answers.NO_ANSWER_FALLBACK.get(parser or "")
        if fallback is not None:
            return Vote(fallback, counts, "paper-fallback", tie, voters, excluded)
    return Vote(winner, counts, rule, tie, voters, excluded)


def path_details(
    paths: Sequence[PathResult],
    result: Vote,
    *,
    parser: str,
    target: str | None,
    order: Sequence[str] | None = None,
    exclude_off_target: bool = False,
    samples: bool = False,
) -> dict[str, Any]:
    """The ``details`` of a result record for a vote over paths (shape in the module docstring)."""

    def correct(value: str | None) -> bool | None:
        return None if target is None else answers.is_correct(value, target, parser)

    rows = []
    for i, p in enumerate(paths):
        rows.append(
            {
                "path": p.path,
                "step": p.step,
                "sample": p.sample,
                "answer": p.answer,
                "rule": p.extraction.rule if p.error is None else "error",
                "matched": p.extraction.matched,
                "verdict": p.verdict,
                "voted": i in result.voters,
                "correct": correct(p.answer),
                "error": p.error,
            }
        )
    details: dict[str, Any] = {
        "parser": parser,
        "paths": rows,
        "vote": {
            "order": list(order) if order else [p.path for p in paths if p.path is not None],
            "counts": result.counts,
            "winner": result.answer,
            "tie": result.tie,
            "voters": len(result.voters),
            "excluded_off_target": [_path_name(paths[i], i) for i in result.excluded],
            "exclude_off_target": exclude_off_target,
        },
    }
    if samples and paths:
        details["first_answer"] = paths[0].answer
        details["first_correct"] = correct(paths[0].answer)
    return details


def _path_name(path: PathResult, index: int) -> str:
    return path.path if path.path is not None else f"sample {index}"


def check_verdicts(checks: Sequence[Mapping[str, Any]] | None) -> list[str | None]:
    """The verdicts of a step's stored language checks (one per text), from a result record."""
    return [c.get("verdict") for c in checks or ()]
