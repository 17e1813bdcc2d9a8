"""One chat reply carried out against the engine: attempts, the language guard, retries, pivots.

A :class:`ReplyRun` turns one chat request into events for the client:
:class:`DeltaEvent` (text for a choice), :class:`FinishEvent` (a choice is
complete) and one :class:`ReadyEvent` once every choice has passed the guard,
which is when a streamed response may start (its headers carry the guard's
verdicts).

How it works. Every engine request is an *attempt*. The first attempt asks for
all ``n`` choices in one request (one prefill, vLLM fans the samples out).
Each choice then has its own guard: it holds its text back until
``hold_letters`` letters and the whole first line (up to ``FIRST_LINE_HOLD``
letters, so a preamble is checked before anything streams) are there
(streaming) or the text is finished
(non-streaming), checks the language and asks the policy what to do. A retry
or a pivot is a new attempt for that choice alone (``n=1``), launched while the
other choices go on; the choice remembers the attempt it came from, so if the
new attempt fails it falls back to it. Attempts nobody needs any more are
cancelled, which aborts them in the engine. Producers (one task per attempt)
feed cumulative snapshots into one queue; this class is the only consumer, so
all state changes happen in one place, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from serving.engine import ChatEngine
from serving.pivot import PivotTranslator
from serving.policy import AttemptKind, ChoicePlan, LanguagePolicy
from serving.textstream import SafeSplitter, letter_count
from xprompt.types import Completion, LangCheck, Message, Request, Sampling

Checker = Callable[[str, str], LangCheck]
Phase = Literal["holding", "streaming", "done"]

#: Streaming: the hold also covers the whole first line (where preambles such as "Here is the
#: answer in Hausa:" sit), up to this many letters; a longer first line is no preamble.
FIRST_LINE_HOLD = 300


def first_line_done(text: str) -> bool:
    """Whether the first non-blank line of ``text`` has ended (a line break follows it)."""
    return "\n" in text.lstrip()


@dataclass(frozen=True, slots=True)
class DeltaEvent:
    """New text for choice ``index``."""

    index: int
    text: str


@dataclass(frozen=True, slots=True)
class FinishEvent:
    """Choice ``index`` is complete."""

    index: int
    reason: str


@dataclass(frozen=True, slots=True)
class ReadyEvent:
    """Every choice passed its guard: a streamed response may start now."""


Event = DeltaEvent | FinishEvent | ReadyEvent


class ReplyRejected(Exception):
    """The engine refused the request itself (it does not fit, invalid parameters)."""


class ReplyTimeout(Exception):
    """The reply was not finished by its deadline (its attempts are aborted)."""


@dataclass
class Attempt:
    """One engine request serving some choices (sample ``i`` serves ``choices[i]``)."""

    no: int
    kind: AttemptKind
    choices: tuple[int, ...]
    request: Request
    task: asyncio.Task[None] | None = None
    texts: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    reasoning: list[str | None] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    source_text: str | None = None  # pivot: the pivot-language answer that was translated


@dataclass
class ChoiceState:
    """Where one choice stands."""

    index: int
    current: int
    phase: Phase = "holding"
    fallback: int | None = None
    direct_attempts: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    splitter: SafeSplitter = field(default_factory=SafeSplitter)
    guard: LangCheck | None = None
    final: LangCheck | None = None
    pivot_error: str | None = None
    pivot_source: str | None = None
    text: str = ""
    reason: str = ""
    reasoning: str | None = None
    reasoning_check: LangCheck | None = None

    @property
    def retries(self) -> int:
        return sum(1 for h in self.history if h["kind"] == "firm")

    @property
    def pivoted(self) -> bool:
        return any(h["kind"] == "pivot" and h.get("verdict") != "error" for h in self.history)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "index": self.index,
            "check": self.final.to_dict() if self.final is not None else None,
            "retries": self.retries,
            "pivot": self.pivoted,
            "attempts": self.history,
        }
        if self.guard is not None:
            out["guard"] = self.guard.to_dict()
        if self.pivot_error is not None:
            out["pivot_error"] = self.pivot_error
        if self.pivot_source is not None:
            out["pivot_source"] = self.pivot_source
        if self.reasoning is not None:
            out["reasoning_check"] = (
                self.reasoning_check.to_dict() if self.reasoning_check is not None else None
            )
        return out


class ReplyRun:
    """Carries out one chat request; iterate :meth:`events`, then read the outcome.

    Args:
        engine: the async engine.
        policy: the reply-language policy.
        checker: ``check(text, lang) -> LangCheck``.
        translator: the pivot translator (None: no pivot).
        conversation: the client's messages.
        plan: the policy's settings for this request.
        sampling: decoding settings of the first attempt (``n`` choices).
        request_id: unique id; attempts are ``<request_id>-<k>``.
        stream: streamed (guard after ``hold_letters`` letters) or not (guard on the full text).
        hold_letters: letters held back before the first check when streaming (0: no hold).
        timeout_s: the whole reply must be done this many seconds after :meth:`events` starts
            (one timer per request, not one per event).
    """

    def __init__(
        self,
        *,
        engine: ChatEngine,
        policy: LanguagePolicy,
        checker: Checker,
        translator: PivotTranslator | None,
        conversation: tuple[Message, ...],
        plan: ChoicePlan,
        sampling: Sampling,
        request_id: str,
        stream: bool,
        hold_letters: int,
        timeout_s: float | None = None,
        chat_template_kwargs: tuple[tuple[str, Any], ...] = (),
    ) -> None:
        self.engine = engine
        self.policy = policy
        self.checker = checker
        self.translator = translator
        self.conversation = conversation
        self.plan = plan
        self.sampling = sampling
        self.request_id = request_id
        self.stream = stream
        self.hold_letters = hold_letters
        self.timeout_s = timeout_s
        self.chat_template_kwargs = chat_template_kwargs
        self.attempts: list[Attempt] = []
        self.choices = [ChoiceState(i, current=0) for i in range(sampling.n)]
        self._queue: asyncio.Queue[tuple[str, int, Any]] = asyncio.Queue()

    # -- outcome ------------------------------------------------------------------------

    @property
    def prompt_tokens(self) -> int:
        """Prompt tokens of every attempt (retries and pivots re-read the conversation)."""
        return sum(a.prompt_tokens for a in self.attempts)

    @property
    def completion_tokens(self) -> int:
        """Tokens generated by every attempt, retried and cancelled ones included."""
        return sum(a.completion_tokens for a in self.attempts)

    # -- running ------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[Event]:
        """Events for the client, in order; raises ReplyRejected / the engine's errors."""
        ready = False
        watchdog = None
        if self.timeout_s is not None:
            watchdog = asyncio.get_running_loop().call_later(
                self.timeout_s, self._queue.put_nowait, ("timeout", -1, None)
            )
        try:
            self._launch(self.plan.first_attempt, tuple(range(self.sampling.n)), self.sampling)
            if self.stream and (self.hold_letters == 0 or not self.plan.check):
                for choice in self.choices:
                    choice.phase = "streaming"
            while True:
                if not ready and all(c.phase != "holding" for c in self.choices):
                    ready = True
                    yield ReadyEvent()
                if all(c.phase == "done" for c in self.choices):
                    return
                kind, no, payload = await self._queue.get()
                if kind == "timeout":
                    raise ReplyTimeout(f"not finished within {self.timeout_s:g} s")
                if kind == "crash":
                    raise payload
                if kind == "ended":
                    self._check_ended(no)
                    continue
                for event in self._on_snapshot(self.attempts[no], payload):
                    yield event
        finally:
            if watchdog is not None:
                watchdog.cancel()
            await self._cancel_all()

    def _request(self, no: int, kind: AttemptKind, sampling: Sampling) -> Request:
        return Request(
            f"{self.request_id}-{no}",
            messages=self.policy.messages(self.conversation, self.plan.lang, kind),
            sampling=sampling,
            chat_template_kwargs=self.chat_template_kwargs,
        )

    def _launch(self, kind: AttemptKind, choices: tuple[int, ...], sampling: Sampling) -> Attempt:
        no = len(self.attempts)
        attempt = Attempt(no, kind, choices, self._request(no, kind, sampling))
        attempt.texts = [""] * len(choices)
        attempt.reasons = [""] * len(choices)
        self.attempts.append(attempt)
        producer = self._produce_pivot(attempt) if kind == "pivot" else self._produce(attempt)
        attempt.task = asyncio.get_running_loop().create_task(producer)
        for index in choices:
            self.choices[index].current = no
            if kind != "pivot":
                self.choices[index].direct_attempts += 1
        return attempt

    def _retry_sampling(self, no: int) -> Sampling:
        seed = None if self.sampling.seed is None else self.sampling.seed + no
        return replace(self.sampling, n=1, seed=seed)

    async def _produce(self, attempt: Attempt) -> None:
        try:
            if self.stream:
                async for snapshot in self.engine.stream(attempt.request):
                    self._queue.put_nowait(("snap", attempt.no, snapshot))
            else:
                completion = await self.engine.generate(attempt.request)
                self._queue.put_nowait(("snap", attempt.no, completion))
        except Exception as exc:  # the engine broke: the consumer re-raises it
            self._queue.put_nowait(("crash", attempt.no, exc))
        finally:
            self._queue.put_nowait(("ended", attempt.no, None))

    async def _produce_pivot(self, attempt: Attempt) -> None:
        try:
            answer = await self.engine.generate(attempt.request)
            if not answer.ok:
                self._queue.put_nowait(("snap", attempt.no, answer))
                return
            attempt.source_text = answer.texts[0]
            assert self.translator is not None and self.plan.lang is not None
            translation = await self.translator.translate(
                answer.texts[0], self.policy.config.pivot_lang, self.plan.lang
            )
            if translation.ok:
                result = replace(answer, texts=(translation.text or "",))
            else:
                result = replace(answer, error=f"translation failed: {translation.error}")
            self._queue.put_nowait(("snap", attempt.no, result))
        except Exception as exc:
            self._queue.put_nowait(("crash", attempt.no, exc))
        finally:
            self._queue.put_nowait(("ended", attempt.no, None))

    def _on_snapshot(self, attempt: Attempt, snapshot: Completion) -> list[Event]:
        attempt.prompt_tokens = snapshot.prompt_tokens
        if snapshot.ok:
            attempt.completion_tokens = snapshot.completion_tokens
            attempt.texts = list(snapshot.texts)
            attempt.reasons = list(snapshot.finish_reasons)
            attempt.reasoning = list(snapshot.reasoning)
        events: list[Event] = []
        for index in attempt.choices:
            choice = self.choices[index]
            if choice.phase == "done" or choice.current != attempt.no:
                continue
            if not snapshot.ok:
                events.extend(self._on_failure(choice, attempt, snapshot.error or "failed"))
            else:
                events.extend(self._advance(choice))
        self._prune()
        return events

    def _on_failure(self, choice: ChoiceState, attempt: Attempt, error: str) -> list[Event]:
        choice.history.append({"kind": attempt.kind, "verdict": "error", "error": error})
        if attempt.no == 0 and attempt.kind != "pivot":
            raise ReplyRejected(error)
        if attempt.kind == "pivot":
            choice.pivot_error = error
        if choice.fallback is not None:
            choice.current, choice.fallback = choice.fallback, None
            choice.phase = "streaming"  # no more attempts: deliver what the fallback has
            return self._advance(choice)
        # A pivot-always request whose pivot failed: answer directly instead.
        self._launch("direct", (choice.index,), self._retry_sampling(len(self.attempts)))
        return []

    def _advance(self, choice: ChoiceState) -> list[Event]:
        attempt = self.attempts[choice.current]
        sample = attempt.choices.index(choice.index)
        text, reason = attempt.texts[sample], attempt.reasons[sample]
        finished = bool(reason)
        if choice.phase == "holding" and (not self.plan.check or self.plan.lang is None):
            choice.phase = "streaming"  # nothing to check: no hold
        if choice.phase == "holding":
            letters = letter_count(text)
            enough = self.stream and letters >= self.hold_letters
            if not (finished or enough):
                return []
            check = self.checker(text, self.plan.lang)
            step = self.policy.next_step(
                check, kind=attempt.kind, direct_attempts=choice.direct_attempts, plan=self.plan
            )
            if (
                step == "accept"
                and not finished
                and not first_line_done(text)
                and letters < FIRST_LINE_HOLD
            ):
                return []  # the start looks fine: hold on until its first line is complete
            choice.history.append({"kind": attempt.kind, "verdict": check.verdict})
            if step == "retry":
                choice.fallback = attempt.no
                self._launch("firm", (choice.index,), self._retry_sampling(len(self.attempts)))
                return []
            if step == "pivot":
                choice.fallback = attempt.no
                self._launch("pivot", (choice.index,), self._retry_sampling(len(self.attempts)))
                return []
            choice.guard = check if self.stream else None
            choice.fallback = None
            if attempt.kind == "pivot":
                choice.pivot_source = attempt.source_text
            choice.phase = "streaming"
            if finished:
                choice.final = check
        events: list[Event] = []
        delta = choice.splitter.feed(text, finished)
        if delta:
            events.append(DeltaEvent(choice.index, delta))
        if finished:
            choice.text, choice.reason = text, reason
            if attempt.reasoning and attempt.reasoning[sample] is not None:
                # The thinking is checked on its own: which language the model thought in.
                choice.reasoning = attempt.reasoning[sample]
                if self.plan.lang is not None and choice.reasoning:
                    choice.reasoning_check = self.checker(choice.reasoning, self.plan.lang)
            if choice.final is None and self.plan.check and self.plan.lang is not None:
                choice.final = self.checker(text, self.plan.lang)
            choice.phase = "done"
            events.append(FinishEvent(choice.index, reason))
        return events

    def _check_ended(self, no: int) -> None:
        for choice in self.choices:
            if choice.phase != "done" and choice.current == no:
                raise RuntimeError(
                    f"attempt {no} ended without finishing choice {choice.index} "
                    f"(request {self.request_id})"
                )

    def _prune(self) -> None:
        """Cancel attempts no unfinished choice reads from or could fall back to."""
        needed = {
            no
            for c in self.choices
            if c.phase != "done"
            for no in (c.current, c.fallback)
            if no is not None
        }
        for attempt in self.attempts:
            if attempt.no not in needed and attempt.task is not None and not attempt.task.done():
                attempt.task.cancel()

    async def _cancel_all(self) -> None:
        tasks = [a.task for a in self.attempts if a.task is not None and not a.task.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def outcome(self) -> dict[str, Any]:
        """The ``xprompt`` extension's per-choice part: checks, retries, pivots."""
        return {
            "choices": [c.to_dict() for c in self.choices],
            "retried": any(c.retries for c in self.choices),
            "pivoted": any(c.pivoted for c in self.choices),
        }
