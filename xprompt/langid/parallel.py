"""Checks of many texts spread over the machine's cores, when that pays.

One check of a sentence costs about 0.2 ms on one core, so a process pool
only pays for a few thousand texts: below :data:`MIN_PARALLEL` texts, or with
one usable core, the texts are checked in this process. Workers are forked
(they inherit the loaded models, no second load) and get contiguous chunks;
results come back in input order. Where fork is not available, or the
process runs other threads (an in-process engine, a server: forking them is
not safe), the check runs in this process.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from xprompt.types import LangCheck

#: Fewer texts than this are checked in this process (a pool's start costs ~50 ms).
MIN_PARALLEL = 4000

_WORKER_CHECK: Callable[..., LangCheck] | None = None


def usable_cores() -> int:
    """Cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _check_chunk(chunk: Sequence[tuple[str, str]]) -> list[LangCheck]:
    assert _WORKER_CHECK is not None
    return [_WORKER_CHECK(text, lang) for text, lang in chunk]


def check_many(
    check: Callable[[str, str], LangCheck],
    items: Sequence[tuple[str, str]],
    *,
    jobs: int | None = None,
    min_parallel: int = MIN_PARALLEL,
) -> list[LangCheck]:
    """``[check(text, lang) for text, lang in items]``, over ``jobs`` processes when it pays.

    ``jobs``: worker processes (default: the usable cores); 1 checks here.
    """
    global _WORKER_CHECK
    jobs = usable_cores() if jobs is None else max(1, jobs)
    if (
        jobs < 2
        or len(items) < min_parallel
        or "fork" not in multiprocessing.get_all_start_methods()
        or threading.active_count() > 1
    ):
        return [check(text, lang) for text, lang in items]
    jobs = min(jobs, len(items))
    size = -(-len(items) // (jobs * 4))  # a few chunks per worker, for balance
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    _WORKER_CHECK = check  # inherited by the forked workers
    try:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            parts: list[Any] = pool.map(_check_chunk, chunks)
    finally:
        _WORKER_CHECK = None
    return [result for part in parts for result in part]
