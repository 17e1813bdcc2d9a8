"""``xprompt run --strategy translate-test`` as a user runs it: real processes, a real kill, a resume.

The tiny MT model translates, the tiny LLM answers on the real vLLM engine,
over the demo test set (12 languages). The run is killed mid-way and started
again: every row gets exactly one record, and every translation sits in the
cache exactly once, whether it was made before or after the kill.
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


def command(input_path: Path, output: Path, cache: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "xprompt", "run", "-i", str(input_path), "-o", str(output),
        "-t", "sib200-topic", "-m", "tiny", "--enforce-eager", "--target-field", "label",
        "--strategy", "translate-test", "--opt", "mt_model=tiny", "--opt", "pivot=eng_Latn",
        "--opt", "mt_max_new_tokens=12", "--opt", f"cache={cache}", "--chunk-size", "16", "-q", *extra,
    ]  # fmt: skip


def test_translate_test_run_kill_resume_every_row_once(tmp_path: Path) -> None:
    lines = (EXAMPLES / "data" / "topics.test.jsonl").read_text(encoding="utf-8").splitlines()
    lines.insert(70, '{"id": "bad-missing", "lang": "yor", "label": "travel"}')
    input_path = tmp_path / "input.jsonl"
    input_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    total = len(lines)
    output, cache = tmp_path / "out.jsonl", tmp_path / "mt.sqlite"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        command(input_path, output, cache), env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 480
        while (output.read_bytes().count(b"\n") if output.exists() else 0) < 48:
            if proc.poll() is not None:
                pytest.fail(f"run ended before the kill: {proc.stdout.read().decode()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail("run made no progress in 480 s")
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and vLLM's engine process
    finally:
        proc.wait(timeout=60)
    killed_at = output.read_bytes().count(b"\n")
    assert 48 <= killed_at < total

    resumed = subprocess.run(
        command(input_path, output, cache, "--json"), env=env, capture_output=True, timeout=900
    )
    assert resumed.returncode == 0, resumed.stderr.decode()[-3000:]
    summary = json.loads(resumed.stdout)
    records = read_jsonl(output)
    assert sorted(r["index"] for r in records) == list(range(total)), "every row exactly once"
    assert summary["rows"] == total and summary["rows_this_session"] == total - killed_at
    assert "strategy:translate-test(mt=tiny-nllb-v1@" in summary["signature"]
    good = [r for r in records if r["id"] != "bad-missing"]
    assert all(r["error"] is None and r["prediction"] in LABELS for r in good)
    assert (
        "field 'text' is missing" in next(r for r in records if r["id"] == "bad-missing")["error"]
    )
    translated = [r for r in good if r["lang"] != "eng_Latn"]
    assert len(translated) == 11 * 28
    assert all(r["steps"][0]["step"] == "mt:text" and r["steps"][0]["checks"] for r in translated)
    from xprompt.mt.cache import TranslationCache

    distinct = {(r["lang"], r["id"].split("-")[0]) for r in translated}
    assert len(TranslationCache(cache)) == len(distinct), (
        "every translation is in the cache once, whether made before or after the kill"
    )
