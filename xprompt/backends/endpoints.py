"""A pool of HTTP endpoints serving the same model: load balancing, bounded concurrency, retries.

``EndpointPool.run(jobs)`` sends every job (a POST with a JSON body) to one of
several servers and returns one ``Reply`` or ``Failure`` per job, in order.

- **Load balancing and full batches.** Each endpoint runs ``concurrency``
  workers that pull from one shared queue, so every server always has up to
  ``concurrency`` requests in flight (its continuous batching stays full) and a
  faster server simply takes more of the work.
- **Retries.** 408, 409, 429 and 5xx answers, timeouts and connections lost
  mid-request are retried with exponential backoff (``Retry-After`` honoured); a
  retried job goes back to the shared queue, so another server may take it. A
  job that still fails after ``max_retries`` retries becomes a ``Failure``
  (the caller turns it into a per-row error). Other 4xx answers are final at once.
- **Unreachable servers.** A connection that cannot be opened marks the
  endpoint *down*: its workers stop taking jobs and one probe (``GET
  /models``) per endpoint checks, with the same backoff, when it is back. The
  job returns to the queue without using up a retry, because it never reached a
  server. When every endpoint has failed ``max_retries`` probes in a row the
  whole fleet is down and ``run`` raises ``BackendError``: the caller's batch
  stops cleanly (a resumable run picks it up again) instead of turning every
  remaining row into an error.

httpx is imported here and in ``xprompt.backends.openai`` only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from xprompt.errors import BackendError, ConfigError

log = logging.getLogger("xprompt.backends")

#: HTTP statuses worth retrying (as the official OpenAI client does): timeout, conflict, rate limit.
RETRY_STATUSES = frozenset({408, 409, 429})

#: Seconds to open a connection, and for a health probe to answer.
CONNECT_TIMEOUT_S = 10.0

#: Connection failures a job may meet on endpoints that probe as "up" before it is given up on.
UNREACHED_LIMIT = 20


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry: delay ``k`` is ``min(backoff_s * 2**k, max_backoff_s)``.

    With the defaults (5 retries, 1 s doubling) a request or a server gets about
    31 s to recover before it is given up on.
    """

    max_retries: int = 5
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based); ``Retry-After`` wins if longer."""
        base = min(self.backoff_s * (2**attempt), self.max_backoff_s)
        if retry_after is not None:
            return min(max(base, retry_after), self.max_backoff_s)
        return base


@dataclass(frozen=True, slots=True)
class Job:
    """One POST to send: a path relative to the base URL (``/chat/completions``) and a JSON body.

    ``root=True`` puts the path under the server root instead (vLLM's ``/tokenize``).
    """

    path: str
    body: Mapping[str, Any]
    root: bool = False


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful (2xx) answer: its JSON body and the server that gave it."""

    body: dict[str, Any]
    server: str


@dataclass(frozen=True, slots=True)
class Failure:
    """A job that could not be served: why, after how many attempts, and what the server said."""

    message: str
    attempts: int
    server: str | None = None
    status: int | None = None
    body: dict[str, Any] | None = None

    @property
    def server_message(self) -> str:
        """The server's own error message when it sent one (OpenAI error format), else ``message``."""
        if self.body:
            error = self.body.get("error")
            if isinstance(error, dict) and error.get("message"):
                return str(error["message"])
            if isinstance(self.body.get("message"), str):
                return self.body["message"]
            if isinstance(self.body.get("detail"), str):
                return self.body["detail"]
        return self.message


Outcome = Reply | Failure


def normalize_base_url(url: str) -> str:
    """``http://host:8000`` and ``http://host:8000/v1/`` both become ``http://host:8000/v1``."""
    text = url.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"base URL '{url}' is not an http(s) URL: use e.g. http://127.0.0.1:8000/v1"
        )
    if parts.path in ("", "/"):
        text += "/v1"
    return text


