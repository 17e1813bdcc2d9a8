"""A simulated inference engine: requests take engine time, and the engine counts how busy it was.

:class:`SimulatedEngine` is a :class:`~xprompt.backends.base.Backend` for
measuring xprompt's own pipeline (``benchmarks/pipeline.py``), not for
testing answers. It behaves like a continuously batching engine: a background
thread runs *steps*; each step decodes one token for every running sequence (up
to ``capacity`` sequences) and spends a shared token budget on prefill, FIFO;
a step lasts ``step_s`` (slept, so the GIL is free for the host side). Output
lengths are drawn per sequence from a log-normal :class:`LengthModel`, seeded by
the request id (same lengths in every run). Prompts are counted as about four
bytes a token, and a prompt prefix the engine has seen before (exemplars, the
first turn of a chat) is not prefilled again, as with vLLM's prefix cache.

The engine records, per step, how full it was: ``decoding / capacity +
prefill tokens / budget`` (at most 1). :meth:`SimulatedEngine.stats` sums that
over the steps; divided by a wall-clock window, it is the share of the engine's
capacity that was used in that window ("engine busy").
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from xprompt.types import Completion, Request

#: English filler for generated reasoning (the off-target guard checks it as English).
ENGLISH = (
    "First we read the question carefully and note every number it gives. "
    "Then we work out what the question asks for and which steps lead there. "
    "We add the amounts that are combined and subtract the ones that are taken away. "
    "Each intermediate result is checked against the story before we go on. "
)


@dataclass(frozen=True)
class LengthModel:
    """Output lengths in tokens: log-normal around ``median``, clipped to ``[minimum, max_tokens]``."""

    median: float
    sigma: float = 0.5
    minimum: int = 1

    def draw(self, rng: random.Random, max_tokens: int) -> int:
        """One length (``max_tokens`` caps it, as the sampling settings do)."""
        value = round(rng.lognormvariate(math.log(self.median), self.sigma))
        return max(self.minimum, min(max_tokens, value))


@dataclass
class EngineStats:
    """What the engine did: steps run, seconds stepping, and capacity-weighted busy seconds."""

    steps: int = 0
    step_s: float = 0.0
    busy_s: float = 0.0
    sequences: int = 0
    decoded_tokens: int = 0
    prefill_tokens: int = 0


@dataclass
class _Sequence:
    pending: _Pending
    index: int
    prefill: int
    decode: int


@dataclass
class _Pending:
    request: Request
    lengths: list[int]
    left: int
    done: threading.Event = field(default_factory=threading.Event)


def prompt_tokens(request: Request) -> tuple[int, str, int]:
    """(tokens of the cacheable prefix, its digest, tokens of the rest): about 4 bytes a token."""
    if request.prompt is not None:
        return 0, "", max(1, len(request.prompt.encode("utf-8")) // 4)
    messages = request.messages or ()
    head = "\x00".join(f"{m.role}:{m.content}" for m in messages[:-1])
    last = messages[-1].content if messages else ""
    digest = hashlib.sha1(head.encode("utf-8")).hexdigest() if head else ""
    return len(head.encode("utf-8")) // 4, digest, max(1, len(last.encode("utf-8")) // 4)


def default_text(request: Request, sample: int, tokens: int) -> str:
    """A plausible reply of ``tokens`` tokens: a label for a choice constraint, else English reasoning."""
    if request.constraint is not None and request.constraint.choices:
        choices = request.constraint.choices
        pick = int(hashlib.sha1(f"{request.id}#{sample}".encode()).hexdigest(), 16) % len(choices)
        return choices[pick]
    words = max(1, round(tokens * 0.75))
    filler = (ENGLISH.split() * (words // len(ENGLISH.split()) + 1))[:words]
    return " ".join(filler) + f" Answer: {tokens % 97}"


class SimulatedEngine:
    """A continuously batching engine that sleeps instead of computing (see the module doc)."""

    #: Calls from several threads are batched together, as vLLM's async engine does.
    concurrent_calls = True

    def __init__(
        self,
        lengths: Callable[[Request], LengthModel],
        *,
        capacity: int = 256,
        step_s: float = 0.01,
        prefill_budget: int = 8192,
        text: Callable[[Request, int, int], str] = default_text,
        seed: int = 0,
        model_id: str = "simulated",
    ) -> None:
        self.lengths = lengths
        self.capacity = capacity
        self.step_s = step_s
        self.prefill_budget = prefill_budget
        self.text = text
        self.seed = seed
        self._model_id = model_id
        self._waiting: deque[_Sequence] = deque()
        self._cached: set[str] = set()
        self._stats = EngineStats()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="simulated-engine", daemon=True)
        self._thread.start()

    @property
    def model_id(self) -> str:
        return self._model_id

    def describe(self) -> dict[str, Any]:
        return {
            "engine": "simulated",
            "capacity": self.capacity,
            "step_s": self.step_s,
            "prefill_budget": self.prefill_budget,
        }

    def stats(self) -> EngineStats:
        """A snapshot of the counters (subtract two snapshots for a window)."""
        with self._cond:
            return EngineStats(**vars(self._stats))

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        """Queue every request's sequences, wait until all are decoded, return them in order."""
        pendings: list[_Pending] = []
        with self._cond:
            for request in requests:
                rng = random.Random(f"{self.seed}:{request.id}")
                model = self.lengths(request)
                n = request.sampling.n
                lengths = [model.draw(rng, request.sampling.max_tokens) for _ in range(n)]
                pending = _Pending(request, lengths, left=n)
                pendings.append(pending)
                cached, digest, rest = prompt_tokens(request)
                prefill = rest + (0 if not digest or digest in self._cached else cached)
                if digest:
                    self._cached.add(digest)
                for i, length in enumerate(lengths):
                    # n samples share one prefill, as vLLM forks them after the prompt.
                    self._waiting.append(_Sequence(pending, i, prefill if i == 0 else 0, length))
            self._cond.notify()
        for pending in pendings:
            pending.done.wait()
        return [self._completion(p) for p in pendings]

    def _completion(self, pending: _Pending) -> Completion:
        request = pending.request
        texts = tuple(self.text(request, i, n) for i, n in enumerate(pending.lengths))
        return Completion(
            request.id,
            texts=texts,
            prompt_tokens=sum(prompt_tokens(request)[::2]),
            completion_tokens=sum(pending.lengths),
            finish_reasons=("stop",) * len(texts),
        )

    def _loop(self) -> None:
        active: list[_Sequence] = []
        while True:
            with self._cond:
                while not self._waiting and not active and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                while self._waiting and len(active) < self.capacity:
                    active.append(self._waiting.popleft())
                    self._stats.sequences += 1
            started = time.perf_counter()
            time.sleep(self.step_s)
            elapsed = time.perf_counter() - started
            budget, decoding, prefilled = self.prefill_budget, 0, 0
            finished: list[_Sequence] = []
            for seq in active:
                if seq.prefill > 0:
                    take = min(seq.prefill, budget)
                    seq.prefill -= take
                    budget -= take
                    prefilled += take
                    continue
                seq.decode -= 1
                decoding += 1
                if seq.decode <= 0:
                    finished.append(seq)
            fullness = min(1.0, decoding / self.capacity + prefilled / self.prefill_budget)
            with self._cond:
                stats = self._stats
                stats.steps += 1
                stats.step_s += elapsed
                stats.busy_s += elapsed * fullness
                stats.decoded_tokens += decoding
                stats.prefill_tokens += prefilled
            for seq in finished:
                active.remove(seq)
                seq.pending.left -= 1
                if seq.pending.left == 0:
                    seq.pending.done.set()

    def close(self) -> None:
        """Stop the engine thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=5)
