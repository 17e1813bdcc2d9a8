"""Evaluation scores against values computed by hand: accuracy, chrF++ (with its sacrebleu signature),
span F1, and bootstrap intervals with a fixed seed."""

from __future__ import annotations

import pytest

from xprompt.evals.measure import measure_project, measure_run, run_cost
from xprompt.evals.scoring import Bootstrap, accuracy, chrf_pp, span_f1
from xprompt.projection.spans import Span

BOOT = Bootstrap(1000, 12345)


def test_accuracy_is_percent_correct_with_degenerate_intervals_by_hand() -> None:
    result = accuracy([True, True, False, True], BOOT)
    assert result.score == 75.0 and result.n == 4
    assert result.signature.endswith("ci:95%|bs:1000|rs:12345")
    # All correct: every resample is 100.
    perfect = accuracy([True] * 5, BOOT)
    assert (perfect.low, perfect.high) == (100.0, 100.0)
    # One right, one wrong: a resample is 0, 50 or 100 (probabilities 1/4, 1/2, 1/4), so
    # the 26th smallest of 1000 resamples is 0 and the 26th largest is 100.
    half = accuracy([True, False], BOOT)
    assert (half.score, half.low, half.high) == (50.0, 0.0, 100.0)
    assert accuracy([], BOOT).score is None


def test_bootstrap_interval_is_fixed_by_its_seed_and_follows_the_percentile_rule() -> None:
    import numpy as np

    correct = [True, False, True, True, False, True, False, True, True, True]
    first = accuracy(correct, Bootstrap(1000, 7))
    again = accuracy(correct, Bootstrap(1000, 7))
    assert (first.low, first.high) == (again.low, again.high)
    # The rule, spelled out: resample row indices with numpy's generator at the seed,
    # sort the resampled accuracies, take positions n//40 and n - n//40 - 1.
    idxs = np.random.default_rng(7).choice(10, size=(1000, 10), replace=True)
    scores = sorted(100.0 * np.asarray(correct, dtype=float)[row].mean() for row in idxs)
    assert first.low == pytest.approx(scores[25]) and first.high == pytest.approx(scores[974])
    assert first.low < first.score < first.high
    assert accuracy(correct, Bootstrap(0, 7)).low is None  # no resampling: no interval


def test_chrf_pp_by_hand_with_sacrebleu_signature() -> None:
    # hyp "ab", ref "ab c" (whitespace removed for character n-grams):
    #   char 1-grams hyp 2, ref 3, match 2; char 2-grams 1, 2, 1; char 3-grams 0, 1, 0 (no
    #   hypothesis n-grams: left out of the average); word 1-grams 1, 2, 1; word 2-grams 0, 1, 0.
    #   precision 1 on every counted order; recall (2/3 + 1/2 + 1/2) / 3 = 5/9.
    #   F(beta=2) = 5 * 1 * 5/9 / (4 * 1 + 5/9) = 25/41.
    one = chrf_pp(["ab"], ["ab c"], Bootstrap(0))
    assert one.score == pytest.approx(100 * 25 / 41)
    from sacrebleu.metrics import CHRF

    metric = CHRF(word_order=2)
    metric.corpus_score(["ab"], [["ab c"]])
    assert one.signature == f"{metric.get_signature().format()}|ci:none"
    assert one.signature.startswith("nrefs:1|case:mixed|eff:yes|nc:6|nw:2|space:no|version:")
    # Adding an exact match "xy"/"xy" sums the statistics: recall (4/5 + 2/3 + 2/3) / 3 = 32/45,
    # F = 5 * 32/45 / (4 + 32/45) = 40/53.
    two = chrf_pp(["ab", "xy"], ["ab c", "xy"], BOOT)
    assert two.score == pytest.approx(100 * 40 / 53)
    # Two segments: a resample is {ab, ab} (25/41), mixed (40/53) or {xy, xy} (100).
    assert two.low == pytest.approx(100 * 25 / 41) and two.high == pytest.approx(100.0)


