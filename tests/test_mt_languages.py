"""Canonical language codes -> the language tokens of each MT model family (one place: languages.py)."""

from __future__ import annotations

import pytest

from xprompt import languages
from xprompt.errors import UnknownLanguageError
from xprompt.languages import mt_language_tokens
from xprompt.testing.tiny_models import M2M100_CODES, NLLB_CODES


def test_nllb_tokens_are_canonical_codes_except_santali() -> None:
    assert mt_language_tokens("hau", "nllb") == ("hau_Latn",)
    assert mt_language_tokens("Amharic", "nllb") == ("amh_Ethi",)
    assert mt_language_tokens("sat_Olck", "nllb") == ("sat_Beng",), (
        "NLLB calls Ol Chiki Santali sat_Beng"
    )
    assert mt_language_tokens("sat_Beng", "nllb") == ("sat_Beng",), (
        "input in NLLB's own spelling works too"
    )


def test_every_flores_language_maps_into_nllb_vocabulary_but_two() -> None:
    nllb = {"sat_Beng" if c == "sat_Olck" else c for c in NLLB_CODES}
    missing = [
        c for c in languages.flores200_codes() if mt_language_tokens(c, "nllb")[0] not in nllb
    ]
    assert missing == ["arb_Latn", "min_Arab"], "the two FLORES-200 codes NLLB-200 has no token for"


@pytest.mark.parametrize(
    ("code", "token"),
    [
        ("hau_Latn", "__ha__"),
        ("swh_Latn", "__sw__"),  # individual language -> macrolanguage ISO 639-1
        ("arb_Arab", "__ar__"),
        ("zho_Hant", "__zh__"),  # M2M-100 codes carry no script
        ("nob_Latn", "__no__"),
        ("nso_Latn", "__ns__"),
        ("ceb_Latn", "__ceb__"),  # no ISO 639-1 code: ISO 639-3
        ("fuv_Latn", "__ff__"),
    ],
)
def test_m2m100_tokens(code: str, token: str) -> None:
    assert mt_language_tokens(code, "m2m100") == (token,)


def test_m2m100_vocabulary_is_reachable_from_canonical_codes() -> None:
    reached = set()
    for code in languages.flores200_codes():
        reached.add(mt_language_tokens(code, "m2m100")[0].strip("_"))
    unreachable = set(M2M100_CODES) - reached
    # Breton, Western Frisian and Swati... only those outside FLORES-200 (resolvable by their own codes).
    for short in sorted(unreachable):
        assert mt_language_tokens(short, "m2m100") == (f"__{short}__",)


def test_madlad_tokens_prefer_plain_codes_and_keep_scripts_when_not_default() -> None:
    assert mt_language_tokens("hau", "madlad")[0] == "<2ha>"
    assert mt_language_tokens("ceb", "madlad")[0] == "<2ceb>"
    traditional = mt_language_tokens("zh-TW", "madlad")
    assert "<2zh>" not in traditional and traditional[0] == "<2zh-Hant>"


def test_unknown_family_and_language_are_errors() -> None:
    with pytest.raises(ValueError, match="unknown MT model family 'marian'"):
        mt_language_tokens("hau", "marian")
    with pytest.raises(UnknownLanguageError):
        mt_language_tokens("xx-not-a-language", "nllb")
