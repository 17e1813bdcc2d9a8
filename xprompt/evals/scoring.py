"""Scores of one evaluation cell from its saved records, with seeded bootstrap confidence intervals.

The sacrebleu idea, for every metric: per-item statistics are computed once
(``correct`` for accuracy; chrF++'s character and word n-gram counts per
segment; true positives, predicted and gold spans per sentence), the score is
a function of their sum, and the bootstrap resamples items and re-aggregates.
The resampling is sacrebleu's own procedure (``numpy.random.default_rng(seed)``,
all resamples drawn at once, the 95% interval from the sorted scores at
``n // 40`` and ``n - n // 40 - 1``), so for chrF++ the interval equals
sacrebleu's bootstrap with the same seed.

Scores are on a 0-100 scale (accuracy in percent, chrF++, span F1), like the
published numbers. Every score carries a signature.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xprompt import __version__

#: Bootstrap resamples and seed by default (sacrebleu's default seed).
DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 12345


@dataclass(frozen=True)
class Bootstrap:
    """How confidence intervals are drawn: ``resamples`` (0 or 1: none) and the RNG ``seed``."""

    resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_SEED

    def signature(self) -> str:
        """The interval settings as they enter score signatures."""
        if self.resamples < 2:
            return "ci:none"
        return f"ci:95%|bs:{self.resamples}|rs:{self.seed}"


@dataclass(frozen=True)
class MetricResult:
    """A score (0-100) over ``n`` items with its 95% interval and its signature."""

    name: str
    score: float | None
    n: int
    low: float | None = None
    high: float | None = None
    signature: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (round-trips through :meth:`from_dict`)."""
        return {
            "name": self.name,
            "score": None if self.score is None else round(self.score, 4),
            "ci95": None
            if self.low is None
            else [round(float(self.low), 4), round(float(self.high or 0.0), 4)],
            "n": self.n,
            "signature": self.signature,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricResult:
        """The record from its :meth:`to_dict` form."""
        ci = data.get("ci95") or [None, None]
        return cls(
            data["name"],
            data.get("score"),
            data.get("n", 0),
            ci[0],
            ci[1],
            data.get("signature", ""),
        )


def bootstrap_interval(
    stats: np.ndarray, score: Callable[[np.ndarray], float], bootstrap: Bootstrap
) -> tuple[float, float] | None:
    """The 95% interval of ``score(sum of resampled rows of stats)``, sacrebleu's way; None if off."""
    if bootstrap.resamples < 2 or len(stats) == 0:
        return None
    rng = np.random.default_rng(bootstrap.seed)
    idxs = rng.choice(len(stats), size=(bootstrap.resamples, len(stats)), replace=True)
    scores: list[float] = []
    for start in range(0, bootstrap.resamples, 64):  # bounded memory for large test sets
        sums = stats[idxs[start : start + 64]].sum(axis=1)
        scores.extend(score(total) for total in sums)
    scores.sort()
    lower = bootstrap.resamples // 40
    return float(scores[lower]), float(scores[bootstrap.resamples - lower - 1])


# -- accuracy --------------------------------------------------------------------------

ACCURACY_SIGNATURE = f"accuracy|scale:100|xprompt:{__version__}"


def accuracy(correct: Sequence[bool], bootstrap: Bootstrap) -> MetricResult:
    """Percent correct with its bootstrap interval."""
    if not correct:
        return MetricResult("accuracy", None, 0, signature=_sig(ACCURACY_SIGNATURE, bootstrap))
    stats = np.array([[1.0 if c else 0.0, 1.0] for c in correct])

    def score(total: np.ndarray) -> float:
        return 100.0 * float(total[0]) / float(total[1])

    interval = bootstrap_interval(stats, score, bootstrap)
    low, high = interval if interval else (None, None)
    return MetricResult(
        "accuracy",
        score(stats.sum(0)),
        len(correct),
        low,
        high,
        _sig(ACCURACY_SIGNATURE, bootstrap),
    )


def _sig(base: str, bootstrap: Bootstrap) -> str:
    return f"{base}|{bootstrap.signature()}"


# -- chrF++ ----------------------------------------------------------------------------


def chrf_pp(
    hypotheses: Sequence[str],
    references: Sequence[str],
    bootstrap: Bootstrap,
    *,
    failed: Sequence[bool] | None = None,
) -> MetricResult:
    """Corpus chrF++ (sacrebleu ``CHRF(word_order=2)``) with sacrebleu's signature and a bootstrap interval.

    ``failed``: outputs that score 0 (their language check failed, as EuroEval
    scores wrong-language generations): their n-grams count, none as matches.
    The signature then ends in ``|wrong-lang:0``.
    """
    from sacrebleu.metrics import CHRF

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    metric = CHRF(word_order=2)
    if not hypotheses:
        return MetricResult("chrF++", None, 0, signature=_sig("chrF++", bootstrap))
    metric.corpus_score(list(hypotheses), [list(references)])  # sets the signature's fields
    signature = metric.get_signature().format()
    # Per-segment statistics once (as sacrebleu's own bootstrap does), re-aggregated per resample.
    stats = np.array(
        metric._extract_corpus_statistics(list(hypotheses), [list(references)]), dtype="float32"
    )
    if failed is not None:
        if len(failed) != len(hypotheses):
            raise ValueError(f"{len(failed)} language verdicts for {len(hypotheses)} hypotheses")
        stats[np.asarray(failed, dtype=bool), 2::3] = 0.0  # (hyp, ref, match) per order
        signature += "|wrong-lang:0"

    def score(total: np.ndarray) -> float:
        return float(metric._compute_score_from_stats(total).score)

    point = score(stats.sum(0))

    interval = bootstrap_interval(stats, score, bootstrap)
    low, high = interval if interval else (None, None)
    return MetricResult("chrF++", point, len(hypotheses), low, high, _sig(signature, bootstrap))


# -- span F1 ---------------------------------------------------------------------------


def span_f1(
    sentences: Iterable[tuple[Sequence[Any], Sequence[Any]]], bootstrap: Bootstrap
) -> MetricResult:
    """Micro span F1 (exact offsets and type) over ``(gold spans, predicted spans)`` sentences."""
    from xprompt.projection.metrics import SIGNATURE, SpanCounts, sentence_counts

    rows: list[list[float]] = []
    total = SpanCounts()
    for gold, predicted in sentences:
        counts = SpanCounts()
        for per_type in sentence_counts(gold, predicted).values():
            counts.add(per_type)
        total.add(counts)
        rows.append([counts.tp, counts.predicted, counts.gold])
    if not rows:
        return MetricResult("span-F1", None, 0, signature=_sig(SIGNATURE, bootstrap))
    stats = np.array(rows, dtype=float)

    def score(sums: np.ndarray) -> float:
        denominator = float(sums[1] + sums[2])
        return 100.0 * 2.0 * float(sums[0]) / denominator if denominator else 0.0

    interval = bootstrap_interval(stats, score, bootstrap)
    low, high = interval if interval else (None, None)
    return MetricResult(
        "span-F1", 100.0 * total.f1, len(rows), low, high, _sig(SIGNATURE, bootstrap)
    )