def test_chrf_pp_interval_is_sacrebleus_bootstrap_with_the_same_seed(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from sacrebleu.metrics import CHRF

    hyps = ["the cat sat", "a dog ran far", "birds fly", "rain today", "the sun is hot", "x"]
    refs = ["the cat sat down", "the dog ran", "birds can fly", "it rains today", "sun hot", "y"]
    ours = chrf_pp(hyps, refs, Bootstrap(500, 2024))
    monkeypatch.setenv("SACREBLEU_SEED", "2024")
    theirs = CHRF(word_order=2).corpus_score(hyps, [refs], n_bootstrap=500)
    assert ours.score == pytest.approx(theirs.score)
    assert (ours.high - ours.low) / 2 == pytest.approx(theirs._ci, abs=1e-6)


def test_span_f1_by_hand() -> None:
    per, loc, org = Span(0, 5, "PER"), Span(10, 15, "LOC"), Span(10, 15, "ORG")
    sentences = [
        ([per, loc], [per, org]),  # tp 1, predicted 2, gold 2 (same offsets, wrong type)
        ([], []),
        ([Span(3, 7, "DATE")], []),  # a missed span
    ]
    # tp 1, predicted 2, gold 3: P = 1/2, R = 1/3, F1 = 2 * (1/6) / (5/6) = 0.4.
    result = span_f1(sentences, BOOT)
    assert result.score == pytest.approx(40.0) and result.n == 3
    assert result.signature.startswith("span-f1|match:exact-offsets+type|avg:micro")
    assert span_f1([([per], [per])], BOOT).score == 100.0


def test_measures_read_records_of_each_job() -> None:
    steps = [
        {"step": "mt:text", "prompt_tokens": 0, "completion_tokens": 9, "texts": ["x"]},
        {
            "step": "answer",
            "prompt_tokens": 100,
            "completion_tokens": 5,
            "texts": ["sports"],
            "checks": [{"verdict": "off"}],
            "guard": {"policy": "retry", "attempts": [{"attempt": 1}]},
        },
    ]
    records = [
        {
            "index": 0,
            "id": "a",
            "lang": "hau_Latn",
            "target": "sports",
            "prediction": "sports",
            "correct": True,
            "extraction": "label",
            "error": None,
            "steps": steps,
        },
        {
            "index": 1,
            "id": "b",
            "lang": "hau_Latn",
            "target": "travel",
            "prediction": None,
            "correct": False,
            "extraction": "no-label",
            "error": None,
            "steps": steps,
        },
    ]
    measured = measure_run(records, "accuracy", Bootstrap(0), llm_translates=False)
    assert measured.metric.score == 50.0
    assert measured.no_answer_rate == 0.5 and measured.off_target_rate == 1.0
    cost = measured.cost
    # Per row: the MT step (1 MT call, 9 tokens) and the answer step plus one guard retry.
    assert (cost.llm_calls, cost.mt_calls, cost.mt_tokens) == (4, 2, 18)
    assert (cost.prompt_tokens, cost.generated_tokens) == (200, 10)
    as_llm = run_cost(records, llm_translates=True)  # self-translate: the MT steps are LLM calls
    assert (as_llm.llm_calls, as_llm.mt_calls, as_llm.generated_tokens) == (6, 0, 28)

    projected = {
        "original": "Aminu ya tafi Kano .",
        "gold": [{"start": 0, "end": 5, "label": "PER"}, {"start": 14, "end": 18, "label": "LOC"}],
        "text": "Aminu ya tafi Kano .",
        "spans": [{"start": 0, "end": 5, "label": "PER"}],
        "status": "partial",
        "stats": {"calls": 12},
    }
    failed = {
        **projected,
        "spans": [],
        "status": "failed",
        "stats": {},
        "method": "markers",
        "english": {
            "text": "Aminu went to Kano .",
            "spans": [{"start": 0, "end": 5, "label": "PER"}],
        },
    }
    result = measure_project([projected, failed], Bootstrap(0))
    # tp 1, predicted 1, gold 4: F1 = 2 / 5.
    assert result.metric.score == pytest.approx(40.0)
    assert result.no_answer_rate == 0.5
    assert result.cost.mt_calls == 12 + 2