@dataclass(eq=False)
class Endpoint:
    """One server: its base URL, its HTTP client and whether it is taking work now."""

    base_url: str
    client: httpx.AsyncClient
    up: asyncio.Event = field(default_factory=asyncio.Event)
    paused_until: float = 0.0
    failed_probes: int = 0
    last_problem: str | None = None
    probe: asyncio.Task[None] | None = None

    @property
    def root(self) -> str:
        """The server root (base URL without a trailing ``/v1``): where vLLM's own routes live."""
        return self.base_url.removesuffix("/v1")

    def url(self, job: Job) -> str:
        return (self.root if job.root else self.base_url) + job.path

    async def ready(self) -> None:
        """Wait until this endpoint is up and not paused by a rate limit."""
        while True:
            await self.up.wait()
            pause = self.paused_until - time.monotonic()
            if pause <= 0:
                return
            await asyncio.sleep(pause)


class _Batch:
    """The state of one ``run``: the shared queue, the results, and how it ends."""

    def __init__(self, jobs: Sequence[Job]) -> None:
        self.jobs = jobs
        self.queue: asyncio.Queue[_Ticket] = asyncio.Queue()
        for i in range(len(jobs)):
            self.queue.put_nowait(_Ticket(i))
        self.results: list[Outcome | None] = [None] * len(jobs)
        self.remaining = len(jobs)
        self.finished = asyncio.Event()
        self.fatal: BackendError | None = None
        if not jobs:
            self.finished.set()

    def settle(self, ticket: _Ticket, outcome: Outcome) -> None:
        self.results[ticket.index] = outcome
        self.remaining -= 1
        if self.remaining == 0:
            self.finished.set()

    def abort(self, error: BackendError) -> None:
        self.fatal = error
        self.finished.set()


@dataclass(slots=True)
class _Ticket:
    """A job's place in the queue and its retry bookkeeping."""

    index: int
    attempts: int = 0
    unreached: int = 0
    not_before: float = 0.0
    last_problem: str = ""
    last_server: str | None = None


#: ``probe_check(json_of_GET_/models) -> None`` when the server is fit for use, else the reason.
ProbeCheck = Callable[[dict[str, Any]], str | None]


