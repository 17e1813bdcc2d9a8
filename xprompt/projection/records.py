"""What a projection produces: per entity and per sentence, for both methods (CODEC and markers).

A sentence is ``projected`` when every source span found a place in the target
text, ``partial`` when some did, and ``failed`` when none did (or the sentence
could not be processed at all); ``reason`` says why for anything short of
``projected``. A sentence without spans is ``projected`` trivially.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from xprompt.projection.spans import Span

Status = Literal["projected", "partial", "failed"]


@dataclass(frozen=True)
class Candidate:
    """One ranked placement of an entity in the target text (CODEC's n-best, after re-ranking)."""

    span: Span
    logprob: float
    reverse_nll: float | None = None
    overlap: float | None = None

    def to_dict(self, text: str) -> dict[str, Any]:
        out: dict[str, Any] = {**self.span.to_dict(text), "logprob": round(self.logprob, 4)}
        if self.reverse_nll is not None:
            out["reverse_nll"] = round(self.reverse_nll, 4)
        if self.overlap is not None:
            out["overlap"] = round(self.overlap, 4)
        return out


@dataclass(frozen=True)
class EntityProjection:
    """Where one source span went: its target span, or why it has none."""

    source: Span
    target: Span | None
    reason: str | None = None
    candidates: tuple[Candidate, ...] = ()
    stats: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ProjectionResult:
    """The target text of one sentence with the projected spans, and how each entity fared.

    ``text`` is the target the spans index into: the template for CODEC (so
    ``marked`` is exactly the template with markers inserted), the translation with
    the markers taken out for the marker baseline.
    """

    text: str | None
    spans: tuple[Span, ...]
    entities: tuple[EntityProjection, ...]
    status: Status
    reason: str | None = None
    marked: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data (spans with their text)."""
        text = self.text or ""
        return {
            "text": self.text,
            "marked": self.marked,
            "spans": [s.to_dict(text) for s in self.spans],
            "status": self.status,
            "reason": self.reason,
            "entities": [
                {
                    "source": e.source.label,
                    "source_span": [e.source.start, e.source.end],
                    "target": e.target.to_dict(text) if e.target else None,
                    "reason": e.reason,
                    **(
                        {"candidates": [c.to_dict(text) for c in e.candidates]}
                        if e.candidates
                        else {}
                    ),
                    **({"search": e.stats} if e.stats else {}),
                }
                for e in self.entities
            ],
            "stats": self.stats,
        }


def status_of(entities: tuple[EntityProjection, ...]) -> tuple[Status, str | None]:
    """``projected``/``partial``/``failed`` from the entities, with a reason naming the lost ones."""
    lost = [(n, e) for n, e in enumerate(entities, start=1) if e.target is None]
    if not lost:
        return "projected", None
    reason = "; ".join(f"entity {n} ({e.source.label}): {e.reason}" for n, e in lost)
    return ("failed" if len(lost) == len(entities) else "partial"), reason


def failed(reason: str, entities: tuple[EntityProjection, ...] = ()) -> ProjectionResult:
    """A sentence that could not be projected at all."""
    return ProjectionResult(None, (), entities, "failed", reason)


def insert_markers(text: str, spans: tuple[Span, ...] | list[Span], open_: str, close: str) -> str:
    """``text`` with ``open_`` before and ``close`` after every span (nothing else changes).

    At one position, closing markers come before opening ones, and an outer span
    opens before (and closes after) a span nested in it.
    """
    events: list[tuple[int, int, int, str]] = []
    for span in spans:
        events.append((span.start, 1, -span.end, open_))
        events.append((span.end, 0, -span.start, close))
    out: list[str] = []
    last = 0
    for position, _, _, marker in sorted(events):
        out.append(text[last:position])
        out.append(marker)
        last = position
    out.append(text[last:])
    return "".join(out)
