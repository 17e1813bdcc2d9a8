"""Numbers as people write them in many languages: native digits, Ethiopic numerals, separators.

Model output in a low-resource language writes numbers in many ways: ASCII
digits, native decimal digits (Devanagari ``१२``, Bengali ``১২``, Arabic-Indic
``١٢``, Extended Arabic-Indic ``۱۲``, Thai ``๑๒``, Khmer ``១២``, Myanmar
``၁၂``, full-width ``１２``), the additive Ethiopic numerals (``፲፪`` = 12), CJK
numerals after an answer cue (``答案是十二``), and thousands / decimal
separators that depend on the language (``1,250.5`` in English, ``1.250,5`` in
German, ``1 250,5`` in French, ``1,23,456`` in Hindi, ``١٬٢٥٠٫٥`` in Arabic).

``normalize`` maps every native decimal digit and full-width form to ASCII
*without changing the length of the text*, so positions found in the
normalised text are positions in the original. ``numbers_in`` then finds
number tokens and ``parse_token`` reads each one under the language's
separator convention. Values are exact ``Decimal`` numbers, written
canonically by ``canonical`` (``"1250"``, ``"12.5"``, ``"-3"``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation
from functools import lru_cache

#: ISO 639-3 codes of languages that write a decimal *comma* (CLDR), so "1.250" is 1250 there.
DECIMAL_COMMA = frozenset(
    {
        "afr", "als", "aze", "bel", "bos", "bul", "cat", "ces", "dan", "deu", "ell", "epo",
        "est", "eus", "fao", "fin", "fra", "fry", "fur", "glg", "hrv", "hun", "hye", "ind",
        "isl", "ita", "kat", "kaz", "kir", "lav", "lit", "ltz", "mkd", "nld", "nno", "nob",
        "oci", "pol", "por", "ron", "rus", "slk", "slv", "spa", "sqi", "srp", "swe", "tat",
        "tgk", "tuk", "tur", "ukr", "uzb", "vie", "ydd", "lim", "lmo", "scn", "srd", "vec",
        "szl", "ltg", "mlt", "pap", "kin", "run", "lin", "kon", "wol", "fuv", "bam", "ewe",
        "fon", "mos", "sag", "taq", "tzm", "kab", "zgh",
    }
)  # fmt: skip

#: ISO 639-3 codes of languages that group thousands with a space (CLDR), so "1 250" is 1250 there.
SPACE_GROUPING = frozenset(
    {
        "bel", "bul", "ces", "est", "fin", "fra", "hun", "kat", "kaz", "kir", "lav", "lit",
        "nob", "nno", "pol", "rus", "slk", "swe", "tgk", "ukr", "uzb", "hye", "sqi", "oci",
        "tat", "tuk", "kin", "run", "wol", "fuv", "bam", "fon", "mos", "ewe",
    }
)  # fmt: skip

#: Separators that only ever group thousands (no-break spaces, thin space, apostrophes).
GROUP_ONLY = "\u00a0\u202f\u2009'’"
MINUS = "-\u2212"

_ETHIOPIC_VALUES = {
    **{chr(0x1369 + i): i + 1 for i in range(9)},  # ፩..፱ = 1..9
    **{chr(0x1372 + i): (i + 1) * 10 for i in range(9)},  # ፲..፺ = 10..90
}
_ETHIOPIC_HUNDRED = "\u137b"  # ፻
_ETHIOPIC_MYRIAD = "\u137c"  # ፼
ETHIOPIC_CHARS = "".join(_ETHIOPIC_VALUES) + _ETHIOPIC_HUNDRED + _ETHIOPIC_MYRIAD

_CJK_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4,
    "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}  # fmt: skip
_CJK_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_CJK_MYRIADS = {"万": 10_000, "萬": 10_000, "亿": 100_000_000, "億": 100_000_000}
CJK_CHARS = "".join([*_CJK_DIGITS, *_CJK_UNITS, *_CJK_MYRIADS])


@lru_cache(maxsize=8192)
def _ascii_of(char: str) -> str:
    digit = unicodedata.decimal(char, None)
    if digit is not None:
        return str(digit)
    code = ord(char)
    if 0xFF01 <= code <= 0xFF5E:  # full-width ASCII forms: ： ， ． － ＡＢＣ
        return chr(code - 0xFEE0)
    if char == "\u3000":  # ideographic space
        return " "
    if char == "\u066b":  # Arabic decimal separator ٫
        return "."
    if char == "\u066c":  # Arabic thousands separator ٬
        return ","
    if char == "\u2212":  # minus sign
        return "-"
    return char


def normalize(text: str) -> str:
    """Native decimal digits and full-width forms to ASCII, one character for one (positions kept).

    Every Unicode decimal digit (category Nd: Devanagari, Bengali, Arabic-Indic,
    Extended Arabic-Indic, Thai, Khmer, Myanmar, full-width, ...) becomes its
    ASCII digit; full-width punctuation and letters become ASCII; the Arabic
    decimal and thousands separators become ``.`` and ``,``. Unlike NFKC it
    leaves superscripts (``m²``) and ligatures alone.
    """
    if text.isascii():
        return text
    return "".join(_ascii_of(c) if not c.isascii() else c for c in text)


def native_script(raw: str) -> str | None:
    """The Unicode block name of the first non-ASCII digit in ``raw`` (``BENGALI``), None if ASCII."""
    for char in raw:
        if not char.isascii() and (
            unicodedata.decimal(char, None) is not None or char in ETHIOPIC_CHARS
        ):
            return unicodedata.name(char, "").split(" ", 1)[0] or None
    return None


def ethiopic_value(numeral: str) -> int:
    """The value of an Ethiopic numeral (``፲፪`` = 12, ``፻፳፫`` = 123, ``፳፻፲፪`` = 2012, ``፼`` = 10000).

    Ethiopic numerals are additive: units and tens add up, ``፻`` multiplies
    what precedes it within the myriad (or stands for 100 alone), ``፼``
    multiplies everything before it (or stands for 10000 alone).
    """
    total = hundreds = current = 0
    for char in numeral:
        if char in _ETHIOPIC_VALUES:
            current += _ETHIOPIC_VALUES[char]
        elif char == _ETHIOPIC_HUNDRED:
            hundreds += (current or 1) * 100
            current = 0
        elif char == _ETHIOPIC_MYRIAD:
            total = (total + hundreds + current or 1) * 10_000
            hundreds = current = 0
        else:
            raise ValueError(f"{char!r} is not an Ethiopic numeral")
    return total + hundreds + current


def cjk_value(numeral: str) -> int:
    """The value of a CJK numeral (``十二`` = 12, ``三百零五`` = 305, ``两万`` = 20000, ``一二三`` = 123)."""
    if all(c in _CJK_DIGITS for c in numeral):
        return int("".join(str(_CJK_DIGITS[c]) for c in numeral))
    total = section = digit = 0
    for char in numeral:
        if char in _CJK_DIGITS:
            digit = _CJK_DIGITS[char]
        elif char in _CJK_UNITS:
            section += (digit or 1) * _CJK_UNITS[char]
            digit = 0
        elif char in _CJK_MYRIADS:
            total += (section + digit or 1) * _CJK_MYRIADS[char]
            section = digit = 0
        else:
            raise ValueError(f"{char!r} is not a CJK numeral")
    return total + section + digit


@dataclass(frozen=True, slots=True)
class NumberMatch:
    """One number found in a text: its exact value, where it is, and the raw text it was read from."""

    value: Decimal
    start: int
    end: int
    raw: str

    @property
    def canonical(self) -> str:
        return canonical(self.value)


def canonical(value: Decimal) -> str:
    """A number as canonical text: no exponent, no trailing zeros, ``-0`` as ``0`` (``12.50`` -> ``12.5``)."""
    if value == 0:
        return "0"
    # Enough precision for every digit written: a 400-digit answer stays those digits.
    context = Context(prec=max(28, len(value.as_tuple().digits)))
    text = format(value.normalize(context), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def separators_of(lang: str | None) -> tuple[str, bool]:
    """``(decimal separator, groups with spaces)`` for a language code (canonical or ISO 639-3)."""
    iso3 = (lang or "").split("_", 1)[0].lower()
    return ("," if iso3 in DECIMAL_COMMA else "."), iso3 in SPACE_GROUPING


def _token_pattern(space_grouping: bool) -> re.Pattern[str]:
    separators = re.escape("., " + GROUP_ONLY) if space_grouping else re.escape(".," + GROUP_ONLY)
    # Not inside a word of Latin letters or digits ("H2O", "x-5"), but right after CJK or Thai
    # letters ("共12个"), which do not put spaces around numbers.
    return re.compile(
        rf"(?:(?<![0-9A-Za-z])[{re.escape(MINUS)}])?(?<![0-9A-Za-z])\d+(?:[{separators}]\d+)*"
    )


_TOKEN = {flag: _token_pattern(flag) for flag in (False, True)}
_ETHIOPIC_RUN = re.compile(f"[{ETHIOPIC_CHARS}]+")
_CJK_RUN = re.compile(f"[{CJK_CHARS}]+")


def numbers_in(
    text: str, lang: str | None = None, *, start: int = 0, end: int | None = None
) -> list[NumberMatch]:
    """Every number in ``text[start:end]``, in order, read under ``lang``'s separator convention.

    Ethiopic numerals count as numbers too. A token whose separators do not
    form a valid grouping (``1,2,3``) is read as several numbers.
    """
    end = len(text) if end is None else end
    decimal_sep, space_grouping = separators_of(lang)
    normal = normalize(text)
    found: list[NumberMatch] = []
    for match in _TOKEN[space_grouping].finditer(normal, start, end):
        for offset, length, value in parse_token(match.group(0), decimal_sep):
            s = match.start() + offset
            found.append(NumberMatch(value, s, s + length, text[s : s + length]))
    for match in _ETHIOPIC_RUN.finditer(text, start, end):
        value = Decimal(ethiopic_value(match.group(0)))
        found.append(NumberMatch(value, match.start(), match.end(), match.group(0)))
    found.sort(key=lambda m: m.start)
    return found


def cjk_number_at(text: str, position: int) -> NumberMatch | None:
    """A CJK numeral starting at ``position`` (after optional spaces), or None."""
    match = _CJK_RUN.match(text, position)
    while match is None and position < len(text) and text[position] in " \t":
        position += 1
        match = _CJK_RUN.match(text, position)
    if match is None:
        return None
    return NumberMatch(
        Decimal(cjk_value(match.group(0))), match.start(), match.end(), match.group(0)
    )


def parse_token(token: str, decimal_sep: str = ".") -> list[tuple[int, int, Decimal]]:
    """Read one ASCII number token as ``[(offset, length, value)]``: one number, or several if its grouping is invalid.

    Rules: with both ``.`` and ``,`` the rightmost one is the decimal
    separator; a separator used several times groups thousands (3-digit groups,
    or Indian 2-digit groups before the last 3 digits for ``,``); a single
    ``.`` or ``,`` followed by other than exactly 3 digits is a decimal point;
    followed by exactly 3 digits it is the language's decimal separator if it
    is that, else a thousands separator (``1,250`` is 1250 in English, ``1.250``
    is 1250 in German); a leading ``0`` (``0,125``) always means decimal.
    No-break spaces, thin spaces and apostrophes only ever group thousands.
    """
    sign = -1 if token[:1] in MINUS else 1
    body = token[1:] if sign < 0 else token
    base = len(token) - len(body)
    value = _read(body, decimal_sep)
    if value is not None:
        return [(0, len(token), sign * value)]
    out: list[tuple[int, int, Decimal]] = []
    for i, part in enumerate(re.finditer(r"\d+", body)):
        number = Decimal(part.group(0))
        if i == 0 and sign < 0:
            out.append((0, base + part.end(), -number))
        else:
            out.append((base + part.start(), part.end() - part.start(), number))
    return out


def _read(body: str, decimal_sep: str) -> Decimal | None:
    seps = [c for c in body if not c.isdigit()]
    if not seps:
        return Decimal(body)
    groups = re.split(r"[^\d]", body)
    kinds = set(seps)
    group_only = set(GROUP_ONLY) | {" "}
    if kinds <= group_only:
        return Decimal("".join(groups)) if _valid_groups(groups) else None
    if kinds & group_only:
        # A space-like group separator with a decimal point at the end: "1 250,5".
        point = seps[-1]
        if point in group_only or seps.count(point) != 1:
            return None
        whole, frac = groups[:-1], groups[-1]
        return _decimal(whole, frac) if _valid_groups(whole) else None
    if kinds == {".", ","}:
        point = seps[-1]
        if seps.count(point) != 1:
            return None
        whole, frac = groups[:-1], groups[-1]
        return _decimal(whole, frac) if _valid_groups(whole, indian=point == ".") else None
    (sep,) = kinds
    if len(seps) > 1:
        return Decimal("".join(groups)) if _valid_groups(groups, indian=sep == ",") else None
    left, right = groups
    if len(right) != 3 or left.startswith("0") or sep == decimal_sep:
        return _decimal([left], right)
    return Decimal(left + right) if len(left) <= 3 else None


def _valid_groups(groups: list[str], *, indian: bool = False) -> bool:
    if not groups or not all(groups) or not 1 <= len(groups[0]) <= 3:
        return False
    rest = groups[1:]
    if all(len(g) == 3 for g in rest):
        return True
    # Indian grouping: 1,23,45,678 (2-digit groups, then the last 3).
    return indian and len(rest) >= 2 and len(rest[-1]) == 3 and all(len(g) == 2 for g in rest[:-1])


def _decimal(whole: list[str], frac: str) -> Decimal | None:
    try:
        return Decimal("".join(whole) + "." + frac)
    except InvalidOperation:
        return None
