"""The marker-based baseline (EasyProject): mark the spans, translate, read the markers back.

Every span of the source is wrapped in ``[ ... ]`` and the marked sentence is
translated in one batched call. The translation's marker pairs become spans of
the translation with the markers taken out. What can go wrong is counted, one
reason per sentence:

- ``unbalanced``: a ``]`` without its ``[``, a ``[`` inside another pair, or a ``[``
  never closed;
- ``empty``: a pair with nothing inside;
- ``lost``: fewer pairs than source spans (the MT model dropped markers);
- ``extra``: more pairs than source spans;
- ``translation``: the MT model failed on the sentence.

Labels go to pairs by fuzzy matching: each pair's text is compared with every
source entity and with that entity translated alone, and the best-matching
pairs are assigned first. With lost or extra markers the pairs that do match
keep their labels (``partial``). Used for translate-test, the spans are then
looked up in the original sentence (exact text, case-insensitive).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xprompt.mt.base import TranslationRequest, Translator
from xprompt.projection.projector import CLOSE, OPEN, similarity
from xprompt.projection.records import (
    EntityProjection,
    ProjectionResult,
    failed,
    status_of,
)
from xprompt.projection.spans import Span

#: The failure kinds the baseline counts.
MARKER_PROBLEMS = ("unbalanced", "empty", "lost", "extra", "translation")


def mark_all(text: str, spans: Sequence[Span]) -> str:
    """The source with every span wrapped in ``[ ... ]`` (spans must not overlap)."""
    out: list[str] = []
    last = 0
    for span in sorted(spans):
        if span.start < last:
            raise ValueError(
                f"spans overlap at {span.label} {span.start}-{span.end}; markers cannot nest"
            )
        out.append(text[last : span.start])
        out.append(f"{OPEN} {text[span.start : span.end]} {CLOSE}")
        last = span.end
    out.append(text[last:])
    return "".join(out)


@dataclass(frozen=True)
class MarkerReading:
    """A marked text read back: the text without markers, the pairs' spans, and the first problem."""

    text: str
    pairs: tuple[tuple[int, int], ...]
    problem: str | None = None
    detail: str | None = None


def read_markers(marked: str) -> MarkerReading:
    """Take ``[``/``]`` out of ``marked`` (with one space inside each) and locate the pairs.

    ``"visited [ Paris ] ."`` reads as ``"visited Paris ."`` with a pair at 8-13.
    """
    out: list[str] = []
    length = 0
    pairs: list[tuple[int, int]] = []
    opened: int | None = None
    problem: tuple[str, str] | None = None
    skip_space = False
    for position, char in enumerate(marked):
        if char == OPEN:
            if opened is not None and problem is None:
                problem = ("unbalanced", f"'{OPEN}' at character {position} inside another pair")
            opened = length
            skip_space = True
            continue
        if char == CLOSE:
            if out and out[-1] == " ":
                out.pop()
                length -= 1
            if opened is None:
                if problem is None:
                    problem = ("unbalanced", f"'{CLOSE}' at character {position} without '{OPEN}'")
            elif length <= opened:
                if problem is None:
                    problem = ("empty", f"empty pair ending at character {position}")
                opened = None
            else:
                pairs.append((opened, length))
                opened = None
            continue
        if skip_space and char == " ":
            skip_space = False
            continue
        skip_space = False
        out.append(char)
        length += 1
    if opened is not None and problem is None:
        problem = ("unbalanced", f"'{OPEN}' never closed")
    text = "".join(out)
    trimmed = []
    for start, end in pairs:
        piece = text[start:end]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            trimmed.append((start + lead, start + len(piece.rstrip())))
        elif problem is None:
            problem = ("empty", f"a pair holds only whitespace at character {start}")
    return MarkerReading(text, tuple(trimmed), *(problem or (None, None)))


@dataclass(frozen=True)
class MarkerTask:
    """One sentence for the baseline: the source text, its spans and the language pair."""

    source: str
    spans: tuple[Span, ...]
    src: str
    tgt: str


