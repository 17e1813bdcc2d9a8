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
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from xprompt import data, resume
from xprompt.errors import BackendError, EngineDiedError
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


class JobStopped(Exception):
    """Raised in a chunk that would call the engine after the job stopped (another chunk failed)."""


class EngineGate:
    """Orders and serialises the engine calls of the chunks in flight.

    A chunk's first engine call waits until every earlier chunk has made its
    first call (or finished without one), so the engine receives the chunks'
    first steps in input order: for a one-step strategy, the same calls in the
    same order as chunk by chunk. Unless the engine takes concurrent callers
    (``concurrent``: it batches requests of calls in flight together, as the
    simulated engine and an OpenAI-compatible server do), one call runs at a time
    (an in-process ``vllm.LLM`` serves one caller). After :meth:`stop` (a chunk
    failed) no chunk calls the engine again: :meth:`call` raises ``JobStopped``.
    """

    def __init__(self, *, concurrent: bool = False) -> None:
        self.concurrent = concurrent
        self._serial = threading.Lock()
        self._cond = threading.Condition()
        self._next = 0  # the chunk whose first call is due
        self._passed: set[int] = set()
        self._stopped = False
        self._local = threading.local()

    @contextlib.contextmanager
    def chunk(self, number: int) -> Iterator[None]:
        """The calling thread works on chunk ``number`` while the block runs."""
        self._local.number = number
        try:
            yield
        finally:
            self._local.number = None
            self._pass(number)

    def _pass(self, number: int) -> None:
        with self._cond:
            if number >= self._next:
                self._passed.add(number)
            while self._next in self._passed:
                self._passed.discard(self._next)
                self._next += 1
            self._cond.notify_all()

    def stop(self) -> None:
        """No engine call from now on (waiting chunks raise ``JobStopped``)."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    @contextlib.contextmanager
    def call(self) -> Iterator[None]:
        """Hold the engine for one call (ordered, and exclusive unless ``concurrent``)."""
        number = getattr(self._local, "number", None)
        with self._cond:
            if number is not None:
                self._cond.wait_for(lambda: self._stopped or self._next >= number)
            if self._stopped:
                raise JobStopped("the job stopped: an earlier chunk failed")
        if self.concurrent:
            if number is not None:
                self._pass(number)
            yield
            return
        with self._serial:
            if number is not None:
                self._pass(number)
            yield


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

    def depth(self) -> int:
        """How many chunks may be in flight at once (1: chunk by chunk; see :func:`execute`)."""
        return 1

    def concurrent_engine(self) -> bool:
        """Whether the engine takes calls from several chunks at once (see :class:`EngineGate`)."""
        return False

    def start(self, gate: EngineGate) -> None:
        """Start the engine (called once, only when some pending row needs it); nothing by default.

        With :meth:`depth` > 1, every engine call must run inside ``gate.call()``.
        """
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

    With ``job.depth()`` > 1, that many chunks are in flight at once, each on a
    worker thread: while one chunk generates, the next is read, rendered and
    tokenised and the previous one is checked, extracted and turned into records;
    the main thread writes finished chunks in input order. An :class:`EngineGate`
    hands the engine its chunks' first calls in input order (one call at a time
    unless the engine takes concurrent calls). Memory stays bounded by ``depth``
    chunks. The records are the same as chunk by chunk; when a chunk fails as a
    whole, the chunks before it are written, no chunk calls the engine again,
    and the chunks after it are dropped (they run again on resume).
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
            gate = EngineGate(concurrent=job.concurrent_engine())
            if any(job.needs_engine(r) for r in todo):
                job.start(gate)
            session.engine_start_s = time.perf_counter() - started
            with (
                data.RecordWriter(job.output) as writer,
                contextlib.closing(_run_chunks(job, todo, gate)) as results,
            ):
                for chunk, records in results:
                    writer.write_many(records)
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


def _run_chunks(
    job: Job, todo: Sequence[Row], gate: EngineGate
) -> Iterator[tuple[Sequence[Row], list[dict[str, Any]]]]:
    """Each chunk of ``todo`` with its records, in input order (``job.depth()`` chunks in flight)."""
    depth = max(1, job.depth())
    if depth == 1:
        for number, chunk in enumerate(chunks(todo, job.chunk_size)):
            with gate.chunk(number):
                yield chunk, _records(job, chunk)
        return

    def work(number: int, chunk: Sequence[Row]) -> list[dict[str, Any]]:
        with gate.chunk(number):
            return _records(job, chunk)

    pool = ThreadPoolExecutor(max_workers=depth, thread_name_prefix="xprompt-chunk")
    flight: deque[tuple[Sequence[Row], Future[list[dict[str, Any]]]]] = deque()
    try:
        for number, chunk in enumerate(chunks(todo, job.chunk_size)):
            if len(flight) == depth:
                done, future = flight.popleft()
                yield done, future.result()
            flight.append((chunk, pool.submit(work, number, chunk)))
        while flight:
            done, future = flight.popleft()
            yield done, future.result()
    finally:
        if flight:  # a chunk failed (or the caller stopped): no more engine calls
            gate.stop()
            for _, future in flight:
                future.cancel()
        pool.shutdown(wait=True)  # the engine closes only after the chunks using it


def _records(job: Job, chunk: Sequence[Row]) -> list[dict[str, Any]]:
    """The records of a chunk; a row that raises is that row's error record."""
    return per_item(job.process, chunk, job.failed, fatal=job.fatal())
