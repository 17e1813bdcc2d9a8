"""Preparing generated text for language ID: normalise, mask noise, split into sentences.

- NFC first: decomposed Unicode (NFD) ruins statistical identifiers on tone-marked
  text (Yoruba), so every text is composed before anything looks at it.
- Noise that is in no language (code, URLs, e-mail addresses, markup tags,
  numbers) is *masked* with spaces rather than removed, so character offsets of
  segments still point into the (NFC) text the caller can show.
- Sentences are checked one by one: checking a whole answer misses an English
  sentence inside a three-sentence answer almost every time. Sentence ends cover
  Latin-style ``. ! ? …`` (before whitespace), Ethiopic ``። ፧ ፨``, Devanagari
  ``। ॥``, Arabic ``؟ ۔``, CJK ``。！？``, Myanmar ``။``, Khmer ``។ ៕``, Tibetan
  ``།``, and line breaks; Thai, which has no sentence punctuation, is split at
  spaces between Thai letters. Pieces too short to judge are merged into a
  neighbour, so abbreviations ("Dr.") and list bullets do not become segments.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from xprompt.langid.scripts import letter_count

# One alternation, so masking is one pass in C. Order matters: fenced code before
# inline code, URLs before e-mail addresses.
_NOISE = re.compile(
    r"```.*?(?:```|\Z)"  # fenced code blocks (an unclosed one runs to the end)
    r"|`[^`\n]+`"  # inline code
    r"|\$\$.*?\$\$|\\\(.*?\\\)|\\\[.*?\\\]"  # display and inline LaTeX
    r"|(?:https?|ftp)://\S+|www\.\S+"  # URLs
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail addresses
    r"|</?[A-Za-z][^<>\n]{0,200}>"  # markup tags
    r"|&[A-Za-z]+;|&#\d+;"  # HTML entities
    r"|\d+(?:[.,:/-]\d+)*",  # numbers, dates, times (so '3.5' is no sentence end)
    re.DOTALL,
)
_NOISE_HINT = re.compile(r"[`$\\/@<&\d]|www\.")

_CLOSERS = "\"'”’»)\\]}」』"
_HARD_ENDS = "。！？።፧፨।॥؟۔။។៕།"
_SOFT_ENDS = ".!?…"
# Every alternative starts with a definite character, so the scan is fast.
_BOUNDARY = re.compile(
    rf"[{_HARD_ENDS}]+[{_CLOSERS}]*\s*"
    rf"|[{_SOFT_ENDS}]+[{_CLOSERS}]*\s+"
    r"|\n\s*"
    r"|[\u0e00-\u0e7f]\s+(?=[\u0e00-\u0e7f])"
)


def normalize(text: str) -> str:
    """NFC-compose ``text`` (cheap when it already is NFC)."""
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def mask_noise(text: str) -> str:
    """Replace code, URLs, e-mail addresses, markup and numbers with spaces (same length)."""
    if not _NOISE_HINT.search(text):
        return text
    return _NOISE.sub(lambda m: " " * len(m.group()), text)


@dataclass(frozen=True, slots=True)
class Segment:
    """A sentence-sized piece: ``text[start:end]`` of the masked text, and its letter count."""

    start: int
    end: int
    text: str
    letters: int


def split(text: str, min_letters: int = 20) -> list[Segment]:
    """Split masked ``text`` into sentences with offsets; merge pieces under ``min_letters``.

    A short piece joins the piece before it (or the one after it, if it is the
    first), so every segment but a lone short text has at least ``min_letters``
    letters. Pieces without letters are dropped.
    """
    pieces: list[tuple[int, int]] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.end()
        if end > start:
            pieces.append((start, end))
        start = end
    if start < len(text):
        pieces.append((start, len(text)))
    if len(pieces) == 1 or (len(pieces) == 2 and not text[pieces[1][0] :].strip()):
        # One sentence (the common case for a generated answer): no merging needed.
        letters = letter_count(text)
        stripped = text.strip()
        if not letters:
            return []
        lo = len(text) - len(text.lstrip())
        return [Segment(lo, lo + len(stripped), stripped, letters)]
    merged: list[list[int]] = []  # [start, end, letters]
    for lo, hi in pieces:
        letters = letter_count(text[lo:hi])
        if letters == 0:
            continue
        if merged and (letters < min_letters or merged[-1][2] < min_letters):
            merged[-1][1] = hi
            merged[-1][2] += letters
        else:
            merged.append([lo, hi, letters])
    out = []
    for lo, hi, letters in merged:
        piece = text[lo:hi]
        stripped = piece.strip()
        lo += len(piece) - len(piece.lstrip())
        out.append(Segment(lo, lo + len(stripped), stripped, letters))
    return out
