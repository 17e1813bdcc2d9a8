"""The simulated engine behind benchmarks/pipeline.py: batching, lengths, prefix cache, accounting."""

from __future__ import annotations

from xprompt.testing.simulated import LengthModel, SimulatedEngine, prompt_tokens
from xprompt.types import Constraint, Message, Request, Sampling


def fixed(tokens: int):
    return lambda request: LengthModel(median=tokens, sigma=0.0)


def chat(rid: str, *contents: str) -> Request:
    """A chat request; every message but the last is the cacheable prefix."""
    messages = tuple(Message("user", c) for c in contents)
    return Request(rid, messages=messages, sampling=Sampling(max_tokens=64))


def test_continuous_batching_counts_steps_and_tokens() -> None:
    engine = SimulatedEngine(fixed(3), capacity=2, step_s=0.0, prefill_budget=10_000)
    try:
        requests = [chat(f"r{i}", "hello there") for i in range(4)]
        out = engine.generate(requests)
        stats = engine.stats()
    finally:
        engine.close()
    assert [c.request_id for c in out] == ["r0", "r1", "r2", "r3"], "same order as the requests"
    assert all(c.completion_tokens == 3 and len(c.texts) == 1 for c in out)
    # Two waves of two sequences: one prefill step and three decode steps each.
    assert stats.steps == 8 and stats.decoded_tokens == 12 and stats.sequences == 4


def test_lengths_are_seeded_by_request_id_and_capped() -> None:
    model = lambda request: LengthModel(median=40, sigma=1.0)  # noqa: E731
    runs = []
    for _ in range(2):
        engine = SimulatedEngine(model, step_s=0.0)
        try:
            runs.append(
                [
                    c.completion_tokens
                    for c in engine.generate([chat(f"q{i}", "x") for i in range(20)])
                ]
            )
        finally:
            engine.close()
    assert runs[0] == runs[1] and len(set(runs[0])) > 5 and max(runs[0]) <= 64


def test_seen_prefixes_are_not_prefilled_again() -> None:
    exemplars = "exemplar " * 400
    first, second = chat("a", exemplars, "query one"), chat("b", exemplars, "query two")
    head, _, rest = prompt_tokens(first)
    engine = SimulatedEngine(fixed(1), step_s=0.0)
    try:
        engine.generate([first])
        engine.generate([second])
        stats = engine.stats()
    finally:
        engine.close()
    assert stats.prefill_tokens == head + rest + prompt_tokens(second)[2]


def test_busy_share_and_samples() -> None:
    engine = SimulatedEngine(fixed(2), capacity=4, step_s=0.001)
    try:
        request = Request(
            "c",
            prompt="Topic?",
            sampling=Sampling(n=3, temperature=0.7, max_tokens=4),
            constraint=Constraint(choices=("a", "b")),
        )
        (out,) = engine.generate([request])
        stats = engine.stats()
    finally:
        engine.close()
    assert len(out.texts) == 3 and set(out.texts) <= {"a", "b"}, "n samples, each a choice"
    assert 0 < stats.busy_s <= stats.step_s, "busy is the capacity-weighted part of stepping"
