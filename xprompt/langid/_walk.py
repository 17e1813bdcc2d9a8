"""py3langid's byte-level feature walk compiled with numba, when numba is installed.

The walk is a DFA over the text's bytes (``py3langid.langid.visit_counts``):
one table lookup per byte, ~40 µs per sentence in Python. Compiled, it is a
microsecond or two. The features come back in first-occurrence order with
their counts, exactly what ``visit_counts``'s ``Counter`` holds, so the scores
computed from them are bit-for-bit the same. numba ships with vLLM; without it
the checker keeps the Python walk.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def compile_walk() -> Callable[..., tuple[Any, Any]] | None:
    """The compiled walk ``(nextmove, rowbase, output, data) -> (features, counts)``, or None."""
    try:
        import numba
        import numpy as np
    except ImportError:
        return None

    @numba.njit(cache=True, nogil=True)
    def walk(nextmove, rowbase, output, data):  # type: ignore[no-untyped-def]  # pragma: no cover
        found = np.empty(len(data), np.int64)
        k = 0
        state = 0
        for byte in data:
            state = nextmove[rowbase[state] + byte]
            feature = output[state]
            if feature >= 0:
                found[k] = feature
                k += 1
        found = found[:k]
        order = np.argsort(found, kind="mergesort")  # stable: a group's first is its first seen
        groups = 0
        starts = np.empty(k, np.int64)
        for i in range(k):
            if i == 0 or found[order[i]] != found[order[i - 1]]:
                starts[groups] = i
                groups += 1
        first = np.empty(groups, np.int64)
        counts = np.empty(groups, np.float32)
        for g in range(groups):
            end = starts[g + 1] if g + 1 < groups else k
            first[g] = order[starts[g]]
            counts[g] = end - starts[g]
        seen = np.argsort(first)  # groups in first-occurrence order, like Counter's keys
        return found[first[seen]], counts[seen]

    return walk
