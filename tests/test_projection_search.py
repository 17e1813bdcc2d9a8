"""CODEC's search: branch-and-bound is exact (same n best as scoring every placement), the heuristic is measured.

Exactness is checked twice: on hundreds of random cases against a hashed
random "language model" (fast, covers multi-token markers and odd batch sizes),
and on random cases against the real tiny random MT model through
transformers (forced decoding with encoder outputs reused).
"""

from __future__ import annotations

import hashlib
import math
import random
from pathlib import Path

import numpy as np
import pytest

from xprompt.projection.codec import (
    PairProblem,
    SearchSettings,
    branch_and_bound,
    brute_force,
    candidate_openings,
)


class HashedLM:
    """A deterministic random next-token distribution over a small vocabulary, keyed on the last tokens."""

    def __init__(self, seed: int, vocab: int = 40, context: int = 4, spread: float = 2.0) -> None:
        self.seed, self.vocab, self.context, self.spread = seed, vocab, context, spread
        self.calls = 0

    def _dist(self, prefix: tuple[int, ...]) -> np.ndarray:
        key = repr((self.seed, prefix[-self.context :])).encode()
        rng = np.random.default_rng(int(hashlib.sha256(key).hexdigest()[:8], 16))
        logits = rng.normal(size=self.vocab) * self.spread
        return logits - np.logaddexp.reduce(logits)

    def score(self, sequences, watch):  # type: ignore[no-untyped-def]
        self.calls += 1
        out = []
        for seq in sequences:
            dists = [self._dist(tuple(seq[:p])) for p in range(len(seq))]
            out.append(
                (
                    [float(d[t]) for d, t in zip(dists, seq, strict=True)],
                    [[float(d[w]) for w in watch] for d in dists],
                )
            )
        return out


def placements_of(result) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    return [(p.start, p.end) for p in result.best]


def random_problem(rng: random.Random, case: int) -> PairProblem:
    n = rng.randint(1, 14)
    template = tuple(rng.randrange(3, 40) for _ in range(n))
    boundaries = frozenset(p for p in range(n + 1) if p in (0, n) or rng.random() < 0.8)
    openings = frozenset(rng.sample(range(n), rng.randint(1, n))) if case % 4 == 0 else None
    return PairProblem(
        template,
        0,
        (1,) if case % 2 else (1, 7),
        (2,) if case % 3 else (2, 5),
        boundaries=boundaries,
        openings=openings,
        closable=(lambda i, j: j - i <= 6) if case % 5 == 0 else None,
    )


def test_branch_and_bound_equals_brute_force_on_random_cases() -> None:
    agree = total = 0
    for case in range(400):
        rng = random.Random(case)
        problem = random_problem(rng, case)
        lm = HashedLM(case, spread=rng.choice([0.5, 2.0, 4.0]))
        exact = branch_and_bound(
            problem,
            lm,
            SearchSettings(n_best=rng.choice([1, 5]), batch_rows=rng.choice([1, 3, 16])),
        )
        reference = brute_force(problem, lm, n_best=len(exact.best) or 1)
        assert placements_of(exact) == placements_of(reference), f"case {case}"
        assert [round(p.score, 9) for p in exact.best] == [
            round(p.score, 9) for p in reference.best
        ]
        assert exact.stats.placements == len(problem.placements())
        allowed = set(problem.placements())
        assert all(p in allowed for p in placements_of(exact))
        if reference.best:
            heuristic = branch_and_bound(problem, lm, SearchSettings(alpha=1))
            total += 1
            agree += (
                bool(heuristic.best) and placements_of(heuristic)[0] == placements_of(reference)[0]
            )
    # The heuristic is approximate: it mostly agrees (the rate is reported by the benchmark).
    assert 0.5 < agree / total <= 1.0


def test_no_placement_when_nothing_is_allowed() -> None:
    problem = PairProblem(
        (5, 6), 0, (1,), (2,), boundaries=frozenset({0, 2}), openings=frozenset({1})
    )
    assert problem.placements() == []
    result = branch_and_bound(problem, HashedLM(0), SearchSettings())
    assert result.best == () and brute_force(problem, HashedLM(0)).best == ()


def test_outputs_are_the_template_with_the_markers_inserted() -> None:
    problem = PairProblem((10, 11, 12), 0, (1,), (2, 3))
    assert problem.output(1, 3) == [10, 1, 11, 12, 2, 3, 0]
    assert problem.opened(0) == [1, 10, 11, 12, 0] and problem.plain() == [10, 11, 12, 0]
    assert len(problem.placements()) == 6  # n(n+1)/2 for n = 3


