"""``--backend ray`` scaling: the same run on one Ray actor, then on two, in one process.

Each actor holds an in-process vLLM engine (``xprompt.backends.vllm.VLLMBackend``);
the run is the demo config (3-shot topic classification, constrained labels) over
the same rows, through ``runner.execute`` with the Ray backend passed in, so the
engine start is not timed. Both backends are started first, then the runs are
interleaved for ``--rounds`` rounds. Prints rows/s for each, the ratio of the
medians two/one, and how many predictions the two settings share (greedy
decoding: they should agree).

On a CPU machine each actor takes one core: with two cores shared with other
work, two CPU engines compete for the same cores and memory bandwidth and need
not be faster; on a machine with several GPUs each actor gets its own.

    PYTHONPATH=$PWD VLLM_CPU_KVCACHE_SPACE=1 python benchmarks/ray_scaling.py --limit 64
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    """Run the demo rows on 1 actor and on 2 actors; print rows/s and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--limit", type=int, default=64, help="demo rows per run")
    parser.add_argument("--chunk-size", type=int, default=64, help="rows per backend call")
    parser.add_argument("--model", default="tiny", help="model (default: the tiny test model)")
    parser.add_argument("--actors", type=int, nargs=2, default=(1, 2), help="actor counts")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    args = parser.parse_args()
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
    # On a shared machine Ray's node-wide memory monitor would kill the actors for others' memory.
    os.environ.setdefault("RAY_memory_monitor_refresh_ms", "0")
    os.chdir(REPO)

    import ray

    from xprompt import runner
    from xprompt.backends.factory import resolve_model
    from xprompt.backends.ray import RayBackend
    from xprompt.config import RunConfig, load_run_config
    from xprompt.data import read_records

    # Logical CPUs: every actor of both backends is placed at once (one each), whatever the cores.
    ray.init(num_cpus=sum(args.actors), include_dashboard=False, log_to_driver=False)
    print(f"cluster: {ray.cluster_resources()}")
    backends, rates, predictions = [], {n: [] for n in args.actors}, {}
    try:
        with tempfile.TemporaryDirectory() as tmp:

            def config(actors: int, round_: int) -> RunConfig:
                return load_run_config(
                    REPO / "examples" / "demo.yaml",
                    {
                        "output": str(Path(tmp) / f"ray{actors}.{round_}.jsonl"),
                        "data": {"limit": args.limit},
                        "chunk_size": args.chunk_size,
                        "engine": {"backend": "ray", "model": args.model, "ray_actors": actors},
                    },
                )

            for actors in args.actors:
                started = time.perf_counter()
                engine = config(actors, 0).engine
                backends.append(RayBackend(resolve_model(engine), engine=engine))
                print(f"{actors} actor(s): engines started in {time.perf_counter() - started:.0f}s")
            # Interleaved rounds, so both settings see the same load from other jobs.
            for round_ in range(args.rounds):
                for actors, backend in zip(args.actors, backends, strict=True):
                    run = config(actors, round_)
                    summary = runner.execute(runner.prepare(run), backend=backend)
                    rates[actors].append(summary.rows_this_session / summary.elapsed_s)
                    predictions[actors] = {
                        r["index"]: r["prediction"] for r in read_records(run.output)
                    }
                    print(
                        f"round {round_ + 1}, {actors} actor(s): {summary.rows_this_session} rows "
                        f"in {summary.elapsed_s:.1f}s = {rates[actors][-1]:.2f} rows/s"
                    )
    finally:
        for backend in backends:
            backend.close()
        ray.shutdown()
    one, two = args.actors
    first, second = predictions[one], predictions[two]
    same = sum(first[i] == second.get(i) for i in first)
    print(f"same predictions: {same}/{len(first)}")
    low, high = statistics.median(rates[one]), statistics.median(rates[two])
    print(
        f"ray scaling ({two} actors / {one}): {high / low:.2f}x (median of {args.rounds} rounds: "
        f"{high:.2f} vs {low:.2f} rows/s) on {os.cpu_count()} CPU cores, {args.limit} demo rows"
    )


if __name__ == "__main__":
    main()
