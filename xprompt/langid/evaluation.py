"""How far to trust the off-target check for your languages: measure it on your own text.

Give one file per language (one sentence per line). Every file is checked
against every target language:

- a file checked against its own language measures **false alarms** (correct
  text flagged off-target) and how often the check cannot tell (``uncertain``);
- a file checked against another language measures **recall** (output in the
  wrong language caught), e.g. English output for a Hausa prompt, or Rundi
  output for a Kinyarwanda prompt.

``xprompt langid eval`` and ``benchmarks/langid_accuracy.py`` are built on this.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xprompt import languages
from xprompt.errors import DataError, UnknownLanguageError
from xprompt.langid.equivalence import language_key
from xprompt.langid.text import normalize
from xprompt.types import LangCheck


def read_lines(path: str | os.PathLike[str]) -> list[str]:
    """Non-empty lines of a UTF-8 text file, NFC. DataError names the file (and line) if unreadable."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such file")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{p}: line {line} is not valid UTF-8 ({exc.reason})") from None
    return [normalize(line.strip()) for line in text.splitlines() if line.strip()]


def corpus_from_files(specs: Iterable[str]) -> dict[str, list[str]]:
    """``["hau_Latn.txt", "eng=english.txt"]`` -> {canonical code: sentences}.

    A spec is ``PATH`` (language from the file name, e.g. ``hau_Latn.txt`` or
    ``ha.txt``) or ``LANG=PATH``. Raises DataError / UnknownLanguageError.
    """
    corpus: dict[str, list[str]] = {}
    for spec in specs:
        lang_part, sep, path_part = spec.partition("=")
        path = Path(path_part if sep else spec)
        name = lang_part if sep else path.name.split(".")[0]
        lines = read_lines(path)
        try:
            code = languages.resolve(name).code
        except UnknownLanguageError as exc:
            raise UnknownLanguageError(
                f"{spec}: cannot tell the language from the name {name!r}; "
                f"name the file like hau_Latn.txt or write LANG=PATH ({exc})"
            ) from None
        if code in corpus:
            raise DataError(f"{spec}: a second file for {code}; give one file per language")
        if not lines:
            raise DataError(f"{path}: no sentences (one sentence per line)")
        corpus[code] = lines
    return corpus


@dataclass
class Cell:
    """Verdict counts for one (expected language, actual language of the text) pair."""

    n: int = 0
    on: int = 0
    off: int = 0
    uncertain: int = 0
    mixed: int = 0
    rules: Counter[str] = field(default_factory=Counter)

    def add(self, check: LangCheck) -> None:
        """Count one check."""
        self.n += 1
        setattr(self, check.verdict, getattr(self, check.verdict) + 1)
        self.rules[check.rule] += 1

    def __iadd__(self, other: Cell) -> Cell:
        self.n += other.n
        self.on += other.on
        self.off += other.off
        self.uncertain += other.uncertain
        self.mixed += other.mixed
        self.rules.update(other.rules)
        return self

    @property
    def flagged(self) -> int:
        """Texts the check flags: wholly ``off`` or ``mixed`` (an off-target line)."""
        return self.off + self.mixed

    def rate(self, verdict: str) -> float | None:
        """Share of texts with ``verdict`` (None when there are none)."""
        return getattr(self, verdict) / self.n if self.n else None

    def to_dict(self) -> dict[str, Any]:
        """Counts as plain JSON values."""
        out: dict[str, Any] = {
            "n": self.n,
            "on": self.on,
            "off": self.off,
            "uncertain": self.uncertain,
        }
        if self.mixed:
            out["mixed"] = self.mixed
        out["rules"] = dict(self.rules.most_common())
        return out


@dataclass
class Evaluation:
    """Verdict counts for every (expected, actual) pair that was checked, and the checker signature."""

    signature: str
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)

    def cell(self, expected: str, actual: str) -> Cell:
        """The counts for texts in ``actual`` checked against ``expected`` (empty if not run)."""
        return self.cells.get((expected, actual), Cell())

    def pooled(self, expected: str, actuals: Iterable[str]) -> Cell:
        """Counts over several actual languages, pooled by text."""
        out = Cell()
        for actual in actuals:
            out += self.cell(expected, actual)
        return out

    def targets(self) -> list[str]:
        """The expected languages that were checked against, sorted."""
        return sorted({e for e, _ in self.cells})

    def summary(self, pivot: str = "eng_Latn") -> list[dict[str, Any]]:
        """Per target: false alarms and uncertain on its own text, pivot caught, others caught."""
        rows = []
        actuals = sorted({a for _, a in self.cells})
        for target in self.targets():
            own = [a for a in actuals if language_key(a) == language_key(target)]
            others = [a for a in actuals if a not in own and a != pivot]
            rows.append(
                {
                    "target": target,
                    "own": self.pooled(target, own).to_dict(),
                    "pivot": self.cell(target, pivot).to_dict()
                    if pivot not in own and (target, pivot) in self.cells
                    else None,
                    "others": self.pooled(target, others).to_dict() if others else None,
                }
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        """Every cell and the checker signature as plain JSON values."""
        return {
            "signature": self.signature,
            "cells": [
                {"expected": e, "actual": a, **c.to_dict()}
                for (e, a), c in sorted(self.cells.items())
            ],
        }


def evaluate(
    check: Callable[[str, str], LangCheck],
    corpus: Mapping[str, Sequence[str]],
    *,
    targets: Sequence[str] | None = None,
    pairs: Iterable[tuple[str, str]] | None = None,
    signature: str = "",
) -> Evaluation:
    """Check corpus texts against target languages.

    By default every file is checked against every target (``targets``:
    default all corpus languages); ``pairs`` limits it to (expected, actual)
    pairs. ``check`` is ``Checker.check`` or any ``LangChecker``.
    """
    result = Evaluation(signature)
    if pairs is None:
        wanted = [(t, a) for t in (targets or list(corpus)) for a in corpus]
    else:
        wanted = list(dict.fromkeys(pairs))
    for expected, actual in wanted:
        if actual not in corpus:
            raise DataError(f"no text for {actual} (have: {', '.join(sorted(corpus))})")
        cell = result.cells.setdefault((expected, actual), Cell())
        for text in corpus[actual]:
            cell.add(check(text, expected))
    return result
