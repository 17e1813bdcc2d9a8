"""``xprompt score``: re-extract and re-vote stored outputs (no model) against hand-computed results.

The fixtures under ``tests/fixtures/score/`` were written for these tests; the
expected numbers below were worked out by hand from them (see the comments).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import read_jsonl

from xprompt.cli import main
from xprompt.errors import ConfigError
from xprompt.rescore import ScoreSettings, parse_vote_order, score_file

FIXTURES = Path(__file__).parent / "fixtures" / "score"
INTERCHANGE = FIXTURES / "interchange.jsonl"
RECORDS = FIXTURES / "records.jsonl"


def score(capsys, *args: str) -> tuple[int, dict, str]:
    """Run ``xprompt score ... --json`` in-process; (exit code, summary, stderr)."""
    try:
        main(["score", *args, "--json"])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if code == 0 else {}), captured.err


def accuracies(summary: dict) -> dict[str, float | None]:
    return {lang: stats["accuracy"] for lang, stats in summary["by_lang"].items()}


# Interchange rows, robust parser (hand-computed):
#   r1 swh: en 13, de 12, es 12, fr -, ja 13 -> tie 13:2 / 12:2 -> en first -> 13, right
#   r2 ben: উত্তর: ১,২৫০ -> 1250; Answer: 1,250 -> 1250; (de) 1.250 -> 1250 -> right
#   r3 amh: ፵፰ -> 48, 48, -, 36 -> 48, right (first sample 48: right)
#   r4 hau: no number in any path -> no answer, wrong
#   r5 fra: Réponse : ７ ... 3 fois -> 7 (after the cue), right
#   r6 zho: 答案是十二 -> 12, no target: not scored
#   b1-b3 yor: bad rows (no outputs, unknown path language, output not an object): wrong
#   b4: no lang (und), wrong; b5: not JSON (und), no target
ROBUST = {"amh_Ethi": 1.0, "ben_Beng": 1.0, "fra_Latn": 1.0, "hau_Latn": 0.0, "swh_Latn": 1.0,
          "und": 0.0, "yor_Latn": 0.0, "zho_Hans": None}  # fmt: skip


def test_interchange_robust_parser_matches_hand_computation(capsys, tmp_path: Path) -> None:
    out = tmp_path / "rescored.jsonl"
    code, summary, _ = score(capsys, str(INTERCHANGE), "--no-langid", "-o", str(out))
    assert code == 0
    assert accuracies(summary) == ROBUST
    assert summary["average"] == pytest.approx(4 / 7)
    assert (summary["rows"], summary["errors"], summary["scored"], summary["accuracy"]) == (
        11,
        5,
        9,
        4 / 9,
    )
    assert summary["first_sample_accuracy"] == 1.0
    assert summary["by_lang"]["hau_Latn"]["extraction_failures"] == 1
    records = {r["id"]: r for r in read_jsonl(out)}
    assert len(records) == 11, "every row has a record"
    r1 = records["r1"]
    assert (r1["prediction"], r1["extraction"], r1["details"]["vote"]["tie"]) == (
        "13",
        "vote",
        True,
    )
    assert r1["details"]["vote"]["counts"] == {"13": 2, "12": 2}
    assert [p["path"] for p in r1["details"]["paths"]] == [
        "eng_Latn",
        "deu_Latn",
        "spa_Latn",
        "fra_Latn",
        "jpn_Jpan",
    ]
    r2 = records["r2"]
    assert [p["matched"] for p in r2["details"]["paths"]] == ["১,২৫০", "1,250", "1.250"]
    assert records["r3"]["details"]["paths"][0]["matched"] == "፵፰"
    assert records["r4"]["prediction"] is None and records["r4"]["extraction"] == "no-number"
    assert records["r6"]["prediction"] == "12" and records["r6"]["correct"] is None


def test_bad_interchange_rows_name_the_row_and_field(capsys, tmp_path: Path) -> None:
    out = tmp_path / "rescored.jsonl"
    score(capsys, str(INTERCHANGE), "--no-langid", "-o", str(out))
    errors = {r["id"]: r["error"] for r in read_jsonl(out) if r["error"]}
    assert set(errors) == {"b1", "b2", "b3", "b4", "row10"}
    assert errors["b1"] == (
        "row 7 (line 7) of interchange.jsonl: neither an xprompt result record (field 'steps') "
        "nor an interchange row (field 'outputs') (fields present: id, lang, target)"
    )
    assert "outputs[0].path: unknown language 'klingonish'" in errors["b2"]
    assert "outputs[0] must be an object with 'text' and 'path', got str" in errors["b3"]
    assert "field 'lang' is missing" in errors["b4"]
    assert errors["row10"].startswith("row 10 (line 10) of interchange.jsonl: not valid JSON")


def test_paper_preset_against_the_robust_parser(capsys) -> None:
    # r1: Answer: 13 / whole text 12 / 12 / - / 13 -> tie -> 13, right
    # r2: no "Answer:" in the Bengali path -> whole text, commas removed, last number ৩ -> 3;
    #     1250; 1.250 -> 1.25 -> three-way tie -> 3 (first path), wrong
    # r3: ፵፰ is not \d -> -, 48, -, 36 -> 48, right; but the first sample has no answer
    # r5: no "Answer:" -> the last number of the whole text, 3 -> wrong
    code, summary, _ = score(capsys, str(INTERCHANGE), "--no-langid", "--parser", "mgsm-paper")
    assert code == 0
    assert accuracies(summary) == {**ROBUST, "ben_Beng": 0.0, "fra_Latn": 0.0}
    assert summary["average"] == pytest.approx(2 / 7)
    assert summary["first_sample_accuracy"] == 0.0


def test_vote_order_breaks_ties(capsys) -> None:
    # r1 with German first: de 12, en 13, es 12, fr -, ja 13 -> tie -> 12, wrong.
    code, summary, _ = score(
        capsys, str(INTERCHANGE), "--no-langid", "--vote-order", "de,en,es,fr,ja"
    )
    assert code == 0
    assert accuracies(summary)["swh_Latn"] == 0.0
    assert summary["average"] == pytest.approx(3 / 7)


# xprompt records (hand-computed):
#   m1 swh (CLSP, order en, de, ja, ru): en 12, de 13, ja １２ (stored verdict off), ru 13
#      -> tie -> 12 (English first), wrong; without the off-target path: 13:2 / 12:1 -> right
#   m2 hau (direct, 3 samples): Amsa: 84 / Amsa: 80 / "Amsa ita ce 84" (no cue: last number 84)
#      -> 84, right; first sample 84, right
#   bad: a row the run could not read: kept as it was
def test_xprompt_records_stored_order_and_off_target_exclusion(capsys, tmp_path: Path) -> None:
    out = tmp_path / "rescored.jsonl"
    code, summary, _ = score(capsys, str(RECORDS), "-o", str(out))
    assert code == 0
    assert accuracies(summary) == {"amh_Ethi": None, "hau_Latn": 1.0, "swh_Latn": 0.0}
    assert summary["average"] == 0.5 and summary["first_sample_accuracy"] == 1.0
    records = read_jsonl(out)
    m1 = records[0]
    assert m1["details"]["vote"]["counts"] == {"12": 2, "13": 2} and m1["prediction"] == "12"
    assert [p["answer"] for p in m1["details"]["paths"]] == ["12", "13", "12", "13"]
    assert (
        records[1]["extraction"] == "vote"
        and records[1]["details"]["paths"][2]["rule"] == "last-number"
    )
    assert (
        records[2]["error"].startswith("row 3 (line 3) of mgsm.jsonl") and records[2]["steps"] == []
    )
    assert summary["by_path_lang"]["jpn_Jpan"]["off_target"] == 1

    code, excluded, _ = score(capsys, str(RECORDS), "--exclude-off-target")
    assert accuracies(excluded)["swh_Latn"] == 1.0 and excluded["average"] == 1.0
    code, paper, _ = score(capsys, str(RECORDS), "--parser", "mgsm-paper")
    assert accuracies(paper) == {"amh_Ethi": None, "hau_Latn": 1.0, "swh_Latn": 0.0}
    code, german_first, _ = score(capsys, str(RECORDS), "--vote-order", "de,en")
    assert accuracies(german_first)["swh_Latn"] == 1.0


def test_rescored_output_scores_the_same_again(capsys, tmp_path: Path) -> None:
    once, twice = tmp_path / "once.jsonl", tmp_path / "twice.jsonl"
    _, first, _ = score(capsys, str(INTERCHANGE), "--no-langid", "-o", str(once))
    _, second, _ = score(capsys, str(once), "-o", str(twice))
    assert accuracies(first) == accuracies(second) and first["average"] == second["average"]
    assert [r["prediction"] for r in read_jsonl(once)] == [
        r["prediction"] for r in read_jsonl(twice)
    ]


def test_interchange_paths_are_checked_against_their_language(tmp_path: Path) -> None:
    records, summary = score_file(INTERCHANGE, ScoreSettings())
    r1 = records[0]
    checks = [c for s in r1["steps"] for c in s.get("checks", [])]
    assert [c["expected"] for c in checks] == [
        "eng_Latn",
        "deu_Latn",
        "spa_Latn",
        "fra_Latn",
        "jpn_Jpan",
    ]
    assert [p["verdict"] for p in r1["details"]["paths"]] == [c["verdict"] for c in checks]
    assert records[2]["steps"][0].get("checks") is None, (
        "samples without a language are not checked"
    )
    assert summary.total.paths_checked == 11  # r1 5 + r2 3 + r4 2 + r6 1
    assert summary.signature.startswith(
        "score|parser:stored|vote-order:stored|exclude-off-target:stored|langid:on|input:"
    )


def test_human_report_and_user_errors(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(["score", str(RECORDS)])
    assert done.value.code == 0
    err = capsys.readouterr().err
    assert "Reasoning paths by language" in err and "jpn_Jpan" in err and "signature: score|" in err
    for args, message in [
        (["score", str(RECORDS), "--parser", "choice"], "--parser choice needs the label set"),
        (["score", str(RECORDS), "--parser", "digits"], "unknown parser 'digits'"),
        (["score", str(RECORDS), "--vote-order", "en,xx-nope"], "--vote-order: "),
        (["score", "no-such-file.jsonl"], "file not found: no-such-file.jsonl"),
    ]:
        with pytest.raises(SystemExit) as exc:
            main(args)
        assert exc.value.code == 2
        assert message in capsys.readouterr().err


def test_choice_parser_with_labels(tmp_path: Path) -> None:
    path = tmp_path / "choices.jsonl"
    rows = [
        {"id": "x1", "lang": "swh", "target": "B", "outputs": [{"text": "Jibu: B", "path": None}, {"text": "(A)", "path": None}, {"text": "The answer is B.", "path": None}]},
        {"id": "x2", "lang": "hau", "target": "A", "outputs": [{"text": "Amsa: (C)", "path": None}]},
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    records, summary = score_file(
        path, ScoreSettings(parser="choice", choices=("A", "B", "C", "D"))
    )
    assert [r["prediction"] for r in records] == ["B", "C"]
    assert summary.total.correct == 1


def test_parse_vote_order() -> None:
    assert parse_vote_order("en, de,zh") == ("eng_Latn", "deu_Latn", "zho_Hans")
    assert parse_vote_order(None) is None
    with pytest.raises(ConfigError, match="--vote-order"):
        parse_vote_order("en,nope-nope")
