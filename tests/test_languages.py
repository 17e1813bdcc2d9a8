"""Tests for xprompt.languages: canonical FLORES-200 codes and input resolution."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys

import pytest

from xprompt.errors import UnknownLanguageError
from xprompt.languages import (
    MACROLANGUAGES,
    UND,
    Language,
    english_name,
    flores200_codes,
    is_canonical,
    resolve,
    resolve_with_note,
)

CODES = flores200_codes()


def test_there_are_204_sorted_unique_well_formed_codes() -> None:
    assert len(CODES) == 204
    assert len(set(CODES)) == 204
    assert list(CODES) == sorted(CODES)
    for code in CODES:
        assert re.fullmatch(r"[a-z]{3}_[A-Z][a-z]{3}", code), code


def test_known_codes_are_in_the_table() -> None:
    for code in ("ace_Arab", "ace_Latn", "acm_Arab", "arb_Latn", "min_Arab", "sat_Olck"):
        assert code in CODES
    assert CODES[0] == "ace_Arab"
    assert CODES[-1] == "zul_Latn"
    assert "sat_Beng" not in CODES  # NLLB's label; FLORES-200 says Ol Chiki


@pytest.mark.parametrize("code", CODES)
def test_every_flores_code_resolves_to_itself(code: str) -> None:
    language, note = resolve_with_note(code)
    assert language.code == code
    assert str(language) == code
    assert note is None
    assert language.in_flores200
    assert language.name.strip()
    assert language.iso639_3 == code[:3]
    assert language.script == code[4:]
    assert is_canonical(code)


@pytest.mark.parametrize("code", CODES)
def test_every_flores_english_name_resolves_to_its_code(code: str) -> None:
    assert resolve(english_name(code)).code == code


@pytest.mark.parametrize("code", CODES)
def test_bcp47_round_trips(code: str) -> None:
    assert resolve(resolve(code).bcp47).code == code


def test_bcp47_tags_are_distinct() -> None:
    tags = [resolve(code).bcp47 for code in CODES]
    assert len(set(tags)) == len(tags)


@pytest.mark.parametrize("text", ["hau_Latn", "HAU_latn", "hau-Latn", "Hau-LATN", " hau_Latn "])
def test_case_and_separator_variants_are_canonical(text: str) -> None:
    assert resolve_with_note(text) == (resolve("hau_Latn"), None)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("ha", "hau_Latn"),
        ("hau", "hau_Latn"),
        ("Hausa", "hau_Latn"),
        ("hausa", "hau_Latn"),
        ("ha-NG", "hau_Latn"),
        ("ha_NG", "hau_Latn"),
        ("yoruba", "yor_Latn"),
        ("Èdè Yorùbá", "yor_Latn"),
        ("አማርኛ", "amh_Ethi"),
        ("Swahili", "swh_Latn"),
        ("Kiswahili", "swh_Latn"),
        ("sw", "swh_Latn"),
        ("swa", "swh_Latn"),
        ("swh", "swh_Latn"),
        ("sw-KE", "swh_Latn"),
        ("zh", "zho_Hans"),
        ("zh-CN", "zho_Hans"),
        ("zh-TW", "zho_Hant"),
        ("zh-HK", "zho_Hant"),
        ("zh-Hant", "zho_Hant"),
        ("Chinese (Traditional)", "zho_Hant"),
        ("cmn", "zho_Hans"),
        ("sr", "srp_Cyrl"),
        ("sr-Cyrl", "srp_Cyrl"),
        ("pt-BR", "por_Latn"),
        ("pt_BR", "por_Latn"),
        ("Brazilian Portuguese", "por_Latn"),
        ("ar", "arb_Arab"),
        ("ar-Latn", "arb_Latn"),
        ("qu", "quy_Latn"),
        ("ne", "npi_Deva"),
        ("ewe", "ewe_Latn"),
        ("ee", "ewe_Latn"),
        ("shn", "shn_Mymr"),
        ("sat", "sat_Olck"),
        ("sat_Beng", "sat_Olck"),
        ("mni", "mni_Beng"),
        ("ks", "kas_Arab"),
        ("kas", "kas_Arab"),
        ("ks-Deva", "kas_Deva"),
        ("Kashmiri", "kas_Arab"),
        ("ace", "ace_Latn"),
        ("ace-Arab", "ace_Arab"),
        ("bjn", "bjn_Latn"),
        ("min", "min_Latn"),
        ("taq", "taq_Latn"),
        ("taq-Tfng", "taq_Tfng"),
        ("kr", "knc_Latn"),
        ("kr-Arab", "knc_Arab"),
        ("az-Arab", "azb_Arab"),
        ("az-IR", "azb_Arab"),
        ("ku-Arab", "ckb_Arab"),
        ("fa-AF", "prs_Arab"),
        ("tl", "tgl_Latn"),
        ("fil", "tgl_Latn"),
        ("iw", "heb_Hebr"),
        ("ger", "deu_Latn"),
        ("ko", "kor_Hang"),
        ("ca-ES-valencia", "cat_Latn"),
        ("zh-yue", "yue_Hant"),
        ("ar-arz", "arz_Arab"),
    ],
)
def test_resolves(text: str, code: str) -> None:
    assert resolve(text).code == code


@pytest.mark.parametrize("code", sorted({code[:3] for code in CODES}))
def test_bare_iso639_3_code_of_every_flores_language_resolves(code: str) -> None:
    language, note = resolve_with_note(code)
    assert language.in_flores200
    assert language.iso639_3 == code
    assert note is not None and "->" in note


def test_multi_script_languages_say_the_script_is_a_default() -> None:
    multi = {code[:3] for code in CODES if sum(c[:3] == code[:3] for c in CODES) > 1}
    assert multi == {"ace", "arb", "bjn", "kas", "knc", "min", "taq", "zho"}
    for iso3 in multi:
        language, note = resolve_with_note(iso3)
        assert language.in_flores200
        assert note is not None and "default of its FLORES-200 scripts" in note


def test_macrolanguage_note() -> None:
    language, note = resolve_with_note("sw")
    assert language.code == "swh_Latn"
    assert note == "'sw' (Swahili, macrolanguage) -> swh_Latn (Swahili)"


@pytest.mark.parametrize(("macro", "code"), sorted(MACROLANGUAGES.items()))
def test_macrolanguage_map(macro: str, code: str) -> None:
    assert code in CODES
    language, note = resolve_with_note(macro)
    assert language.code == code
    assert note is not None and "macrolanguage" in note


@pytest.mark.parametrize(
    ("two_letter", "code"),
    [
        ("ar", "arb_Arab"),
        ("ms", "zsm_Latn"),
        ("fa", "pes_Arab"),
        ("et", "est_Latn"),
        ("lv", "lvs_Latn"),
        ("uz", "uzn_Latn"),
        ("qu", "quy_Latn"),
        ("ne", "npi_Deva"),
        ("om", "gaz_Latn"),
        ("mg", "plt_Latn"),
        ("sq", "als_Latn"),
        ("az", "azj_Latn"),
        ("ku", "kmr_Latn"),
        ("ps", "pbt_Arab"),
        ("mn", "khk_Cyrl"),
        ("no", "nob_Latn"),
        ("yi", "ydd_Hebr"),
        ("gn", "grn_Latn"),
        ("ak", "aka_Latn"),
        ("kr", "knc_Latn"),
        ("ff", "fuv_Latn"),
        ("ay", "ayr_Latn"),
        ("or", "ory_Orya"),
    ],
)
def test_two_letter_macrolanguage_codes(two_letter: str, code: str) -> None:
    language, note = resolve_with_note(two_letter)
    assert language.code == code
    assert note is not None and "macrolanguage" in note
    assert language.iso639_1 == two_letter or (two_letter, language.iso639_1) == ("no", "nb")


def test_notes_explain_the_mapping() -> None:
    assert resolve_with_note("ha")[1] == "'ha' -> hau_Latn (Hausa)"
    assert "region NG dropped" in (resolve_with_note("ha-NG")[1] or "")
    assert "region BR dropped" in (resolve_with_note("pt-BR")[1] or "")
    assert "Hant implied by region TW" in (resolve_with_note("zh-TW")[1] or "")
    assert "NLLB" in (resolve_with_note("sat_Beng")[1] or "")
    assert "not in FLORES-200" in (resolve_with_note("gaa")[1] or "")


def test_serbian_scripts() -> None:
    latin, cyrillic = resolve("sr-Latn"), resolve("sr-Cyrl")
    assert (latin.code, latin.in_flores200) == ("srp_Latn", False)
    assert (cyrillic.code, cyrillic.in_flores200) == ("srp_Cyrl", True)
    assert latin.bcp47 == "sr-Latn"
    assert cyrillic.bcp47 == "sr"
    assert latin.name == "Serbian (Latin script)"


def test_language_outside_flores() -> None:
    language, note = resolve_with_note("gaa")
    assert language == Language(
        code="gaa_Latn",
        iso639_3="gaa",
        script="Latn",
        name="Ga",
        native_name=language.native_name,
        in_flores200=False,
    )
    assert note is not None
    assert resolve_with_note("gaa_Latn") == (language, None)
    assert is_canonical("gaa_Latn")
    assert resolve("hau_Arab").name == "Hausa (Arabic script)"
    assert not resolve("hau_Arab").in_flores200


def test_language_without_likely_script_asks_for_one() -> None:
    with pytest.raises(UnknownLanguageError, match="abc_Latn"):
        resolve("abc")  # Ambala Ayta: langcodes knows the name but no likely script
    assert resolve("abc_Latn").code == "abc_Latn"


def test_native_names() -> None:
    assert resolve("yor").native_name == "Èdè Yorùbá"
    assert resolve("amh").native_name == "አማርኛ"
    assert resolve("swh").native_name == "Kiswahili"  # from the macrolanguage sw
    assert resolve("zho_Hans").native_name == "中文"


def test_iso639_1_and_bcp47() -> None:
    hausa = resolve("hau_Latn")
    assert (hausa.iso639_1, hausa.bcp47) == ("ha", "ha")
    assert resolve("swh_Latn").iso639_1 == "sw"
    assert resolve("zho_Hant").bcp47 == "zh-Hant"
    assert resolve("kas_Deva").bcp47 == "ks-Deva"
    assert resolve("tzm_Tfng").bcp47 == "tzm-Tfng"  # CLDR's default for tzm is Latin
    assert resolve("kor_Hang").bcp47 == "ko"
    shan = resolve("shn_Mymr")
    assert (shan.iso639_1, shan.bcp47) == (None, "shn")


def test_unknown_language_suggests_the_closest() -> None:
    with pytest.raises(UnknownLanguageError) as caught:
        resolve("husa")
    message = str(caught.value)
    assert "'husa'" in message
    assert "did you mean hau_Latn (Hausa)" in message
    assert "FLORES-200 code" in message


def test_unknown_language_without_close_match() -> None:
    with pytest.raises(UnknownLanguageError, match="unknown language 'qwzxv'"):
        resolve("qwzxv")


@pytest.mark.parametrize("text", ["ha--NG", "-", "x-foo", "1234", "🙂", "a" * 200, "xx", "qaa"])
def test_malformed_input_is_a_user_error(text: str) -> None:
    with pytest.raises(UnknownLanguageError, match="unknown language"):
        resolve(text)


@pytest.mark.parametrize("text", [UND, "UND", "und-Latn", "und_Latn"])
def test_und_never_resolves(text: str) -> None:
    with pytest.raises(UnknownLanguageError, match="prompt"):
        resolve(text)
    assert not is_canonical(text)


@pytest.mark.parametrize("text", ["mul", "zxx", "mis"])
def test_special_codes_are_not_languages(text: str) -> None:
    with pytest.raises(UnknownLanguageError, match="not a language"):
        resolve(text)


@pytest.mark.parametrize("text", ["", "   ", None, 5, b"ha", ["ha"]])
def test_empty_and_non_string_input(text: object) -> None:
    with pytest.raises(UnknownLanguageError, match="language"):
        resolve(text)  # type: ignore[arg-type]
    assert not is_canonical(text)  # type: ignore[arg-type]


def test_is_canonical() -> None:
    assert is_canonical("hau_Latn")
    for text in ("ha", "hau", "HAU_latn", "hau-Latn", "swa_Latn", "sat_Beng", "Hausa"):
        assert not is_canonical(text), text


def test_english_name() -> None:
    assert english_name("sw") == "Swahili"
    assert english_name("hau_Latn") == "Hausa"
    with pytest.raises(UnknownLanguageError):
        english_name("husa")


def test_language_is_frozen_and_cached() -> None:
    language = resolve("ha")
    assert resolve("ha") is language
    with pytest.raises(dataclasses.FrozenInstanceError):
        language.code = "yor_Latn"  # type: ignore[misc]


def test_import_builds_no_tables() -> None:
    script = (
        "import sys, xprompt.languages as m; "
        "assert m._flores_names.cache_info().currsize == 0; "
        "assert 'language_data.names' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


def test_near_miss_names_are_not_guessed() -> None:
    """langcodes shortens names until one matches; xprompt does not guess ('yoruba2' is an error)."""
    for text in ("yoruba2", "hausa-ish", "english-foo"):
        with pytest.raises(UnknownLanguageError, match="did you mean"):
            resolve(text)
    assert resolve("Kiswahili").code == "swh_Latn"
    assert resolve("Deutsch").code == "deu_Latn"
