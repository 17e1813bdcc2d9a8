"""Mixed responses: preambles, code-switched lines, short valid lines and quotes (written for the tests).

``tests/data/langid_mixed.jsonl``: one response per row with the verdict it must get,
and for ``mixed`` ones which line is off (index into ``LangCheck.lines``), its language and rule.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xprompt.langid import make_checker

ROWS = [
    json.loads(line)
    for line in (Path(__file__).parent / "data" / "langid_mixed.jsonl")
    .read_text(encoding="utf-8")
    .splitlines()
]


@pytest.fixture(scope="module")
def checker():
    return make_checker()


def test_the_set_covers_what_the_issue_asks_for() -> None:
    cases = {row["case"] for row in ROWS}
    for lang in ("hau_Latn", "swh_Latn", "amh_Ethi", "hin_Deva"):
        assert {f"en-preamble-{lang}", f"fr-preamble-{lang}"} <= cases
    assert any(c.startswith("codeswitch-") for c in cases)
    assert any(c.startswith("quote-") for c in cases)
    assert {row["verdict"] for row in ROWS} == {"on", "off", "mixed"}


@pytest.mark.parametrize("row", ROWS, ids=[row["case"] for row in ROWS])
def test_mixed_response_verdicts(checker, row) -> None:
    got = checker.check(row["text"], row["lang"], source=row.get("source"))
    assert got.verdict == row["verdict"], (got.rule, got.lines)
    assert got.line_pass is (row["verdict"] not in ("off", "mixed"))
    if row["verdict"] == "mixed":
        off = [i for i, line in enumerate(got.lines) if line.verdict == "off"]
        assert off and off[0] == row["off_line"]
        named = got.lines[off[0]]
        assert got.detected == named.detected == row["detected"]
        if "rule" in row:
            assert got.rule == row["rule"]
        # The off line is named in the record, with offsets into the text.
        record = got.to_dict()
        assert record["verdict"] == "mixed"
        assert record["lines"][off[0]]["verdict"] == "off"
        span = row["text"][named.start : named.end]
        assert span.strip() and named.end <= len(row["text"])
    if row["verdict"] == "on":
        assert all(line.verdict != "off" for line in got.lines)


def test_preamble_is_caught_on_a_single_line(checker) -> None:
    got = checker.check(
        "Here is the translation: Kesho asubuhi tutakwenda shambani kuvuna karanga.", "swh_Latn"
    )
    assert (got.verdict, got.detected, got.rule) == ("mixed", "eng_Latn", "preamble")
    assert got.lines[0].start == 0 and got.lines[0].end == len("Here is the translation:")


def test_english_words_inside_a_non_latin_line_are_flagged(checker) -> None:
    inside = checker.check("बारिश हो रही थी इसलिए बच्चे सुबह जल्दी पैदल school गए।", "hin_Deva")
    assert inside.verdict == "on" and "english-words" in inside.flags
    heading = checker.check("Note:\nबारिश हो रही थी इसलिए बच्चे सुबह जल्दी पैदल स्कूल गए।", "hin_Deva")
    assert "english-words" not in heading.flags
    latin_target = checker.check(
        "Yara sun tafi makaranta da wuri saboda ana ruwan sama.", "hau_Latn"
    )
    assert "english-words" not in latin_target.flags
