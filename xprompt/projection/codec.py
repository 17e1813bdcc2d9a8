"""CODEC's search: place one marker pair into a fixed template by constrained decoding.

The output must be the template's tokens with the opening marker's tokens before
template token ``i`` and the closing marker's tokens before template token ``j``
(``i < j``; ``j == n`` closes after the last token), then ``</s>``. A placement's
score is the sum of the output tokens' log-probabilities under the MT model
conditioned on the marker-annotated source (Le et al., ICLR 2024).

Exact search is depth-first **branch-and-bound** keeping the ``n_best`` complete
outputs. The tree: the root emits template tokens; a node branches into "next
template token" or "the next unplaced marker". Log-probabilities are <= 0, so the
score of a partial output bounds every completion of it; a node whose partial
score is no better than the current n-th best is pruned, which never loses a
better output. Model calls are grouped along chains: one forced decode of a
sequence gives, at every step, both the next template token's log-probability
and (as a watched token) the marker's first token's, so a whole run of
"continue" nodes and the bounds of all branches off it cost one forward pass.
The tree is explored in three levels (where the opening marker goes, where the
closing one goes, the completed output), children best bound first, and the
chains of sibling nodes still alive are scored together in batched passes
(one sibling first, then doubling up to ``batch_rows``).

Approximate mode (look-ahead ``alpha``, the authors' heuristic): a partial output
of ``d`` tokens is also pruned when its score is no better than what the current
n-th best had after ``max(d + alpha, its closing marker)`` tokens, which prunes
much harder but may miss the best placement.

:func:`brute_force` scores every placement (the reference the tests and the
benchmark compare against); :func:`candidate_openings` is the position
pre-filter (log-prob shift between the plain-source and marked-source forced
decodings of the template).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

#: A forced decode's result: per-token log-probs and, per step, the watched tokens' log-probs.
Scored = tuple[list[float], list[list[float]]]

#: Scores below this are "minus infinity" for the bound.
_NEG_INF = -math.inf


class SequenceScorer(Protocol):
    """Forced decoding of token sequences against one (marker-annotated) source.

    One call is one batched forward pass over all ``sequences`` (the caller keeps
    batches within the scorer's limit); ``watch`` tokens are scored at every step.
    """

    def score(self, sequences: Sequence[Sequence[int]], watch: Sequence[int]) -> list[Scored]:
        """Per-token log-probs of each sequence, and of each watched token at every step."""
        ...


@dataclass(frozen=True)
class PairProblem:
    """One marker pair to place into a template.

    Args:
        template: template token ids, without ``</s>``.
        eos: the end-of-sequence id that completes every output.
        open_ids, close_ids: the token ids of the opening and closing markers.
        boundaries: token positions (0..n) where a marker may go; None: all of them.
            Positions inside a character (byte-level tokens) are left out by the caller.
        openings: allowed opening positions (the pre-filter); None: every boundary.
        closable: ``closable(i, j)`` says whether template tokens ``i..j-1`` make a
            span worth marking (not only whitespace); None: any ``j > i``.
    """

    template: tuple[int, ...]
    eos: int
    open_ids: tuple[int, ...]
    close_ids: tuple[int, ...]
    boundaries: frozenset[int] | None = None
    openings: frozenset[int] | None = None
    closable: Callable[[int, int], bool] | None = None

    def __post_init__(self) -> None:
        if not self.open_ids or not self.close_ids:
            raise ValueError("markers must have at least one token each")

    @property
    def n(self) -> int:
        return len(self.template)

    def opening_positions(self) -> list[int]:
        """Where the opening marker may go: boundaries before a template token, pre-filtered."""
        out = [i for i in range(self.n) if self.boundaries is None or i in self.boundaries]
        if self.openings is not None:
            out = [i for i in out if i in self.openings]
        return out

    def closing_positions(self, i: int) -> list[int]:
        """Where the closing marker may go after an opening marker at ``i``."""
        return [
            j
            for j in range(i + 1, self.n + 1)
            if (self.boundaries is None or j in self.boundaries)
            and (self.closable is None or self.closable(i, j))
        ]

    def placements(self) -> list[tuple[int, int]]:
        """Every allowed ``(i, j)``: what exhaustive enumeration scores."""
        return [(i, j) for i in self.opening_positions() for j in self.closing_positions(i)]

    def plain(self) -> list[int]:
        """The template with ``</s>``: the output with no markers."""
        return [*self.template, self.eos]

    def opened(self, i: int) -> list[int]:
        """The template with the opening marker before token ``i`` (and ``</s>``)."""
        t = self.template
        return [*t[:i], *self.open_ids, *t[i:], self.eos]

    def output(self, i: int, j: int) -> list[int]:
        """The complete output with markers before tokens ``i`` and ``j``."""
        t = self.template
        return [*t[:i], *self.open_ids, *t[i:j], *self.close_ids, *t[j:], self.eos]


@dataclass(frozen=True, order=True)
class Placement:
    """A complete output: markers before template tokens ``start`` and ``end``, and its score."""

    score: float
    start: int
    end: int
    cumulative: tuple[float, ...] = field(default=(), compare=False, repr=False)
    close_depth: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class SearchSettings:
    """How to search.

    Args:
        n_best: complete outputs to keep (the paper keeps 5).
        alpha: None for exact branch-and-bound; an integer look-ahead for the
            approximate heuristic (the paper: 1 for translate-train, 5 for translate-test).
        batch_rows: most sequences per forward pass.
        tolerance: a node is pruned only when its bound is below the threshold by
            more than this; it absorbs float noise between batch shapes, so the
            search stays exact (it may score a few extra sequences, never fewer).
    """

    n_best: int = 5
    alpha: int | None = None
    batch_rows: int = 16
    tolerance: float = 1e-4

    def __post_init__(self) -> None:
        if self.n_best < 1:
            raise ValueError(f"n_best must be >= 1, got {self.n_best}")
        if self.alpha is not None and self.alpha < 0:
            raise ValueError(f"alpha must be >= 0 (or None for exact search), got {self.alpha}")
        if self.batch_rows < 1:
            raise ValueError(f"batch_rows must be >= 1, got {self.batch_rows}")

    def describe(self) -> str:
        mode = "exact" if self.alpha is None else f"heuristic(alpha={self.alpha})"
        return f"bnb:{mode},n={self.n_best},rows={self.batch_rows}"


@dataclass
class SearchStats:
    """What a search cost: sequences force-decoded, forward passes, and how the tree went."""

    sequences: int = 0
    calls: int = 0
    placements: int = 0
    leaves: int = 0
    pruned: int = 0

    def add(self, other: SearchStats) -> None:
        self.sequences += other.sequences
        self.calls += other.calls
        self.placements += other.placements
        self.leaves += other.leaves
        self.pruned += other.pruned

    def to_dict(self) -> dict[str, int]:
        return {
            "sequences": self.sequences,
            "calls": self.calls,
            "placements": self.placements,
            "leaves": self.leaves,
            "pruned": self.pruned,
        }


@dataclass(frozen=True)
class SearchResult:
    """The n best placements (best first) and what finding them cost."""

    best: tuple[Placement, ...]
    stats: SearchStats


def _cumulative(logprobs: Sequence[float]) -> list[float]:
    out = [0.0]
    for value in logprobs:
        out.append(out[-1] + value)
    return out


class _NBest:
    """The n best complete outputs so far, and the pruning threshold they give."""

    def __init__(self, n: int, alpha: int | None) -> None:
        self.n = n
        self.alpha = alpha
        self.heap: list[tuple[float, int, int, Placement]] = []

    def offer(self, placement: Placement) -> None:
        item = (placement.score, -placement.start, -placement.end, placement)
        if len(self.heap) < self.n:
            heapq.heappush(self.heap, item)
        elif item[:3] > self.heap[0][:3]:
            heapq.heapreplace(self.heap, item)

    def threshold(self, depth: int) -> float:
        """A node of ``depth`` output tokens must score above this to be explored."""
        if len(self.heap) < self.n:
            return _NEG_INF
        worst = self.heap[0][3]
        if self.alpha is None:
            return worst.score
        cum = worst.cumulative
        return cum[min(max(depth + self.alpha, worst.close_depth), len(cum) - 1)]

    def ranked(self) -> tuple[Placement, ...]:
        return tuple(p for *_, p in sorted(self.heap, reverse=True))


def branch_and_bound(
    problem: PairProblem,
    scorer: SequenceScorer,
    settings: SearchSettings | None = None,
    *,
    plain: Scored | None = None,
) -> SearchResult:
    """The ``n_best`` placements by depth-first branch-and-bound (exact when ``alpha`` is None).

    ``plain`` is the forced decode of :meth:`PairProblem.plain` against the
    marked source with the opening marker's first token watched, when the caller
    already has it (the pre-filter computes it); otherwise it is one more pass.
    """
    settings = settings or SearchSettings()
    stats = SearchStats(placements=len(problem.placements()))
    best = _NBest(settings.n_best, settings.alpha)
    exact = settings.alpha is None
    tol = settings.tolerance
    n_open, n_close = len(problem.open_ids), len(problem.close_ids)

    def run(sequences: list[list[int]], watch: list[int]) -> list[Scored]:
        stats.calls += 1
        stats.sequences += len(sequences)
        return scorer.score(sequences, watch)

    def alive(score: float, depth: int) -> bool:
        return score > best.threshold(depth) - tol

    def chain_alive(cum: Sequence[float], first: int, last: int) -> bool:
        """Heuristic mode: every node of a chain between two depths survives (exact: implied)."""
        return exact or all(alive(cum[d], d) for d in range(first, last + 1))

    if plain is None:
        plain = run([problem.plain()], [problem.open_ids[0]])[0]
    else:
        stats.sequences += 1  # computed by the caller in its shared pass; counted here
    cum_a = _cumulative(plain[0])

    def open_bound(i: int) -> float:
        return cum_a[i] + plain[1][i][0]

    def open_alive(i: int) -> bool:
        return alive(open_bound(i), i + 1) and chain_alive(cum_a, 0, i)

    def close_level(i: int, chain: Scored) -> None:
        cum_b = _cumulative(chain[0])
        watch_b = chain[1]

        def bound(j: int) -> float:
            return cum_b[j + n_open] + watch_b[j + n_open][0]

        def close_alive(j: int) -> bool:
            return alive(bound(j), j + n_open + 1) and chain_alive(cum_b, i + 1, j + n_open)

        closings = sorted(problem.closing_positions(i), key=lambda j: (-bound(j), j))
        for group in _groups(closings, close_alive, settings.batch_rows, exact, stats):
            outputs = run([problem.output(i, j) for j in group], [])
            for j, (logprobs, _) in zip(group, outputs, strict=True):
                stats.leaves += 1
                cum = _cumulative(logprobs)
                close_depth = j + n_open + n_close
                if not close_alive(j) or not chain_alive(cum, j + n_open + 1, len(cum) - 1):
                    stats.pruned += 1
                    continue
                best.offer(Placement(cum[-1], i, j, tuple(cum), close_depth))

    openings = sorted(problem.opening_positions(), key=lambda i: (-open_bound(i), i))
    for group in _groups(openings, open_alive, settings.batch_rows, exact, stats):
        chains = run([problem.opened(i) for i in group], [problem.close_ids[0]])
        for i, chain in zip(group, chains, strict=True):
            if not open_alive(i):
                stats.pruned += 1
                continue
            close_level(i, chain)
    return SearchResult(best.ranked(), stats)


def _groups(
    ordered: list[int],
    is_alive: Callable[[int], bool],
    size: int,
    exact: bool,
    stats: SearchStats,
) -> Iterator[list[int]]:
    """Yield batches of still-alive siblings, best bound first, re-checking before each batch.

    Batches start with one sibling and double up to ``size``: the first, most
    promising sibling alone sets a threshold sooner, so fewer of the later ones
    are scored at all; later siblings share forward passes. In exact mode the
    siblings are sorted by their bound and the threshold only rises, so the first
    dead sibling ends the level.
    """
    position = 0
    width = 1
    while position < len(ordered):
        group: list[int] = []
        while position < len(ordered) and len(group) < width:
            item = ordered[position]
            position += 1
            if is_alive(item):
                group.append(item)
            elif exact:
                stats.pruned += len(ordered) - position + 1
                position = len(ordered)
                break
            else:
                stats.pruned += 1
        if not group:
            return
        yield group
        width = min(size, width * 2)


def brute_force(
    problem: PairProblem,
    scorer: SequenceScorer,
    *,
    n_best: int = 5,
    batch_rows: int = 64,
) -> SearchResult:
    """Score every allowed placement (one forced decode each, batched); keep the ``n_best``."""
    placements = problem.placements()
    stats = SearchStats(placements=len(placements))
    best = _NBest(n_best, None)
    for start in range(0, len(placements), batch_rows):
        chunk = placements[start : start + batch_rows]
        outputs = scorer.score([problem.output(i, j) for i, j in chunk], [])
        stats.calls += 1
        stats.sequences += len(chunk)
        for (i, j), (logprobs, _) in zip(chunk, outputs, strict=True):
            stats.leaves += 1
            cum = _cumulative(logprobs)
            best.offer(Placement(cum[-1], i, j, tuple(cum)))
    return SearchResult(best.ranked(), stats)


def candidate_openings(
    plain_source: Sequence[float],
    marked_source: Sequence[float],
    *,
    strong: float = 0.5,
    weak: float = 0.1,
    window: int = 5,
) -> frozenset[int] | None:
    """Opening positions worth trying: where marking the source shifts the template's log-probs.

    Both arguments are the per-token log-probs of the same template forced-decoded
    once with the plain source and once with the marked source. Position ``p``
    (before template token ``p``) is a candidate where the shift is >= ``strong``,
    or >= ``weak`` within ``window`` positions of such a one. None (no filter)
    when no position shifts by ``strong``.
    """
    if len(plain_source) != len(marked_source):
        raise ValueError("both forced decodings must cover the same template")
    delta = [abs(m - p) for p, m in zip(plain_source, marked_source, strict=True)]
    anchors = [p for p, d in enumerate(delta) if d >= strong]
    if not anchors:
        return None
    out: set[int] = set()
    for anchor in anchors:
        for p in range(max(0, anchor - window), min(len(delta), anchor + window + 1)):
            if delta[p] >= weak:
                out.add(p)
    return frozenset(out)
