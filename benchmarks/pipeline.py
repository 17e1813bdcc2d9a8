"""How busy the engine is while ``xprompt run`` feeds it: direct few-shot and CLP, on a simulated engine.

The engine (``xprompt.testing.simulated.SimulatedEngine``) batches continuously
like vLLM: up to ``--capacity`` sequences decode one token per step, prefill
shares a token budget per step, a step lasts ``--step-ms`` (slept, GIL free),
and prompt prefixes it has seen are cached. Output lengths are log-normal:
labels for constrained classification (median 2 tokens), reasoning for CLP
(turn 1 median 160, turn 2 median 110 tokens, capped by max_tokens). The
defaults are a rough 8B model on one H100/H200-class GPU (about 10 ms per decode
step at 256 sequences, 8192 prefill tokens a step); change them to model
another engine.

Everything on the host side is real: reading rows, exemplar selection,
rendering, language checks of every reply, answer extraction, writing JSONL.
"Busy" is the capacity-weighted share of the wall-clock time of
``runner.execute`` in which the engine worked (a step that decodes 128 of 256
sequences counts half). Each workload runs with both executors in the same
process: chunk by chunk (``chunks_in_flight=1``: the engine waits while a chunk
is rendered, checked and written, and a two-turn strategy (CLP) ends each turn of
a chunk in a tail with a nearly empty batch) and with ``--in-flight`` chunks in
flight (host work of neighbouring chunks overlaps generation; the simulated
engine takes concurrent calls, so one chunk's turn 2 shares the batch with the
next chunk's turn 1). The last line: ``engine busy: direct X%, clp Y% (chunked: A%, B%)``.

Inputs: ``examples/data/topics.jsonl`` (SIB-200-style topic sentences in 12
languages; exemplars from ``topics.pool.jsonl``) and ``examples/mgsm/mgsm.mini.jsonl``
(MGSM-style questions), repeated to ``--rows`` / ``--clp-rows`` rows.

    .venv/bin/python benchmarks/pipeline.py [--rows 4096] [--clp-rows 512] [--step-ms 10] [--chunk-size N] [--in-flight 3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TOPICS = ROOT / "examples" / "data" / "topics.jsonl"
POOL = ROOT / "examples" / "data" / "topics.pool.jsonl"
MGSM = ROOT / "examples" / "mgsm" / "mgsm.mini.jsonl"


def repeat_rows(source: Path, n: int, target: Path) -> Path:
    """``n`` rows cycled from ``source``, each with a unique id."""
    rows = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line]
    with target.open("w", encoding="utf-8") as out:
        for i in range(n):
            row = dict(rows[i % len(rows)])
            row["id"] = f"{row['id']}-{i}"
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return target


def measure(name: str, overrides: dict[str, Any], engine: Any) -> dict[str, float]:
    """Run ``xprompt run`` once over the engine; busy share of the run's wall-clock time."""
    from xprompt import runner
    from xprompt.config import load_run_config

    prepared = runner.prepare(load_run_config(None, overrides))
    before = engine.stats()
    start = time.perf_counter()
    summary = runner.execute(prepared, backend=engine)
    wall = time.perf_counter() - start
    after = engine.stats()
    rows = summary.total.rows
    assert rows == len(prepared.rows) and summary.total.errors == 0, summary.to_dict()
    return {
        "rows": rows,
        "wall_s": wall,
        "rows_per_s": rows / wall,
        "busy": (after.busy_s - before.busy_s) / wall,
        "stepping": (after.step_s - before.step_s) / wall,
        "steps": after.steps - before.steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=4096, help="direct few-shot rows")
    parser.add_argument("--clp-rows", type=int, default=512, help="CLP rows")
    parser.add_argument("--shots", type=int, default=3)
    parser.add_argument("--capacity", type=int, default=256, help="sequences per step")
    parser.add_argument("--step-ms", type=float, default=10.0, help="time of one engine step")
    parser.add_argument("--prefill-budget", type=int, default=8192, help="prefill tokens a step")
    parser.add_argument("--chunk-size", type=int, default=None, help="runner chunk size")
    parser.add_argument(
        "--in-flight", type=int, default=3, help="chunks in flight for the overlapping executor"
    )
    args = parser.parse_args()

    from xprompt.testing.simulated import LengthModel, SimulatedEngine
    from xprompt.types import Request

    def lengths(request: Request) -> LengthModel:
        if request.constraint is not None:
            return LengthModel(median=2, sigma=0.4)
        if "/align:" in request.id:
            return LengthModel(median=160, sigma=0.5, minimum=16)
        return LengthModel(median=110, sigma=0.5, minimum=8)

    engine = SimulatedEngine(
        lengths,
        capacity=args.capacity,
        step_s=args.step_ms / 1000,
        prefill_budget=args.prefill_budget,
    )
    work = Path(tempfile.mkdtemp(prefix="xprompt-pipeline-"))
    common: dict[str, Any] = {"engine": {"model": "simulated"}, "overwrite": True}
    if args.chunk_size:
        common["chunk_size"] = args.chunk_size
    direct = {
        **common,
        "data": {
            "input": str(repeat_rows(TOPICS, args.rows, work / "topics.jsonl")),
            "target_field": "label",
        },
        "output": str(work / "direct.jsonl"),
        "template": "sib200-topic",
        "exemplars": {"shots": args.shots, "pool": str(POOL), "select": "balanced"},
        "sampling": {"max_tokens": 16},
    }
    clp = {
        **common,
        "data": {
            "input": str(repeat_rows(MGSM, args.clp_rows, work / "mgsm.jsonl")),
            "target_field": "answer",
        },
        "output": str(work / "clp.jsonl"),
        "template": "clp-solve",
        "strategy": "clp",
    }
    runs: dict[str, dict[str, float]] = {}
    try:
        measure("warm-up", {**direct, "data": {**direct["data"], "limit": 64}}, engine)
        for executor, depth in (("chunked", 1), ("overlap", args.in_flight)):
            for name, overrides in (("direct", direct), ("clp", clp)):
                runs[f"{name}/{executor}"] = measure(
                    name, {**overrides, "chunks_in_flight": depth}, engine
                )
    finally:
        engine.close()
    print(
        f"simulated engine: {args.capacity} sequences/step, {args.step_ms:g} ms/step, "
        f"{args.prefill_budget} prefill tokens/step, prefix cache on; chunk size "
        f"{args.chunk_size or 'default'}, {args.in_flight} chunks in flight (chunked: 1)"
    )
    for name, label in (
        ("direct", f"direct {args.shots}-shot topic classification (constrained labels)"),
        ("clp", "CLP, two turns of reasoning (MGSM-style questions)"),
    ):
        for executor in ("chunked", "overlap"):
            r = runs[f"{name}/{executor}"]
            print(
                f"{label}, {executor}: {r['rows']} rows in {r['wall_s']:.2f}s "
                f"({r['rows_per_s']:.0f} rows/s), {r['steps']} steps, engine stepping "
                f"{r['stepping']:.0%} of the time, busy {r['busy']:.1%}"
            )
    print(
        f"engine busy: direct {runs['direct/overlap']['busy']:.1%}, "
        f"clp {runs['clp/overlap']['busy']:.1%} "
        f"(chunked: {runs['direct/chunked']['busy']:.1%}, {runs['clp/chunked']['busy']:.1%})"
    )


if __name__ == "__main__":
    main()
