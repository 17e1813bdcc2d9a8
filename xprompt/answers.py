"""Answer extraction: turn a model's text into a canonical answer, recording the rule that fired.

Parsers:
- ``choice``: map the text onto the label set (display names in the prompt
  language, or canonical labels). An exact match wins; otherwise the label that
  appears first in the text; otherwise no answer.
- ``number``: the last number in the text.
- ``text``: the stripped text itself.
- ``regex``: the first group of the template's pattern.

Every extraction says which rule produced it (``exact``, ``contains``,
``last-number``, ...) or why nothing was found (``no-label``, ``no-number``),
so extraction failures can be counted per language.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

NUMBER = re.compile(r"-?\d+(?:[.,]\d+)*")


@dataclass(frozen=True, slots=True)
class Extraction:
    """A canonical answer (or None) and the rule that produced it."""

    value: str | None
    rule: str

    @property
    def ok(self) -> bool:
        return self.value is not None


def extract_choice(text: str, shown: Sequence[str], canonical: Sequence[str]) -> Extraction:
    """Map generated text onto a label set. ``shown[i]`` is how label ``canonical[i]`` was displayed."""
    stripped = text.strip().strip(".:;!\"'`*").strip()
    key = stripped.casefold()
    for name, label in zip(shown, canonical, strict=True):
        if key in (name.casefold(), label.casefold()):
            return Extraction(label, "exact")
    lowered = text.casefold()
    best: tuple[int, int, str] | None = None
    for name, label in zip(shown, canonical, strict=True):
        for candidate in {name.casefold(), label.casefold()}:
            pos = lowered.find(candidate)
            # Earliest mention wins; on a tie the longer name (travel vs. travel/tourism) wins.
            if pos >= 0 and (best is None or (pos, -len(candidate)) < (best[0], best[1])):
                best = (pos, -len(candidate), label)
    if best is not None:
        return Extraction(best[2], "contains")
    return Extraction(None, "no-label")


def extract_number(text: str) -> Extraction:
    """The last number in the text, commas as thousands separators removed."""
    found = NUMBER.findall(text)
    if not found:
        return Extraction(None, "no-number")
    value = found[-1].replace(",", "")
    return Extraction(value, "last-number")


def extract_regex(text: str, pattern: str) -> Extraction:
    """The first group (or the whole match) of ``pattern``'s first match."""
    match = re.search(pattern, text)
    if match is None:
        return Extraction(None, "no-match")
    value = match.group(1) if match.groups() else match.group(0)
    return Extraction(value.strip(), "regex")


def extract_text(text: str) -> Extraction:
    """The stripped text; empty text is no answer."""
    stripped = text.strip()
    return Extraction(stripped or None, "text" if stripped else "empty")


def majority_vote(
    values: Sequence[str | None], order: Sequence[str] | None = None
) -> tuple[str | None, dict[str, int]]:
    """Plain majority over non-missing values.

    Ties go to the value whose first supporter comes earliest in ``values``
    (callers order paths by their tie rule, e.g. CLSP's language order).
    ``order`` is accepted for readability at call sites and must match ``values``.
    """
    if order is not None and len(order) != len(values):
        raise ValueError("order must name one entry per value")
    counts = Counter(v for v in values if v is not None)
    if not counts:
        return None, {}
    top = max(counts.values())
    for value in values:
        if value is not None and counts[value] == top:
            return value, dict(counts)
    raise AssertionError("unreachable")


def is_correct(prediction: str | None, target: str, parser: str) -> bool:
    """Whether a canonical prediction equals the gold target under the parser's notion of equality.

    Numbers are equal when they agree to two decimals (the MGSM convention);
    labels and texts compare after stripping, labels also case-insensitively.
    """
    if prediction is None:
        return False
    if parser == "number":
        try:
            return round(float(prediction.replace(",", "")), 2) == round(
                float(target.replace(",", "")), 2
            )
        except ValueError:
            return False
    if parser == "choice":
        return prediction.strip().casefold() == target.strip().casefold()
    return prediction.strip() == target.strip()
