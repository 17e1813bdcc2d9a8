"""Listings go to standard output (diagnostics to standard error), with --json for scripts;
``langid check`` reads CSV and TSV tables as it reads JSONL."""

from __future__ import annotations

import json
from pathlib import Path

from test_cli import run_cli


def test_strategies_listing_on_stdout_readable_and_as_json(capsys) -> None:
    code, out, err = run_cli(["strategies"], capsys)
    assert code == 0 and not err
    assert "translate-test" in out and "PydanticUndefined" not in out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "  - inner_options (dict[str, Any]) = {}" in out
    assert "  - diverse_langs (list[str]) = [" in out
    code, out, _ = run_cli(["strategies", "--json"], capsys)
    listing = {item["name"]: item for item in json.loads(out)}
    options = {o["name"]: o for o in listing["translate-test"]["options"]}
    assert options["inner_options"]["default"] == {} and options["mt_beams"]["default"] == 1
    assert "few-shot" in listing["direct"]["aliases"]


def test_templates_list_and_langid_coverage_as_json(capsys) -> None:
    code, out, err = run_cli(["templates", "list", "--json"], capsys)
    templates = {t["name"]: t for t in json.loads(out)}
    assert code == 0 and not err
    assert templates["sib200-topic"]["labels"] == 7 and templates["sib200-topic"]["fields"] == [
        "text"
    ]
    code, out, _ = run_cli(["langid", "coverage", "ha", "Tigrinya", "--json"], capsys)
    coverage = {c["language"]: c for c in json.loads(out)}
    assert code == 0 and "py3langid" in coverage["hau_Latn"]["decided_by"]
    assert "fallback" in coverage["tir_Ethi"]["check"]


ENGLISH = "The cat sat on the mat, and then it slept for the whole afternoon in the sun."
FRENCH = "Le chat s'est assis sur le tapis et il a dormi tout l'après-midi au soleil."
SWAHILI = "Paka alikaa kwenye mkeka na akalala mchana wote kwenye jua kali la leo."


def test_langid_check_reads_csv_and_tsv_with_iso_639_1_codes(tmp_path: Path, capsys) -> None:
    csv_file = tmp_path / "outputs.csv"
    csv_file.write_text(
        "id,completion,language\n"
        f'1,"{ENGLISH}",en\n'
        f'2,"{FRENCH}",en\n'
        f'3,"{SWAHILI}",sw\n'
        "4,no language here,xx-not-a-code\n",
        encoding="utf-8",
    )
    tsv_file = tmp_path / "outputs.tsv"
    tsv_file.write_text(
        "id\tcompletion\tlanguage\n" + "\n".join(
            f"{i}\t{t}\t{lang}" for i, (t, lang) in enumerate([(ENGLISH, "en"), (FRENCH, "en"), (SWAHILI, "sw")], 1)
        ) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    for path in (csv_file, tsv_file):
        args = ["langid", "check", str(path), "--field", "completion", "--lang-field", "language"]
        code, out, err = run_cli(args, capsys)
        lines = [json.loads(line) for line in out.splitlines()]
        assert code == 0
        checks = {r["id"]: r.get("check") for r in lines}
        assert checks["1"]["expected"] == "eng_Latn" and checks["1"]["verdict"] == "on"
        assert checks["2"]["verdict"] == "off" and checks["2"]["detected"] == "fra_Latn"
        assert checks["3"]["expected"] == "swh_Latn" and checks["3"]["verdict"] == "on"
        assert [r["line"] for r in lines[:3]] == [2, 3, 4]
        assert "off-target check" in err
    errors = [r for r in lines_of(csv_file, capsys) if "error" in r]
    assert len(errors) == 1 and errors[0]["line"] == 5 and "field 'language'" in errors[0]["error"]
    code, out, _ = run_cli(["langid", "check", str(csv_file), "--field", "text"], capsys)
    first = json.loads(out.splitlines()[0])
    assert "column 'text' is missing (columns: completion, id, language)" in first["error"]


def lines_of(path: Path, capsys) -> list[dict]:
    args = ["langid", "check", str(path), "--field", "completion", "--lang-field", "language"]
    _, out, _ = run_cli(args, capsys)
    return [json.loads(line) for line in out.splitlines()]
