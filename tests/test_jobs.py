"""The job executor: chunks in flight overlap host work with generation and write the same records.

Scripted and simulated engines check ordering, failure and determinism without a
model; the engine test checks the same bytes with the real vLLM engine (greedy).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from helpers import write_jsonl

from xprompt import jobs, runner
from xprompt.config import load_run_config
from xprompt.testing.scripted import ScriptedBackend
from xprompt.testing.simulated import LengthModel, SimulatedEngine
from xprompt.types import Request

ROOT = Path(__file__).resolve().parent.parent
MGSM = ROOT / "examples" / "mgsm" / "mgsm.mini.jsonl"
LABELS = ["science/technology", "travel", "politics", "sports", "health"]


def topics(tmp_path: Path, n: int = 40) -> Path:
    rows = [
        {
            "id": f"r{i}",
            "lang": ["hau", "yor", "swh"][i % 3],
            "text": f"text {i}",
            "label": LABELS[i % 5],
        }
        for i in range(n)
    ]
    rows[5] = {"id": "r5", "lang": "hau", "label": "travel"}  # a bad row keeps its place
    return write_jsonl(tmp_path / "data.jsonl", rows)


def run_config(tmp_path: Path, name: str, data: Path, depth: int, **extra):
    overrides = {
        "data": {"input": str(data), "target_field": extra.pop("target", "label")},
        "output": str(tmp_path / f"{name}.jsonl"),
        "template": "sib200-topic",
        "engine": {"model": "scripted-model"},
        "chunk_size": 4,
        "chunks_in_flight": depth,
    }
    overrides.update(extra)
    return load_run_config(None, overrides)


def label_of(request: Request) -> str:
    return LABELS[int(request.id.split("/")[0][1:]) % 5]


class SlowFirstBackend(ScriptedBackend):
    """A scripted engine whose calls take time, so chunks really are in flight together."""

    def generate(self, requests):
        time.sleep(0.01)
        return super().generate(requests)


def test_chunks_in_flight_write_the_same_file_and_call_the_engine_in_the_same_order(
    tmp_path: Path,
) -> None:
    data = topics(tmp_path)
    outputs, batches = {}, {}
    for depth in (1, 3):
        backend = SlowFirstBackend(label_of)
        summary = runner.execute(
            runner.prepare(run_config(tmp_path, f"d{depth}", data, depth)), backend=backend
        )
        assert summary.total.rows == 40 and summary.total.errors == 1
        outputs[depth] = (tmp_path / f"d{depth}.jsonl").read_bytes()
        batches[depth] = [[r.id for r in b] for b in backend.batches]
    assert outputs[1] == outputs[3]
    assert batches[1] == batches[3], "one call per chunk, in input order, with or without overlap"


def simulated() -> SimulatedEngine:
    def lengths(request: Request) -> LengthModel:
        if "/align:" in request.id:
            return LengthModel(median=24, sigma=0.5, minimum=4)
        return LengthModel(median=16, sigma=0.5, minimum=4)

    return SimulatedEngine(lengths, capacity=8, step_s=0.0005, prefill_budget=4096)


def test_two_turn_strategy_on_a_concurrent_engine_writes_the_same_file(tmp_path: Path) -> None:
    """CLP on an engine that batches the calls of chunks in flight together: same records."""
    outputs = {}
    for depth in (1, 3):
        engine = simulated()
        try:
            config = run_config(
                tmp_path,
                f"clp{depth}",
                MGSM,
                depth,
                template="clp-solve",
                strategy="clp",
                target="answer",
            )
            prepared = runner.prepare(config)
            assert runner.RunJob(prepared, backend=engine).concurrent_engine()
            summary = runner.execute(prepared, backend=engine)
        finally:
            engine.close()
        assert summary.total.rows == len(prepared.rows) and summary.total.errors == 0
        outputs[depth] = (tmp_path / f"clp{depth}.jsonl").read_bytes()
    assert outputs[1] == outputs[3]


class CrashOnBatch(SlowFirstBackend):
    def __init__(self, crash_on: int) -> None:
        super().__init__(label_of)
        self.crash_on = crash_on

    def generate(self, requests):
        if len(self.batches) + 1 == self.crash_on:
            self.batches.append(list(requests))
            raise RuntimeError("engine died")
        return super().generate(requests)


def test_a_failed_chunk_keeps_the_chunks_before_it_and_resumes_to_the_same_file(
    tmp_path: Path,
) -> None:
    data = topics(tmp_path)
    with pytest.raises(RuntimeError, match="engine died"):
        runner.execute(
            runner.prepare(run_config(tmp_path, "out", data, 3)), backend=CrashOnBatch(3)
        )
    partial = (tmp_path / "out.jsonl").read_text().splitlines()
    # Chunks 0 and 1 (rows 0-7; row 5 has no call of its own) were written; chunk 2 failed.
    assert [int(line.split(",")[0].split(":")[1]) for line in partial] == list(range(8))
    runner.execute(
        runner.prepare(run_config(tmp_path, "out", data, 3)), backend=SlowFirstBackend(label_of)
    )
    runner.execute(
        runner.prepare(run_config(tmp_path, "clean", data, 1)), backend=ScriptedBackend(label_of)
    )
    assert (tmp_path / "out.jsonl").read_bytes() == (tmp_path / "clean.jsonl").read_bytes()


def test_the_gate_orders_first_calls_and_stops_after_a_failure() -> None:
    gate = jobs.EngineGate()
    order: list[int] = []

    def chunk(number: int, delay: float) -> None:
        time.sleep(delay)
        with gate.chunk(number), gate.call():
            order.append(number)

    threads = [
        threading.Thread(target=chunk, args=(n, d)) for n, d in ((2, 0.0), (1, 0.01), (0, 0.05))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert order == [0, 1, 2], "later chunks that are ready first wait for the earlier ones"
    with gate.chunk(3):
        pass  # a chunk that never calls the engine lets the next one go
    gate.stop()
    with pytest.raises(jobs.JobStopped), gate.chunk(4), gate.call():
        pass


@pytest.mark.engine
def test_overlap_gives_the_same_file_on_the_real_engine(tmp_path: Path, vllm_backend) -> None:
    """Greedy decoding on vLLM: chunks in flight or chunk by chunk, the same bytes."""
    data = topics(tmp_path, n=18)
    outputs = {}
    for depth in (1, 3):
        config = run_config(
            tmp_path,
            f"v{depth}",
            data,
            depth,
            engine={"model": str(vllm_backend.model_id)},
            sampling={"max_tokens": 8},
            constrained=False,
        )
        summary = runner.execute(runner.prepare(config), backend=vllm_backend)
        assert summary.total.rows == 18
        outputs[depth] = (tmp_path / f"v{depth}.jsonl").read_bytes()
    assert outputs[1] == outputs[3]
