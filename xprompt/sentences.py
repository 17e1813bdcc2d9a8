"""Sentence splitting for machine translation of long inputs, and re-assembly of the pieces.

MT models are trained on sentences; a paragraph is translated sentence by
sentence and the translations are joined again. Each piece remembers the
whitespace that followed it in the source, so line breaks survive the round trip.

Sentence ends, by writing system:

- Latin, Cyrillic, Greek and others: ``.`` ``!`` ``?`` ``…`` followed by whitespace
  (closing quotes and brackets stay with the sentence). Two guards against
  abbreviations: no split when the next word starts with a lowercase letter
  ("e.g. this"), when the word before the period is a single letter ("J. Smith")
  or an English title ("Dr. Smith").
- Ethiopic: ``።`` (full stop), ``፧`` (question mark), ``፨`` (paragraph separator).
- Devanagari (and Bengali): ``।`` (danda), ``॥`` (double danda).
- Arabic script: ``؟`` (question mark), ``۔`` (Urdu full stop); Arabic's full stop is
  ``.``, handled as above.
- CJK: ``。`` ``！`` ``？`` (full-width), which need no following space.
- Myanmar ``။`` and Khmer ``។``.
- Thai has no sentence punctuation: a space separates sentences and clauses
  (words are not space-delimited). So in Thai text every run of whitespace
  between two Thai characters is a boundary. This is a heuristic: it yields
  clause-sized pieces, which MT models translate well.
- A line break is always a boundary.

Re-assembly joins pieces with the source's whitespace when it contained a line
break; otherwise with the target language's sentence joiner: nothing for
Chinese and Japanese (their sentences end in full-width punctuation), one space
for every other language.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xprompt import languages

_CLOSERS = "\"'”’»)\\]}」』"
#: Ends that need no following space (Ethiopic, Devanagari, Arabic, CJK, Myanmar, Khmer).
_HARD_ENDS = "。！？።፧፨।॥؟۔။។"
#: Ends that count only before whitespace (Latin-style punctuation).
_SOFT_ENDS = ".!?…"

_BOUNDARY = re.compile(
    rf"(?P<hard>[{_HARD_ENDS}]+[{_CLOSERS}]*)(?P<hard_space>\s*)"
    rf"|(?P<soft>[{_SOFT_ENDS}]+[{_CLOSERS}]*)(?P<soft_space>\s+)"
    r"|(?P<newline>\s*\n\s*)"
)
_THAI_GAP = re.compile(r"(?<=[\u0e00-\u0e7f])\s+(?=[\u0e00-\u0e7f])")
_WHITESPACE = re.compile(r"\s+")
_TITLES = frozenset({"Dr", "Mr", "Mrs", "Ms", "Prof", "Sr", "Jr", "St"})

#: Scripts whose sentences are joined without a space.
_UNSPACED_SCRIPTS = frozenset({"Hans", "Hant", "Jpan"})


@dataclass(frozen=True, slots=True)
class Segment:
    """One piece of a text: the sentence (no surrounding whitespace) and the whitespace after it."""

    text: str
    space: str = ""


def _is_thai(text: str, lang: str | None) -> bool:
    if lang is not None:
        return languages.resolve(lang).script == "Thai"
    letters = [c for c in text if c.isalpha()]
    thai = sum(1 for c in letters if "\u0e00" <= c <= "\u0e7f")
    return bool(letters) and thai * 2 > len(letters)


def _soft_end_is_boundary(text: str, start: int, end: int) -> bool:
    """Guards against abbreviations for a Latin-style end spanning ``text[start:end]``."""
    following = text[end : end + 1]
    if following.islower():
        return False
    if text[start] == ".":
        word = text[:start].rsplit(None, 1)[-1] if text[:start].strip() else ""
        if (len(word) == 1 and word.isalpha()) or word in _TITLES:
            return False
    return True


def split_sentences(text: str, lang: str | None = None) -> list[Segment]:
    """Split ``text`` into sentences (see the module docstring for the rules).

    ``lang`` (any code :func:`xprompt.languages.resolve` takes) turns on the Thai
    rule for Thai; without it the rule applies when most letters are Thai.
    Leading and trailing whitespace of the whole text is dropped; empty text
    gives no segments. Joining the segments' texts and spaces gives back the
    stripped text exactly.
    """
    text = text.strip()
    if not text:
        return []
    cuts: list[tuple[int, int]] = []  # (end of sentence, start of next)
    for match in _BOUNDARY.finditer(text):
        if match.group("newline") is not None:
            cuts.append((match.start(), match.end()))
        elif match.group("hard") is not None:
            cuts.append((match.end("hard"), match.end()))
        elif _soft_end_is_boundary(text, match.start("soft"), match.end()):
            cuts.append((match.end("soft"), match.end()))
    if _is_thai(text, lang):
        cuts.extend((m.start(), m.end()) for m in _THAI_GAP.finditer(text))
        cuts.sort()
    segments: list[Segment] = []
    start = 0
    for end, next_start in cuts:
        if end <= start or next_start >= len(text):
            continue
        segments.append(Segment(text[start:end], text[end:next_start]))
        start = next_start
    segments.append(Segment(text[start:], ""))
    return segments


def split_to_fit(segment: Segment, fits: Callable[[str], bool]) -> list[Segment]:
    """Cut one segment into pieces that each satisfy ``fits`` (e.g. a token limit).

    For a sentence too long for the model: cut at the whitespace nearest the
    middle, or in the middle when there is none (CJK, Thai), recursively. The
    last piece keeps the segment's trailing space.
    """
    if fits(segment.text) or len(segment.text) <= 1:
        return [segment]
    middle = len(segment.text) // 2
    gaps = [m for m in _WHITESPACE.finditer(segment.text) if 0 < m.start()]
    if gaps:
        gap = min(gaps, key=lambda m: abs(m.start() - middle))
        left, space, right = (
            segment.text[: gap.start()],
            gap.group(),
            segment.text[gap.end() :],
        )
    else:
        left, space, right = segment.text[:middle], "", segment.text[middle:]
    return [
        *split_to_fit(Segment(left, space), fits),
        *split_to_fit(Segment(right, segment.space), fits),
    ]


def sentence_joiner(target_lang: str) -> str:
    """What goes between two sentences of ``target_lang`` on one line."""
    return "" if languages.resolve(target_lang).script in _UNSPACED_SCRIPTS else " "


def join_sentences(pieces: Sequence[str], segments: Sequence[Segment], target_lang: str) -> str:
    """Re-assemble translated ``pieces`` (one per source segment, same order) into one text."""
    if len(pieces) != len(segments):
        raise ValueError(f"{len(pieces)} translated pieces for {len(segments)} segments")
    joiner = sentence_joiner(target_lang)
    out: list[str] = []
    for i, (piece, segment) in enumerate(zip(pieces, segments, strict=True)):
        out.append(piece.strip())
        if i < len(segments) - 1:
            out.append(segment.space if "\n" in segment.space else joiner)
    return "".join(out)
