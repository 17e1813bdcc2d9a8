"""Engine processes die with the xprompt process that started them, whatever kills it.

vLLM runs its engine core (and its workers) in child processes, started with
multiprocessing's ``spawn`` method on a CPU and often on a GPU. When
``xprompt run`` or ``xprompt serve`` dies by a signal it cannot catch
(``SIGKILL``, the OOM killer), nothing in vLLM stops those children: they are
reparented to init and keep their memory (on a GPU, the accelerator's), so the
resume the README promises fails until someone kills them by hand.

:func:`bind_engine_children` is called before an engine starts. It starts a
*reaper*: a small process (``python -m xprompt.backends.lifetime PID``) that
holds the read end of a pipe whose write end only the xprompt process holds.
While xprompt lives the reaper records its descendants (from ``/proc``, every
half second); when xprompt dies by any signal the kernel closes the pipe, the
reaper reads end-of-file at once and SIGKILLs every recorded descendant that is
still the same process (its start time is checked, so a reused pid is spared),
then exits. A normal exit finds nothing left to kill.

Children *forked* (not spawned) from the main thread also get
``PR_SET_PDEATHSIG = SIGKILL``, and close their copy of the pipe, so the reaper
is not kept waiting by them. Elsewhere than Linux this is a no-op.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path

_PR_SET_PDEATHSIG = 1
#: How often the reaper records the owner's descendants.
SCAN_INTERVAL_S = 0.5

_reaper: subprocess.Popen[bytes] | None = None
_hooked = False
_fork_state: dict[str, object] = {}


def _set_parent_death_signal() -> bool:
    """Ask the kernel to SIGKILL this process when its parent (thread) dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _before_fork() -> None:
    _fork_state["pid"] = os.getpid()
    _fork_state["main"] = threading.current_thread() is threading.main_thread()


def _after_fork_in_child() -> None:
    global _reaper
    if _reaper is not None and _reaper.stdin is not None:
        # Only the owner may hold the pipe open, or its death would go unnoticed. (Closing the
        # file object, not the bare descriptor, so that nothing closes that number twice.)
        with contextlib.suppress(OSError):
            _reaper.stdin.close()
        _reaper = None
    # The parent-death signal follows the forking *thread*: arm it only for the main thread's.
    if _fork_state.get("main") and _set_parent_death_signal():
        if os.getppid() != _fork_state.get("pid"):  # the parent died before it was armed
            os._exit(1)


def bind_engine_children() -> None:
    """Make sure every process this one starts from now on dies with it (idempotent)."""
    global _reaper, _hooked
    if not sys.platform.startswith("linux"):
        return
    if _reaper is not None and _reaper.poll() is None:
        return
    if not _hooked:
        os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
        _hooked = True
    _reaper = subprocess.Popen(
        [sys.executable, "-m", "xprompt.backends.lifetime", str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        close_fds=True,
    )


# -- the reaper ------------------------------------------------------------------------------


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (``/proc/PID/stat`` field 22)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19]) if fields[0] != "Z" else None


def descendants(pid: int) -> dict[int, int]:
    """Every live descendant of ``pid``: ``{pid: start time}`` (one read of each ``/proc/PID/stat``)."""
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != b"Z":
            children.setdefault(int(fields[1]), []).append((int(entry.name), int(fields[19])))
    found: dict[int, int] = {}
    todo = [pid]
    while todo:
        for child, start in children.get(todo.pop(), ()):
            found[child] = start
            todo.append(child)
    return found


def reap(owner: int) -> None:
    """Record ``owner``'s descendants until stdin closes (the owner died), then kill them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the owner, which shuts down itself
    me = os.getpid()
    known: dict[int, int] = {}
    while True:
        ready, _, _ = select.select([0], [], [], SCAN_INTERVAL_S)
        if ready and not os.read(0, 4096):
            break
        known.update(descendants(owner))
        known.pop(me, None)
    for pid, start in known.items():
        if _start_time(pid) == start:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    reap(int(sys.argv[1]))
