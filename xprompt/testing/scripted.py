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
