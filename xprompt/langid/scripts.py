"""The Unicode-script layer: which writing systems a text's letters are in.

Cheap and exact across scripts: English output for an Amharic prompt is Latin
letters where Ethiopic ones were expected, whatever any statistical model
thinks. Counting runs in C (compiled character-class regexes), so the layer
costs a few microseconds per sentence.

Letters are characters that are alphabetic (``str.isalpha``). Modifier letters
(``ʼ``, ``ʰ``) belong to no script and are not counted; combining marks are not
letters. Only letters of table scripts other than the expected ones count
against a text: letters of scripts outside the table (and the expected
script itself, when it is outside the table) never make a text off-target.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

#: ISO 15924 code -> Unicode ranges of that script's letters (blocks; non-letters are
#: filtered by the letter test). Ranges are inclusive code points.
SCRIPT_RANGES: dict[str, tuple[tuple[int, int], ...]] = {
    "Latn": (
        (0x0041, 0x005A),
        (0x0061, 0x007A),
        (0x00C0, 0x00D6),
        (0x00D8, 0x00F6),
        (0x00F8, 0x024F),  # Latin-1 letters, Extended-A and -B (ƙ ƴ ɓ-hooks in B)
        (0x0250, 0x02AF),  # IPA extensions: ɓ ɗ ɛ ɔ ŋ-like letters of African orthographies
        (0x1D00, 0x1DBF),
        (0x1E00, 0x1EFF),  # Latin Extended Additional: ẹ ọ ṣ (Yoruba), Vietnamese
        (0x2C60, 0x2C7F),
        (0xA720, 0xA7FF),
        (0xAB30, 0xAB6F),
        (0xFF21, 0xFF3A),
        (0xFF41, 0xFF5A),
    ),
    "Cyrl": ((0x0400, 0x052F), (0x1C80, 0x1C8F), (0x2DE0, 0x2DFF), (0xA640, 0xA69F)),
    "Grek": ((0x0370, 0x03FF), (0x1F00, 0x1FFF)),
    "Armn": ((0x0530, 0x058F),),
    "Hebr": ((0x0590, 0x05FF), (0xFB1D, 0xFB4F)),
    "Arab": (
        (0x0600, 0x06FF),
        (0x0750, 0x077F),
        (0x0870, 0x08FF),
        (0xFB50, 0xFDFF),
        (0xFE70, 0xFEFF),
    ),
    "Syrc": ((0x0700, 0x074F),),
    "Thaa": ((0x0780, 0x07BF),),
    "Nkoo": ((0x07C0, 0x07FF),),
    "Deva": ((0x0900, 0x097F), (0xA8E0, 0xA8FF)),
    "Beng": ((0x0980, 0x09FF),),
    "Guru": ((0x0A00, 0x0A7F),),
    "Gujr": ((0x0A80, 0x0AFF),),
    "Orya": ((0x0B00, 0x0B7F),),
    "Taml": ((0x0B80, 0x0BFF),),
    "Telu": ((0x0C00, 0x0C7F),),
    "Knda": ((0x0C80, 0x0CFF),),
    "Mlym": ((0x0D00, 0x0D7F),),
    "Sinh": ((0x0D80, 0x0DFF),),
    "Thai": ((0x0E00, 0x0E7F),),
    "Laoo": ((0x0E80, 0x0EFF),),
    "Tibt": ((0x0F00, 0x0FFF),),
    "Mymr": ((0x1000, 0x109F), (0xA9E0, 0xA9FF), (0xAA60, 0xAA7F)),
    "Geor": ((0x10A0, 0x10FF), (0x1C90, 0x1CBF), (0x2D00, 0x2D2F)),
    "Hang": (
        (0x1100, 0x11FF),
        (0x3130, 0x318F),
        (0xA960, 0xA97F),
        (0xAC00, 0xD7AF),
        (0xD7B0, 0xD7FF),
        (0xFFA0, 0xFFDC),
    ),
    "Ethi": ((0x1200, 0x139F), (0x2D80, 0x2DDF), (0xAB00, 0xAB2F), (0x1E7E0, 0x1E7FF)),
    "Cher": ((0x13A0, 0x13FF), (0xAB70, 0xABBF)),
    "Cans": ((0x1400, 0x167F), (0x18B0, 0x18FF)),
    "Khmr": ((0x1780, 0x17FF), (0x19E0, 0x19FF)),
    "Mong": ((0x1800, 0x18AF),),
    "Tfng": ((0x2D30, 0x2D7F),),
    "Olck": ((0x1C50, 0x1C7F),),
    "Vaii": ((0xA500, 0xA63F),),
    "Hira": ((0x3041, 0x309F),),
    "Kana": ((0x30A0, 0x30FF), (0x31F0, 0x31FF), (0xFF66, 0xFF9D)),
    "Hani": (
        (0x2E80, 0x2FDF),
        (0x3005, 0x3007),
        (0x3021, 0x3029),
        (0x3038, 0x303B),
        (0x3400, 0x4DBF),
        (0x4E00, 0x9FFF),
        (0xF900, 0xFAFF),
        (0x20000, 0x3134F),
    ),
}

#: A canonical code's script -> the scripts its letters show up in (Japanese mixes kana
#: and Han, Korean Hangul and Han, Chinese is Han in either orthography).
SCRIPT_MEMBERS: dict[str, frozenset[str]] = {
    "Hans": frozenset({"Hani"}),
    "Hant": frozenset({"Hani"}),
    "Jpan": frozenset({"Hira", "Kana", "Hani"}),
    "Kore": frozenset({"Hang", "Hani"}),
    "Hang": frozenset({"Hang", "Hani"}),
}

# Letters: word characters that are not digits, underscore or modifier letters.
_LETTER_CLASS = r"[^\W\d_\u02B0-\u02FF]"
_LETTERS = re.compile(_LETTER_CLASS)
_MODIFIERS = re.compile(r"[\u02B0-\u02FF]")


#: Han, kana and Hangul syllables: one character carries about what three Latin letters do,
#: so they count three times towards the length thresholds (else a whole short Chinese
#: sentence would stay "uncertain").
_DENSE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
DENSE_WEIGHT = 3


def letter_count(text: str) -> int:
    """Letters in ``text``, weighted for information: alphabetic characters except modifier
    letters, with Han, kana and Hangul counted ``DENSE_WEIGHT`` times (fast: C loops)."""
    count = sum(map(str.isalpha, text))
    if _MODIFIERS.search(text):
        count -= sum(map(str.isalpha, _MODIFIERS.findall(text)))
    if text.isascii():
        return count
    if _DENSE.search(text):
        count += (DENSE_WEIGHT - 1) * len(_DENSE.findall(text))
    return count


def _char_class(scripts: frozenset[str]) -> str:
    parts = []
    for script in sorted(scripts):
        for lo, hi in SCRIPT_RANGES[script]:
            parts.append(f"{re.escape(chr(lo))}-{re.escape(chr(hi))}")
    return "[" + "".join(parts) + "]"


@lru_cache(maxsize=512)
def _script_regex(scripts: frozenset[str]) -> re.Pattern[str] | None:
    known = scripts & SCRIPT_RANGES.keys()
    if not known:
        return None
    # The letter test runs only after a range matched (a lookbehind), which is rare
    # for the "other scripts" regex on on-target text.
    return re.compile(f"{_char_class(frozenset(known))}(?<={_LETTER_CLASS})")


def members(scripts: frozenset[str] | set[str] | tuple[str, ...]) -> frozenset[str]:
    """The table scripts that letters of the given ISO 15924 scripts show up in."""
    out: set[str] = set()
    for script in scripts:
        out |= SCRIPT_MEMBERS.get(script, {script})
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class ScriptCount:
    """Letters of a text counted against a set of expected scripts.

    ``letters``: all letters; ``other``: letters in a table script that is not
    expected. Letters of scripts outside the table count as expected (neutral
    would be exact; counting them as expected errs towards "not off").
    """

    letters: int
    other: int

    @property
    def expected(self) -> int:
        """Letters not in another table script."""
        return self.letters - self.other

    @property
    def off_share(self) -> float:
        """Share of the letters that are in another script (0 without letters)."""
        return self.other / self.letters if self.letters else 0.0


class ScriptCounter:
    """Counts letters outside a fixed set of expected scripts: one regex pass in C."""

    def __init__(self, expected_scripts: frozenset[str]) -> None:
        self.expected = expected_scripts
        others = frozenset(SCRIPT_RANGES) - expected_scripts
        self._other = _script_regex(others)

    def count(self, text: str, letters: int | None = None) -> ScriptCount:
        """Count ``text``'s letters (pass ``letters`` when already known)."""
        if letters is None:
            letters = letter_count(text)
        other = 0
        if self._other is not None and letters:
            found = self._other.findall(text)
            other = len(found)
            if found and max(found) >= "\u3040":  # weighted like letter_count, so shares stay right
                other += (DENSE_WEIGHT - 1) * len(_DENSE.findall("".join(found)))
        return ScriptCount(letters, other)


