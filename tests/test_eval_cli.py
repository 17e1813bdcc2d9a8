"""``xprompt eval`` as a user runs it: its own engine in a subprocess, killed mid-evaluation and resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO, read_jsonl

FIXTURES = REPO / "tests" / "fixtures" / "evals"


@pytest.mark.slow
def test_eval_kill_and_resume_runs_every_row_of_every_cell_once(tmp_path: Path) -> None:
    out = tmp_path / "eval"
    command = [
        sys.executable, "-m", "xprompt", "eval", "sib200", "--data", str(FIXTURES / "sib200"),
        "--out", str(out), "--languages", "hau_Latn,yor_Latn", "--variants", "zero-shot,few-shot",
        "-m", "tiny", "--set", "mt_model=tiny", "--max-tokens", "16", "--limit", "3",
        "--bootstrap", "200", "--enforce-eager", "-q",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "VLLM_LOGGING_LEVEL": "ERROR"}
    first_cell = out / "test" / "zero-shot.sib200-topic" / "hau_Latn.jsonl"
    proc = subprocess.Popen(
        command, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 600
        while not (first_cell.exists() and first_cell.read_bytes().count(b"\n") >= 3):
            if proc.poll() is not None:
                pytest.fail(f"eval ended before the kill: {proc.stdout.read().decode()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail("no progress in 600 s")
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    cells = sorted((out / "test").glob("*/*.jsonl"))
    done_before = {p: p.read_bytes() for p in cells}
    assert not (out / "test" / "report.json").exists(), "the kill lands before the report"

    resumed = subprocess.run([*command, "--json"], env=env, capture_output=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr.decode()[-3000:]
    report = json.loads(resumed.stdout)
    assert len(report["cells"]) == 2 * 3
    for cell in report["cells"]:
        records = read_jsonl(Path(cell["output"]))
        assert sorted(r["index"] for r in records) == [0, 1, 2], cell["output"]
        assert cell["status"] == "done" and cell["cost"]["timed_rows"] == 3
    for path, before in done_before.items():
        assert path.read_bytes().startswith(before[: before.rfind(b"\n") + 1]), path
    for name in ("report.json", "report.md", "scores.png", "score_vs_cost.png"):
        assert (out / "test" / name).is_file()
    # A third run finds everything done: no engine, same report.
    again = subprocess.run([*command, "--json"], env=env, capture_output=True, timeout=300)
    assert again.returncode == 0
    third = json.loads(again.stdout)
    assert [c["metric"] for c in third["cells"]] == [c["metric"] for c in report["cells"]]
    assert third["engine_start_s"] == 0.0