class MarkerProjector:
    """EasyProject-style projection through any translator (one batched call per step)."""

    def __init__(self, translator: Translator) -> None:
        self.translator = translator

    def project(self, tasks: Sequence[MarkerTask]) -> list[ProjectionResult]:
        """One result per task, same order; ``stats['marker_problem']`` names a failure kind."""
        requests: list[TranslationRequest] = []
        owners: list[int] = []
        prepared: dict[int, str] = {}
        for n, task in enumerate(tasks):
            try:
                marked = mark_all(task.source, task.spans)
            except ValueError as exc:
                prepared[n] = str(exc)
                continue
            requests.append(TranslationRequest(marked, task.src, task.tgt))
            owners.append(n)
        entities = list(
            dict.fromkeys(
                (tasks[n].source[s.start : s.end], tasks[n].src, tasks[n].tgt)
                for n in owners
                for s in tasks[n].spans
            )
        )
        done = self.translator.translate(requests + [TranslationRequest(*e) for e in entities])
        alone = {e: d.text for e, d in zip(entities, done[len(requests) :], strict=True) if d.ok}
        results: dict[int, ProjectionResult] = {
            n: failed(f"cannot mark the source: {reason}") for n, reason in prepared.items()
        }
        for n, translation in zip(owners, done[: len(requests)], strict=True):
            if not translation.ok or translation.text is None:
                results[n] = ProjectionResult(
                    None,
                    (),
                    tuple(EntityProjection(s, None, "translation failed") for s in tasks[n].spans),
                    "failed",
                    f"translation failed: {translation.error}",
                    stats={"marker_problem": "translation"},
                )
                continue
            results[n] = self._read(tasks[n], translation.text, alone)
        return [results[n] for n in range(len(tasks))]

    def _read(
        self, task: MarkerTask, translation: str, alone: dict[tuple[str, str, str], str | None]
    ) -> ProjectionResult:
        reading = read_markers(translation)
        pairs = list(reading.pairs)
        problem, detail = reading.problem, reading.detail
        if problem is None and len(pairs) < len(task.spans):
            problem, detail = (
                "lost",
                f"{len(task.spans)} spans marked, {len(pairs)} pairs came back",
            )
        elif problem is None and len(pairs) > len(task.spans):
            problem, detail = (
                "extra",
                f"{len(task.spans)} spans marked, {len(pairs)} pairs came back",
            )
        scores = []
        for k, span in enumerate(task.spans):
            entity = task.source[span.start : span.end]
            translated = alone.get((entity, task.src, task.tgt))
            for p, (start, end) in enumerate(pairs):
                piece = reading.text[start:end]
                match = max(
                    similarity(piece, entity), similarity(piece, translated) if translated else 0.0
                )
                scores.append((-match, k, p))
        taken_spans: dict[int, Span] = {}
        taken_pairs: set[int] = set()
        for _, k, p in sorted(scores):
            if k in taken_spans or p in taken_pairs:
                continue
            start, end = pairs[p]
            taken_spans[k] = Span(start, end, task.spans[k].label)
            taken_pairs.add(p)
        reason = f"{problem}: {detail}" if problem else None
        entities = tuple(
            EntityProjection(
                span,
                taken_spans.get(k),
                None if k in taken_spans else (reason or "no marker pair left for it"),
            )
            for k, span in enumerate(task.spans)
        )
        status, why = status_of(entities)
        if problem is not None and status == "projected":
            status = "partial"
        return ProjectionResult(
            reading.text,
            tuple(sorted(taken_spans.values())),
            entities,
            status,
            reason if problem else why,
            marked=translation,
            stats={"marker_problem": problem} if problem else {},
        )


def locate_in(original: str, result: ProjectionResult) -> ProjectionResult:
    """Move a baseline result's spans onto ``original`` by finding their text in it (translate-test).

    Each span's text is searched case-insensitively, left to right, skipping
    places already taken; a span whose text is not there is lost with that reason.
    """
    if result.text is None:
        return result
    lowered = original.lower()
    placed: dict[int, Span] = {}
    reasons: dict[int, str] = {}
    used: list[Span] = []
    for k, entity in enumerate(result.entities):
        if entity.target is None:
            continue
        piece = result.text[entity.target.start : entity.target.end].lower()
        at = lowered.find(piece)
        while at >= 0 and any(Span(at, at + len(piece), "x").overlaps(u) for u in used):
            at = lowered.find(piece, at + 1)
        if at < 0:
            reasons[k] = f"{piece!r} does not occur in the original sentence"
            continue
        placed[k] = Span(at, at + len(piece), entity.target.label)
        used.append(placed[k])
    entities = tuple(
        EntityProjection(e.source, placed.get(k), reasons.get(k, e.reason))
        for k, e in enumerate(result.entities)
    )
    status, reason = status_of(entities)
    return ProjectionResult(
        original,
        tuple(sorted(placed.values())),
        entities,
        status,
        reason,
        marked=result.marked,
        stats=result.stats,
    )
