"""Each synthetic-exemplar filter rejects what it should, on crafted candidates, with the real langid."""

from __future__ import annotations

import pytest

from xprompt.ldp.filters import (
    FilterSettings,
    Rejection,
    check_output,
    check_roundtrip,
    check_source,
    letters,
    sentence_chrf_pp,
)
from xprompt.types import LangCheck

HAU = "Gwamnati ta sanar da sabon shirin kiwon lafiya a jihar Kano ranar Talata."
ENG = "The government announced a new health plan in Kano state on Tuesday."
DEFAULT = FilterSettings()


def names(reasons: list[Rejection]) -> list[str]:
    return [r.filter for r in reasons]


def test_a_good_pair_passes_every_filter_and_its_measurements_are_kept() -> None:
    checks, reasons = check_output(HAU, "hau_Latn", ENG, "eng_Latn", DEFAULT)
    assert reasons == []
    assert checks["output_lang"]["verdict"] == "on"
    assert 0.5 < checks["length_ratio"] < 2
    assert checks["copy_chrf"] < 40


def test_source_language_rejects_text_in_another_language() -> None:
    checks, reasons = check_source(
        "Это новости о здоровье и политике в регионе.", "hau_Latn", DEFAULT
    )
    assert names(reasons) == ["source-language"]
    assert "detected rus_Cyrl" in reasons[0].detail
    assert checks["source_lang"]["verdict"] == "off"
    assert check_source(HAU, "hau_Latn", DEFAULT)[1] == []


def test_empty_output_is_rejected() -> None:
    assert names(check_output(HAU, "hau_Latn", "  \n", "eng_Latn", DEFAULT)[1]) == ["empty-output"]


def test_a_copy_of_the_source_is_rejected_and_can_be_allowed() -> None:
    assert "copy-of-source" in names(check_output(HAU, "hau_Latn", HAU, "eng_Latn", DEFAULT)[1])
    near = HAU.replace("Talata", "Laraba")
    assert "copy-of-source" in names(check_output(HAU, "hau_Latn", near, "eng_Latn", DEFAULT)[1])
    kept = FilterSettings(reject_copies=False, english_rule="skip")
    assert "copy-of-source" not in names(check_output(HAU, "hau_Latn", HAU, "eng_Latn", kept)[1])


def test_output_in_the_wrong_language_is_rejected() -> None:
    french = "Le gouvernement a annoncé un nouveau plan de santé pour la région aujourd'hui."
    checks, reasons = check_output(HAU, "hau_Latn", french, "eng_Latn", DEFAULT)
    assert names(reasons) == ["output-language"]
    assert checks["output_lang"]["detected"] == "fra_Latn"


def test_english_rule_on_rejects_uncertain_but_not_off_keeps_it() -> None:
    short = "Yes."  # too short for any detector: uncertain
    assert names(check_output("Eh.", "hau_Latn", short, "eng_Latn", DEFAULT)[1]) == [
        "output-language"
    ]
    lenient = FilterSettings(english_rule="not-off")
    assert check_output("Eh.", "hau_Latn", short, "eng_Latn", lenient)[1] == []


def test_low_resource_outputs_get_the_lenient_rule_by_default() -> None:
    # An English -> Hausa output: no detector names Hausa confidently in every case, so uncertain passes.
    checks, reasons = check_output(ENG, "eng_Latn", HAU, "hau_Latn", DEFAULT)
    assert reasons == [], checks
    strict = FilterSettings(lang_rule="on")
    fake = lambda text, expected, **kw: LangCheck(expected, "uncertain", "und", 0.0, "pivot")  # noqa: E731
    assert names(check_output(ENG, "eng_Latn", HAU, "hau_Latn", strict, fake)[1]) == [
        "output-language"
    ]
    assert check_output(ENG, "eng_Latn", HAU, "hau_Latn", DEFAULT, fake)[1] == []


def test_degenerate_repetition_is_rejected() -> None:
    loop = "the plan the plan the plan the plan the plan the plan the plan the plan the plan"
    assert "repetition" in names(check_output(HAU, "hau_Latn", loop, "eng_Latn", DEFAULT)[1])


def test_length_ratio_rejects_too_short_and_too_long() -> None:
    long_source = " ".join([HAU] * 4)
    short = check_output(long_source, "hau_Latn", ENG, "eng_Latn", DEFAULT)
    assert names(short[1]) == ["length-ratio"] and short[0]["length_ratio"] < 1 / 3
    long = " ".join([ENG] * 4)
    assert "length-ratio" in names(check_output(HAU, "hau_Latn", long, "eng_Latn", DEFAULT)[1])
    wide = FilterSettings(min_ratio=0.1, max_ratio=10)
    assert check_output(long_source, "hau_Latn", ENG, "eng_Latn", wide)[1] == []


def test_every_failure_is_recorded_not_only_the_first() -> None:
    french = "Le plan."
    assert names(check_output(HAU, "hau_Latn", french, "eng_Latn", DEFAULT)[1]) == [
        "output-language",
        "length-ratio",
    ]


def test_letters_ignore_spaces_and_punctuation_and_count_every_script() -> None:
    assert letters("a b, c!") == 3
    assert letters("今天下雨。") == 4
    assert letters("ሰላም ነው።") == 5


def test_roundtrip_threshold() -> None:
    settings = FilterSettings(roundtrip_chrf=50)
    checks, reasons = check_roundtrip(HAU, HAU, None, settings)
    assert reasons == [] and checks["roundtrip_chrf"] == 100.0
    checks, reasons = check_roundtrip(HAU, "Wani abu daban gaba daya.", None, settings)
    assert names(reasons) == ["roundtrip-chrf"] and checks["roundtrip_chrf"] < 50
    assert names(check_roundtrip(HAU, None, "context too long", settings)[1]) == ["roundtrip-error"]
    assert check_roundtrip(HAU, None, "x", FilterSettings()) == ({}, [])
    assert sentence_chrf_pp(HAU, HAU) == 100.0


def test_settings_are_validated_and_signed() -> None:
    with pytest.raises(ValueError, match="lang_rule"):
        FilterSettings(lang_rule="maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min <= max"):
        FilterSettings(min_ratio=2, max_ratio=1)
    with pytest.raises(ValueError, match="roundtrip_chrf"):
        FilterSettings(roundtrip_chrf=120)
    assert FilterSettings(roundtrip_chrf=30).signature() != DEFAULT.signature()
    assert "roundtrip=off" in DEFAULT.signature()
