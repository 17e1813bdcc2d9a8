"""``xprompt langid`` and the evaluation on user files: outputs, summaries, one error per bad line."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from helpers import write_jsonl

from xprompt.cli import main
from xprompt.errors import DataError, UnknownLanguageError
from xprompt.langid import make_checker
from xprompt.langid.evaluation import corpus_from_files, evaluate, read_lines

HAUSA = [
    "Gobe da safe za mu je gona domin mu girbe gyaɗa kafin ruwan sama ya sauka.",
    "Malamin ya koya wa ɗalibai yadda ake rubuta wasiƙa mai kyau cikin Hausa.",
    "Kasuwar garin ta cika da mutane saboda bikin sallah da za a yi gobe.",
]
SWAHILI = [
    "Kesho asubuhi tutakwenda shambani kuvuna karanga kabla mvua haijaanza kunyesha.",
    "Mwalimu aliwafundisha wanafunzi jinsi ya kuandika barua nzuri kwa Kiswahili.",
    "Soko la mji lilijaa watu kwa sababu ya sikukuu itakayofanyika kesho.",
]
ENGLISH = [
    "Tomorrow morning we will go to the farm to harvest groundnuts before the rain.",
    "The teacher showed the pupils how to write a good letter in their language.",
    "The town market was full of people because of the festival tomorrow.",
]


def run_cli(args: list[str], capsys, stdin: str | None = None, monkeypatch=None):
    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def lines_of(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_check_plain_lines_from_stdin(capsys, monkeypatch) -> None:
    text = "\n".join([HAUSA[0], ENGLISH[0], "", "Sannu"]) + "\n"
    code, out, err = run_cli(["langid", "check", "--lang", "ha"], capsys, text, monkeypatch)
    assert code == 0
    rows = lines_of(out)
    assert [r["line"] for r in rows] == [1, 2, 4]  # the blank line has no output
    assert [r["check"]["verdict"] for r in rows] == ["on", "off", "uncertain"]
    assert rows[1]["check"]["detected"] == "eng_Latn"
    assert "hau_Latn" in err and "33.3%" in err and "signature: langid(" in err


def test_check_jsonl_keeps_every_row_and_names_bad_ones(tmp_path: Path, capsys) -> None:
    path = tmp_path / "answers.jsonl"
    good = [
        {"id": "a", "lang": "swh_Latn", "answer": SWAHILI[0]},
        {"id": "b", "lang": "hausa", "answer": ENGLISH[1]},
    ]
    write_jsonl(path, good)
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"id": "c", "lang": "sw"}\n')  # no answer field
        handle.write("{not json\n")
        handle.write('{"id": "e", "lang": "xx-nowhere", "answer": "Habari ya asubuhi"}\n')
        handle.write('{"id": "f", "answer": "Habari ya asubuhi rafiki yangu mpendwa"}\n')
    code, out, err = run_cli(["langid", "check", str(path), "--field", "answer", "--echo"], capsys)
    assert code == 0
    rows = lines_of(out)
    assert len(rows) == 6  # one output line per input line
    assert rows[0]["check"]["verdict"] == "on" and rows[0]["text"] == SWAHILI[0]
    assert rows[1]["check"]["expected"] == "hau_Latn" and rows[1]["check"]["verdict"] == "off"
    assert "line 3: field 'answer' is missing (fields present: id, lang)" in rows[2]["error"]
    assert "line 4: not valid JSON" in rows[3]["error"]
    assert rows[4]["id"] == "e" and "field 'lang'" in rows[4]["error"]
    assert "no expected language" in rows[5]["error"]
    assert "4 line(s) with errors" in err


def test_identify_and_coverage(tmp_path: Path, capsys, monkeypatch) -> None:
    path = tmp_path / "mixed.txt"
    path.write_text("\n".join([HAUSA[1], SWAHILI[1], ENGLISH[1]]) + "\n", encoding="utf-8")
    code, out, _ = run_cli(["langid", "identify", str(path)], capsys)
    assert code == 0
    assert [r["detected"] for r in lines_of(out)] == ["hau_Latn", "swh_Latn", "eng_Latn"]
    from xprompt.cli import out_console

    monkeypatch.setattr(out_console, "width", 300)  # one table row per line, whatever the terminal
    code, out, _ = run_cli(["langid", "coverage", "hau", "ewe", "Tigrinya"], capsys)
    assert code == 0
    assert "py3langid" in out and "no detector knows it" in out
    assert "pycld2" in out and "fallback" in out  # Tigrinya: py3langid cannot name it
    code, out, _ = run_cli(["langid", "coverage", "amh", "kin", "mya", "shn"], capsys)
    assert code == 0
    flat = " ".join(out.split())
    assert "consulted for tir" in flat  # Amharic: pycld2 asked about Tigrinya
    assert "cannot tell it from run" in flat  # Kinyarwanda/Rundi: uncertain, never off
    assert "shn_Mymr caught by its own letters" in flat  # Burmese/Shan
    assert "cannot tell it from other languages of its script" in flat  # Shan as a target


def corpus_files(tmp_path: Path) -> list[str]:
    files = []
    for name, lines in (("hau_Latn", HAUSA), ("sw", SWAHILI), ("eng_Latn", ENGLISH)):
        path = tmp_path / f"{name}.txt"
        path.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
        files.append(str(path))
    return files


def test_eval_on_user_files(tmp_path: Path, capsys) -> None:
    files = corpus_files(tmp_path)
    code, out, _ = run_cli(["langid", "eval", *files, "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    summary = {row["target"]: row for row in report["summary"]}
    assert set(summary) == {"hau_Latn", "swh_Latn", "eng_Latn"}
    assert summary["hau_Latn"]["own"] == {
        "n": 3,
        "on": 3,
        "off": 0,
        "uncertain": 0,
        "rules": {"py3langid": 3},
    }
    assert summary["hau_Latn"]["pivot"]["off"] == 3
    assert summary["swh_Latn"]["others"]["off"] == 3  # Hausa caught for a Swahili prompt
    assert summary["eng_Latn"]["pivot"] is None
    assert report["signature"].startswith("langid(")
    code, _, err = run_cli(["langid", "eval", *files], capsys)
    assert code == 0 and "false alarm" in err and "hau_Latn" in err


def test_evaluation_module_directly(tmp_path: Path) -> None:
    corpus = corpus_from_files(corpus_files(tmp_path))
    assert set(corpus) == {"hau_Latn", "swh_Latn", "eng_Latn"}
    checker = make_checker()
    result = evaluate(
        checker.check, corpus, pairs=[("hau_Latn", "hau_Latn"), ("hau_Latn", "eng_Latn")]
    )
    assert result.cell("hau_Latn", "hau_Latn").rate("off") == 0.0
    assert result.cell("hau_Latn", "eng_Latn").rate("off") == 1.0
    assert result.cell("swh_Latn", "hau_Latn").n == 0
    with pytest.raises(DataError, match="no text for"):
        evaluate(checker.check, corpus, pairs=[("hau_Latn", "yor_Latn")])


def test_evaluation_input_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "hau_Latn.txt"
    bad.write_bytes(b"Sannu\n\xff\xfe broken\n")
    with pytest.raises(DataError, match=r"hau_Latn.txt: line 2 is not valid UTF-8"):
        read_lines(bad)
    with pytest.raises(DataError, match="no such file"):
        read_lines(tmp_path / "missing.txt")
    odd = tmp_path / "mystery.txt"
    odd.write_text("text\n", encoding="utf-8")
    with pytest.raises(UnknownLanguageError, match="LANG=PATH"):
        corpus_from_files([str(odd)])
    assert corpus_from_files([f"yor={odd}"]) == {"yor_Latn": ["text"]}
    with pytest.raises(DataError, match="second file"):
        corpus_from_files([f"yor={odd}", f"yo={odd}"])
    empty = tmp_path / "ibo_Latn.txt"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="no sentences"):
        corpus_from_files([str(empty)])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["langid", "check", "--lang", "ha", "--detector", "cld9"], "unknown detector"),
        (["langid", "check", "--lang", "nowhere-ish"], "unknown language 'nowhere-ish'"),
        (["langid", "check", "missing-file.txt", "--lang", "ha"], "input file not found"),
        (["langid", "check", "--lang", "ha", "--detector", "fasttext"], "needs a model file"),
        (["langid", "eval", "no-such.txt"], "no such file"),
    ],
)
def test_user_errors_are_one_clear_message(args, message, capsys, monkeypatch) -> None:
    code, _, err = run_cli(args, capsys, "", monkeypatch)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
