"""Engine processes die with the xprompt process that started them, whatever kills it.

vLLM runs its engine core (and, with several GPUs, its workers) in child
processes. When ``xprompt run`` or ``xprompt serve`` dies by a signal it cannot
catch (``SIGKILL``, the OOM killer), nothing in vLLM stops those children: they
are reparented to init and keep the accelerator's memory, so the resume that
the README promises fails until someone kills them by hand.

:func:`bind_engine_children` is called before an engine starts. From then on
every child process is tied to its parent:

- a child *forked* from the main thread gets ``PR_SET_PDEATHSIG = SIGKILL``
  (Linux ``prctl``), so the kernel kills it the moment its parent dies;
- a child forked from another thread (the parent-death signal follows the
  forking *thread*, which may end long before the process) gets a watchdog
  thread that kills it within half a second of its parent's death;
- a child *spawned* by multiprocessing (vLLM's ``spawn`` start method, used
  once CUDA is initialised) re-imports ``xprompt`` as its main module, and
  ``xprompt/__init__.py`` calls :func:`bind_spawned_child`, which does the same.

Grandchildren (workers started by the engine core) inherit the fork hook, so
the whole tree goes down link by link. Elsewhere than Linux this is a no-op.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading

#: Set (to the owner's pid) once an engine is bound; spawned children read it.
OWNER_ENV = "XPROMPT_ENGINE_OWNER"
_PR_SET_PDEATHSIG = 1
_WATCH_INTERVAL_S = 0.5

_bound = False
_fork_state: dict[str, object] = {}


def _set_parent_death_signal() -> bool:
    """Ask the kernel to SIGKILL this process when its parent (thread) dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    """A daemon thread that kills this process once ``parent`` is no longer its parent."""

    def watch() -> None:
        stop = threading.Event()
        while not stop.wait(_WATCH_INTERVAL_S):
            if os.getppid() != parent:
                os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="xprompt-parent-watch", daemon=True).start()


def tie_to_parent(parent: int, *, from_main_thread: bool) -> None:
    """Make this (child) process die when ``parent`` dies; exit now if it is already gone."""
    if not (from_main_thread and _set_parent_death_signal()):
        _watch_parent(parent)
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)


def _before_fork() -> None:
    _fork_state["pid"] = os.getpid()
    _fork_state["main"] = threading.current_thread() is threading.main_thread()


def _after_fork_in_child() -> None:
    parent = _fork_state.get("pid")
    if isinstance(parent, int):
        tie_to_parent(parent, from_main_thread=bool(_fork_state.get("main")))


def bind_engine_children() -> None:
    """Tie every child process started from now on (fork or spawn) to its parent's life."""
    global _bound
    if not sys.platform.startswith("linux"):
        return
    os.environ[OWNER_ENV] = str(os.getpid())
    if not _bound:
        os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
        _bound = True


def bind_spawned_child() -> None:
    """In a multiprocessing ``spawn`` child of a bound process: tie it to its parent too."""
    if not sys.platform.startswith("linux") or not os.environ.get(OWNER_ENV):
        return
    if "--multiprocessing-fork" not in sys.argv:
        return
    global _bound
    # The spawning thread is unknown here: the watchdog is right whatever it was.
    _watch_parent(os.getppid())
    if not _bound:
        os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
        _bound = True
