"""Overhead of xprompt's run machinery over bare ``vllm.LLM.generate``, same engine, same run.

Worst case for xprompt: the model is nearly free (the tiny random model), so
everything xprompt adds (reading rows, exemplar selection, Jinja rendering,
chat templating, tokenizing, answer mapping, language checks, writing and
flushing JSONL, the summary) shows up in full.

Both sides run the same few-shot prompts with the same sampling (greedy,
labels constrained to the label set) on one engine; the prefix cache is
reset before every timed run; the two are interleaved and the median of the
repeats is compared. The bare side gets the prompts already rendered to text
(not timed), so it is the fastest possible use of vLLM.

    .venv/bin/python benchmarks/overhead.py [--rows 3000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from engine_args import add_engine_args, make_backend

LANGS = ["hau_Latn", "yor_Latn", "swh_Latn", "amh_Ethi", "kin_Latn", "npi_Deva"]
LABELS = [
    "science/technology",
    "travel",
    "politics",
    "sports",
    "health",
    "entertainment",
    "geography",
]
WORDS = {
    "hau_Latn": "gwamnati ta sanar da sabon shirin kiwon lafiya a jihar Kano ranar Talata".split(),
    "yor_Latn": "ìjọba ti kéde ètò ìlera tuntun ní ìpínlẹ̀ Èkó lónìí".split(),
    "swh_Latn": "serikali imetangaza mpango mpya wa afya katika mkoa wa Dodoma leo".split(),
    "amh_Ethi": "መንግሥት ዛሬ አዲስ የጤና ዕቅድ አስታውቋል ይህ ዜና ስለ ጤና ነው".split(),
    "kin_Latn": "leta yatangaje gahunda nshya y'ubuzima mu ntara y'Amajyepfo uyu munsi".split(),
    "npi_Deva": "सरकारले आज प्रदेशका लागि नयाँ स्वास्थ्य योजना घोषणा गर्‍यो".split(),
}


def make_rows(n: int, seed: int, prefix: str) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        lang = LANGS[i % len(LANGS)]
        text = " ".join(rng.choice(WORDS[lang]) for _ in range(rng.randint(6, 14)))
        rows.append({"id": f"{prefix}{i}", "lang": lang, "text": text, "label": LABELS[i % 7]})
    return rows


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> None:
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shots", type=int, default=3)
    parser.add_argument(
        "--chunk-size", type=int, default=None, help="runner chunk size (default: the runner's)"
    )
    add_engine_args(parser)
    args = parser.parse_args()
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")

    from vllm import SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    from xprompt import runner
    from xprompt.config import load_run_config

    work = Path(tempfile.mkdtemp(prefix="xprompt-bench-"))
    data, pool = work / "data.jsonl", work / "pool.jsonl"
    write_jsonl(data, make_rows(args.rows, seed=1, prefix="r"))
    write_jsonl(pool, make_rows(7 * len(LANGS), seed=2, prefix="p"))
    backend, model = make_backend(args)
    llm = backend.engine

    overrides = {
        "data": {"input": str(data), "target_field": "label"},
        "template": "sib200-topic",
        "engine": {"model": model},
        "exemplars": {"shots": args.shots, "pool": str(pool), "select": "balanced"},
        "sampling": {"max_tokens": 16},
        "overwrite": True,
    }
    if args.chunk_size:
        overrides["chunk_size"] = args.chunk_size

    def config(name: str):
        return load_run_config(None, {**overrides, "output": str(work / f"{name}.jsonl")})

    # The bare side: the very same prompts, rendered to text once, outside the timing.
    prepared = runner.prepare(config("render"))
    strategy = prepared.strategy
    requests = [strategy.request(row) for row in prepared.rows]
    prompts = [backend.render_chat(r) for r in requests]
    constraint = requests[0].constraint
    assert constraint is not None and all(r.constraint == constraint for r in requests)
    params = SamplingParams(
        temperature=0.0,
        top_p=1.0,
        max_tokens=16,
        seed=0,
        structured_outputs=StructuredOutputsParams(choice=list(constraint.choices)),
    )

    def bare() -> float:
        llm.reset_prefix_cache()
        start = time.perf_counter()
        outputs = llm.generate(prompts, params, use_tqdm=False)
        elapsed = time.perf_counter() - start
        assert len(outputs) == len(prompts)
        return elapsed

    def xprompt(i: int) -> float:
        llm.reset_prefix_cache()
        start = time.perf_counter()
        summary = runner.execute(runner.prepare(config(f"run{i}")), backend=backend)
        elapsed = time.perf_counter() - start
        assert summary.total.rows == args.rows and summary.total.errors == 0
        return elapsed

    bare()  # warm-up: first-call costs (grammar compilation, allocator) are not what we measure
    xprompt(-1)
    bare_times, xprompt_times = [], []
    for i in range(args.repeats):
        bare_times.append(bare())
        xprompt_times.append(xprompt(i))
    b, x = statistics.median(bare_times), statistics.median(xprompt_times)
    print(
        f"prompts: {args.rows} ({args.shots}-shot, 6 languages, constrained to 7 labels, greedy, max 16 tokens)"
    )
    print(
        f"bare vllm.LLM.generate : median {b:.2f}s  ({args.rows / b:.0f} prompts/s)  runs {[round(t, 2) for t in bare_times]}"
    )
    print(
        f"xprompt run machinery  : median {x:.2f}s  ({args.rows / x:.0f} prompts/s)  runs {[round(t, 2) for t in xprompt_times]}"
    )
    print(f"overhead ratio xprompt/bare: {x / b:.3f}  (target <= 1.10)")
    backend.close()


if __name__ == "__main__":
    main()
