"""The LDP commands' user errors: each names the bad input, exits 2, and starts no engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import EXAMPLES, write_jsonl

from xprompt.cli import main

LDP = EXAMPLES / "ldp"


@pytest.fixture(autouse=True)
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every error here must come before an engine would start."""

    def refuse(*args: object) -> None:
        raise AssertionError("an engine was started for a command that should have failed first")

    monkeypatch.setattr("xprompt.backends.factory.make_backend", refuse)


def fails(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    assert exc.value.code == 2
    return capsys.readouterr().err


def test_synth_pairs_errors(capsys, tmp_path: Path) -> None:
    base = [
        "synth",
        "pairs",
        "-i",
        str(LDP / "hau.unlabelled.txt"),
        "-o",
        str(tmp_path / "s.jsonl"),
        "-m",
        "tiny",
    ]
    assert "ldp tags must be one of native, none, english, code" in fails(
        capsys, *base, "-l", "hau", "--tags", "emoji"
    )
    assert "not English" in fails(capsys, *base, "-l", "eng")
    assert "unknown language" in fails(capsys, *base, "-l", "hausa-ish").lower()
    assert "lang_rule must be one of" in fails(capsys, *base, "-l", "hau", "--lang-rule", "maybe")
    assert "min <= max" in fails(capsys, *base, "-l", "hau", "--min-ratio", "3", "--max-ratio", "1")
    missing = [
        "synth",
        "pairs",
        "-i",
        str(tmp_path / "nope.txt"),
        "-o",
        str(tmp_path / "s.jsonl"),
        "-l",
        "hau",
        "-m",
        "tiny",
    ]
    assert "input file not found" in fails(capsys, *missing)
    (tmp_path / "s.jsonl").write_text("", encoding="utf-8")
    assert "exists; pass --overwrite" in fails(capsys, *base, "-l", "hau")


def test_synth_chain_and_task_check_their_exemplar_sets_first(capsys, tmp_path: Path) -> None:
    bad = write_jsonl(
        tmp_path / "bad.jsonl", [{"lang": "eng_Latn", "text": "Hi.", "target_lang": "yor_Latn"}]
    )
    err = fails(
        capsys,
        "synth",
        "chain",
        "-i",
        str(LDP / "hau.unlabelled.txt"),
        "-o",
        str(tmp_path / "t.jsonl"),
        "-l",
        "hau",
        "--tgt",
        "yor",
        "-e",
        str(bad),
        "-m",
        "tiny",
    )
    assert "exemplar set bad.jsonl, row 1 (line 1): field 'target' is missing" in err
    assert "other than English" in fails(
        capsys,
        "synth",
        "chain",
        "-i",
        str(LDP / "hau.unlabelled.txt"),
        "-o",
        str(tmp_path / "t.jsonl"),
        "-l",
        "hau",
        "--tgt",
        "eng",
        "-e",
        str(bad),
        "-m",
        "tiny",
    )
    assert "--translate-target needs --target-field" in fails(
        capsys,
        "synth",
        "task",
        "-i",
        str(EXAMPLES / "data" / "topics.en.jsonl"),
        "-o",
        str(tmp_path / "p.jsonl"),
        "-l",
        "hau",
        "-e",
        str(bad),
        "-m",
        "tiny",
        "--translate-target",
    )


def test_ldp_report_errors(capsys, tmp_path: Path) -> None:
    base = [
        "ldp-report",
        "-i",
        str(LDP / "hau-eng.test.jsonl"),
        "-o",
        str(tmp_path / "r"),
        "-m",
        "tiny",
    ]
    assert "zero-shot is its own condition" in fails(capsys, *base, "--shots", "0")
    assert "input file not found" in fails(
        capsys,
        "ldp-report",
        "-i",
        str(tmp_path / "nope.jsonl"),
        "-o",
        str(tmp_path / "r"),
        "-m",
        "tiny",
    )
    assert "missing.jsonl" in fails(capsys, *base, "--parallel", str(tmp_path / "missing.jsonl"))


def test_run_with_the_ldp_strategy_errors(capsys, tmp_path: Path) -> None:
    pairs = write_jsonl(
        tmp_path / "set.jsonl",
        [
            {
                "id": "p1",
                "kind": "pair",
                "lang": "eng_Latn",
                "text": "Hi.",
                "target": "Sannu.",
                "target_lang": "hau_Latn",
            }
        ],
    )
    base = [
        "run",
        "-i",
        str(LDP / "hau-eng.test.jsonl"),
        "-o",
        str(tmp_path / "o.jsonl"),
        "-m",
        "tiny",
        "--strategy",
        "ldp",
    ]
    assert "--opt shots=N" in fails(
        capsys, *base, "-t", "ldp-translate", "--exemplars", str(pairs), "-k", "2"
    )
    assert "template 'chat' reads ['prompt']" in fails(
        capsys, *base, "-t", "chat", "--exemplars", str(pairs)
    )
    assert "invalid options" in fails(capsys, *base, "-t", "ldp-translate", "--opt", "tags=loud")
    assert "use -t ldp-translate" in fails(capsys, *base, "-t", "sib200-topic")
