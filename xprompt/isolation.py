"""Per-row isolation: one row that raises becomes that row's error; its chunk goes on.

Jobs work on chunks (one batched engine call per step). When the code that
handles a chunk raises, :func:`per_item` runs the chunk again one item at a
time, so only the items that raise fail, each with an error that names the
exception and where it was raised (:func:`fault`). An engine that fails as a
whole (``BackendError``, ``EngineDiedError``) is not one row's fault: it stops
the job, whose finished chunks are saved and resume.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from typing import TypeVar

from xprompt.errors import BackendError

T = TypeVar("T")
R = TypeVar("R")


def fault(exc: BaseException) -> str:
    """``Type: message (in xprompt/module.py:function)``: an unexpected exception as a row's error."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/xprompt/" in f.filename]
    where = ""
    if frames:
        module = frames[-1].filename.rsplit("/xprompt/", 1)[1]
        where = f" (in xprompt/{module}:{frames[-1].name})"
    return f"{type(exc).__name__}: {exc}{where}"


def per_item(
    run: Callable[[Sequence[T]], list[R]],
    items: Sequence[T],
    on_error: Callable[[T, str], R],
    *,
    fatal: tuple[type[BaseException], ...] = (BackendError,),
) -> list[R]:
    """``run(items)``; when it raises, item by item, ``on_error(item, fault)`` for those that raise.

    ``fatal`` exceptions (the engine failing as a whole) propagate.
    """
    try:
        return list(run(items))
    except fatal:
        raise
    except Exception as exc:
        if len(items) == 1:
            return [on_error(items[0], fault(exc))]
    return [r for item in items for r in per_item(run, [item], on_error, fatal=fatal)]
