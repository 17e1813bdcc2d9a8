"""A scripted backend for unit-testing strategy logic with known outputs.

It answers each request with texts computed by a function of the request, so
tests can check votes, retries, extraction and bookkeeping exactly. It is a
test double for logic; every strategy also has an end-to-end test against the
real vLLM engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from xprompt.types import Completion, Request

Script = Callable[[Request], Sequence[str] | str]


class ScriptedBackend:
    """Answers requests from a script; records every batch it was given.

    ``script(request)`` returns the texts (a string means one text per sample,
    repeated ``n`` times). Raising ``ValueError`` inside the script makes that
    request an error completion, the way a real backend reports a bad request.
    """

    def __init__(self, script: Script, *, model_id: str = "scripted") -> None:
        self.script = script
        self._model_id = model_id
        self.batches: list[list[Request]] = []

    @property
    def model_id(self) -> str:
        return self._model_id

    def describe(self) -> dict[str, Any]:
        return {"engine": "scripted", "model": self._model_id}

    def close(self) -> None:
        pass

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        self.batches.append(list(requests))
        out = []
        for request in requests:
            try:
                result = self.script(request)
            except ValueError as exc:
                out.append(Completion(request.id, error=str(exc)))
                continue
            texts = (result,) * request.sampling.n if isinstance(result, str) else tuple(result)
            prompt_len = sum(len(m.content) for m in request.messages or ()) + len(
                request.prompt or ""
            )
            out.append(
                Completion(
                    request.id,
                    texts=texts,
                    prompt_tokens=prompt_len,
                    completion_tokens=sum(len(t) for t in texts),
                    finish_reasons=("stop",) * len(texts),
                )
            )
        return out


class DyingActorBody:
    """A Ray actor body for testing :class:`~xprompt.backends.ray.RayBackend`'s lost-actor path.

    Answers each request with ``"<request id>@<pid>"``. The first actor to get
    the request ``die_on`` kills its own process (``os._exit``) in the middle of
    that shard, once: ``marker`` (a file) records that it happened.
    """

    def __init__(self, die_on: str, marker: str) -> None:
        self.die_on = die_on
        self.marker = marker

    def describe(self) -> dict[str, Any]:
        return {"engine": "scripted", "model": "scripted"}

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        import os
        from pathlib import Path

        if any(r.id == self.die_on for r in requests) and not Path(self.marker).exists():
            Path(self.marker).write_text(str(os.getpid()))
            os._exit(1)
        return [Completion(r.id, texts=(f"{r.id}@{os.getpid()}",)) for r in requests]

    def pid(self) -> int:
        import os

        return os.getpid()

    def close(self) -> None:
        pass
