"""Throughput of the remote backend against real vLLM OpenAI servers: concurrency and replicas.

Starts two vLLM OpenAI servers on loopback with the tiny model, then sends the
same batch of chat requests (few-shot-sized prompts, greedy, ``--max-tokens``
new tokens each) through ``OpenAIBackend``:

- one server at concurrency 1 (the baseline: one request in flight, no batching),
  8, 32 and 128 requests in flight;
- both replicas, 32 and 128 in flight on each.

Settings are interleaved over ``--repeats`` rounds and the median is reported,
all in the same run. Every setting must return exactly the baseline's
completions (greedy decoding), which the script checks.

    .venv/bin/python benchmarks/remote_throughput.py [--requests 512] [--max-tokens 32] [--repeats 3]

On a CPU machine the servers share its cores (and with anything else running),
so the replica ratio says how much a second server adds *there*; on a machine
with one GPU per replica the servers do not compete.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

WORDS = (
    "gwamnati ta sanar da sabon shirin kiwon lafiya a jihar Kano ranar Talata "
    "serikali imetangaza mpango mpya wa afya katika mkoa wa Dodoma leo "
    "ìjọba ti kéde ètò ìlera tuntun ní ìpínlẹ̀ Èkó lónìí"
).split()


def make_requests(n: int, max_tokens: int, seed: int) -> list:
    from xprompt.types import Message, Request, Sampling

    rng = random.Random(seed)
    instruction = "Is this a piece of news regarding science, travel, politics, sports or health?"
    sampling = Sampling(max_tokens=max_tokens)
    requests = []
    for i in range(n):
        shots = [
            (" ".join(rng.choice(WORDS) for _ in range(12)), rng.choice(["health", "sports"]))
            for _ in range(3)
        ]
        messages = [Message("system", instruction)]
        for text, label in shots:
            messages += [Message("user", text), Message("assistant", label)]
        messages.append(Message("user", " ".join(rng.choice(WORDS) for _ in range(16))))
        requests.append(Request(f"q{i}", messages=tuple(messages), sampling=sampling))
    return requests


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=512)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[1, 8, 32, 128], help="one server"
    )
    parser.add_argument(
        "--replica-concurrency",
        type=int,
        nargs="+",
        default=[32, 128],
        help="per server, two replicas",
    )
    args = parser.parse_args()
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")

    from xprompt.backends.openai import OpenAIBackend
    from xprompt.testing.tiny_models import ensure_tiny_llama
    from xprompt.testing.vllm_server import VLLMServer

    model = str(ensure_tiny_llama())
    requests = make_requests(args.requests, args.max_tokens, seed=0)
    logs = Path(tempfile.mkdtemp(prefix="xprompt-bench-"))
    servers = [VLLMServer(model, log_path=logs / f"server{i}.log") for i in range(2)]
    print(f"starting 2 vLLM OpenAI servers (tiny model); logs in {logs}", file=sys.stderr)
    started = time.perf_counter()
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready()
        print(f"servers ready after {time.perf_counter() - started:.0f} s", file=sys.stderr)

        settings: list[tuple[str, list[str], int]] = [
            (f"1 server,   concurrency {c:>3}", [servers[0].base_url], c) for c in args.concurrency
        ]
        settings += [
            (f"2 replicas, concurrency {c:>3} each", [s.base_url for s in servers], c)
            for c in args.replica_concurrency
        ]
        backends = {
            name: OpenAIBackend(model, base_urls=urls, concurrency=c, timeout_s=600)
            for name, urls, c in settings
        }
        # Warm up both servers (first requests pay for lazy initialisation).
        backends[settings[-1][0]].generate(requests[:64])

        times: dict[str, list[float]] = {name: [] for name, _, _ in settings}
        reference = None
        tokens = 0
        for round_ in range(args.repeats):
            for name, _, _ in settings:
                start = time.perf_counter()
                completions = backends[name].generate(requests)
                times[name].append(time.perf_counter() - start)
                failed = [c for c in completions if not c.ok]
                if failed:
                    raise SystemExit(f"{name}: {len(failed)} requests failed: {failed[0].error}")
                texts = [c.texts for c in completions]
                if reference is None:
                    reference = texts
                    tokens = sum(c.completion_tokens for c in completions)
                elif texts != reference:
                    raise SystemExit(f"{name}: completions differ from the baseline's")
            print(f"round {round_ + 1}/{args.repeats} done", file=sys.stderr)
        for backend in backends.values():
            backend.close()
    finally:
        for server in servers:
            server.stop()

    base = statistics.median(times[settings[0][0]])
    print(
        f"\n{args.requests} chat requests, ~{tokens / args.requests:.0f} new tokens each, "
        f"median of {args.repeats} (completions identical in every setting)"
    )
    print(f"{'setting':<38}{'seconds':>9}{'req/s':>9}{'tok/s':>9}{'vs c=1':>9}")
    for name, _, _ in settings:
        t = statistics.median(times[name])
        print(f"{name:<38}{t:>9.2f}{args.requests / t:>9.1f}{tokens / t:>9.0f}{base / t:>8.1f}x")
    median = {name: statistics.median(t) for name, t in times.items()}
    singles = {c: median[name] for name, _, c in settings[: len(args.concurrency)]}
    best = min(singles.values())
    print()
    for name, _, c in settings[len(args.concurrency) :]:
        same = f"{singles[c] / median[name]:.2f}x" if c in singles else "-"
        print(
            f"two replicas at {c} each vs one server at {c}: {same}; "
            f"vs the best single-server setting: {best / median[name]:.2f}x"
        )
    print(f"cpu cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()