def count(text: str, expected_scripts: frozenset[str]) -> ScriptCount:
    """Count ``text``'s letters against ``expected_scripts`` (already expanded with :func:`members`)."""
    return _counter(expected_scripts).count(text)


@lru_cache(maxsize=512)
def _counter(expected_scripts: frozenset[str]) -> ScriptCounter:
    return ScriptCounter(expected_scripts)


_NAME_PREFIX = {
    "LATIN": "Latn",
    "CYRILLIC": "Cyrl",
    "GREEK": "Grek",
    "ARMENIAN": "Armn",
    "HEBREW": "Hebr",
    "ARABIC": "Arab",
    "SYRIAC": "Syrc",
    "THAANA": "Thaa",
    "NKO": "Nkoo",
    "DEVANAGARI": "Deva",
    "BENGALI": "Beng",
    "GURMUKHI": "Guru",
    "GUJARATI": "Gujr",
    "ORIYA": "Orya",
    "TAMIL": "Taml",
    "TELUGU": "Telu",
    "KANNADA": "Knda",
    "MALAYALAM": "Mlym",
    "SINHALA": "Sinh",
    "THAI": "Thai",
    "LAO": "Laoo",
    "TIBETAN": "Tibt",
    "MYANMAR": "Mymr",
    "GEORGIAN": "Geor",
    "HANGUL": "Hang",
    "ETHIOPIC": "Ethi",
    "CHEROKEE": "Cher",
    "CANADIAN": "Cans",
    "KHMER": "Khmr",
    "MONGOLIAN": "Mong",
    "TIFINAGH": "Tfng",
    "OL": "Olck",
    "VAI": "Vaii",
    "HIRAGANA": "Hira",
    "KATAKANA": "Kana",
    "CJK": "Hani",
}


@lru_cache(maxsize=8192)
def char_script(char: str) -> str | None:
    """ISO 15924 code of a letter's script ('Zyyy' when unknown), None for a non-letter.

    Slow path (Unicode names), used only to name the script of off-target text.
    """
    if not _LETTERS.fullmatch(char):
        return None
    name = unicodedata.name(char, "")
    return _NAME_PREFIX.get(name.split(" ", 1)[0], "Zyyy")


def profile(text: str) -> Counter[str]:
    """Letters per script of ``text`` (slow path: only to describe off-target text)."""
    counts: Counter[str] = Counter()
    for char in text:
        script = char_script(char)
        if script is not None:
            counts[script] += 1
    return counts


def dominant(text: str, exclude: frozenset[str] = frozenset()) -> str | None:
    """The script with the most letters in ``text``, ignoring ``exclude``; None without letters."""
    counts = profile(text)
    for script in exclude:
        counts.pop(script, None)
    return counts.most_common(1)[0][0] if counts else None
