"""Host-side rows/s of ``xprompt run`` when the engine costs nothing: direct few-shot and CLP.

The backend here answers every request at once (no sleep, no threads), so
the wall-clock time of ``runner.execute`` is all host work: reading rows,
exemplar selection, Jinja rendering, request digests, the off-target guard and
its language checks, answer extraction, record building, writing JSONL and the
summary. This is the ceiling on rows/s that xprompt itself puts on a fast
engine (``benchmarks/pipeline.py`` measures how busy a simulated engine stays).

- ``direct``: ``sib200-topic``, 3 shots (``balanced`` from ``topics.pool.jsonl``),
  constrained labels, over ``examples/data/topics.jsonl`` repeated to ``--rows``;
  the backend picks a label from the request's choices (seeded by its id, like
  ``xprompt.testing.simulated.default_text``).
- ``clp``: strategy ``clp`` with ``clp-solve`` over ``examples/mgsm/mgsm.mini.jsonl``
  repeated to ``--clp-rows``; every reply is three English sentences and
  ``Answer: 12``, so both turns are language-checked as English.

Both run chunk by chunk (``chunks_in_flight=1``) after a warm-up run; each is
repeated ``--repeats`` times and the best is reported. ``--profile`` prints a
cProfile of one more direct run (top 25 by cumulative and by own time).
The machine's other load makes timings noisy: compare numbers from one process run.

    .venv/bin/python benchmarks/host_path.py [--rows 8192] [--clp-rows 1024] [--repeats 3] [--profile]

The last line: ``host path: direct N rows/s, clp M rows/s``.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import pstats
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline import MGSM, POOL, TOPICS, repeat_rows

from xprompt.testing.simulated import ENGLISH
from xprompt.types import Completion, Request

#: The reply to an unconstrained request: three English sentences and an answer line.
REASONING = ". ".join(ENGLISH.split(". ")[:3]) + ". Answer: 12"


def instant_text(request: Request, sample: int) -> str:
    """A label of the request's choice constraint (seeded by its id), else :data:`REASONING`."""
    if request.constraint is not None and request.constraint.choices:
        choices = request.constraint.choices
        pick = int(hashlib.sha1(f"{request.id}#{sample}".encode()).hexdigest(), 16) % len(choices)
        return choices[pick]
    return REASONING


class InstantBackend:
    """A backend that answers every request immediately with :func:`instant_text`."""

    model_id = "instant"

    def describe(self) -> dict[str, Any]:
        return {"engine": "instant"}

    def close(self) -> None:
        pass

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        out = []
        for request in requests:
            texts = tuple(instant_text(request, i) for i in range(request.sampling.n))
            out.append(
                Completion(
                    request.id,
                    texts=texts,
                    prompt_tokens=100,
                    completion_tokens=len(texts) * 8,
                    finish_reasons=("stop",) * len(texts),
                )
            )
        return out


def _common(work: Path, name: str, rows: Path, target: str) -> dict[str, Any]:
    """Settings both cases share: the instant model, chunk by chunk, a fresh output."""
    return {
        "engine": {"model": "instant"},
        "overwrite": True,
        "chunks_in_flight": 1,
        "data": {"input": str(rows), "target_field": target},
        "output": str(work / f"{name}.jsonl"),
    }


def direct_overrides(work: Path, rows: int, shots: int = 3) -> dict[str, Any]:
    """``xprompt run`` settings of the direct few-shot case (see the module doc)."""
    return {
        **_common(
            work, "direct", repeat_rows(TOPICS, rows, work / f"topics-{rows}.jsonl"), "label"
        ),
        "template": "sib200-topic",
        "exemplars": {"shots": shots, "pool": str(POOL), "select": "balanced"},
        "sampling": {"max_tokens": 16},
    }


def clp_overrides(work: Path, rows: int) -> dict[str, Any]:
    """``xprompt run`` settings of the CLP case (see the module doc)."""
    return {
        **_common(work, "clp", repeat_rows(MGSM, rows, work / f"mgsm-{rows}.jsonl"), "answer"),
        "template": "clp-solve",
        "strategy": "clp",
    }


def run_once(overrides: dict[str, Any], backend: Any) -> float:
    """Prepare and execute one run; its rows/s (``prepare`` included: it reads the rows)."""
    from xprompt import runner
    from xprompt.config import load_run_config

    start = time.perf_counter()
    prepared = runner.prepare(load_run_config(None, overrides))
    summary = runner.execute(prepared, backend=backend)
    wall = time.perf_counter() - start
    rows = summary.total.rows
    assert rows == len(prepared.rows) and summary.total.errors == 0, summary.to_dict()
    return rows / wall


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=8192, help="direct few-shot rows")
    parser.add_argument("--clp-rows", type=int, default=1024, help="CLP rows")
    parser.add_argument("--shots", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="runs per case (best reported)")
    parser.add_argument("--profile", action="store_true", help="cProfile one more direct run")
    args = parser.parse_args()

    backend = InstantBackend()
    work = Path(tempfile.mkdtemp(prefix="xprompt-host-path-"))
    direct = direct_overrides(work, args.rows, args.shots)
    clp = clp_overrides(work, args.clp_rows)
    run_once({**direct, "data": {**direct["data"], "limit": 256}}, backend)  # warm-up
    run_once({**clp, "data": {**clp["data"], "limit": 64}}, backend)
    best: dict[str, float] = {"direct": 0.0, "clp": 0.0}
    for _ in range(args.repeats):
        for name, overrides in (("direct", direct), ("clp", clp)):
            rate = run_once(overrides, backend)
            best[name] = max(best[name], rate)
            print(f"{name}: {rate:.0f} rows/s", flush=True)
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(run_once, direct, backend)
        stats = pstats.Stats(profile, stream=sys.stdout)
        stats.sort_stats("cumulative").print_stats(25)
        stats.sort_stats("tottime").print_stats(25)
    print(
        f"direct {args.shots}-shot: {args.rows} rows, clp: {args.clp_rows} rows, "
        f"best of {args.repeats}, chunks_in_flight 1, instant backend"
    )
    print(f"host path: direct {best['direct']:.0f} rows/s, clp {best['clp']:.0f} rows/s")


if __name__ == "__main__":
    main()
