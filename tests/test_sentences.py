"""Sentence splitting and re-assembly across writing systems (Latin, Ethiopic, Devanagari, Arabic, CJK, Thai)."""

from __future__ import annotations

import pytest

from xprompt.sentences import Segment, join_sentences, split_sentences, split_to_fit


def texts(segments: list[Segment]) -> list[str]:
    return [s.text for s in segments]


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        (
            "The vote was held on Tuesday. Results come later! Will it pass? Nobody knows.",
            "eng_Latn",
            [
                "The vote was held on Tuesday.",
                "Results come later!",
                "Will it pass?",
                "Nobody knows.",
            ],
        ),
        (
            'She said "it is done." Then she left… Mr. Bello and J. Okafor stayed, e.g. until noon.',
            "eng_Latn",
            [
                'She said "it is done."',
                "Then she left…",
                "Mr. Bello and J. Okafor stayed, e.g. until noon.",
            ],
        ),
        (
            "The rate rose to 3.5 percent. Prices fell.",
            "eng_Latn",
            ["The rate rose to 3.5 percent.", "Prices fell."],
        ),
        (
            "መንግሥት ዛሬ አዲስ የጤና ዕቅድ አስታውቋል። ይህ ዜና ስለ ጤና ነው፧ አዎ።",
            "amh_Ethi",
            ["መንግሥት ዛሬ አዲስ የጤና ዕቅድ አስታውቋል።", "ይህ ዜና ስለ ጤና ነው፧", "አዎ።"],
        ),
        (
            "सरकार ने आज नई योजना की घोषणा की। यह अच्छी खबर है।लोग खुश हैं॥",
            "hin_Deva",
            ["सरकार ने आज नई योजना की घोषणा की।", "यह अच्छी खबर है।", "लोग खुश हैं॥"],
        ),
        (
            "هل هذا صحيح؟ نعم، هذا صحيح. ہم کل جائیں گے۔ پھر واپس آئیں گے",
            "urd_Arab",
            ["هل هذا صحيح؟", "نعم، هذا صحيح.", "ہم کل جائیں گے۔", "پھر واپس آئیں گے"],
        ),
        (
            "政府今天宣布了新计划。答案是十二！真的吗？是的",
            "zho_Hans",
            ["政府今天宣布了新计划。", "答案是十二！", "真的吗？", "是的"],
        ),
        (
            "รัฐบาลประกาศแผนสุขภาพใหม่ในวันนี้ ประชาชนดีใจมาก",
            "tha_Thai",
            ["รัฐบาลประกาศแผนสุขภาพใหม่ในวันนี้", "ประชาชนดีใจมาก"],
        ),
    ],
    ids=[
        "latin",
        "abbreviations",
        "decimal",
        "ethiopic",
        "devanagari",
        "arabic-urdu",
        "cjk",
        "thai",
    ],
)
def test_sentence_ends_per_writing_system(text: str, lang: str, expected: list[str]) -> None:
    segments = split_sentences(text, lang)
    assert texts(segments) == expected
    assert "".join(s.text + s.space for s in segments) == text, "splitting loses no character"


def test_thai_rule_applies_to_thai_text_without_a_language_and_not_to_spaced_scripts() -> None:
    assert len(split_sentences("รัฐบาลประกาศแผน ประชาชนดีใจมาก")) == 2
    assert len(split_sentences("no sentence end here at all")) == 1


def test_line_breaks_are_boundaries_and_survive_reassembly() -> None:
    text = "First line\nSecond one. Third one.\n\nNew paragraph"
    segments = split_sentences(text, "eng_Latn")
    assert texts(segments) == ["First line", "Second one.", "Third one.", "New paragraph"]
    joined = join_sentences(["A", "B.", "C.", "D"], segments, "hau_Latn")
    assert joined == "A\nB. C.\n\nD"


def test_joiner_depends_on_the_target_language() -> None:
    segments = split_sentences("One. Two.", "eng_Latn")
    assert join_sentences(["一。", "二。"], segments, "zho_Hans") == "一。二。"
    assert join_sentences(["一。", "二。"], segments, "jpn_Jpan") == "一。二。"
    assert join_sentences(["Moja.", "Mbili."], segments, "swh_Latn") == "Moja. Mbili."
    assert join_sentences(["หนึ่ง", "สอง"], segments, "tha_Thai") == "หนึ่ง สอง"
    with pytest.raises(ValueError, match="2 segments"):
        join_sentences(["only one"], segments, "eng_Latn")


def test_empty_text_has_no_segments() -> None:
    assert split_sentences("   \n ") == []


def test_split_to_fit_cuts_at_spaces_then_characters() -> None:
    pieces = split_to_fit(Segment("aaaa bbbb cccc dddd", "\n"), lambda t: len(t) <= 9)
    assert pieces == [Segment("aaaa bbbb", " "), Segment("cccc dddd", "\n")]
    cjk = split_to_fit(Segment("政府今天宣布了计划"), lambda t: len(t) <= 3)
    assert "".join(p.text for p in cjk) == "政府今天宣布了计划"
    assert all(len(p.text) <= 3 for p in cjk)
    assert split_to_fit(Segment("short"), lambda t: True) == [Segment("short")]
