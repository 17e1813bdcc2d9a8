"""Answer extraction per language, the paper's MGSM preset, labels and letters, and voting."""

from __future__ import annotations

import pytest

from xprompt.answers import (
    extract,
    extract_choice,
    extract_mgsm_paper,
    extract_number,
    extract_regex,
    extract_text,
    is_correct,
    majority_vote,
)

SHOWN = ["kimiyya/fasaha", "tafiye-tafiye", "wasanni"]
CANON = ["science/technology", "travel", "sports"]


def test_choice_exact_contains_and_missing() -> None:
    exact = extract_choice(" Wasanni. ", SHOWN, CANON)
    assert (exact.value, exact.rule) == ("sports", "exact")
    canonical = extract_choice("travel", SHOWN, CANON)
    assert (canonical.value, canonical.rule) == ("travel", "exact")
    found = extract_choice("Ina tsammani tafiye-tafiye ne, ko wasanni", SHOWN, CANON)
    assert (found.value, found.rule) == ("travel", "contains")
    missing = extract_choice("ban sani ba", SHOWN, CANON)
    assert (missing.value, missing.rule) == (None, "no-label")


def test_number_text_and_regex() -> None:
    assert extract_number("5 apples and 1,250 pears").value == "1250"
    assert extract_number("none").rule == "no-number"
    assert extract_text("  hi ").value == "hi"
    assert extract_text("   ").rule == "empty"
    assert extract_regex("Answer: (B)", r"\(([A-D])\)").value == "B"


def test_correctness_per_parser() -> None:
    assert is_correct("12.001", "12", "number")
    assert not is_correct("12.1", "12", "number")
    assert is_correct("Sports", "sports", "choice")
    assert not is_correct(None, "sports", "choice")
    assert not is_correct("Hello", "hello", "text")


def test_majority_vote_ties_go_to_the_earliest_value() -> None:
    assert majority_vote(["3", None, "4", "4", "3"]) == ("3", {"3": 2, "4": 2})
    assert majority_vote(["5", "4", "4"]) == ("4", {"5": 1, "4": 2})
    assert majority_vote([None, None]) == (None, {})


# -- the robust number parser ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "lang", "value", "matched"),
    [
        ("Step 1: 3 x 6 = 18. Then 18 - 5 = 13.\nAnswer: 13", "eng_Latn", "13", "13"),
        ("The answer is 13. (I used 3 steps.)", "eng_Latn", "13", "13"),
        ("**Answer:** $1,250.00\nNote: 3 more", "eng_Latn", "1250", "1,250.00"),
        ("Die Antwort ist 1.250 Euro. Das waren 3 Schritte.", "deu_Latn", "1250", "1.250"),
        ("Respuesta: 35 pasajeros", "spa_Latn", "35", "35"),
        ("Réponse : 3,5 kg. Vérifié 9 fois.", "fra_Latn", "3.5", "3,5"),
        ("Ответ: 1 250 руб. Проверка 7", "rus_Cyrl", "1250", "1 250"),
        ("Jibu ni 18.\n\nHatua ya 3", "swh_Latn", "18", "18"),
        ("Amsa: 84 naira. Kwanaki 2", "hau_Latn", "84", "84"),
        ("উত্তর: ১২৫০। মোট ৩ ধাপ", "ben_Beng", "1250", "১২৫০"),
        ("उत्तर: १३ आम। कुल ३ टोकरियाँ", "hin_Deva", "13", "१३"),
        ("መልሱ ፲፫ ነው። 3 ቅርጫቶች", "amh_Ethi", "13", "፲፫"),
        ("答案是十二。共3步", "zho_Hans", "12", "十二"),
        ("答案：35。", "zho_Hans", "35", "35"),
        ("答えは１３です。３つ", "jpn_Jpan", "13", "１３"),
        ("คำตอบ: ๘๔ บาท", "tha_Thai", "84", "๘๔"),
        ("الإجابة: ١٣", "arb_Arab", "13", "١٣"),
        ("#### 35\nextra 5", None, "35", "35"),
        ("So \\boxed{42} and 7 more", None, "42", "42"),
        ("no cue: 3 baskets, 13 mangoes", None, "13", "13"),
    ],
)
def test_robust_number_parser_reads_cues_digits_and_separators(
    text: str, lang: str | None, value: str, matched: str
) -> None:
    found = extract(text, "number", lang=lang)
    assert (found.value, found.matched) == (value, matched)
    assert found.rule in {"answer-cue", "boxed", "last-number"}


