"""Records validate their invariants and are immutable."""

from __future__ import annotations

import dataclasses

import pytest

from xprompt.types import Constraint, Example, Message, Request, Sampling


def test_sampling_validation_and_signature() -> None:
    assert Sampling().signature() == "t=0,p=1,max=64,n=1,seed=0"
    with pytest.raises(ValueError, match="n > 1 needs temperature > 0"):
        Sampling(n=3)
    with pytest.raises(ValueError, match="top_p"):
        Sampling(top_p=0)
    assert (
        Sampling(temperature=0.7, n=5, stop=["\n"]).signature()
        == 't=0.7,p=1,max=64,n=5,seed=0,stop=["\\n"]'
    )


def test_constraint_needs_exactly_one_kind() -> None:
    with pytest.raises(ValueError):
        Constraint()
    with pytest.raises(ValueError):
        Constraint(choices=("a",), regex="a")
    assert Constraint(choices=["a", "b"]).choices == ("a", "b")


def test_request_needs_messages_or_prompt_and_digest_is_stable() -> None:
    with pytest.raises(ValueError):
        Request("r")
    a = Request("r1", messages=[Message("user", "ሰላም")])
    b = Request("r2", messages=(Message("user", "ሰላም"),), sampling=Sampling(max_tokens=5))
    assert a.digest() == b.digest(), "the digest covers what was sent, not ids or settings"
    assert a.digest() != Request("r3", prompt="ሰላም").digest()


def test_records_are_immutable() -> None:
    example = Example("e", "hau_Latn", {"text": "x"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        example.lang = "yor_Latn"  # type: ignore[misc]
    with pytest.raises(TypeError):
        example.fields["text"] = "y"  # type: ignore[index]
    changed = example.with_fields(text="y")
    assert (example.fields["text"], changed.fields["text"]) == ("x", "y")
