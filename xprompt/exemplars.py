"""Few-shot exemplar selection from a pool, by a seeded, documented rule.

Rules (``rule``):
- ``first``: the first k pool rows, in pool order.
- ``random``: k rows drawn without replacement by ``random.Random(f"{seed}|{lang}")``.
- ``balanced``: label-balanced: each label's rows shuffled by that generator,
  then one row per label in turn (labels in the template's order) until k.

Language (``language``):
- ``same`` (default): exemplars in the query's own language;
- a language code (``eng_Latn``): exemplars in that language for every query;
- ``any``: draw from the whole pool regardless of language (mixed).

By default exemplars are drawn once per query language, so every prompt of
that language starts with the same exemplars and vLLM's prefix cache serves
them once; ``per_row=True`` draws per row (seeded by the row id). A query never
serves as its own exemplar: when it would, the next candidate takes its place.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from xprompt import data, languages
from xprompt.errors import ConfigError, DataError
from xprompt.ldp import exemplar_set
from xprompt.types import Example

Rule = Literal["first", "random", "balanced"]
RULES: tuple[str, ...] = ("first", "random", "balanced")


class NotEnoughExemplars(ValueError):
    """The pool has fewer usable rows than ``k`` for a query (recorded as that row's error)."""


@dataclass
class ExemplarSelector:
    """Selects k exemplars for a query from a pool. Deterministic given the seed."""

    pool: Sequence[Example]
    k: int
    rule: Rule = "first"
    language: str = "same"
    seed: int = 0
    per_row: bool = False
    labels: Sequence[str] | None = None
    _cache: dict[str, tuple[Example, ...]] = field(default_factory=dict, repr=False)
    #: Per key: the first k candidates and their ids (a query not among them gets exactly those).
    _heads: dict[str, tuple[tuple[Example, ...], frozenset[str]]] = field(
        default_factory=dict, repr=False
    )

    def __post_init__(self) -> None:
        if self.k < 0:
            raise ConfigError(f"number of shots must be >= 0, got {self.k}")
        if self.rule not in RULES:
            raise ConfigError(
                f"unknown exemplar selection rule '{self.rule}' (use one of {', '.join(RULES)})"
            )
        if self.k > 0 and not self.pool:
            raise ConfigError(f"{self.k}-shot prompting needs an exemplar pool (--exemplars FILE)")
        if self.language not in ("same", "any"):
            self.language = languages.resolve(self.language).code
        if self.rule == "balanced" and any(e.target is None for e in self.pool):
            raise ConfigError("label-balanced selection needs a target (label) on every pool row")
        self._by_lang: dict[str, list[Example]] = defaultdict(list)
        for example in self.pool:
            self._by_lang[example.lang].append(example)

    def pool_digest(self) -> str:
        """SHA-256 (first 12 hex digits) of the pool's content: edit the pool and runs no longer match."""
        sha = hashlib.sha256()
        for example in self.pool:
            row = [example.id, example.lang, example.target, sorted(example.fields.items())]
            sha.update(json.dumps(row, ensure_ascii=False).encode("utf-8"))
        return sha.hexdigest()[:12]

    def signature(self) -> str:
        """Every setting that changes which exemplars a query gets, the pool's content included."""
        per = ",per_row" if self.per_row else ""
        pool = f",pool={self.pool_digest()}" if self.k > 0 else ""
        return (
            f"k={self.k},select={self.rule},exemplars={self.language},seed={self.seed}{per}{pool}"
        )

    def candidates(self, query_lang: str) -> list[Example]:
        if self.language == "any":
            return list(self.pool)
        lang = query_lang if self.language == "same" else self.language
        return self._by_lang.get(lang, [])

    def select(self, query: Example) -> tuple[Example, ...]:
        """The exemplars for one query, in prompt order."""
        if self.k == 0:
            return ()
        key = f"{query.lang}|{query.id}" if self.per_row else query.lang
        head = self._heads.get(key)
        if head is not None and query.id not in head[1]:
            return head[0]
        ordered = self._cache.get(key)
        if ordered is None:
            ordered = tuple(self._order(self.candidates(query.lang), key))
            self._cache[key] = ordered
            if len(ordered) >= self.k:
                first = ordered[: self.k]
                self._heads[key] = (first, frozenset(e.id for e in first))
        chosen = tuple(e for e in ordered[: self.k + 1] if e.id != query.id)[: self.k]
        if len(chosen) < self.k:
            where = (
                "the pool"
                if self.language == "any"
                else f"{self.language if self.language != 'same' else query.lang}"
            )
            raise NotEnoughExemplars(
                f"exemplar pool has {len(chosen)} usable rows in {where}, {self.k} needed "
                "(use fewer shots, another pool, or --exemplar-lang any / eng_Latn)"
            )
        return chosen

    def _order(self, candidates: list[Example], key: str) -> list[Example]:
        if self.rule == "first":
            return candidates
        rng = random.Random(f"{self.seed}|{key}")
        if self.rule == "random":
            return rng.sample(candidates, len(candidates))
        groups: dict[str, list[Example]] = defaultdict(list)
        for example in candidates:
            groups[example.target or ""].append(example)
        for rows in groups.values():
            rng.shuffle(rows)
        label_order = [lab for lab in (self.labels or sorted(groups)) if lab in groups]
        label_order += sorted(set(groups) - set(label_order))
        out: list[Example] = []
        depth = 0
        while len(out) < len(candidates):
            for label in label_order:
                if depth < len(groups[label]):
                    out.append(groups[label][depth])
            depth += 1
        return out


def read_exemplar_pool(
    path: str, template_fields: Sequence[str], mapping: data.FieldMap, *, fmt: str | None = None
) -> list[Example]:
    """Read an exemplar pool; unlike a dataset, any bad row is an error (exemplars must be clean).

    A translation exemplar set (``xprompt synth`` pairs/triples, see
    ``xprompt.ldp.exemplar_set``) is read as such: ``text`` and ``target`` with
    derived tag and language-name fields.
    """
    if fmt in (None, "jsonl") and exemplar_set.is_exemplar_set(path):
        return exemplar_set.read_pool(path, template_fields)
    pool: list[Example] = []
    for item in data.read_examples(path, template_fields, mapping, fmt=fmt):
        if isinstance(item, data.RowError):
            raise DataError(f"exemplar pool {item.error}")
        pool.append(item)
    if not pool:
        raise DataError(f"exemplar pool {path} has no rows")
    return pool
