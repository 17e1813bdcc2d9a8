"""What the chat server needs from an inference engine, and how it gets one.

:class:`ChatEngine` is the async counterpart of xprompt's batch ``Backend``:
one request per coroutine, many coroutines at once, and the engine batches
them (vLLM's continuous batching). xprompt's
:class:`~xprompt.backends.vllm.AsyncVLLMBackend` implements it in-process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol, runtime_checkable

from xprompt.types import Completion, Request


@runtime_checkable
class ChatEngine(Protocol):
    """An async engine: concurrent single requests, batched by the engine itself."""

    @property
    def model_id(self) -> str:
        """A stable name of the model."""
        ...

    max_model_len: int

    def prompt_token_ids(self, request: Request) -> list[int]:
        """Token ids of the request's full prompt (chat template applied)."""
        ...

    def context_error(self, request: Request, prompt_tokens: int) -> str | None:
        """Why the request does not fit the context, or None."""
        ...

    async def generate(self, request: Request) -> Completion:
        """The finished completion (``error`` set when the request cannot be served)."""
        ...

    def stream(self, request: Request) -> AsyncIterator[Completion]:
        """Cumulative snapshots; the last one is finished. Closing it aborts the request."""
        ...

    async def check_health(self) -> None:
        """Raise when the engine cannot serve."""
        ...

    def describe(self) -> dict[str, Any]:
        """Engine facts for /v1/models and signatures."""
        ...

    def close(self) -> None:
        """Shut the engine down."""
        ...


def build_engine(config: Any) -> ChatEngine:
    """Start the engine a :class:`~serving.config.ServeConfig` asks for (inside the event loop)."""
    from xprompt.backends.factory import resolve_model
    from xprompt.backends.vllm import AsyncVLLMBackend
    from xprompt.errors import ConfigError

    engine = config.engine
    if engine.backend != "vllm":
        raise ConfigError(
            f"xprompt serve runs the in-process vLLM engine (backend 'vllm'), got '{engine.backend}'"
        )
    return AsyncVLLMBackend(
        resolve_model(engine),
        seed=config.seed if config.seed is not None else 0,
        **engine.vllm_options(),
    )