class EndpointPool:
    """Several OpenAI-compatible servers used as one: see the module docstring.

    Args:
        base_urls: the servers' base URLs (``http://host:port/v1``).
        concurrency: requests in flight per server.
        timeout_s: how long one attempt may take before it counts as failed.
        retry: retry and backoff policy.
        headers: sent with every request (``Authorization``).
        probe_check: judges a server's ``GET /models`` answer (is our model served?).
        transport: an httpx transport to use instead of the network (tests of the retry logic).
    """

    def __init__(
        self,
        base_urls: Sequence[str],
        *,
        concurrency: int,
        timeout_s: float,
        retry: RetryPolicy,
        headers: Mapping[str, str] | None = None,
        probe_check: ProbeCheck | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not base_urls:
            raise ConfigError(
                "backend openai needs at least one server: pass --base-url http://HOST:PORT/v1 "
                "(repeat it for several servers) or set engine.base_urls"
            )
        urls = [normalize_base_url(u) for u in base_urls]
        duplicates = sorted({u for u in urls if urls.count(u) > 1})
        if duplicates:
            raise ConfigError(f"base URL given twice: {', '.join(duplicates)}")
        if concurrency < 1:
            raise ConfigError(f"concurrency must be >= 1, got {concurrency}")
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.retry = retry
        self.probe_check = probe_check
        # Connecting is judged apart from answering: a short answer timeout must not make a live
        # server look unreachable.
        timeout = httpx.Timeout(timeout_s, connect=CONNECT_TIMEOUT_S)
        # One spare connection per server for probes and small calls.
        limits = httpx.Limits(
            max_connections=concurrency + 1, max_keepalive_connections=concurrency + 1
        )
        self.endpoints = [
            Endpoint(
                url,
                httpx.AsyncClient(
                    timeout=timeout, limits=limits, headers=dict(headers or {}), transport=transport
                ),
            )
            for url in urls
        ]

    # -- lifecycle -------------------------------------------------------------------

    async def connect(self) -> list[dict[str, Any]]:
        """Probe every server; wait (with backoff) until at least one is up.

        Returns each up server's ``GET /models`` answer. Servers that are down stay
        in the pool and are probed again during ``run``. Raises ``BackendError``
        when none answers after ``max_retries`` retries, ``ConfigError`` when a
        server answers but is not fit (another model).
        """
        for attempt in range(self.retry.max_retries + 1):
            answers = await asyncio.gather(*(self._probe(ep) for ep in self.endpoints))
            unfit = [
                f"{ep.base_url}: {reason}"
                for ep, (listing, reason) in zip(self.endpoints, answers, strict=True)
                if listing is not None and reason is not None
            ]
            if unfit:
                raise ConfigError("; ".join(unfit))
            listings = [listing for listing, _ in answers if listing is not None]
            if listings:
                for ep, (listing, reason) in zip(self.endpoints, answers, strict=True):
                    if listing is None:
                        log.warning(
                            "server %s is not reachable (%s); using the others and probing it again",
                            ep.base_url,
                            reason,
                        )
                return listings
            if attempt < self.retry.max_retries:
                await asyncio.sleep(self.retry.delay(attempt))
        raise BackendError(self._unreachable_message("no server is reachable"))

    async def aclose(self) -> None:
        """Close every HTTP client."""
        for ep in self.endpoints:
            if ep.probe is not None:
                ep.probe.cancel()
            await ep.client.aclose()

    # -- work ------------------------------------------------------------------------

    async def run(self, jobs: Sequence[Job]) -> list[Outcome]:
        """Serve every job; one outcome per job, same order. Raises ``BackendError`` if the fleet is down."""
        batch = _Batch(jobs)
        workers = [
            asyncio.create_task(self._worker(ep, batch))
            for ep in self.endpoints
            for _ in range(self.concurrency)
        ]
        for ep in self.endpoints:
            if not ep.up.is_set():
                self._start_probe(ep, batch)
        try:
            await batch.finished.wait()
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            for ep in self.endpoints:
                if ep.probe is not None:
                    ep.probe.cancel()
                    ep.probe = None
        if batch.fatal is not None:
            raise batch.fatal
        return [r for r in batch.results if r is not None]

    async def _worker(self, ep: Endpoint, batch: _Batch) -> None:
        while True:
            await ep.ready()
            ticket = await batch.queue.get()
            wait = ticket.not_before - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not ep.up.is_set():  # went down while this worker waited: let another server have it
                batch.queue.put_nowait(ticket)
                continue
            await self._attempt(ep, batch, ticket)

    async def _attempt(self, ep: Endpoint, batch: _Batch, ticket: _Ticket) -> None:
        job = batch.jobs[ticket.index]
        try:
            response = await ep.client.post(ep.url(job), json=job.body)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            self._mark_down(ep, batch, f"cannot connect: {_describe(exc)}")
            ticket.unreached += 1
            ticket.last_problem, ticket.last_server = (
                f"cannot connect: {_describe(exc)}",
                ep.base_url,
            )
            if ticket.unreached > UNREACHED_LIMIT:
                self._give_up(batch, ticket)
            else:
                batch.queue.put_nowait(ticket)
            return
        except httpx.TimeoutException:
            self._retry(batch, ticket, ep, f"timed out after {self.timeout_s:g} s")
            return
        except httpx.TransportError as exc:  # connection lost mid-request (a server going away)
            self._retry(batch, ticket, ep, f"connection lost: {_describe(exc)}")
            return
        status = response.status_code
        body = _json_or_none(response)
        if 200 <= status < 300:
            if body is None:
                batch.settle(
                    ticket,
                    Failure(
                        f"server {ep.base_url} answered {status} without a JSON body",
                        ticket.attempts + 1,
                        ep.base_url,
                        status,
                    ),
                )
            else:
                batch.settle(ticket, Reply(body, ep.base_url))
            return
        failure = Failure(
            f"HTTP {status}", ticket.attempts + 1, ep.base_url, status, body or _text_body(response)
        )
        if status in RETRY_STATUSES or status >= 500:
            retry_after = _retry_after(response)
            if status == 429:  # the server asks everyone to slow down, not just this request
                ep.paused_until = time.monotonic() + self.retry.delay(ticket.attempts, retry_after)
            self._retry(
                batch, ticket, ep, f"HTTP {status}: {failure.server_message}", retry_after, failure
            )
            return
        rejected = (
            f"server {ep.base_url} rejected the request (HTTP {status}): {failure.server_message}"
        )
        batch.settle(ticket, Failure(rejected, failure.attempts, ep.base_url, status, failure.body))

    def _retry(
        self,
        batch: _Batch,
        ticket: _Ticket,
        ep: Endpoint,
        problem: str,
        retry_after: float | None = None,
        failure: Failure | None = None,
    ) -> None:
        ticket.attempts += 1
        ticket.last_problem, ticket.last_server = problem, ep.base_url
        if ticket.attempts > self.retry.max_retries:
            self._give_up(batch, ticket, failure)
            return
        ticket.not_before = time.monotonic() + self.retry.delay(ticket.attempts - 1, retry_after)
        batch.queue.put_nowait(ticket)

    def _give_up(self, batch: _Batch, ticket: _Ticket, failure: Failure | None = None) -> None:
        attempts = ticket.attempts + ticket.unreached
        message = (
            f"request failed after {attempts} attempt{'s' if attempts != 1 else ''}: "
            f"{ticket.last_problem} (last server: {ticket.last_server})"
        )
        batch.settle(
            ticket,
            Failure(
                message,
                attempts,
                ticket.last_server,
                failure.status if failure else None,
                failure.body if failure else None,
            ),
        )

    # -- health ----------------------------------------------------------------------

    def _mark_down(self, ep: Endpoint, batch: _Batch, problem: str) -> None:
        ep.last_problem = problem
        if ep.up.is_set():
            ep.up.clear()
            log.warning(
                "server %s went away (%s); probing it until it is back", ep.base_url, problem
            )
        self._start_probe(ep, batch)

    def _start_probe(self, ep: Endpoint, batch: _Batch) -> None:
        if ep.probe is None or ep.probe.done():
            ep.probe = asyncio.create_task(self._probe_until_up(ep, batch))

    async def _probe_until_up(self, ep: Endpoint, batch: _Batch) -> None:
        while True:
            await asyncio.sleep(self.retry.delay(min(ep.failed_probes, 30)))
            listing, reason = await self._probe(ep)
            if listing is not None and reason is None:
                log.warning("server %s is back", ep.base_url)
                return
            if all(e.failed_probes >= max(1, self.retry.max_retries) for e in self.endpoints):
                batch.abort(BackendError(self._unreachable_message("every server is unreachable")))
                return

    async def _probe(self, ep: Endpoint) -> tuple[dict[str, Any] | None, str | None]:
        """``GET /models`` on one server: (its answer or None, the problem or None); sets ``ep.up``."""
        try:
            response = await ep.client.get(ep.base_url + "/models", timeout=CONNECT_TIMEOUT_S)
        except httpx.HTTPError as exc:
            problem = f"cannot connect: {_describe(exc)}"
        else:
            body = _json_or_none(response)
            if response.status_code == 200 and body is not None:
                reason = self.probe_check(body) if self.probe_check else None
                if reason is None:
                    ep.failed_probes, ep.last_problem = 0, None
                    ep.up.set()
                else:  # reachable but unfit (another model): counts as down
                    ep.failed_probes += 1
                    ep.last_problem = reason
                    ep.up.clear()
                return body, reason
            problem = f"GET /models answered HTTP {response.status_code}"
        ep.failed_probes += 1
        ep.last_problem = problem
        ep.up.clear()
        return None, problem

    def _unreachable_message(self, headline: str) -> str:
        details = "; ".join(f"{ep.base_url} ({ep.last_problem})" for ep in self.endpoints)
        return (
            f"{headline} after {self.retry.max_retries} retries: {details}. "
            "Start the server(s) or fix --base-url; finished rows are saved, and running the same "
            "command again resumes the run."
        )

    def status(self) -> list[dict[str, Any]]:
        """Each server's URL and whether it is taking work (for ``describe``)."""
        return [
            {"url": ep.base_url, "up": ep.up.is_set(), "problem": ep.last_problem}
            for ep in self.endpoints
        ]


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _json_or_none(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _text_body(response: httpx.Response) -> dict[str, Any] | None:
    text = response.text.strip()
    return {"message": text[:500]} if text else None


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds or an HTTP date), if any."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