def test_candidate_openings_shift_rule() -> None:
    plain = [-1.0] * 20
    marked = list(plain)
    marked[8] -= 0.7  # a strong shift
    marked[4] -= 0.2  # weak, within 5 of it
    marked[15] -= 0.2  # weak, too far
    marked[12] += 0.05  # too small
    assert candidate_openings(plain, marked) == frozenset({4, 8})
    assert candidate_openings(plain, plain) is None  # nothing shifts: no filter
    with pytest.raises(ValueError):
        candidate_openings(plain, plain[:-1])


def test_search_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="n_best"):
        SearchSettings(n_best=0)
    with pytest.raises(ValueError, match="alpha"):
        SearchSettings(alpha=-1)
    assert SearchSettings(alpha=5).describe() == "bnb:heuristic(alpha=5),n=5,rows=16"


# -- on the real tiny MT model ---------------------------------------------------------


@pytest.fixture(scope="module")
def translator(tiny_mt_dir: Path):  # type: ignore[no-untyped-def]
    import torch

    from xprompt.backends.seq2seq import Seq2SeqTranslator
    from xprompt.mt.base import DecodingSettings

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: threads only add synchronisation
    yield Seq2SeqTranslator(str(tiny_mt_dir), decoding=DecodingSettings(max_new_tokens=10))
    torch.set_num_threads(threads)


WORDS = "Barack Obama visited Kano on Tuesday with officials of the World Bank in Abuja".split()


def test_exact_search_matches_brute_force_on_the_tiny_mt_model(translator) -> None:  # type: ignore[no-untyped-def]
    from xprompt.mt.base import TranslationRequest
    from xprompt.projection.projector import mark_one
    from xprompt.projection.scoring import CallCounter, MTScorer, template_tokens
    from xprompt.projection.spans import Span

    open_ids = tuple(translator.tokenize(["["])[0])
    close_ids = tuple(translator.tokenize(["]"])[0])
    counter = CallCounter()
    checked = bnb_leaves = brute_leaves = 0
    vocab = [
        i for i in range(len(translator.tokenizer)) if i not in translator.tokenizer.all_special_ids
    ]
    for case in range(24):
        rng = random.Random(case)
        words = rng.sample(WORDS, rng.randint(3, 8))
        source = " ".join(words)
        k = rng.randrange(len(words))
        start = len(" ".join(words[:k])) + (1 if k else 0)
        span = Span(start, start + len(words[k]), "LOC")
        tgt = rng.choice(["hau_Latn", "yor_Latn", "swh_Latn"])
        if case % 2:  # a real (gibberish) translation as the template
            text = translator.translate([TranslationRequest(source, "eng_Latn", tgt)])[0].text
            tokens = template_tokens(translator.tokenizer, text)
            ids, boundaries, closable = tokens.ids[:12], tokens.boundaries, tokens.closable
        else:  # random token ids
            ids, boundaries, closable = tuple(rng.sample(vocab, rng.randint(2, 10))), None, None
        if not ids:
            continue
        encoded = translator.encode([source, mark_one(source, span)], "eng_Latn", tgt)
        scorer = MTScorer(translator, encoded, 1, tgt, counter)
        problem = PairProblem(ids, translator.eos_id, open_ids, close_ids,
                              boundaries=boundaries, closable=closable)  # fmt: skip
        exact = branch_and_bound(problem, scorer, SearchSettings(n_best=5, batch_rows=8))
        reference = brute_force(problem, scorer, n_best=5)
        # Same placements in the same order; scores equal up to float noise between batch shapes.
        for got, want in zip(exact.best, reference.best, strict=True):
            assert (got.start, got.end) == (want.start, want.end) or math.isclose(
                got.score, want.score, abs_tol=1e-4
            ), f"case {case}: {exact.best} vs {reference.best}"
            assert math.isclose(got.score, want.score, abs_tol=1e-3)
        checked += 1
        bnb_leaves += exact.stats.leaves
        brute_leaves += reference.stats.leaves
    assert checked >= 20
    assert (
        bnb_leaves <= brute_leaves
    )  # never more complete outputs scored than there are placements
    assert counter.calls > 0 and counter.sequences >= bnb_leaves + brute_leaves
