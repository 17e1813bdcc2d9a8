"""Load and shutdown of the real server: 64 concurrent streaming clients, then a graceful SIGTERM.

Every one of the 256 streamed requests must come back complete and well formed
(role first, one finish per choice, the ``xprompt`` report, usage, ``[DONE]``),
and the engine must have held many of them at once (batched by vLLM, not
serialised). Then SIGTERM while long streams are in flight: they finish, new
connections are refused, and the server exits 0.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time

import httpx
import openai
import pytest
from serve_helpers import AMHARIC, ENGLISH, HAUSA

from serving.testing import ServeProcess
from xprompt import langid

pytestmark = pytest.mark.slow

CLIENTS = 64
REQUESTS_PER_CLIENT = 4
PROMPTS = [
    HAUSA,
    ENGLISH,
    AMHARIC,
    "सरकार ने आज राज्य के लिए नई स्वास्थ्य योजना की घोषणा की।",
    "政府今天宣布了该地区新的卫生计划。答案是十二。",
    "Ìjọba ti kéde ètò ìlera tuntun ní ìpínlẹ̀ Èkó lónìí.",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("serve-load") / "server.log"
    args = [
        "--model", "tiny", "--enforce-eager", "--max-model-len", "2048",
        "--engine-opt", f"kv_cache_memory_bytes={256 * 2**20}", "--shutdown-timeout", "60",
    ]  # fmt: skip
    proc = ServeProcess(args, log_path=log).start()
    try:
        proc.wait_ready(900)
        yield proc
    finally:
        proc.stop()


def _gauge(metrics: str, name: str) -> float:
    match = re.search(rf"^{name} ([0-9.e+]+)$", metrics, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def _one_stream(client: openai.AsyncOpenAI, prompt: str, n: int) -> dict:
    stream = await client.chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": prompt}],
        max_tokens=24,
        temperature=0.8,
        n=n,
        stream=True,
        stream_options={"include_usage": True},
    )
    texts, finishes, roles, report, usage = [""] * n, [None] * n, 0, None, None
    async for chunk in stream:
        for c in chunk.choices:
            if c.delta.role:
                roles += 1
                assert not texts[c.index], "role after content"
            texts[c.index] += c.delta.content or ""
            if c.finish_reason:
                assert finishes[c.index] is None, "two finishes for one choice"
                finishes[c.index] = c.finish_reason
        report = (chunk.model_extra or {}).get("xprompt") or report
        usage = chunk.usage or usage
    return {"texts": texts, "finishes": finishes, "roles": roles, "report": report, "usage": usage}


def test_many_concurrent_streams_all_complete(server):
    peak = {"engine": 0.0, "in_flight": 0.0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                metrics = httpx.get(server.root + "/metrics", timeout=5).text
            except httpx.HTTPError:
                continue
            peak["engine"] = max(peak["engine"], _gauge(metrics, "xprompt_engine_requests"))
            peak["in_flight"] = max(
                peak["in_flight"], _gauge(metrics, "xprompt_http_requests_in_flight")
            )
            time.sleep(0.1)

    async def run() -> list[tuple[str, int, dict]]:
        limits = httpx.Limits(max_connections=CLIENTS + 8, max_keepalive_connections=CLIENTS + 8)
        async with httpx.AsyncClient(limits=limits, timeout=300) as http:
            client = openai.AsyncOpenAI(
                base_url=server.base_url, api_key="none", max_retries=0, http_client=http
            )

            async def one_client(k: int) -> list[tuple[str, int, dict]]:
                out = []
                for j in range(REQUESTS_PER_CLIENT):
                    prompt = PROMPTS[(k + j) % len(PROMPTS)]
                    n = 2 if (k + j) % 8 == 0 else 1
                    out.append((prompt, n, await _one_stream(client, prompt, n)))
                return out

            results = await asyncio.gather(*(one_client(k) for k in range(CLIENTS)))
        return [r for rs in results for r in rs]

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        results = asyncio.run(run())
    finally:
        done.set()
        sampler.join(10)
    assert len(results) == CLIENTS * REQUESTS_PER_CLIENT
    for _prompt, n, result in results:
        assert result["roles"] == n
        assert all(f in ("stop", "length") for f in result["finishes"]), result["finishes"]
        report = result["report"]
        assert report is not None and len(report["choices"]) == n
        for text, choice in zip(result["texts"], report["choices"], strict=True):
            check = choice["check"]
            if check is None:  # no language could be determined (no default): nothing to check
                assert report["lang"] is None
                continue
            assert check["verdict"] == langid.check(text, check["expected"]).verdict
        usage = result["usage"]
        assert usage.completion_tokens >= n and usage.prompt_tokens > 0
    # Requests were in the engine together: batched by vLLM, not serialised around it.
    assert peak["engine"] >= 8, peak
    assert peak["in_flight"] >= 16, peak
    metrics = httpx.get(server.root + "/metrics").text
    served = re.search(
        r'^xprompt_http_requests_total\{method="POST",path="/v1/chat/completions",status="200"\} ([0-9.]+)$',
        metrics,
        re.MULTILINE,
    )
    assert served is not None and float(served.group(1)) >= CLIENTS * REQUESTS_PER_CLIENT


def test_sigterm_lets_streams_in_flight_finish(server):
    """Runs last: it stops the module's server."""
    started = threading.Barrier(4)
    results: list[dict] = []
    errors: list[BaseException] = []

    def long_stream() -> None:
        try:
            client = openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0)
            stream = client.chat.completions.create(
                model="tiny",
                messages=[{"role": "user", "content": ENGLISH}],
                max_tokens=600,
                temperature=0,
                stream=True,
                extra_body={"xprompt": {"check": False}},
            )
            text, finish, first = "", None, True
            for chunk in stream:
                if first and chunk.choices and chunk.choices[0].delta.content:
                    first = False
                    started.wait(60)
                for c in chunk.choices:
                    text += c.delta.content or ""
                    finish = c.finish_reason or finish
            results.append({"text": text, "finish": finish, "ended": time.monotonic()})
        except BaseException as exc:
            errors.append(exc)
            started.abort()

    threads = [threading.Thread(target=long_stream) for _ in range(3)]
    for t in threads:
        t.start()
    started.wait(120)  # all three are streaming
    terminated_at = time.monotonic()
    server.terminate()
    refused_at = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(server.root + "/health", timeout=2)
        except httpx.ConnectError:
            refused_at = time.monotonic()
            break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert refused_at is not None, "new connections were still accepted after SIGTERM"
    assert len(results) == 3
    for result in results:
        assert result["finish"] in ("stop", "length") and result["text"]
    assert any(r["ended"] > terminated_at for r in results)  # they were in flight at SIGTERM
    assert server.process is not None
    assert server.process.wait(90) == 0, server.log_tail()
