"""``xprompt translate`` / ``translate-score`` as users run them, on the real tiny MT model.

In-process CLI calls check formats, per-row errors, the report and its
signatures, refusal to resume a different job, and re-scoring; a real
subprocess is killed mid-run and resumed without losing or duplicating a row.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import EXAMPLES, read_jsonl
from sacrebleu.metrics import CHRF

from xprompt.backends.seq2seq import Seq2SeqTranslator
from xprompt.cli import main
from xprompt.mt.base import DecodingSettings, TranslationRequest

FAST = ["-m", "tiny", "--max-new-tokens", "8", "-q"]


def cli(capsys, *args: str) -> tuple[int, dict, str]:
    """Run ``xprompt ... --json`` in-process; (exit code, JSON report, stderr)."""
    try:
        main([*args, "--json"])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if code == 0 else {}), captured.err


def parallel_file(tmp_path: Path, *, bad: bool = True) -> tuple[Path, int]:
    """The demo test set (12 languages) with English references, plus bad rows spread through it."""
    english = {
        json.loads(x)["id"]: json.loads(x)["text"]
        for x in (EXAMPLES / "data" / "topics.en.jsonl").read_text(encoding="utf-8").splitlines()
    }
    lines = []
    for line in (EXAMPLES / "data" / "topics.test.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        row["ref"] = english[row["id"].split("-")[0]]
        lines.append(json.dumps(row, ensure_ascii=False))
    if bad:
        for offset, row in zip(
            (5, 90, 200),
            [
                '{"id": "bad-missing", "lang": "hau_Latn", "ref": "Hello"}',
                '{"id": "bad-lang", "lang": "hausa-ish", "text": "Sannu", "ref": "Hello"}',
                '{"id": "bad-json", "lang": "hau',
            ],
            strict=True,
        ):
            lines.insert(offset, row)
    path = tmp_path / "parallel.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, len(lines)


def test_translate_a_jsonl_file_with_references(capsys, tmp_path: Path) -> None:
    data, total = parallel_file(tmp_path)
    out = tmp_path / "mt.jsonl"
    cache = str(tmp_path / "mt.sqlite")
    code, report, err = cli(
        capsys,
        "translate",
        "-i",
        str(data),
        "-o",
        str(out),
        "--ref-field",
        "ref",
        "--cache",
        cache,
        *FAST,
    )
    assert code == 0, err
    records = read_jsonl(out)
    assert [r["index"] for r in records] == list(range(total)), "one record per input row, in order"
    by_id = {r["id"]: r for r in records}
    assert "field 'text' is missing" in by_id["bad-missing"]["error"]
    assert "unknown language 'hausa-ish'" in by_id["bad-lang"]["error"]
    assert any("not valid JSON" in (r["error"] or "") for r in records)
    english = [r for r in records if r["src"] == "eng_Latn"]
    assert len(english) == 28 and all(
        r["skipped"] and r["translation"] == r["source"] for r in english
    )
    hausa = by_id["t003-hau_Latn"]
    assert hausa["tgt"] == "eng_Latn" and hausa["translation"]["text"] and hausa["reference"]
    assert hausa["checks"]["text"]["expected"] == "eng_Latn" and "copy" in hausa
    assert hausa["mt"]["text"]["tokens"] <= 8

    overall = report["reports"]["all"]
    assert overall["rows"] == total and overall["errors"] == 3
    hyps = [r["translation"]["text"] for r in records if r.get("reference") is not None]
    refs = [r["reference"] for r in records if r.get("reference") is not None]
    chrfpp = CHRF(word_order=2)
    assert overall["chrF++"]["score"] == pytest.approx(
        chrfpp.corpus_score(hyps, [refs]).score, abs=1e-4
    ), "chrF++ is sacrebleu's CHRF(word_order=2) on the same data"
    assert overall["chrF++"]["signature"] == chrfpp.get_signature().format(short=True)
    assert {"BLEU", "chrF", "chrF++", "off_target_rate", "copy_rate"} <= set(overall)
    assert report["reports"]["eng_Latn-eng_Latn"]["copy_rate"] == 1.0, (
        "untranslated rows count as copies"
    )
    assert (
        len([k for k in report["reports"] if k.endswith("-eng_Latn") and not k.startswith("und")])
        == 12
    )
    assert (
        report["signature"].startswith("mt:tiny-nllb-v1@") and "tgt:eng_Latn" in report["signature"]
    )
    summary = json.loads(Path(str(out) + ".summary.json").read_text())
    assert summary["reports"]["all"]["chrF++"] == overall["chrF++"]

    # Same command again: nothing left to do. Re-scoring from the file alone gives the same report.
    code, again, _ = cli(
        capsys,
        "translate",
        "-i",
        str(data),
        "-o",
        str(out),
        "--ref-field",
        "ref",
        "--cache",
        cache,
        *FAST,
    )
    assert code == 0 and again["rows_this_session"] == 0 and len(read_jsonl(out)) == total
    code, rescored, _ = cli(capsys, "translate-score", str(out))
    assert code == 0 and rescored["reports"] == report["reports"]
    code, boot, _ = cli(capsys, "translate-score", str(out), "--bootstrap", "100")
    assert (
        "bs:100" in boot["reports"]["all"]["BLEU"]["signature"]
        and "ci95" in boot["reports"]["all"]["chrF"]
    )


def test_changed_settings_refuse_to_resume(capsys, tmp_path: Path) -> None:
    data, _ = parallel_file(tmp_path, bad=False)
    out = tmp_path / "mt.jsonl"
    args = ["translate", "-i", str(data), "-o", str(out), "--cache", "none", "--limit", "20", *FAST]
    assert cli(capsys, *args)[0] == 0
    code, _, err = cli(capsys, *args[:-5], "-m", "tiny", "--max-new-tokens", "9", "-q")
    assert code == 2 and "written by a different translation job: translator" in err
    code, _, err = cli(capsys, *args, "--tgt", "fra_Latn")
    assert code == 2 and "tgt eng_Latn -> fra_Latn" in err
    assert cli(capsys, *args, "--tgt", "fra_Latn", "--overwrite")[0] == 0
    assert {r["tgt"] for r in read_jsonl(out)} == {"fra_Latn"}


def test_plain_text_and_tsv_inputs(capsys, tmp_path: Path) -> None:
    text = tmp_path / "hausa.txt"
    text.write_text("Sannu da zuwa.\n\nIna kwana?\nNa gode. Sai anjima.\n", encoding="utf-8")
    code, _, err = cli(
        capsys, "translate", "-i", str(text), "-o", str(tmp_path / "t.jsonl"), "--src", "ha", *FAST
    )
    assert code == 0, err
    records = read_jsonl(tmp_path / "t.jsonl")
    assert [r["id"] for r in records] == ["row1", "row2", "row3"] and {
        r["src"] for r in records
    } == {"hau_Latn"}
    assert all(r["error"] is None and r["translation"]["text"] is not None for r in records)

    no_lang = tmp_path / "n.jsonl"
    code, _, _ = cli(capsys, "translate", "-i", str(text), "-o", str(no_lang), *FAST)
    assert code == 0 and all("add it or pass --lang" in r["error"] for r in read_jsonl(no_lang)), (
        "without --src every row says what is missing, none is lost"
    )

    tsv = tmp_path / "pairs.tsv"
    tsv.write_text(
        "id\tlang\tpremise\thypothesis\nn1\tswh\tMtoto anacheza.\tMtoto yuko nje.\n",
        encoding="utf-8",
    )
    code, _, err = cli(
        capsys, "translate", "-i", str(tsv), "-o", str(tmp_path / "p.jsonl"), "-f", "premise", "-f", "hypothesis",
        "--tgt", "fra", *FAST,
    )  # fmt: skip
    assert code == 0, err
    (record,) = read_jsonl(tmp_path / "p.jsonl")
    assert set(record["translation"]) == {"premise", "hypothesis"} and record["tgt"] == "fra_Latn"


def test_user_errors_are_one_clear_message(capsys, tmp_path: Path) -> None:
    code, _, err = cli(
        capsys,
        "translate",
        "-i",
        str(tmp_path / "nope.jsonl"),
        "-o",
        str(tmp_path / "o.jsonl"),
        *FAST,
    )
    assert code == 2 and "input file not found" in err and "Traceback" not in err
    data, _ = parallel_file(tmp_path, bad=False)
    code, _, err = cli(
        capsys,
        "translate",
        "-i",
        str(data),
        "-o",
        str(tmp_path / "o.jsonl"),
        "--tgt",
        "xx-nope",
        *FAST,
    )
    assert code == 2 and "xx-nope" in err
    code, _, err = cli(
        capsys,
        "translate",
        "-i",
        str(data),
        "-o",
        str(tmp_path / "o.jsonl"),
        "--split",
        "sometimes",
        *FAST,
    )
    assert code == 2 and "--split must be long, always or never" in err
    code, _, err = cli(
        capsys, "translate", "-i", str(data), "-o", str(tmp_path / "o.jsonl"), "-m", "self", "-q"
    )
    assert code == 2 and "needs an exemplar file" in err


@pytest.mark.slow
def test_translate_kill_and_resume_every_row_once(tmp_path: Path, tiny_mt_dir: Path) -> None:
    data, total = parallel_file(tmp_path)
    out = tmp_path / "mt.jsonl"
    command = [
        sys.executable, "-m", "xprompt", "translate", "-i", str(data), "-o", str(out), "-m", "tiny",
        "--max-new-tokens", "12", "--ref-field", "ref", "--chunk-size", "8", "--batch-size", "8",
        "--cache", str(tmp_path / "mt.sqlite"), "-q",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        command, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 300
        while (out.read_bytes().count(b"\n") if out.exists() else 0) < 40:
            if proc.poll() is not None:
                pytest.fail(
                    f"translation ended before the kill: {proc.stdout.read().decode()[-3000:]}"
                )
            if time.monotonic() > deadline:
                pytest.fail("no progress in 300 s")
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    killed_at = out.read_bytes().count(b"\n")
    assert 40 <= killed_at < total, "the kill lands mid-run"
    before = out.read_bytes()

    resumed = subprocess.run([*command, "--json"], env=env, capture_output=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr.decode()[-3000:]
    report = json.loads(resumed.stdout)
    records = read_jsonl(out)
    assert out.read_bytes().startswith(before[: before.rfind(b"\n") + 1]), (
        "finished records are untouched"
    )
    assert sorted(r["index"] for r in records) == list(range(total)), "every row exactly once"
    assert report["rows"] == total and report["rows_this_session"] == total - killed_at
    assert report["reports"]["all"]["errors"] == 3
    # The resumed file (partly served from the cache) equals uninterrupted translation of every row.
    translator = Seq2SeqTranslator(str(tiny_mt_dir), decoding=DecodingSettings(max_new_tokens=12))
    todo = [r for r in records if r["error"] is None and not r.get("skipped")]
    expected = translator.translate(
        [TranslationRequest(r["source"]["text"], r["src"], r["tgt"]) for r in todo]
    )
    assert [r["translation"]["text"] for r in todo] == [t.text for t in expected]
    assert len(todo) == total - 3 - 28
