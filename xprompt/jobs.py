"""One executor for every resumable file job: ``xprompt run``, ``translate``, ``project``, evals.

A :class:`Job` says *what* a job is: its rows (each with an ``index`` and an
``id``), the resume key and meta its output is signed with, how a chunk of
rows becomes records, the record of a row that raised, and the summary of a
finished output. :func:`execute` does the rest, the same way for every job:

1. lock the output (:func:`xprompt.resume.lock_output`: a second process on the
   same output is refused) and open it (:func:`xprompt.resume.open_output`: an
   output of another job is refused naming the settings that differ; the rows
   that have a record are done);
2. start the engine lazily, only when a pending row needs it (:meth:`Job.start`),
   and close it at the end whatever happens (:meth:`Job.close`);
3. cut the pending rows into chunks of :attr:`Job.chunk_size`, turn each chunk
   into records with per-row isolation (:func:`xprompt.isolation.per_item`: a
   row that raises is that row's error record, its chunk goes on) and append
   them, flushed, in input order, reporting progress per chunk;
4. an engine that dies (``EngineDiedError``) stops the job with how many rows
   are saved and how to resume;
5. re-read the whole output for the summary (:meth:`Job.finish`), so a resumed
   job reports on every row, and write ``<output>.summary.json``.

Chunks can be in flight together (``depth``): while one chunk generates, the
next is rendered and the previous one is checked; see :func:`execute`.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from xprompt import data, resume
from xprompt.errors import EngineDiedError
from xprompt.isolation import per_item

StartHook = Callable[[int, int], None]
RowHook = Callable[[int], None]


class Row(Protocol):
    """What the executor needs of an input row: its position and its id."""

    @property
    def index(self) -> int: ...

    @property
    def id(self) -> str: ...


@dataclass
class Session:
    """What one call of :func:`execute` did: rows run now, seconds in all and to start the engine."""

    rows_this_session: int = 0
    elapsed_s: float = 0.0
    engine_start_s: float = 0.0


class Job(abc.ABC):
    """A resumable job over the rows of one input, written to one JSONL output.

    Subclasses set :attr:`output`, :attr:`kind` (the job's name in messages:
    "run", "translation job") and :attr:`chunk_size`, and implement the
    abstract methods. ``overwrite`` starts the output afresh; ``retry_errors``
    runs the rows whose record holds an error again.
    """

    output: str
    kind: str = "job"
    chunk_size: int = 256
    overwrite: bool = False
    retry_errors: bool = False

    @abc.abstractmethod
    def rows(self) -> Sequence[Row]:
        """Every input row, in output order (the same list on every call)."""

    @abc.abstractmethod
    def resume_key(self) -> Mapping[str, Any]:
        """The signature fields that decide the records (an output resumes only when they match)."""

    @abc.abstractmethod
    def meta(self) -> Mapping[str, Any]:
        """What ``<output>.meta.json`` records besides the resume key (the signature, the config)."""

    def needs_engine(self, row: Row) -> bool:
        """Whether ``row`` needs the engine (a row that could not be read does not)."""
        return True

    def start(self) -> None:
        """Start the engine (called once, only when some pending row needs it); nothing by default."""
        return None

    def close(self) -> None:
        """Close what :meth:`start` started (called once, also after a failure); nothing by default."""
        return None

    @abc.abstractmethod
    def process(self, chunk: Sequence[Row]) -> list[dict[str, Any]]:
        """The records of a chunk of rows, one per row, in order (may raise: see :meth:`failed`)."""

    @abc.abstractmethod
    def failed(self, row: Row, error: str) -> dict[str, Any]:
        """The record of a row whose processing raised ``error`` (``Type: message (in ...)``)."""

    @abc.abstractmethod
    def finish(self, records: Sequence[dict[str, Any]], session: Session) -> Any:
        """The result over every record of the output (done before and now)."""

    @abc.abstractmethod
    def summary(self, result: Any) -> Mapping[str, Any]:
        """The JSON of ``<output>.summary.json`` for a result of :meth:`finish`."""

    def fatal(self) -> tuple[type[BaseException], ...]:
        """Exceptions that stop the job instead of failing one row (the engine failing as a whole)."""
        from xprompt.errors import BackendError

        return (BackendError,)


def open_output(job: Job, *, dry_run: bool = False) -> set[int]:
    """Check an existing output belongs to ``job``; the row indices already done (``dry_run``: change no file)."""
    return resume.open_output(
        job.output,
        job=job.kind,
        resume_key=job.resume_key(),
        ids={r.index: r.id for r in job.rows()},
        meta=job.meta(),
        overwrite=job.overwrite,
        retry_errors=job.retry_errors,
        dry_run=dry_run,
    )


def pending(job: Job) -> int:
    """How many rows of ``job`` have no record yet (checks the output belongs to it; writes nothing)."""
    return len(job.rows()) - len(open_output(job, dry_run=True))


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """``items`` in slices of ``size`` (the last one shorter)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def execute(
    job: Job,
    *,
    on_start: StartHook | None = None,
    on_rows: RowHook | None = None,
) -> Any:
    """Run the pending rows of ``job`` and return :meth:`Job.finish` over the whole output.

    ``on_start(total, done)`` is called once the output is open, ``on_rows(n)``
    after each chunk is written.
    """
    with resume.lock_output(job.output):
        rows = job.rows()
        done = open_output(job)
        todo = [r for r in rows if r.index not in done]
        if on_start is not None:
            on_start(len(rows), len(done))
        session = Session(rows_this_session=len(todo))
        started = time.perf_counter()
        try:
            if any(job.needs_engine(r) for r in todo):
                job.start()
            session.engine_start_s = time.perf_counter() - started
            with data.RecordWriter(job.output) as writer:
                for chunk in chunks(todo, job.chunk_size):
                    writer.write_many(_records(job, chunk))
                    if on_rows is not None:
                        on_rows(len(chunk))
        except EngineDiedError as exc:
            saved = len(data.read_records(job.output))
            raise EngineDiedError(
                f"{exc.message}. {saved} of {len(rows)} rows are saved in {job.output}; "
                "run the same command again to resume"
            ) from exc
        finally:
            job.close()
        session.elapsed_s = time.perf_counter() - started
        result = job.finish(data.read_records(job.output), session)
        resume.write_summary(job.output, job.summary(result))
        return result


def _records(job: Job, chunk: Sequence[Row]) -> list[dict[str, Any]]:
    """The records of a chunk; a row that raises is that row's error record."""
    return per_item(job.process, chunk, job.failed, fatal=job.fatal())
