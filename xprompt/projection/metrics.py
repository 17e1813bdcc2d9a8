"""Span-level precision, recall and F1: a predicted span counts only with the exact offsets and type.

Counts (true positives, predicted, gold) are kept per sentence, so the scores per
language and per type and overall are cheap sums of them (the sacrebleu idea).
Micro-averaged. Every score carries a signature naming how it was computed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from xprompt import __version__
from xprompt.projection.spans import Span

SIGNATURE = f"span-f1|match:exact-offsets+type|avg:micro|xprompt:{__version__}"


@dataclass
class SpanCounts:
    """True positives, predicted spans and gold spans (and sentences) of one group."""

    tp: int = 0
    predicted: int = 0
    gold: int = 0
    sentences: int = 0

    def add(self, other: SpanCounts) -> None:
        self.tp += other.tp
        self.predicted += other.predicted
        self.gold += other.gold
        self.sentences += other.sentences

    @property
    def precision(self) -> float:
        return self.tp / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.tp / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "sentences": self.sentences,
            "gold": self.gold,
            "predicted": self.predicted,
            "correct": self.tp,
            "precision": round(100 * self.precision, 2),
            "recall": round(100 * self.recall, 2),
            "f1": round(100 * self.f1, 2),
        }


def sentence_counts(gold: Sequence[Span], predicted: Sequence[Span]) -> dict[str, SpanCounts]:
    """Counts of one sentence per type (exact offsets and type); duplicates count once."""
    out: dict[str, SpanCounts] = {}
    gold_set, pred_set = set(gold), set(predicted)
    for span in gold_set:
        out.setdefault(span.label, SpanCounts()).gold += 1
    for span in pred_set:
        counts = out.setdefault(span.label, SpanCounts())
        counts.predicted += 1
        counts.tp += span in gold_set
    return out


@dataclass
class SpanReport:
    """Span P/R/F1 overall, per language and per type, with the signature."""

    total: SpanCounts = field(default_factory=SpanCounts)
    by_lang: dict[str, SpanCounts] = field(default_factory=dict)
    by_type: dict[str, SpanCounts] = field(default_factory=dict)
    signature: str = SIGNATURE

    def to_dict(self) -> dict[str, Any]:
        return {
            "all": self.total.to_dict(),
            "by_lang": {k: v.to_dict() for k, v in sorted(self.by_lang.items())},
            "by_type": {k: v.to_dict() for k, v in sorted(self.by_type.items())},
            "signature": self.signature,
        }


def span_report(items: Iterable[tuple[str, Sequence[Span], Sequence[Span]]]) -> SpanReport:
    """Score ``(language, gold spans, predicted spans)`` sentences.

    A sentence that failed to project is scored with no predictions (its gold
    spans count as missed), never left out.
    """
    report = SpanReport()
    for lang, gold, predicted in items:
        lang_counts = report.by_lang.setdefault(lang, SpanCounts())
        lang_counts.sentences += 1
        report.total.sentences += 1
        for label, counts in sentence_counts(gold, predicted).items():
            lang_counts.add(counts)
            report.total.add(counts)
            # Per type, a sentence counts where the type occurs (in gold or predictions).
            per_type = SpanCounts(counts.tp, counts.predicted, counts.gold, sentences=1)
            report.by_type.setdefault(label, SpanCounts()).add(per_type)
    return report
