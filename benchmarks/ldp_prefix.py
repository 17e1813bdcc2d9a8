"""LDP prompts share their exemplars per direction: what vLLM's prefix cache makes of it.

The LDP translator draws the exemplars once per direction, so every X -> English
prompt starts with the same ``shots`` pairs and only the query differs; vLLM's
prefix cache then computes that prefix once. The baseline draws the same
exemplars per row in a different order (seeded), so no two prompts share more
than a few tokens: same prompt lengths, same outputs budget, no shared prefix.

Both sides run on one engine (prefix caching on), greedy, the prefix cache
reset before every timed run, interleaved, median of the repeats.

    .venv/bin/python benchmarks/ldp_prefix.py [--rows 400] [--shots 8] [--repeats 3]
        [--gpu-memory-utilization 0.1]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

SENTENCES = [
    "Gwamnati ta sanar da sabon shirin kiwon lafiya a jihar Kano ranar Talata.",
    "Yara suna wasa a filin makaranta bayan an tashi daga aji.",
    "Manoma sun fara shuka gero saboda damina ta fara.",
    "Kasuwar Kano tana da girma sosai kuma tana cike da mutane.",
    "Ruwan sama ya sauka da yawa a daren jiya a garin Zariya.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--shots", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument(
        "--gpu-memory-utilization", type=float, default=None, help="engine memory share"
    )
    args = parser.parse_args()

    from xprompt.backends.vllm import VLLMBackend
    from xprompt.ldp.exemplar_set import default_diverse_set
    from xprompt.ldp.prompt import LDPPrompt
    from xprompt.ldp.translator import LDPTranslator
    from xprompt.testing.tiny_models import ensure_tiny_llama
    from xprompt.types import Request, Sampling

    rng = random.Random(0)
    texts = [
        f"{rng.choice(SENTENCES)} {' '.join(rng.sample(SENTENCES, 1)[0].split()[: rng.randint(2, 6)])}"
        for _ in range(args.rows)
    ]
    sampling = Sampling(temperature=0.0, max_tokens=args.max_tokens, stop=("\n",), seed=0)
    backend = VLLMBackend(
        str(ensure_tiny_llama()),
        enforce_eager=True,
        max_model_len=4096,
        seed=0,
        gpu_memory_utilization=args.gpu_memory_utilization,
    )
    llm = backend.engine
    pool = default_diverse_set()
    translator = LDPTranslator(backend, pool, shots=args.shots, sampling=sampling)
    shared = translator.plan("hau_Latn", "eng_Latn", texts[0]).exemplars
    prompt = LDPPrompt("native")

    def requests(per_row: bool) -> list[Request]:
        out = []
        for i, text in enumerate(texts):
            shots = list(shared)
            if per_row:
                random.Random(f"0|{i}").shuffle(shots)
            out.append(
                Request(
                    f"r{i}",
                    prompt=prompt.pair_prompt(text, "hau_Latn", "eng_Latn", shots),
                    sampling=sampling,
                )
            )
        return out

    shared_requests, per_row_requests = requests(False), requests(True)
    tokens = [sum(len(t) for t in backend.tokenize(r)) for r in (shared_requests, per_row_requests)]

    def timed(batch: list[Request]) -> float:
        llm.reset_prefix_cache()
        start = time.perf_counter()
        completions = backend.generate(batch)
        elapsed = time.perf_counter() - start
        assert all(c.ok for c in completions)
        return elapsed

    timed(shared_requests[:8])  # warm-up
    shared_s, per_row_s = [], []
    for i in range(args.repeats):
        per_row_s.append(timed(per_row_requests))
        shared_s.append(timed(shared_requests))
        print(
            f"run {i + 1}: per-row {per_row_s[-1]:.2f} s, shared {shared_s[-1]:.2f} s", flush=True
        )
    backend.close()
    a, b = statistics.median(per_row_s), statistics.median(shared_s)
    print(
        f"rows: {args.rows}, shots: {args.shots}, prompt tokens: {tokens[0]:,} (shared) / {tokens[1]:,} (per-row)"
    )
    print(
        f"per-row exemplar order (no shared prefix): {a:.2f} s  (runs: {', '.join(f'{x:.2f}' for x in per_row_s)})"
    )
    print(
        f"LDP, one draw per direction (shared prefix): {b:.2f} s  (runs: {', '.join(f'{x:.2f}' for x in shared_s)})"
    )
    print(f"speed-up: {a / b:.2f}x")


if __name__ == "__main__":
    main()
