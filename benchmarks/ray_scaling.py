"""``--backend ray`` scaling: the same run on one Ray actor, then on two, in one process.

Each actor holds an in-process vLLM engine (``xprompt.backends.vllm.VLLMBackend``);
the run is the demo config (3-shot topic classification, constrained labels) over
the same rows, through ``runner.execute`` with the Ray backend passed in, so the
engine start is not timed. Prints rows/s for each and the ratio two/one, and how
many predictions the two runs share (greedy decoding: they should all agree).

On a CPU machine each actor takes one core: with two cores shared with other
work, two CPU engines compete for the same cores and memory bandwidth and need
not be faster; on a machine with several GPUs each actor gets its own.

    PYTHONPATH=$PWD VLLM_CPU_KVCACHE_SPACE=1 python benchmarks/ray_scaling.py --limit 64
"""

from __future__ import annotations

import argparse
import os
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
    from xprompt.config import load_run_config
    from xprompt.data import read_records

    ray.init(include_dashboard=False, log_to_driver=False)
    print(f"cluster: {ray.cluster_resources()}")
    rates, predictions = [], []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for actors in args.actors:
                out = Path(tmp) / f"ray{actors}.jsonl"
                config = load_run_config(
                    REPO / "examples" / "demo.yaml",
                    {
                        "output": str(out),
                        "data": {"limit": args.limit},
                        "chunk_size": args.chunk_size,
                        "engine": {"backend": "ray", "model": args.model, "ray_actors": actors},
                    },
                )
                started = time.perf_counter()
                backend = RayBackend(resolve_model(config.engine), engine=config.engine)
                start_s = time.perf_counter() - started
                try:
                    summary = runner.execute(runner.prepare(config), backend=backend)
                finally:
                    backend.close()
                rate = summary.rows_this_session / summary.elapsed_s
                rates.append(rate)
                predictions.append({r["index"]: r["prediction"] for r in read_records(out)})
                print(
                    f"{actors} actor(s): {summary.rows_this_session} rows in "
                    f"{summary.elapsed_s:.1f}s = {rate:.2f} rows/s (engines started in {start_s:.0f}s)"
                )
    finally:
        ray.shutdown()
    same = sum(predictions[0][i] == predictions[1].get(i) for i in predictions[0])
    print(f"same predictions: {same}/{len(predictions[0])}")
    print(
        f"ray scaling ({args.actors[1]} actors / {args.actors[0]}): "
        f"{rates[1] / rates[0]:.2f}x on {os.cpu_count()} CPU cores, {args.limit} demo rows"
    )


if __name__ == "__main__":
    main()
