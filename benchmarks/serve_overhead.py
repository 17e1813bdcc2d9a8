"""Overhead of ``xprompt serve`` over the bare vLLM OpenAI server: same model, same load, same run.

Both servers run the same engine settings (the tiny random model, eager mode,
seed 0, the same context and KV cache, chunked prefill off as xprompt serve
has it on a CPU) and get the same concurrent streaming load: ``--clients``
clients that each send requests back to back until ``--requests`` have been
sent, greedy decoding, ``--max-tokens`` tokens. The model is nearly free, so
everything the server adds per request and per token shows up in full; on a
real model the same absolute overhead is a much smaller share.

Measured for each server: latency (request to last byte) and time to first
content byte, p50/p90/p99, and throughput (requests and generated tokens per
second). xprompt serve runs in three modes:

- ``plain``: the request opts out of the language policy (``xprompt.check=false``):
  the same prompt as the bare server gets, so this is the cost of the server itself;
- ``guard``: the policy on without retries: language instruction in the system
  message, the start of each stream held back until 32 letters are checked, the
  final check;
- ``policy``: the default policy (one retry with a firmer instruction when the
  reply is off-target; the random model's replies often are, so this is mostly
  the cost of those retries, reported with the retry rate).

Rounds are interleaved (bare, plain, guard, policy, bare, ...) and the median
round is reported, with ratios against the bare server.

    .venv/bin/python benchmarks/serve_overhead.py [--clients 32] [--requests 256] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

PROMPTS = [
    "Gwamnati ta sanar da sabon shirin kiwon lafiya a jihar Kano ranar Talata.",
    "The committee met on Tuesday to discuss the new health policy and the budget.",
    "መንግሥት ዛሬ አዲስ የጤና ዕቅድ አስታውቋል። ይህ ዜና ስለ ጤና ነው።",
    "सरकार ने आज राज्य के लिए नई स्वास्थ्य योजना की घोषणा की।",
    "Serikali imetangaza mpango mpya wa afya katika mkoa wa Dodoma leo.",
    "Ìjọba ti kéde ètò ìlera tuntun ní ìpínlẹ̀ Èkó lónìí.",
]


@dataclass
class Round:
    """One load run against one server."""

    latencies: list[float] = field(default_factory=list)
    first_bytes: list[float] = field(default_factory=list)
    tokens: int = 0
    retries: int = 0
    errors: int = 0
    seconds: float = 0.0

    @property
    def requests_per_s(self) -> float:
        return len(self.latencies) / self.seconds

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def one_request(
    http: httpx.AsyncClient, url: str, body: dict[str, Any], result: Round
) -> None:
    start = time.perf_counter()
    first: float | None = None
    usage: dict[str, Any] | None = None
    try:
        async with http.stream("POST", url, json=body) as response:
            if response.status_code != 200:
                await response.aread()
                result.errors += 1
                return
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if first is None and any(
                    c.get("delta", {}).get("content") for c in chunk.get("choices", [])
                ):
                    first = time.perf_counter() - start
                usage = chunk.get("usage") or usage
                report = chunk.get("xprompt")
                if report:
                    result.retries += sum(c["retries"] for c in report["choices"])
    except httpx.HTTPError:
        result.errors += 1
        return
    result.latencies.append(time.perf_counter() - start)
    result.first_bytes.append(first if first is not None else result.latencies[-1])
    result.tokens += (usage or {}).get("completion_tokens", 0)


async def load(
    base_url: str, model: str, *, clients: int, requests: int, max_tokens: int, extra: dict
) -> Round:
    result = Round()
    url = base_url + "/chat/completions"
    counter = iter(range(requests))
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with httpx.AsyncClient(limits=limits, timeout=600) as http:

        async def client() -> None:
            for i in counter:
                body = {
                    "model": model,
                    "messages": [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
                    "max_tokens": max_tokens,
                    "temperature": 0,
                    "stream": True,
                    "stream_options": {"include_usage": True},
                    **extra,
                }
                await one_request(http, url, body, result)

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        result.seconds = time.perf_counter() - start
    return result


def summarize(rounds: list[Round]) -> Round:
    """The median round by throughput."""
    return sorted(rounds, key=lambda r: r.requests_per_s)[len(rounds) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32, help="concurrent streaming clients")
    parser.add_argument("--requests", type=int, default=256, help="requests per round")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per server (median reported)")
    parser.add_argument("--max-model-len", type=int, default=2048)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--model", default=None, help="model directory (default: the tiny model)")
    parser.add_argument(
        "--load-format", default=None, help="vLLM load_format ('dummy': random weights)"
    )
    parser.add_argument("--kv-cache-bytes", type=int, default=None, help="KV cache per server")
    parser.add_argument(
        "--memory",
        type=float,
        default=None,
        help="gpu_memory_utilization of each server (two share a GPU)",
    )
    args = parser.parse_args()

    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
    from serving.testing import ServeProcess
    from xprompt.testing.tiny_models import ensure_tiny_llama
    from xprompt.testing.vllm_server import KV_CACHE_BYTES, VLLMServer

    model = args.model or str(ensure_tiny_llama())
    kv = args.kv_cache_bytes or KV_CACHE_BYTES
    load = ["--load-format", args.load_format] if args.load_format else []
    memory = {"gpu_memory_utilization": args.memory} if args.memory else {}
    bare = VLLMServer(
        model,
        max_model_len=args.max_model_len,
        kv_cache_bytes=kv,
        **memory,
        extra_args=["--no-enable-chunked-prefill", "--disable-log-stats", *load],
    )
    ours = ServeProcess(
        [
            "--model", model, "--served-model-name", "tiny", "--enforce-eager",
            "--max-model-len", str(args.max_model_len), "--engine-opt", f"kv_cache_memory_bytes={kv}",
            *(["--engine-opt", f"load_format={args.load_format}"] if args.load_format else []),
            *(["--gpu-memory-utilization", str(args.memory)] if args.memory else []),
            "--seed", "0",
        ]
    )  # fmt: skip
    print(f"starting both servers (tiny model, {args.max_model_len} context) ...", flush=True)
    started = time.perf_counter()
    bare.start()
    ours.start()
    try:
        bare.wait_ready(900)
        ours.wait_ready(900)
        print(f"both ready after {time.perf_counter() - started:.0f} s", flush=True)
        targets = {
            "vllm (bare)": (bare.base_url, model, {}),
            "xprompt plain": (ours.base_url, "tiny", {"xprompt": {"check": False}}),
            "xprompt guard": (ours.base_url, "tiny", {"xprompt": {"retries": 0}}),
            "xprompt policy": (ours.base_url, "tiny", {}),
        }
        # Warm up (first requests pay for lazy initialisation on both sides).
        for base_url, name, extra in targets.values():
            asyncio.run(load(base_url, name, clients=8, requests=16, max_tokens=8, extra=extra))
        rounds: dict[str, list[Round]] = {k: [] for k in targets}
        for r in range(args.rounds):
            for label, (base_url, name, extra) in targets.items():
                result = asyncio.run(
                    load(
                        base_url,
                        name,
                        clients=args.clients,
                        requests=args.requests,
                        max_tokens=args.max_tokens,
                        extra=extra,
                    )
                )
                rounds[label].append(result)
                print(
                    f"  round {r + 1} {label:<15} {result.requests_per_s:7.1f} req/s "
                    f"({result.errors} errors)",
                    flush=True,
                )
    finally:
        ours.stop()
        bare.stop()

    best = {label: summarize(rs) for label, rs in rounds.items()}
    base = best["vllm (bare)"]
    print(
        f"\n{args.clients} concurrent streaming clients, {args.requests} requests per round, "
        f"max_tokens={args.max_tokens}, greedy, median of {args.rounds} rounds"
    )
    header = (
        f"{'server':<16}{'req/s':>8}{'tok/s':>9}{'lat p50':>9}{'p90':>7}{'p99':>7}"
        f"{'ttfb p50':>10}{'p90':>7}{'retries':>9}{'req/s ratio':>13}{'p50 ratio':>11}"
    )
    print(header)
    print("-" * len(header))
    out: dict[str, Any] = {"settings": vars(args) | {"json": None}, "servers": {}}
    for label, r in best.items():
        ratio_rps = r.requests_per_s / base.requests_per_s
        ratio_p50 = pct(r.latencies, 0.5) / pct(base.latencies, 0.5)
        print(
            f"{label:<16}{r.requests_per_s:8.1f}{r.tokens_per_s:9.0f}"
            f"{pct(r.latencies, 0.5):9.3f}{pct(r.latencies, 0.9):7.3f}{pct(r.latencies, 0.99):7.3f}"
            f"{pct(r.first_bytes, 0.5):10.3f}{pct(r.first_bytes, 0.9):7.3f}"
            f"{r.retries / max(1, len(r.latencies)):9.2f}{ratio_rps:13.2f}{ratio_p50:11.2f}"
        )
        out["servers"][label] = {
            "requests_per_s": r.requests_per_s,
            "tokens_per_s": r.tokens_per_s,
            "latency_s": {
                q: pct(r.latencies, p) for q, p in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))
            },
            "first_byte_s": {q: pct(r.first_bytes, p) for q, p in (("p50", 0.5), ("p90", 0.9))},
            "retries_per_request": r.retries / max(1, len(r.latencies)),
            "errors": r.errors,
            "throughput_ratio_vs_bare": ratio_rps,
            "p50_latency_ratio_vs_bare": ratio_p50,
            "all_rounds_req_s": [x.requests_per_s for x in rounds[label]],
        }
    spread = statistics.pstdev([x.requests_per_s for x in rounds["vllm (bare)"]])
    load1, load5, _ = os.getloadavg()
    print(
        f"(bare server req/s spread across rounds: ±{spread:.1f}; {os.cpu_count()} CPUs, "
        f"load average {load1:.1f} / {load5:.1f} at the end)"
    )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
