"""Exemplar selection: seeded, documented rules; per-language draws; a query is never its own exemplar."""

from __future__ import annotations

import pytest

from xprompt.errors import ConfigError
from xprompt.exemplars import ExemplarSelector, NotEnoughExemplars
from xprompt.types import Example

LABELS = ["a", "b", "c"]


def pool() -> list[Example]:
    rows = []
    for lang in ("hau_Latn", "eng_Latn"):
        for i in range(9):
            rows.append(
                Example(f"{lang[:3]}{i}", lang, {"text": f"{lang} {i}"}, target=LABELS[i // 3])
            )
    return rows


def ids(examples) -> list[str]:
    return [e.id for e in examples]


def query(lang: str = "hau_Latn", qid: str = "q") -> Example:
    return Example(qid, lang, {"text": "query"})


def test_first_rule_takes_pool_order_in_the_query_language() -> None:
    selector = ExemplarSelector(pool(), k=3, rule="first")
    assert ids(selector.select(query())) == ["hau0", "hau1", "hau2"]
    assert ids(selector.select(query("eng_Latn"))) == ["eng0", "eng1", "eng2"]


def test_random_rule_is_seeded_and_shared_within_a_language() -> None:
    a = ExemplarSelector(pool(), k=4, rule="random", seed=1)
    b = ExemplarSelector(pool(), k=4, rule="random", seed=1)
    c = ExemplarSelector(pool(), k=4, rule="random", seed=2)
    first = ids(a.select(query(qid="x")))
    assert first == ids(b.select(query(qid="y"))), (
        "same seed, same language: same exemplars (shared prefix)"
    )
    assert first != ids(c.select(query(qid="x")))
    assert all(i.startswith("hau") for i in first)


def test_per_row_draws_differ_between_rows_but_are_reproducible() -> None:
    selector = ExemplarSelector(pool(), k=3, rule="random", per_row=True)
    draws = {ids(selector.select(query(qid=f"r{i}"))).__repr__() for i in range(6)}
    assert len(draws) > 1
    again = ExemplarSelector(pool(), k=3, rule="random", per_row=True)
    assert ids(again.select(query(qid="r3"))) == ids(selector.select(query(qid="r3")))


def test_balanced_rule_cycles_through_labels_in_template_order() -> None:
    selector = ExemplarSelector(pool(), k=6, rule="balanced", labels=["c", "a", "b"])
    chosen = selector.select(query())
    assert [e.target for e in chosen] == ["c", "a", "b", "c", "a", "b"]


def test_fixed_exemplar_language_and_mixed_pool() -> None:
    english = ExemplarSelector(pool(), k=2, rule="first", language="en")
    assert ids(english.select(query("hau_Latn"))) == ["eng0", "eng1"]
    mixed = ExemplarSelector(pool(), k=2, rule="first", language="any")
    assert ids(mixed.select(query("yor_Latn"))) == ["hau0", "hau1"]


def test_query_is_never_its_own_exemplar() -> None:
    selector = ExemplarSelector(pool(), k=3, rule="first")
    assert ids(selector.select(query(qid="hau1"))) == ["hau0", "hau2", "hau3"]


def test_too_few_exemplars_and_bad_settings() -> None:
    selector = ExemplarSelector(pool(), k=3, rule="first")
    with pytest.raises(NotEnoughExemplars, match="0 usable rows in yor_Latn, 3 needed"):
        selector.select(query("yor_Latn"))
    with pytest.raises(ConfigError, match="needs an exemplar pool"):
        ExemplarSelector([], k=2)
    with pytest.raises(ConfigError, match="unknown exemplar selection rule"):
        ExemplarSelector(pool(), k=2, rule="best")  # type: ignore[arg-type]
    unlabeled = [Example("u", "eng_Latn", {"text": "x"})]
    with pytest.raises(ConfigError, match="needs a target"):
        ExemplarSelector(unlabeled, k=1, rule="balanced")
    assert ExemplarSelector([], k=0).select(query()) == ()


def test_signature_covers_the_pool_content() -> None:
    base = ExemplarSelector(pool(), k=2).signature()
    edited = pool()
    edited[0] = edited[0].with_fields(text="changed")
    assert ExemplarSelector(edited, k=2).signature() != base
    assert ExemplarSelector(pool(), k=2).signature() == base
    assert "pool=" not in ExemplarSelector([], k=0).signature()
