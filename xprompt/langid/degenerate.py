"""Two failure modes that language ID alone misses: copying the source, and repeating.

- **Copy of source**: an MT step (or a "translate, then answer" step) returns
  its input untranslated. Between related languages, or when the input is
  mostly names, a language identifier may even agree with the copy, so it is
  compared with the source directly: the share of the output's character
  4-grams (letters only, casefolded) that occur in the source.
- **Degenerate repetition**: a model stuck in a loop ("the the the ...", one
  sentence over and over). A token n-gram (n = 1..16) repeated three or more
  times in a row, covering at least half of the tokens, or at least half of the
  sentences being exact repeats, marks the text. Tokens are words, or
  characters in scripts written without spaces (Thai, Burmese, Khmer, CJK).
"""

from __future__ import annotations

import itertools
import re

_NON_LETTERS = re.compile(r"[\W\d_]+")
# Scripts written without spaces between words: Thai, Lao, Myanmar, Khmer, kana, Han, Hangul syllables.
_UNSPACED = re.compile(r"[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u9fff]")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？።।။។])\s*|\n+")


def _grams(text: str, n: int = 4) -> set[str]:
    letters = _NON_LETTERS.sub(" ", text.casefold())
    letters = " ".join(letters.split())
    return {letters[i : i + n] for i in range(max(len(letters) - n + 1, 0))}


def copy_score(output: str, source: str) -> float:
    """Share of the output's character 4-grams found in ``source`` (0..1; 0 for empty output)."""
    out = _grams(output)
    if not out:
        return 0.0
    return len(out & _grams(source)) / len(out)


def _tokens(text: str) -> list[str]:
    words = text.casefold().split()
    if len(words) * 4 < len(text) and _UNSPACED.search(text):
        # few spaces for this length: a script without word spaces, use characters
        return [c for c in text if not c.isspace()]
    return words


def repetition_share(text: str, max_n: int = 16, min_repeats: int = 3) -> float:
    """Share of tokens inside a run of one n-gram repeated ``min_repeats``+ times in a row."""
    return _repetition_share(_tokens(text), max_n, min_repeats)


def _repetition_share(tokens: list[str], max_n: int, min_repeats: int) -> float:
    size = len(tokens)
    if size < min_repeats * 2:
        return 0.0
    import numpy as np

    ids: dict[str, int] = {}
    arr = np.fromiter((ids.setdefault(t, len(ids)) for t in tokens), dtype=np.intp, count=size)
    covered = np.zeros(size, dtype=bool)
    for n in range(1, min(max_n, size // min_repeats) + 1):
        # tokens[j] == tokens[j + n] for `need` positions in a row <=> the n-gram at the
        # start of that stretch repeats min_repeats times in a row.
        need = (min_repeats - 1) * n
        same = arr[:-n] == arr[n:]
        if int(np.count_nonzero(same)) < need:
            continue
        edges = np.diff(same.astype(np.int8), prepend=0, append=0)
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
            if hi - lo >= need:
                covered[lo : hi + n] = True
    return int(np.count_nonzero(covered)) / size


def repeated_sentence_share(text: str) -> float:
    """Share of sentences (3 or more) that repeat an earlier sentence exactly."""
    sentences = [s.strip().casefold() for s in _SENTENCE_END.split(text) if s and s.strip()]
    if len(sentences) < 3:
        return 0.0
    return 1.0 - len(set(sentences)) / len(sentences)


def is_repetitive(text: str, threshold: float = 0.5) -> bool:
    """Whether ``text`` is degenerate repetition (see the module docstring).

    A cheap test runs first: if half the tokens sit in repeated runs, at most
    about two thirds of the tokens (of the character bigrams, for unspaced
    scripts) can be distinct, and ordinary sentences are well above that.
    """
    tokens = _tokens(text)
    if len(tokens) < 6:
        return False
    units = tokens if len(tokens[0]) > 1 or len(tokens) < 12 else _bigrams(tokens)
    if len(set(units)) > _DISTINCT_BOUND * len(units):
        return False
    return (
        _repetition_share(tokens, 16, 3) >= threshold or repeated_sentence_share(text) >= threshold
    )


_DISTINCT_BOUND = 0.7


def _bigrams(chars: list[str]) -> list[str]:
    return [a + b for a, b in itertools.pairwise(chars)]
