"""Remote backend: any OpenAI-compatible server (vLLM's OpenAI server first of all), one or many.

Chat requests go to ``/chat/completions`` (the server applies the model's chat
template, as the in-process backend does), raw prompts to ``/completions``.
Requests are spread over every ``--base-url`` with bounded concurrency, retried
on 429/5xx/timeouts/lost connections, and a request that still fails becomes a
``Completion`` with ``error`` set (see ``xprompt.backends.endpoints``).

Same records as in-process. With a vLLM server, results equal those of
``VLLMBackend`` on the same prompts with greedy decoding: the request pins the
sampling settings the server would otherwise take from the model's
``generation_config`` (top_k, min_p, repetition penalty), and a prompt that
leaves no room for ``max_tokens`` is an error with the in-process wording
(vLLM's server would silently shorten the answer instead). Constraints are sent
as vLLM structured outputs (``structured_outputs: {"choice": [...]}`` or
``{"regex": ...}``), ``n`` samples as one request, ``seed`` as given.

The backend owns an event loop in a background thread, so ``generate`` is an
ordinary blocking call that works from scripts, the runner and async servers
alike.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import re
import threading
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from xprompt import chat_format
from xprompt.backends.endpoints import (
    EndpointPool,
    Failure,
    Job,
    Outcome,
    Reply,
    RetryPolicy,
)
from xprompt.chat_format import ChatFormat
from xprompt.errors import BackendError, ConfigError
from xprompt.types import Completion, Request

if TYPE_CHECKING:
    import httpx

    from xprompt.config import EngineConfig

log = logging.getLogger("xprompt.backends")

T = TypeVar("T")

#: Sampling settings of vLLM's ``SamplingParams`` that its server would otherwise take from the
#: model's ``generation_config.json``; pinned so that remote and in-process results agree.
VLLM_SAMPLING_DEFAULTS: dict[str, Any] = {"top_k": 0, "min_p": 0.0, "repetition_penalty": 1.0}

#: Engine settings that belong to the server, not to this client (set them on ``vllm serve``).
SERVER_SIDE = {
    "tokenizer": None,
    "gpu_memory_utilization": None,
    "tensor_parallel_size": 1,
    "pipeline_parallel_size": 1,
    "data_parallel_size": 1,
    "enable_prefix_caching": True,
    "dtype": "auto",
    "enforce_eager": None,
    "engine_options": {},
}


#: A server's 400 that means "the chat template refused this conversation" (vLLM passes the
#: template's own message on: Gemma's "System role not supported", Mistral's "Conversation
#: roles must alternate ...").
TEMPLATE_REFUSAL = re.compile(
    r"system role|roles must alternate|conversation roles|only user and assistant|"
    r"chat template|chat_template|jinja|raise_exception",
    re.IGNORECASE,
)


def context_overflow(prompt_tokens: int, max_tokens: int, max_model_len: int) -> str:
    """The per-row error for a prompt that leaves no room for ``max_tokens`` (in-process wording)."""
    return (
        f"prompt is {prompt_tokens} tokens; with max_tokens={max_tokens} it "
        f"exceeds the model's context of {max_model_len} tokens "
        "(shorten the input, use fewer exemplars or lower max_tokens)"
    )


class OpenAIBackend:
    """Serve requests with one or more OpenAI-compatible servers.

    Args:
        model: the model name the servers serve (``GET /v1/models``); a local
            directory given to ``vllm serve --model DIR`` is served under that path.
        engine: the run's ``EngineConfig``; its ``base_urls``, ``api_key_env``,
            ``concurrency``, ``timeout_s``, ``max_retries``, ``max_model_len`` and
            ``chat_template`` apply. The keyword arguments below override it.
        base_urls: server URLs (``http://host:8000/v1``; ``/v1`` is added when there is no path).
        api_key: bearer token (default: the environment variable ``engine.api_key_env``).
        concurrency: requests in flight per server.
        timeout_s: time one attempt may take.
        max_retries: retries per request (and failed probes per server before the
            fleet counts as down).
        backoff_s, max_backoff_s: first retry delay, doubled per retry up to the maximum.
        transport: an httpx transport instead of the network (tests of the retry logic).
    """

    #: ``generate`` may be called from several threads at once (the server batches them together).
    concurrent_calls = True

    def __init__(
        self,
        model: str,
        *,
        engine: EngineConfig | None = None,
        base_urls: Sequence[str] | None = None,
        api_key: str | None = None,
        concurrency: int | None = None,
        timeout_s: float | None = None,
        max_retries: int | None = None,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        from xprompt.config import EngineConfig

        engine = engine if engine is not None else EngineConfig(backend="openai")
        _warn_server_side(engine)
        if api_key is None:
            api_key = os.environ.get(engine.api_key_env) or None
        self._model = model
        self._chat_template = _read_chat_template(engine.chat_template)
        self._template_kwargs = dict(engine.chat_template_kwargs)
        # Probe here when the template can be read here (a local model directory or
        # --chat-template); else assume the server's template takes everything and
        # adapt on its first refusal.
        probed = chat_format.probe_model_dir(
            engine.tokenizer or model,
            chat_template=self._chat_template,
            kwargs=self._template_kwargs,
        )
        self.chat_format: ChatFormat = probed if probed is not None else chat_format.NATIVE
        self._format_source = "probed" if probed is not None else "assumed"
        self._wanted_max_model_len = engine.max_model_len
        self._retry = RetryPolicy(
            max_retries=engine.max_retries if max_retries is None else max_retries,
            backoff_s=backoff_s,
            max_backoff_s=max_backoff_s,
        )
        self._pool = EndpointPool(
            list(base_urls if base_urls is not None else engine.base_urls),
            concurrency=concurrency if concurrency is not None else engine.concurrency,
            timeout_s=timeout_s if timeout_s is not None else engine.timeout_s,
            retry=self._retry,
            headers={"Authorization": f"Bearer {api_key}"} if api_key else None,
            probe_check=self._check_listing,
            transport=transport,
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="xprompt-openai-backend", daemon=True
        )
        self._thread.start()
        self._closed = False
        try:
            listings = self._call(self._pool.connect())
            self.max_model_len: int | None = _max_model_len(listings, model)
            self.server_version: str | None = self._call(self._server_version())
        except BaseException:
            self.close()
            raise
        if (
            self._wanted_max_model_len is not None
            and self.max_model_len is not None
            and self._wanted_max_model_len != self.max_model_len
        ):
            self.close()
            raise ConfigError(
                f"--max-model-len {self._wanted_max_model_len} was asked for, but the server serves "
                f"'{model}' with a context of {self.max_model_len} tokens: restart the server with "
                f"--max-model-len {self._wanted_max_model_len} or drop the option"
            )

    # -- protocol ----------------------------------------------------------------

    @property
    def model_id(self) -> str:
        return self._model

    @property
    def is_vllm(self) -> bool:
        """Whether the servers are vLLM's OpenAI server (they answer ``GET /version``)."""
        return self.server_version is not None

    def describe(self) -> dict[str, Any]:
        return {
            "engine": "openai",
            "server": f"vllm:{self.server_version}" if self.server_version else "unknown",
            "model": self._model,
            "max_model_len": self.max_model_len,
            "servers": self._pool.status() if not self._closed else [],
            "concurrency": self._pool.concurrency,
            "chat_format": self.chat_format.label,
            "chat_format_source": self._format_source,
            "chat_template_kwargs": dict(self._template_kwargs),
        }

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(self._pool.aclose(), self._loop).result(30)
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(30)
        self._loop.close()

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        """Send every request (concurrently, over every server); one completion each, same order.

        Raises ``BackendError`` only when no server can be reached for the whole
        retry budget: then nothing of this batch is returned, and a resumed run
        sends it again.
        """
        if self._closed:
            raise BackendError("the openai backend was closed")
        if not requests:
            return []
        return self._call(self._generate(requests))

    # -- helpers -----------------------------------------------------------------

    def request_body(self, request: Request) -> Job:
        """The HTTP call for one request: endpoint path and JSON body."""
        sampling = request.sampling
        body: dict[str, Any] = {
            "model": self._model,
            "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "n": sampling.n,
            "presence_penalty": 0.0,
            "frequency_penalty": 0.0,
        }
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        if self.is_vllm:
            body.update(VLLM_SAMPLING_DEFAULTS)
        if request.constraint is not None:
            if request.constraint.choices is not None:
                body["structured_outputs"] = {"choice": list(request.constraint.choices)}
            else:
                body["structured_outputs"] = {"regex": request.constraint.regex}
        if request.messages is not None:
            body["messages"] = [m.to_dict() for m in self.chat_format.adapt(request.messages)]
            if self._chat_template is not None:
                body["chat_template"] = self._chat_template
            kwargs = {**self._template_kwargs, **dict(request.chat_template_kwargs)}
            if kwargs:
                body["chat_template_kwargs"] = kwargs
            return Job("/chat/completions", body)
        body["prompt"] = request.prompt
        return Job("/completions", body)

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    async def _generate(self, requests: Sequence[Request]) -> list[Completion]:
        outcomes = await self._pool.run([self.request_body(r) for r in requests])
        refused = [i for i, o in enumerate(outcomes) if _is_template_refusal(o)]
        if refused and self.chat_format != chat_format.CAUTIOUS:
            # The server's template refused a conversation: from now on send every
            # conversation in the most cautious shape, and send these again.
            first = outcomes[refused[0]]
            assert isinstance(first, Failure)
            log.warning(
                "the server's chat template refused a conversation (%s): adapting conversations "
                "(system text folded into the user turn, same-role turns merged)",
                first.server_message,
            )
            self.chat_format = chat_format.CAUTIOUS
            self._format_source = f"server refused: {first.server_message}"
            again = await self._pool.run([self.request_body(requests[i]) for i in refused])
            for i, outcome in zip(refused, again, strict=True):
                outcomes[i] = outcome
        for i, outcome in enumerate(outcomes):
            if _is_template_refusal(outcome) and requests[i].messages is not None:
                assert isinstance(outcome, Failure)
                outcomes[i] = dataclasses.replace(
                    outcome,
                    message=f"the server's chat template refused the conversation: "
                    f"'{outcome.server_message}' (adaptation tried: {self.chat_format.label})",
                )
        completions = [
            self._completion(request, outcome)
            for request, outcome in zip(requests, outcomes, strict=True)
        ]
        # Prompts the server refused as longer than the context: count their tokens (vLLM's
        # /tokenize) so that the error reads, and counts, exactly as in-process.
        overflow = [
            i
            for i, outcome in enumerate(outcomes)
            if isinstance(outcome, Failure) and _is_context_overflow(outcome)
        ]
        if overflow and self.is_vllm and self.max_model_len is not None:
            counts = await self._pool.run([self._tokenize_job(requests[i]) for i in overflow])
            for i, counted in zip(overflow, counts, strict=True):
                if isinstance(counted, Reply) and isinstance(counted.body.get("count"), int):
                    tokens = counted.body["count"]
                    completions[i] = Completion(
                        requests[i].id,
                        prompt_tokens=tokens,
                        error=context_overflow(
                            tokens, requests[i].sampling.max_tokens, self.max_model_len
                        ),
                    )
        return completions

    def _tokenize_job(self, request: Request) -> Job:
        body: dict[str, Any] = {"model": self._model}
        if request.messages is not None:
            body["messages"] = [m.to_dict() for m in self.chat_format.adapt(request.messages)]
            body["add_generation_prompt"] = True
            if self._chat_template is not None:
                body["chat_template"] = self._chat_template
        else:
            body["prompt"] = request.prompt
            body["add_special_tokens"] = True
        return Job("/tokenize", body, root=True)

    def _completion(self, request: Request, outcome: Outcome) -> Completion:
        if isinstance(outcome, Failure):
            return Completion(request.id, error=outcome.message)
        body = outcome.body
        choices = body.get("choices")
        if not isinstance(choices, list) or len(choices) != request.sampling.n:
            got = len(choices) if isinstance(choices, list) else "no"
            return Completion(
                request.id,
                error=f"server {outcome.server} returned {got} choices for n={request.sampling.n}",
            )
        ordered = sorted(choices, key=lambda c: c.get("index", 0))
        if request.messages is not None:
            split = [_answer_and_reasoning(c.get("message") or {}) for c in ordered]
            texts = tuple(answer for answer, _ in split)
            reasoning = tuple(thinking for _, thinking in split)
        else:
            texts = tuple(c.get("text") or "" for c in ordered)
            reasoning = ()
        usage = body.get("usage") or {}
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        max_tokens = request.sampling.max_tokens
        if self.max_model_len is not None and prompt_tokens + max_tokens > self.max_model_len:
            return Completion(
                request.id,
                prompt_tokens=prompt_tokens,
                error=context_overflow(prompt_tokens, max_tokens, self.max_model_len),
            )
        return Completion(
            request_id=request.id,
            texts=texts,
            prompt_tokens=prompt_tokens,
            completion_tokens=int(usage.get("completion_tokens") or 0),
            finish_reasons=tuple(str(c.get("finish_reason")) for c in ordered),
            reasoning=reasoning if any(r is not None for r in reasoning) else (),
        )

    def _check_listing(self, listing: dict[str, Any]) -> str | None:
        served = [m.get("id") for m in listing.get("data") or [] if isinstance(m, dict)]
        if self._model in served:
            return None
        return (
            f"it serves {', '.join(map(str, served)) or 'no model'}, not '{self._model}' "
            "(pass --model with the served name, or start the server with that model)"
        )

    async def _server_version(self) -> str | None:
        """vLLM's version from ``GET /version`` on a reachable server; None for other servers."""
        for ep in self._pool.endpoints:
            if not ep.up.is_set():
                continue
            try:
                response = await ep.client.get(ep.root + "/version", timeout=10)
                version = response.json().get("version") if response.status_code == 200 else None
            except Exception:  # any non-vLLM server: no version route, or not JSON
                return None
            return str(version) if version else None
        return None


def _max_model_len(listings: Sequence[dict[str, Any]], model: str) -> int | None:
    lengths = set()
    for listing in listings:
        for card in listing.get("data") or []:
            if isinstance(card, dict) and card.get("id") == model and card.get("max_model_len"):
                lengths.add(int(card["max_model_len"]))
    if len(lengths) > 1:
        raise ConfigError(
            f"the servers serve '{model}' with different context lengths ({sorted(lengths)}): "
            "start every replica with the same --max-model-len"
        )
    return lengths.pop() if lengths else None


def _answer_and_reasoning(message: dict[str, Any]) -> tuple[str, str | None]:
    """The answer and the thinking of one chat choice.

    A reasoning parser on the server returns the thinking apart (vLLM:
    ``reasoning``, older vLLM and others: ``reasoning_content``); otherwise a
    ``<think>...</think>`` block in the content is split off here.
    """
    content = message.get("content") or ""
    for key in ("reasoning", "reasoning_content"):
        thinking = message.get(key)
        if isinstance(thinking, str) and thinking:
            return content, thinking
    thinking, answer = chat_format.split_reasoning(content)
    return answer, thinking


def _is_template_refusal(outcome: Outcome) -> bool:
    if not isinstance(outcome, Failure) or outcome.status != 400 or not outcome.body:
        return False
    return bool(TEMPLATE_REFUSAL.search(outcome.server_message))


def _is_context_overflow(failure: Failure) -> bool:
    if failure.status != 400 or not failure.body:
        return False
    error = failure.body.get("error")
    if isinstance(error, dict) and error.get("param") == "input_tokens":
        return True
    return "maximum context length" in failure.server_message


def _warn_server_side(engine: EngineConfig) -> None:
    ignored = [name for name, default in SERVER_SIDE.items() if getattr(engine, name) != default]
    if ignored:
        log.warning(
            "backend openai: ignoring %s (set on the server's command line, not on this client)",
            ", ".join(ignored),
        )


def _read_chat_template(value: str | None) -> str | None:
    if value is None:
        return None
    if "{%" in value or "{{" in value:
        return value
    path = Path(value).expanduser()
    if not path.is_file():
        raise ConfigError(f"chat template file not found: {value}")
    return path.read_text(encoding="utf-8")
