"""Votes over reasoning paths (tie rule, skipped and excluded paths), record details, path metrics."""

from __future__ import annotations

from xprompt.answers import Extraction
from xprompt.metrics import summarize
from xprompt.reasoning import (
    PathResult,
    combine_verdicts,
    order_paths,
    path_details,
    vote,
)


def path(lang: str | None, value: str | None, verdict: str | None = "on", **kw) -> PathResult:
    rule = "answer-cue" if value is not None else "no-number"
    return PathResult(lang, Extraction(value, rule), verdict, f"solve:{lang}", **kw)


def test_ties_go_to_the_earliest_path_and_paths_without_answer_are_skipped() -> None:
    paths = [
        path("eng", "7"),
        path("deu", "8"),
        path("spa", "8"),
        path("fra", None),
        path("jpn", "7"),
    ]
    result = vote(paths)
    assert (result.answer, result.counts, result.tie, result.rule) == (
        "7",
        {"7": 2, "8": 2},
        True,
        "vote",
    )
    assert result.voters == (0, 1, 2, 4)
    reordered = order_paths(paths, ["deu", "eng"])
    assert [p.path for p in reordered] == ["deu", "eng", "spa", "fra", "jpn"]
    assert vote(reordered).answer == "8"
    assert vote([path("eng", "5"), path("deu", "4"), path("spa", "4")]).answer == "4"


def test_off_target_paths_are_flagged_and_optionally_excluded() -> None:
    paths = [path("eng", "7", "off"), path("deu", "8"), path("jpn", "7", "off")]
    kept = vote(paths)
    assert (kept.answer, kept.excluded) == ("7", ())
    dropped = vote(paths, exclude_off_target=True)
    assert (dropped.answer, dropped.excluded, dropped.counts) == ("8", (0, 2), {"8": 1})
    only_off = vote([path("eng", "7", "off")], exclude_off_target=True)
    assert (only_off.answer, only_off.rule) == (None, "all-off-target")


def test_rules_without_an_answer_and_for_one_path() -> None:
    assert vote([path("eng", None), path("deu", None)]).rule == "no-number"
    failed = PathResult("eng", Extraction(None, "error"), None, error="turn 1: too long")
    assert vote([failed, failed]).rule == "all-failed"
    assert vote([failed, path("deu", None)]).rule == "no-number"
    assert vote([path("eng", "3")]).rule == "answer-cue", "one path: its own extraction rule"


def test_combine_verdicts() -> None:
    assert combine_verdicts(["on", "on"]) == "on"
    assert combine_verdicts(["on", "off"]) == "off"
    assert combine_verdicts(["on", "uncertain"]) == "uncertain"
    assert combine_verdicts([None, None]) is None


def test_details_keep_every_path_the_vote_and_the_first_sample() -> None:
    paths = [
        path(None, "7", sample=0),
        path(None, None, sample=1),
        path(None, "8", "off", sample=2),
    ]
    result = vote(paths, exclude_off_target=True)
    details = path_details(
        paths, result, parser="number", target="7", exclude_off_target=True, samples=True
    )
    assert [p["answer"] for p in details["paths"]] == ["7", None, "8"]
    assert [p["voted"] for p in details["paths"]] == [True, False, False]
    assert [p["correct"] for p in details["paths"]] == [True, False, False]
    assert details["vote"]["excluded_off_target"] == ["sample 2"]
    assert details["vote"]["counts"] == {"7": 1} and details["vote"]["winner"] == "7"
    assert (details["first_answer"], details["first_correct"]) == ("7", True)
    no_gold = path_details(paths, result, parser="number", target=None)
    assert no_gold["paths"][0]["correct"] is None and "first_answer" not in no_gold


def record(lang: str, target: str, paths: list[PathResult], samples: bool = False) -> dict:
    result = vote(paths)
    details = path_details(paths, result, parser="number", target=target, samples=samples)
    return {
        "lang": lang,
        "target": target,
        "prediction": result.answer,
        "correct": result.answer == target,
        "extraction": result.rule,
        "error": None,
        "steps": [],
        "details": details,
    }


def test_summary_counts_paths_per_row_language_and_per_reasoning_language() -> None:
    records = [
        record(
            "swh_Latn",
            "7",
            [path("eng_Latn", "7"), path("deu_Latn", "8", "off"), path("jpn_Jpan", None, "off")],
        ),
        record(
            "swh_Latn", "5", [path("eng_Latn", "5"), path("deu_Latn", "5"), path("jpn_Jpan", "4")]
        ),
        record(
            "amh_Ethi",
            "9",
            [path("eng_Latn", None), path("deu_Latn", None), path("jpn_Jpan", None)],
        ),
    ]
    summary = summarize(records)
    swh = summary.by_lang["swh_Latn"]
    assert (swh.paths, swh.path_failures, swh.paths_checked, swh.paths_off_target) == (6, 1, 6, 2)
    assert summary.by_lang["amh_Ethi"].extraction_failures == 1, "no path answered: a failed row"
    by_path = summary.to_dict()["by_path_lang"]
    assert (
        by_path["eng_Latn"]["accuracy"] == 2 / 3 and by_path["eng_Latn"]["extraction_failures"] == 1
    )
    assert by_path["deu_Latn"]["off_target"] == 1 and by_path["jpn_Jpan"]["voted"] == 1
    assert summary.to_dict()["average"] == (1.0 + 0.0) / 2


def test_summary_reports_first_sample_next_to_the_vote() -> None:
    right_by_vote = record(
        "hau_Latn",
        "3",
        [path(None, "4", sample=0), path(None, "3", sample=1), path(None, "3", sample=2)],
        samples=True,
    )
    right_first = record(
        "hau_Latn",
        "4",
        [path(None, "4", sample=0), path(None, "3", sample=1), path(None, "3", sample=2)],
        samples=True,
    )
    summary = summarize([right_by_vote, right_first, right_first])
    assert summary.total.accuracy == 1 / 3
    assert summary.total.first_sample_accuracy == 2 / 3
    assert summary.to_dict()["first_sample_accuracy"] == 2 / 3
