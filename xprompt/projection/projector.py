"""CODEC for whole sentences: every entity of a sentence projected onto a fixed template.

For one sentence (source text with spans, and a template in the target language):

1. The template is tokenized with character offsets (:func:`template_tokens`).
2. The plain source and one marker-annotated source per entity (``[ ... ]`` around
   that entity only) are encoded **once** in one encoder call.
3. One batched forced decoding of the template against all of them gives the
   pre-filter (log-prob shift per position, :func:`candidate_openings`) and, for
   each entity, the first chain of its search.
4. Each entity is placed by branch-and-bound (:mod:`xprompt.projection.codec`),
   one entity at a time, keeping the n best.
5. The n best of every entity are re-ranked by the reverse translation
   probability of the source entity given the candidate (one encoder call and one
   batched forced decoding for the sentence) and by lexical overlap with the
   source entity and its own translation.
6. The entities are merged: the most confident places first; a later one whose
   span would overlap an earlier one (where their source spans do not) takes its
   next candidate, or fails with that reason.

The output text is the template, unchanged; ``marked`` is the template with the
markers inserted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

from xprompt.mt.base import TranslationRequest, Translator
from xprompt.projection.codec import (
    PairProblem,
    SearchSettings,
    SearchStats,
    branch_and_bound,
    candidate_openings,
)
from xprompt.projection.records import (
    Candidate,
    EntityProjection,
    ProjectionResult,
    failed,
    insert_markers,
    status_of,
)
from xprompt.projection.scoring import CallCounter, MTScorer, score_rows, template_tokens
from xprompt.projection.spans import Span

#: EasyProject's marker pair, used on the source side and inserted into the template.
OPEN, CLOSE = "[", "]"


@dataclass(frozen=True)
class CodecSettings:
    """Every setting of CODEC that can change a projection.

    Args:
        search: branch-and-bound settings (n best, exact or look-ahead ``alpha``, batch rows).
        prefilter: restrict opening positions by the log-prob shift (``strong``,
            ``weak`` within ``window`` positions); off searches every position.
        rerank: re-rank each entity's n best (reverse probability, lexical overlap);
            off keeps the search's order.
        keep_overlap, keep_reverse_nll: a candidate stays in the re-ranking when its
            overlap is above the first or its reverse NLL below the second.
        max_template_tokens: longer templates fail (with that reason) instead of searching.
    """

    search: SearchSettings = field(default_factory=SearchSettings)
    prefilter: bool = True
    strong: float = 0.5
    weak: float = 0.1
    window: int = 5
    rerank: bool = True
    keep_overlap: float = 0.5
    keep_reverse_nll: float = 5.0
    max_template_tokens: int = 256

    def signature(self) -> str:
        """Short description of every setting (part of the run signature)."""
        pre = f"shift>={self.strong:g}/{self.weak:g}@{self.window}" if self.prefilter else "off"
        rerank = (
            f"reverse+overlap({self.keep_overlap:g},{self.keep_reverse_nll:g})"
            if self.rerank
            else "off"
        )
        return (
            f"codec|{self.search.describe()}|prefilter:{pre}|rerank:{rerank}|"
            f"markers:{OPEN}{CLOSE}|max:{self.max_template_tokens}"
        )


@dataclass(frozen=True)
class ProjectionTask:
    """One sentence to project: the source text and spans, and the template to place them in."""

    source: str
    spans: tuple[Span, ...]
    src: str
    template: str
    tgt: str


def _failed_all(task: ProjectionTask, reason: str) -> ProjectionResult:
    return failed(reason, tuple(EntityProjection(s, None, reason) for s in task.spans))


def mark_one(text: str, span: Span) -> str:
    """The source with EasyProject markers around one span: ``... [ Paris ] ...``."""
    return f"{text[: span.start]}{OPEN} {text[span.start : span.end]} {CLOSE}{text[span.end :]}"


def similarity(a: str, b: str) -> float:
    """Case-insensitive character similarity in [0, 1] (difflib's ratio)."""
    return SequenceMatcher(None, a.lower(), b.lower()).ratio()


class CodecProjector:
    """Project span labels onto templates with CODEC.

    Args:
        translator: a ``Seq2SeqTranslator`` (forced decoding and encoder reuse).
        settings: CODEC settings.
        mt: the translator used to translate source entities for the lexical
            overlap (a cached wrapper of ``translator``); ``translator`` when None.
    """

    def __init__(
        self,
        translator: Any,
        settings: CodecSettings | None = None,
        *,
        mt: Translator | None = None,
    ) -> None:
        self.translator = translator
        self.settings = settings or CodecSettings()
        self.mt = mt or translator
        self.counter = CallCounter()
        self.open_ids = tuple(translator.tokenize([OPEN])[0])
        self.close_ids = tuple(translator.tokenize([CLOSE])[0])

    def project(self, tasks: Sequence[ProjectionTask]) -> list[ProjectionResult]:
        """One result per task, same order; a task that cannot be projected fails with a reason."""
        translations = self._entity_translations(tasks) if self.settings.rerank else {}
        return [self._project_one(task, translations) for task in tasks]

    # -- one sentence -------------------------------------------------------------------

    def _project_one(
        self, task: ProjectionTask, translations: dict[tuple[str, str, str], str]
    ) -> ProjectionResult:
        if not task.template.strip():
            return _failed_all(task, "the template (translation) is empty")
        tokens = template_tokens(self.translator.tokenizer, task.template)
        limit = self.settings.max_template_tokens
        if len(tokens.ids) > limit:
            return _failed_all(
                task, f"the template has {len(tokens.ids)} tokens, over the limit of {limit}"
            )
        if not task.spans:
            return ProjectionResult(task.template, (), (), "projected", marked=task.template)
        start = (self.counter.calls, self.counter.sequences)
        t = self.translator
        sources = [task.source, *(mark_one(task.source, s) for s in task.spans)]
        encoded = t.encode(sources, task.src, task.tgt)
        plain = [*tokens.ids, t.eos_id]
        first = score_rows(
            t,
            encoded,
            [(k, plain) for k in range(len(sources))],
            task.tgt,
            [self.open_ids[0]],
            self.counter,
        )
        ranked: list[list[Candidate]] = []
        entity_stats: list[dict[str, int]] = []
        for k, span in enumerate(task.spans, start=1):
            openings = None
            if self.settings.prefilter:
                openings = candidate_openings(
                    first[0][0],
                    first[k][0],
                    strong=self.settings.strong,
                    weak=self.settings.weak,
                    window=self.settings.window,
                )
                if openings is not None and not any(
                    i in tokens.boundaries for i in openings if i < len(tokens.ids)
                ):
                    openings = None
            problem = PairProblem(
                tokens.ids,
                t.eos_id,
                self.open_ids,
                self.close_ids,
                boundaries=tokens.boundaries,
                openings=openings,
                closable=tokens.closable,
            )
            scorer = MTScorer(t, encoded, k, task.tgt, self.counter)
            result = branch_and_bound(problem, scorer, self.settings.search, plain=first[k])
            stats = SearchStats()
            stats.add(result.stats)
            entity_stats.append({**stats.to_dict(), "openings": len(problem.opening_positions())})
            seen: set[tuple[int, int]] = set()
            candidates: list[Candidate] = []
            for placement in result.best:
                char = tokens.char_span(placement.start, placement.end)
                if char[1] > char[0] and char not in seen:
                    seen.add(char)
                    candidates.append(Candidate(Span(*char, span.label), placement.score))
            ranked.append(candidates)
        if self.settings.rerank:
            ranked = self._rerank(task, ranked, translations)
        entities = self._merge(task, ranked, entity_stats)
        spans = tuple(sorted(e.target for e in entities if e.target is not None))
        status, reason = status_of(entities)
        return ProjectionResult(
            task.template,
            spans,
            entities,
            status,
            reason,
            marked=insert_markers(task.template, spans, OPEN, CLOSE),
            stats={
                "calls": self.counter.calls - start[0],
                "sequences": self.counter.sequences - start[1],
                "template_tokens": len(tokens.ids),
            },
        )

    # -- re-ranking -----------------------------------------------------------------------

    def _entity_translations(
        self, tasks: Sequence[ProjectionTask]
    ) -> dict[tuple[str, str, str], str]:
        """Each distinct source entity translated alone (one batched call, cached translator)."""
        keys = list(
            dict.fromkeys(
                (t.source[s.start : s.end], t.src, t.tgt)
                for t in tasks
                if t.template.strip()
                for s in t.spans
            )
        )
        if not keys:
            return {}
        done = self.mt.translate([TranslationRequest(*k) for k in keys])
        return {k: d.text for k, d in zip(keys, done, strict=True) if d.ok and d.text}

    def _rerank(
        self,
        task: ProjectionTask,
        ranked: list[list[Candidate]],
        translations: dict[tuple[str, str, str], str],
    ) -> list[list[Candidate]]:
        """Order each entity's candidates: reverse NLL and lexical overlap, then the search's order."""
        t = self.translator
        texts = list(
            dict.fromkeys(task.template[c.span.start : c.span.end] for cs in ranked for c in cs)
        )
        if not texts:
            return ranked
        encoded = t.encode(texts, task.tgt, task.src)
        position = {text: n for n, text in enumerate(texts)}
        rows: list[tuple[int, list[int]]] = []
        for span, candidates in zip(task.spans, ranked, strict=True):
            target = t.target_ids(task.source[span.start : span.end])
            rows.extend(
                (position[task.template[c.span.start : c.span.end]], target) for c in candidates
            )
        scored = score_rows(t, encoded, rows, task.src, [], self.counter)
        out: list[list[Candidate]] = []
        row = 0
        for span, candidates in zip(task.spans, ranked, strict=True):
            entity = task.source[span.start : span.end]
            translated = translations.get((entity, task.src, task.tgt))
            scored_here: list[Candidate] = []
            for candidate in candidates:
                text = task.template[candidate.span.start : candidate.span.end]
                nll = -sum(scored[row][0])
                row += 1
                overlap = max(
                    similarity(text, entity), similarity(text, translated) if translated else 0.0
                )
                scored_here.append(Candidate(candidate.span, candidate.logprob, nll, overlap))
            out.append(self._order(scored_here))
        return out

    def _order(self, candidates: list[Candidate]) -> list[Candidate]:
        """Re-ranking rule: keep plausible candidates, prefer near-exact overlap, then reverse NLL.

        A candidate is kept when its overlap is above ``keep_overlap`` or its reverse
        NLL below ``keep_reverse_nll``. Among the kept ones, when the best overlap is
        >= 0.9 the candidates with that overlap compete on reverse NLL; otherwise all
        kept ones do. The rest follow in the search's order. Nothing kept: the
        search's order.
        """
        s = self.settings
        kept = [
            c
            for c in candidates
            if (c.overlap or 0.0) > s.keep_overlap
            or (c.reverse_nll is not None and c.reverse_nll < s.keep_reverse_nll)
        ]
        if not kept:
            return candidates
        top = max(c.overlap or 0.0 for c in kept)
        pool = [c for c in kept if (c.overlap or 0.0) == top] if top >= 0.9 else kept
        first = min(pool, key=lambda c: (c.reverse_nll, -c.logprob))
        rest_kept = sorted((c for c in kept if c is not first), key=lambda c: c.reverse_nll)
        rest = [c for c in candidates if c not in kept]
        return [first, *rest_kept, *rest]

    # -- merging ----------------------------------------------------------------------

    def _merge(
        self,
        task: ProjectionTask,
        ranked: list[list[Candidate]],
        entity_stats: list[dict[str, int]],
    ) -> tuple[EntityProjection, ...]:
        """Give each entity its best candidate that does not clash with a more confident one."""
        order = sorted(
            range(len(task.spans)),
            key=lambda k: (-(ranked[k][0].logprob if ranked[k] else -1e30), k),
        )
        placed: dict[int, Span] = {}
        reasons: dict[int, str] = {}
        for k in order:
            if not ranked[k]:
                reasons[k] = "no placement of the markers survived the search"
                continue
            clash = None
            for candidate in ranked[k]:
                clash = next(
                    (
                        other
                        for other, span in placed.items()
                        if span.overlaps(candidate.span)
                        and not task.spans[other].overlaps(task.spans[k])
                    ),
                    None,
                )
                if clash is None:
                    placed[k] = candidate.span
                    break
            if k not in placed:
                reasons[k] = (
                    f"every candidate overlaps entity {clash + 1} "
                    f"({task.spans[clash].label}), placed first"
                )
        return tuple(
            EntityProjection(span, placed.get(k), reasons.get(k), tuple(ranked[k]), entity_stats[k])
            for k, span in enumerate(task.spans)
        )
