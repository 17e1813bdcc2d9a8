"""Numbers as written in many languages: native digits, Ethiopic and CJK numerals, separators."""

from __future__ import annotations

from decimal import Decimal

import pytest

from xprompt.numerals import (
    canonical,
    cjk_value,
    ethiopic_value,
    normalize,
    numbers_in,
    parse_token,
)

NATIVE_TWELVE = {
    "Devanagari": "१२",
    "Bengali": "১২",
    "Arabic-Indic": "١٢",
    "Extended Arabic-Indic": "۱۲",
    "Thai": "๑๒",
    "Khmer": "១២",
    "Myanmar": "၁၂",
    "Full-width": "１２",
    "Telugu": "౧౨",
    "Tamil": "௧௨",
}


@pytest.mark.parametrize("raw", NATIVE_TWELVE.values(), ids=NATIVE_TWELVE.keys())
def test_native_decimal_digits_read_as_numbers(raw: str) -> None:
    (found,) = numbers_in(f"jumla ni {raw} tu")
    assert found.canonical == "12" and found.raw == raw


def test_normalize_keeps_positions_and_leaves_superscripts_alone() -> None:
    text = "আমার ১২৫০ টাকা আছে, ＡＢ：５ and m²"
    normal = normalize(text)
    assert len(normal) == len(text)
    assert "1250" in normal and "AB:5" in normal and "m²" in normal


@pytest.mark.parametrize(
    ("numeral", "value"),
    [("፩", 1), ("፲", 10), ("፲፪", 12), ("፺፱", 99), ("፻", 100), ("፻፳፫", 123), ("፪፻", 200),
     ("፲፻", 1000), ("፳፻፲፪", 2012), ("፼", 10000), ("፫፼፪፻", 30200)],
)  # fmt: skip
def test_ethiopic_numerals(numeral: str, value: int) -> None:
    assert ethiopic_value(numeral) == value


def test_ethiopic_numerals_inside_text_are_numbers() -> None:
    found = numbers_in("አሚና ፲፫ ማንጎዎች አሏት፤ 5 ሰጠች።")
    assert [(m.canonical, m.raw) for m in found] == [("13", "፲፫"), ("5", "5")]


@pytest.mark.parametrize(
    ("numeral", "value"),
    [("十", 10), ("十二", 12), ("二十", 20), ("三百零五", 305), ("一千二百三十四", 1234),
     ("两万", 20000), ("一二三", 123), ("零", 0)],
)  # fmt: skip
def test_cjk_numerals(numeral: str, value: int) -> None:
    assert cjk_value(numeral) == value


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("1,250", "eng_Latn", "1250"),  # comma groups thousands in English
        ("1.250", "eng_Latn", "1.25"),  # ... and the point is decimal
        ("1.250", "deu_Latn", "1250"),  # German: the point groups thousands
        ("1,250", "deu_Latn", "1.25"),  # ... and the comma is decimal
        ("1.234,5", None, "1234.5"),  # both: the rightmost is the decimal separator
        ("1,234.5", None, "1234.5"),
        ("1,23,456", "hin_Deva", "123456"),  # Indian grouping
        ("1 250,5", "fra_Latn", "1250.5"),  # French: space groups, comma is decimal
        ("1\u202f250", None, "1250"),  # narrow no-break space only ever groups
        ("1'250", None, "1250"),
        ("١٬٢٥٠٫٥", "arb_Arab", "1250.5"),  # Arabic separators
        ("0,125", "eng_Latn", "0.125"),  # a leading zero means decimal
        ("1,5", "eng_Latn", "1.5"),  # not 3 digits after: decimal
        ("12.50", None, "12.5"),
        ("-7", None, "-7"),
        ("−7", None, "-7"),  # minus sign
    ],
)
def test_separators_follow_the_language(text: str, lang: str | None, expected: str) -> None:
    found = numbers_in(text, lang)
    assert [m.canonical for m in found] == [expected], found


def test_invalid_grouping_is_several_numbers_and_words_are_not_numbers() -> None:
    assert [m.canonical for m in numbers_in("1,2,3")] == ["1", "2", "3"]
    assert [m.canonical for m in numbers_in("3-4 x-5 H2O 共12个")] == ["3", "4", "5", "12"]
    assert parse_token("-1,2,3") == [(0, 2, Decimal(-1)), (3, 1, Decimal(2)), (5, 1, Decimal(3))]


def test_canonical_form() -> None:
    assert canonical(Decimal("12.500")) == "12.5"
    assert canonical(Decimal("1.2E+3")) == "1200"
    assert canonical(Decimal("-0.0")) == "0"
