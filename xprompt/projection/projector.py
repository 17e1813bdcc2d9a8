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

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any, Literal

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

RerankRule = Literal["original", "lowest-nll"]
RERANK_RULES: tuple[str, ...] = ("original", "lowest-nll")
NoCandidate = Literal["drop", "search-order"]
NO_CANDIDATE: tuple[str, ...] = ("drop", "search-order")

#: What decided an entity's first candidate in the re-ranking (counted per run):
#: ``top-overlap`` (best overlap >= 0.9, lowest reverse NLL among those), ``search-best``
#: (original: the search's best kept candidate stayed), ``sub-span`` (original: replaced by a
#: lower-NLL word-level sub-span), ``lowest-nll`` (option), ``none-kept-dropped`` /
#: ``none-kept-search-order`` (no candidate passed the filter).
RERANK_OUTCOMES: tuple[str, ...] = (
    "top-overlap",
    "search-best",
    "sub-span",
    "lowest-nll",
    "none-kept-dropped",
    "none-kept-search-order",
)


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
        rerank_rule: with the best kept overlap under 0.9, ``original`` (Le et al.'s
            code, the default) keeps the search's best kept candidate and replaces it
            only by a kept candidate with a lower reverse NLL that is a word-level
            sub-span of it; ``lowest-nll`` takes the lowest reverse NLL of all kept.
        no_candidate: when no candidate of an entity passes the filter, ``drop``
            (the original, the default: translate-train data quality) fails the whole
            sentence; ``search-order`` keeps the search's order.
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
    rerank_rule: RerankRule = "original"
    no_candidate: NoCandidate = "drop"
    max_template_tokens: int = 256

    def __post_init__(self) -> None:
        if self.rerank_rule not in RERANK_RULES:
            raise ValueError(f"rerank_rule must be one of {', '.join(RERANK_RULES)}")
        if self.no_candidate not in NO_CANDIDATE:
            raise ValueError(f"no_candidate must be one of {', '.join(NO_CANDIDATE)}")

    def signature(self) -> str:
        """Short description of every setting (part of the run signature)."""
        pre = f"shift>={self.strong:g}/{self.weak:g}@{self.window}" if self.prefilter else "off"
        rerank = (
            f"reverse+overlap({self.keep_overlap:g},{self.keep_reverse_nll:g},"
            f"{self.rerank_rule},{self.no_candidate})"
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
        outcomes: list[str | None] = []
        if self.settings.rerank:
            ranked, outcomes = self._rerank(task, ranked, translations)
        rerank_counts = dict(Counter(o for o in outcomes if o is not None))
        dropped = [k for k, o in enumerate(outcomes) if o == "none-kept-dropped"]
        if dropped:
            k = dropped[0]
            s = self.settings
            reason = (
                f"re-ranking: no candidate for entity {k + 1} ({task.spans[k].label}) passed the "
                f"filter (overlap > {s.keep_overlap:g} or reverse NLL < {s.keep_reverse_nll:g}); "
                "sentence dropped (--no-candidate search-order keeps the search's order)"
            )
            return ProjectionResult(
                task.template,
                (),
                tuple(
                    EntityProjection(span, None, reason, tuple(ranked[j]), entity_stats[j])
                    for j, span in enumerate(task.spans)
                ),
                "failed",
                reason,
                marked=task.template,
                stats={
                    "calls": self.counter.calls - start[0],
                    "sequences": self.counter.sequences - start[1],
                    "template_tokens": len(tokens.ids),
                    "rerank": rerank_counts,
                },
            )
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
                **({"rerank": rerank_counts} if rerank_counts else {}),
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
    ) -> tuple[list[list[Candidate]], list[str | None]]:
        """Each entity's candidates re-ranked, and the outcome per entity (None: no candidates)."""
        t = self.translator
        texts = list(
            dict.fromkeys(task.template[c.span.start : c.span.end] for cs in ranked for c in cs)
        )
        if not texts:
            return ranked, [None] * len(ranked)
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
        outcomes: list[str | None] = []
        row = 0
        for span, candidates in zip(task.spans, ranked, strict=True):
            if not candidates:
                out.append(candidates)
                outcomes.append(None)
                continue
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
            order, outcome = self._order(scored_here, task.template)
            out.append(order)
            outcomes.append(outcome)
        return out, outcomes

    def _order(self, candidates: list[Candidate], template: str) -> tuple[list[Candidate], str]:
        """Re-rank one entity's candidates (:func:`rerank_order` with this projector's settings)."""
        return rerank_order(candidates, template, self.settings)

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


def _words_within(inner: str, outer: str) -> bool:
    """``inner``'s words are a contiguous run of ``outer``'s words, and fewer of them."""
    a, b = inner.split(), outer.split()
    if not a or len(a) >= len(b):
        return False
    return any(b[i : i + len(a)] == a for i in range(len(b) - len(a) + 1))


def rerank_order(
    candidates: list[Candidate], template: str, settings: CodecSettings
) -> tuple[list[Candidate], str]:
    """One entity's candidates re-ranked (search order in, best first out) and the rule that decided.

    A candidate is kept when its overlap is above ``keep_overlap`` or its reverse
    NLL below ``keep_reverse_nll``. When the best kept overlap is >= 0.9, the
    candidates with that overlap compete on reverse NLL (``top-overlap``).
    Otherwise ``rerank_rule`` decides: ``original`` starts from the search's best
    kept candidate and, going down the search's order, replaces it by a kept
    candidate with a lower reverse NLL whose words are a contiguous part of its
    words (``sub-span``; else ``search-best``); ``lowest-nll`` takes the lowest
    reverse NLL of all kept ones. The other kept candidates follow (by reverse
    NLL), then the rest in search order. No candidate kept: ``no_candidate``
    decides (``none-kept-dropped``: the caller drops the sentence;
    ``none-kept-search-order``: the search's order).
    """
    s = settings
    kept = [
        c
        for c in candidates
        if (c.overlap or 0.0) > s.keep_overlap
        or (c.reverse_nll is not None and c.reverse_nll < s.keep_reverse_nll)
    ]
    if not kept:
        return (
            candidates,
            "none-kept-dropped" if s.no_candidate == "drop" else "none-kept-search-order",
        )

    def nll(c: Candidate) -> float:
        return c.reverse_nll if c.reverse_nll is not None else float("inf")

    top = max(c.overlap or 0.0 for c in kept)
    if top >= 0.9:
        pool = [c for c in kept if (c.overlap or 0.0) == top]
        first, outcome = min(pool, key=lambda c: (nll(c), -c.logprob)), "top-overlap"
    elif s.rerank_rule == "lowest-nll":
        first, outcome = min(kept, key=lambda c: (nll(c), -c.logprob)), "lowest-nll"
    else:
        first, outcome = kept[0], "search-best"
        for c in kept[1:]:
            text = template[c.span.start : c.span.end]
            best = template[first.span.start : first.span.end]
            if nll(c) < nll(first) and _words_within(text, best):
                first, outcome = c, "sub-span"
    rest_kept = sorted((c for c in kept if c is not first), key=nll)
    rest = [c for c in candidates if c not in kept]
    return [first, *rest_kept, *rest], outcome
