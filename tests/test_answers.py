"""Answer extraction and voting for the foundation parsers."""

from __future__ import annotations

from xprompt.answers import extract_choice, extract_number, extract_regex, extract_text, is_correct, majority_vote

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
