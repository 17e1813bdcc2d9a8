"""``xprompt run`` as a user runs it: a real process, the real engine, a real kill, a resume.

Few-shot topic classification over the demo set (12 languages) plus bad rows:
every input row gets exactly one record, labels always fall in the label set
(constrained decoding), bad rows carry errors that name row and field, and a
run killed mid-way resumes without losing or duplicating a row.
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

pytestmark = pytest.mark.slow

LABELS = {
    "science/technology",
    "travel",
    "politics",
    "sports",
    "health",
    "entertainment",
    "geography",
}


def build_input(tmp_path: Path) -> tuple[Path, int]:
    lines = (EXAMPLES / "data" / "topics.test.jsonl").read_bytes().splitlines()
    bad = [
        b'{"id": "bad-missing", "lang": "hau", "label": "travel"}',
        b'{"id": "bad-lang", "lang": "hausa-ish", "text": "Sannu", "label": "travel"}',
        b'{"id": "bad-json", "lang": "hau", "text": "unterminated',
        b'{"id": "bad-utf8", "lang": "hau", "text": "caf\xe9", "label": "travel"}',
        b'{"id": "bad-empty", "lang": "yor", "text": "", "label": "travel"}',
        b'{"id": "bad-long", "lang": "amh", "text": "'
        + "ሰላም ".encode() * 3000
        + b'", "label": "health"}',
    ]
    # Bad rows spread through the file, not only at the end.
    for offset, row in zip((3, 50, 120, 200, 260, 330), bad, strict=True):
        lines.insert(offset, row)
    path = tmp_path / "input.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, len(lines)


def command(input_path: Path, output: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "xprompt", "run",
        "-i", str(input_path), "-o", str(output),
        "-t", "sib200-topic", "-m", "tiny", "--enforce-eager",
        "-k", "3", "--exemplars", str(EXAMPLES / "data" / "topics.pool.jsonl"), "--select", "balanced",
        "--target-field", "label", "--chunk-size", "8", "-q", *extra,
    ]  # fmt: skip


def count_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_run_kill_resume_every_row_once(tmp_path: Path) -> None:
    input_path, total = build_input(tmp_path)
    output = tmp_path / "out.jsonl"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        command(input_path, output),
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 300
        while count_lines(output) < 60:
            if proc.poll() is not None:
                pytest.fail(
                    f"run ended before it could be killed: {proc.stdout.read().decode()[-3000:]}"
                )
            if time.monotonic() > deadline:
                pytest.fail("run made no progress in 300 s")
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)  # the whole group: the CLI and vLLM's engine process
    finally:
        proc.wait(timeout=60)
    killed_at = count_lines(output)
    assert 60 <= killed_at < total, "the kill must land mid-run"
    before = output.read_bytes()

    resumed = subprocess.run(
        command(input_path, output, "--json"), env=env, capture_output=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr.decode()[-3000:]
    summary = json.loads(resumed.stdout)
    records = read_jsonl(output)

    assert output.read_bytes().startswith(before[: before.rfind(b"\n") + 1]), (
        "finished records are untouched"
    )
    assert sorted(r["index"] for r in records) == list(range(total)), "every row exactly once"
    assert summary["rows"] == total and summary["rows_this_session"] == total - killed_at
    by_id = {r["id"]: r for r in records}
    good = [r for r in records if not r["id"].startswith("bad-") and not r["id"].startswith("row")]
    assert len(good) == total - 6
    assert all(r["error"] is None and r["prediction"] in LABELS for r in good), (
        "labels always in the label set"
    )
    assert all(r["correct"] == (r["prediction"] == r["target"]) for r in good)
    assert all(r["steps"][0]["prompt_tokens"] > 0 for r in good)
    assert "field 'text' is missing" in by_id["bad-missing"]["error"]
    assert "unknown language 'hausa-ish'" in by_id["bad-lang"]["error"]
    utf8_error = next(r for r in records if "invalid UTF-8" in (r["error"] or ""))
    assert utf8_error["id"] == f"row{utf8_error['index'] + 1}", (
        "an undecodable line has no readable id"
    )
    assert "field 'text' is empty" in by_id["bad-empty"]["error"]
    long_error = by_id["bad-long"]["error"]
    assert long_error.startswith(
        f"row {by_id['bad-long']['index'] + 1} (id 'bad-long'): prompt is "
    )
    assert "exceeds the model's context of 4096 tokens" in long_error
    json_error = next(r for r in records if "not valid JSON" in (r["error"] or ""))
    assert json_error["error"].startswith(f"row {json_error['index'] + 1} ")
    assert summary["errors"] == 6
    assert len(summary["by_lang"]) >= 12
