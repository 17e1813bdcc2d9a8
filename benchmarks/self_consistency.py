"""Self-consistency: k samples as ONE request with n=k versus k separate requests, same engine, same run.

Both sides send the same chain-of-thought prompts (the ``mgsm-cot`` template,
2-shot worked solutions, the questions of ``examples/mgsm/mgsm.mini.jsonl``
numbered so that no two prompts are equal) through xprompt's vLLM backend,
each in ONE batched ``generate`` call, with the same decoding (temperature
0.7, top_p 1, ``--max-tokens`` new tokens, seeded):

- ``n=k``: one request per question with ``Sampling(n=k)`` (what the
  ``self-consistency`` strategy sends);
- ``k requests, one call``: k requests per question with ``n=1`` and seeds
  ``0..k-1``, all in one batched call (the strongest form of "k requests");
- ``k calls``: the same k requests per question sent as k batched calls, one
  per sample index (how a loop over samples would do it).

vLLM v1 runs an ``n=k`` request as k child sequences in the engine core, so
decoding costs the same either way; what ``n=k`` saves is everything done per
request before and after the engine (chat template, tokenization, input
processing, output assembly) and, against k calls, the tail of every call.

The prefix cache is reset before every timed run (so neither side reuses the
other's prompts), the sides are interleaved, and both the best and the median
wall-clock time of the repeats are compared. The best of N (as ``timeit``
reports it) is the steadier estimate when other jobs share the machine; use
more repeats there.

    .venv/bin/python benchmarks/self_consistency.py [--questions 96] [--k 8] [--max-tokens 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from engine_args import add_engine_args, make_backend

REPO = Path(__file__).resolve().parent.parent
MGSM = REPO / "examples" / "mgsm" / "mgsm.mini.jsonl"
POOL = REPO / "examples" / "mgsm" / "mgsm.cot-pool.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--questions", type=int, default=96)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    add_engine_args(parser, memory=0.1)
    args = parser.parse_args()
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")

    from xprompt.exemplars import ExemplarSelector
    from xprompt.templates import load_template
    from xprompt.types import Example, Request, Sampling

    rows = [json.loads(line) for line in MGSM.read_text(encoding="utf-8").splitlines() if line]
    pool = [
        Example(r["id"], r["lang"], {"question": r["question"]}, target=r["answer"])
        for r in map(json.loads, POOL.read_text(encoding="utf-8").splitlines())
    ]
    template = load_template("mgsm-cot")
    selector = ExemplarSelector(pool=pool, k=2, language="eng_Latn")
    examples = []
    for i in range(args.questions):
        row = rows[i % len(rows)]
        question = f"({i + 1}) {row['question']}"
        examples.append(Example(f"q{i}", row["lang"], {"question": question}, target=row["answer"]))
    conversations = [template.render(e, selector.select(e)) for e in examples]

    backend, model = make_backend(args)
    llm = backend.engine

    def sampling(n: int, seed: int) -> Sampling:
        return Sampling(temperature=0.7, top_p=1.0, max_tokens=args.max_tokens, n=n, seed=seed)

    one_request = [
        Request(f"q{i}/reason", messages=m, sampling=sampling(args.k, 0))
        for i, m in enumerate(conversations)
    ]
    k_requests = [
        Request(f"q{i}/reason#{j}", messages=m, sampling=sampling(1, j))
        for i, m in enumerate(conversations)
        for j in range(args.k)
    ]

    k_calls = [[r for r in k_requests if r.id.endswith(f"#{j}")] for j in range(args.k)]

    def timed(calls: list[list[Request]]) -> tuple[float, int]:
        llm.reset_prefix_cache()
        start = time.perf_counter()
        completions = [c for requests in calls for c in backend.generate(requests)]
        elapsed = time.perf_counter() - start
        assert all(c.ok for c in completions)
        assert sum(len(c.texts) for c in completions) == args.questions * args.k
        return elapsed, sum(c.completion_tokens for c in completions)

    arms = {"n=k": [one_request], "k requests, one call": [k_requests], "k calls": k_calls}
    for calls in arms.values():
        timed(calls)  # warm-up
    times: dict[str, list[float]] = {name: [] for name in arms}
    tokens = set()
    for _ in range(args.repeats):
        for name, calls in arms.items():
            elapsed, generated = timed(calls)
            times[name].append(elapsed)
            tokens.add(generated)
    median = {name: statistics.median(t) for name, t in times.items()}
    best = {name: min(t) for name, t in times.items()}
    samples = args.questions * args.k
    print(
        f"self-consistency: {args.questions} questions x k={args.k} samples "
        f"(2-shot CoT, temperature 0.7, max {args.max_tokens} new tokens), model {Path(model).name}"
    )
    for name, t in times.items():
        print(
            f"{name:<22}: best {best[name]:.2f}s ({samples / best[name]:.0f} samples/s), "
            f"median {median[name]:.2f}s  runs {[round(x, 2) for x in t]}"
        )
    print(f"generated tokens per run: {sorted(tokens)}")
    for label, m in (("best", best), ("median", median)):
        print(
            f"speed-up of n=k ({label}): {m['k requests, one call'] / m['n=k']:.2f}x over k "
            f"requests in one call, {m['k calls'] / m['n=k']:.2f}x over k calls"
        )
    backend.close()


if __name__ == "__main__":
    main()
