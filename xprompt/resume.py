"""Resumable JSONL outputs, shared by ``xprompt run``, ``translate`` and ``project``.

An output ``out.jsonl`` has two files beside it: ``out.jsonl.meta.json`` names
the job that writes it (its signature and the settings that decide the
records, the *resume key*), and ``out.jsonl.summary.json`` holds the last
summary. Before a job appends to an existing output, :func:`open_output`
checks that the output belongs to the same job and the same input, and
returns the row indices already done, so a killed job started again skips
them; a half-written last line is cut off by the record reader.

While a job writes an output it holds ``out.jsonl.lock`` (``fcntl.flock``, see
:func:`lock_output`): a second process on the same output refuses with a clear
message instead of interleaving lines, and a killed process releases the lock
with its file descriptors. The lock file itself stays (removing it would race).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from xprompt import data
from xprompt.errors import OutputError, OutputLockedError, ResumeError
from xprompt.signatures import Signature, describe_changes


def meta_path(output: str | os.PathLike[str]) -> Path:
    """The file that names the job writing ``output``."""
    return Path(str(output) + ".meta.json")


def summary_path(output: str | os.PathLike[str]) -> Path:
    """The file that holds the summary of ``output``."""
    return Path(str(output) + ".summary.json")


def lock_path(output: str | os.PathLike[str]) -> Path:
    """The lock file held while a job writes ``output``."""
    return Path(str(output) + ".lock")


def check_output_path(output: str | os.PathLike[str]) -> None:
    """Raise ``OutputError`` when ``output`` cannot be a writable file (before any model work)."""
    path = Path(output)
    if path.is_dir():
        raise OutputError(
            f"--output {output} is a directory; give a file path such as {path / 'results.jsonl'}"
        )
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"cannot create the output directory {parent}: {exc.strerror or exc}"
        ) from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"the output directory {parent} is not writable; choose another --output")
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError(f"--output {output} exists and is not writable")


@contextlib.contextmanager
def lock_output(output: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold the output's lock while the block runs; ``OutputLockedError`` when another process has it.

    Checks the output path first (:func:`check_output_path`), so an unwritable
    output is reported before the engine starts.
    """
    check_output_path(output)
    path = lock_path(output)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OutputError(f"cannot create the lock file {path}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            raise OutputLockedError(
                f"{output} is being written by another xprompt process (pid {holder}, lock "
                f"{path.name}); wait for it to finish or choose another --output"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def write_json_atomic(path: Path, value: Any) -> None:
    """Write ``value`` as JSON; a crash leaves the old file or the new one, never half of one."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def write_summary(output: str | os.PathLike[str], summary: Mapping[str, Any]) -> None:
    write_json_atomic(summary_path(output), dict(summary))


def rewrite_records(path: Path, records: Sequence[Mapping[str, Any]]) -> None:
    """Replace ``path`` with ``records`` atomically (a crash leaves the old file or the new one)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    os.replace(tmp, path)


def _same(key: str, old: Any, new: Any) -> bool:
    """Whether a stored resume-key value matches; meta files written before signatures were
    structured repeated the key in some values (``guard: "guard:flag"``), which still match."""
    return old == new or (isinstance(new, str) and old == f"{key}:{new}")


def open_output(
    output: str | os.PathLike[str],
    *,
    job: str,
    resume_key: Mapping[str, Any],
    ids: Mapping[int, str],
    meta: Mapping[str, Any],
    overwrite: bool = False,
    retry_errors: bool = False,
    dry_run: bool = False,
) -> set[int]:
    """Check that an existing ``output`` belongs to this job; return the indices already done.

    ``resume_key`` is the declared subset of the job's signature fields that
    decides its records; a stored key that differs refuses the resume, naming
    each setting that changed (``strategy.k 3 -> 5``).
    ``job`` names the kind of job in messages ("run", "translation job", ...);
    ``ids`` maps each input index to its row id (a record whose id differs
    means the input changed); ``meta`` is written as the meta file, with the
    resume key. ``overwrite`` starts again; ``retry_errors`` drops records that
    hold an error, so their rows run again. ``dry_run`` makes the same checks and
    returns the same indices but changes no file (to count pending rows, or to
    check outputs before a report without re-signing them).
    """
    output = Path(output)
    meta_file = meta_path(output)
    if overwrite:
        if dry_run:
            return set()
        for path in (output, meta_file, summary_path(output)):
            path.unlink(missing_ok=True)
    if output.exists() and output.stat().st_size > 0:
        if not meta_file.exists():
            raise ResumeError(
                f"{output} exists but has no {meta_file.name}: it is not an xprompt {job} to resume. "
                "Choose another --output or pass --overwrite."
            )
        previous = json.loads(meta_file.read_text(encoding="utf-8")).get("resume_key", {})
        changed = [k for k, v in resume_key.items() if not _same(k, previous.get(k), v)]
        if changed:
            before = Signature({k: previous.get(k) for k in changed})
            after = Signature({k: resume_key[k] for k in changed})
            what = describe_changes(before.diff(after)) or f"{', '.join(changed)} changed"
            raise ResumeError(
                f"{output} was written by a different {job}: {what}; it cannot be resumed. "
                "Use the same settings, another --output, or --overwrite to start again."
            )
    records = data.read_records(output, repair=not dry_run)
    if retry_errors and any(r.get("error") for r in records):
        records = [r for r in records if not r.get("error")]
        if not dry_run:
            rewrite_records(output, records)
    done: set[int] = set()
    for record in records:
        index = record.get("index")
        if not isinstance(index, int) or ids.get(index) != record.get("id"):
            raise ResumeError(
                f"{output}: record {record.get('id')!r} at index {index} does not match the input; "
                "the input changed since this file was written. Use --overwrite to start again."
            )
        done.add(index)
    if dry_run:
        return done
    output.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(meta_file, {**meta, "resume_key": dict(resume_key)})
    return done
