"""The backend protocol: the only seam between xprompt and an inference engine.

A backend takes *all* requests of a strategy step in one call and returns one
``Completion`` per request, in the same order. That is what lets vLLM batch
continuously and share prefixes. A request that cannot be served (too long for
the context, rejected by a server after its retries) comes back as a
``Completion`` with ``error`` set; it never raises for the batch and never
drops a row.

Backends are looked up lazily by name (``"vllm"``, ``"openai"``, ``"ray"``, or
``"package.module:Class"``) so importing xprompt never imports an engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from xprompt.registry import Registry
from xprompt.types import Completion, Request


@runtime_checkable
class Backend(Protocol):
    """Anything that turns a batch of requests into completions, in order."""

    @property
    def model_id(self) -> str:
        """A stable name of the model (path or hub name), used in run signatures."""
        ...

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        """Serve every request of one step; same length and order as ``requests``."""
        ...

    def describe(self) -> dict[str, Any]:
        """Engine facts for signatures and reports (engine name, version, options)."""
        ...

    def close(self) -> None:
        """Release the engine."""
        ...


#: Built-in backends by name: "module:Class" (a user's "package.module:Class" works too).
BACKENDS = Registry(
    "backend",
    {
        "vllm": "xprompt.backends.vllm:VLLMBackend",
        "openai": "xprompt.backends.openai:OpenAIBackend",
        "ray": "xprompt.backends.ray:RayBackend",
    },
    paths=True,
)


def backend_class(name: str) -> type:
    """Resolve a backend name or ``"module:Class"`` path to its class, importing it only now."""
    return BACKENDS.load(name)


def check_order(requests: Sequence[Request], completions: Sequence[Completion]) -> list[Completion]:
    """Assert the backend contract (same length, same order); a violation is a bug, not user error."""
    if len(requests) != len(completions):
        raise RuntimeError(
            f"backend returned {len(completions)} completions for {len(requests)} requests"
        )
    for request, completion in zip(requests, completions, strict=True):
        if request.id != completion.request_id:
            raise RuntimeError(
                f"backend returned {completion.request_id!r} where {request.id!r} was due"
            )
    return list(completions)