def test_robust_number_parser_names_the_rule_that_fired() -> None:
    assert extract_number("Answer: 7").rule == "answer-cue"
    assert extract_number("x \\boxed{7} y").rule == "boxed"
    assert extract_number("I think 7").rule == "last-number"
    assert extract_number("Let me answer this question: 3 apples, then 12.").value == "12"
    assert extract_number("Answer: [num]\nSo 17").rule == "last-number"
    assert extract_number("ሰላም").rule == "no-number"


def test_paper_preset_is_the_authors_rule_exactly() -> None:
    # After the LAST "Answer:", commas removed, LAST number, read with float.
    assert extract_mgsm_paper("Answer: 5 apples... Answer: 12 (from 3 steps)").value == "3"
    assert extract_mgsm_paper("Answer: 1,250").value == "1250"
    assert extract_mgsm_paper("Antwort: 1.250").value == "1.25"  # no German, no cue
    assert extract_mgsm_paper("Answer: 12.").matched == "12."
    found = extract_mgsm_paper("Jibu ni 18. Hatua 3")  # no "Answer:": the whole text
    assert (found.value, found.rule) == ("3", "paper-last-number")
    assert extract_mgsm_paper("Answer: ১৩").value == "13"  # Python's \d is Unicode
    assert extract_mgsm_paper("Answer: ፲፫").rule == "no-number"  # Ethiopic numerals are not \d
    assert extract_mgsm_paper("Answer: none").rule == "no-number"


def test_paper_preset_and_robust_parser_differ_where_they_should() -> None:
    cases = {
        "Die Antwort ist 1.250 Euro.": ("1.25", "1250"),
        "Jibu: 18. Hatua 3": ("3", "18"),
        "Ａｎｓｗｅｒ：１３。３ steps": ("3", "13"),
        "መልስ: ፲፫": (None, "13"),
    }
    for text, (paper, robust) in cases.items():
        lang = "deu_Latn" if "Antwort" in text else None
        assert extract(text, "mgsm-paper").value == paper, text
        assert extract(text, "number", lang=lang).value == robust, text


def test_paper_equality_truncates_to_two_decimals() -> None:
    assert is_correct("12.009", "12", "mgsm-paper")  # int(1200.9) == 1200
    assert not is_correct("12.009", "12", "number")  # rounds to 12.01
    assert not is_correct("11.999", "12", "mgsm-paper")
    assert is_correct("11.999", "12", "number")
    assert is_correct("1250", "1,250", "number")
    assert is_correct("13", "١٣", "number")


def test_choice_letters_cues_and_full_width() -> None:
    letters = ["A", "B", "C", "D"]
    assert (
        extract_choice("Answer: B", letters, letters).value,
        extract_choice("Answer: B", letters, letters).rule,
    ) == ("B", "answer-cue")
    assert extract_choice("The answer is C.", letters, letters).value == "C"
    assert extract_choice("Jibu: (A)", letters, letters).value == "A"
    assert extract_choice("Ｂ", letters, letters).rule == "exact"
    assert extract_choice("(D)", letters, letters).value == "D"
    assert extract_choice("I pick (C) here", letters, letters).rule == "option"
    # A single letter inside running text is never an answer ("A farmer ...").
    assert extract_choice("A farmer has cows", letters, letters).rule == "no-label"
    labels, shown = ["1", "2"], ["choice 1", "choice 2"]
    assert extract_choice("Answer: 2", shown, labels).value == "2"
    assert extract_choice("Jibu: wasanni", SHOWN, CANON).value == "sports"
    assert extract_choice("tafiye-tafiye... Amsa: wasanni", SHOWN, CANON).rule == "answer-cue"


def test_unknown_parser_and_missing_label_set_are_errors() -> None:
    with pytest.raises(ValueError, match="unknown answer parser 'digits'"):
        extract("1", "digits")
    with pytest.raises(ValueError, match="needs a label set"):
        extract("A", "choice")
