"""Lines and preambles: where chat models put the wrong language in an otherwise right answer.

The commonest confusion of instruction-tuned models (Marchisio et al. 2024,
the Language Confusion Benchmark) is not a wholly English answer but one
English line before on-target text: "Here is the translation in Hausa:" and
then Hausa. By letters that line is 7-20% of the answer, under the share that
makes a text off-target, so the check also judges **lines**:

- every line of at least :data:`MIN_LINE_WORDS` words (the benchmark's line
  unit) is judged as a whole; shorter lines (names, numbers, headings, code,
  list labels) are not, and lines that quote the source or are wholly in
  quotation marks are skipped;
- a **preamble**, the leading line or the text before the first colon, is
  caught however short, when it opens like a pivot language's assistant
  phrase ("Here is", "Sure!", "Voici", "Claro") or, ending with a colon, a
  detector names another language.

A response with an off-target line and on-target text is ``mixed`` (line
named in ``LangCheck.lines``), one with no on-target part stays ``off``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Lines with fewer words are never judged on their own (Language Confusion Benchmark: 5).
MIN_LINE_WORDS = 5

#: How assistant preambles open, per pivot language key (lower-cased, after markdown marks).
PREAMBLE_OPENERS: dict[str, str] = {
    "eng": r"sure\b|certainly\b|of course\b|absolutely\b|here(?:'s|’s| is| are)\b"
    r"|below (?:is|are)\b|the following\b|(?:the |a )?translation\b|i (?:have|will|can|'ll)\b",
    "fra": r"voici\b|voilà\b|bien sûr\b|certainement\b|d'accord\b|d’accord\b|ci-dessous\b"
    r"|(?:la |une )?traduction\b|je (?:vais|peux)\b",
    "spa": r"aquí (?:está|tienes|tiene|va)\b|claro\b|por supuesto\b|a continuación\b"
    r"|(?:la |una )?traducción\b",
    "por": r"aqui (?:está|estão|vai)\b|claro\b|com certeza\b|segue\b|(?:a |uma )?tradução\b",
}
_OPENERS = {
    key: re.compile(rf"[\s*#>_\-\"'“]*(?:{pattern})", re.IGNORECASE)
    for key, pattern in PREAMBLE_OPENERS.items()
}
_ANY_OPENER = re.compile(
    r"[\s*#>_\-\"'“]*(?:" + "|".join(PREAMBLE_OPENERS.values()) + ")", re.IGNORECASE
)
#: Canonical code reported for a preamble caught by its opener.
PREAMBLE_CODES = {"eng": "eng_Latn", "fra": "fra_Latn", "spa": "spa_Latn", "por": "por_Latn"}

_WORD = re.compile(r"[^\W\d_]+")
_LINE = re.compile(r"[^\n]+")
_QUOTES = ("\"'“”«»„‘’「」", "\"'“”«»“‘’「」")
_FIRST_SENTENCE = re.compile(r"[^\n]*?[.!?…:](?=\s|$)")


@dataclass(frozen=True, slots=True)
class Line:
    """A non-blank line of the (masked) text: offsets, its words, and whether it may be judged."""

    start: int
    end: int
    text: str
    words: int


_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def has_latin_word(text: str) -> bool:
    """Whether ``text`` holds a word of two or more ASCII Latin letters (English inside non-Latin text)."""
    return _LATIN_WORD.search(text) is not None


def words(text: str) -> int:
    """Number of letter runs in ``text``."""
    return len(_WORD.findall(text))


def lines(masked: str) -> list[Line]:
    """The non-blank lines of ``masked`` with offsets (stripped)."""
    out = []
    for match in _LINE.finditer(masked):
        raw = match.group()
        stripped = raw.strip()
        if not stripped:
            continue
        start = match.start() + len(raw) - len(raw.lstrip())
        out.append(Line(start, start + len(stripped), stripped, words(stripped)))
    return out


def is_quote(line: str) -> bool:
    """Whether ``line`` is a quotation: wholly in quotation marks, or a ``>`` quote.

    A line copied from the source without quotation marks is no quotation: in a
    translation it is an untranslated line, which is what the check is for.
    """
    if line.startswith(">"):
        return True
    return len(line) > 2 and line[0] in _QUOTES[0] and line[-1] in _QUOTES[1]


def may_have_lines(masked: str) -> bool:
    """Cheap test: whether the line layer has anything to look at (several lines, a lead-in)."""
    return "\n" in masked.strip() or ":" in masked or _ANY_OPENER.match(masked) is not None


def opener(text: str, skip: str) -> str | None:
    """The pivot language key whose assistant phrase opens ``text`` (not ``skip``), else None."""
    for key, pattern in _OPENERS.items():
        if key != skip and pattern.match(text):
            return key
    return None


def preamble_span(masked: str, all_lines: list[Line]) -> tuple[int, int] | None:
    """Where a preamble could be: the leading line of several, or a single line's lead-in.

    For several lines: the first line. For one line: the text up to the first
    colon (within the first 200 characters) or, failing that, the first
    sentence. None when there is nothing before the rest of the text.
    """
    if not all_lines:
        return None
    first = all_lines[0]
    if len(all_lines) > 1:
        return first.start, first.end
    head = masked[first.start : first.start + 200]
    colon = head.find(":")
    if 0 < colon < len(first.text) - 1:
        return first.start, first.start + colon + 1
    match = _FIRST_SENTENCE.match(head)
    if match and match.end() < len(first.text):
        return first.start, first.start + match.end()
    return None
