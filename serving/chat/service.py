"""The chat-completions logic: validate, choose the reply language, run, answer or stream.

The router hands over the parsed request and its headers; this module returns
a JSON response or a server-sent-event stream. Everything about the reply
language is reported in the response's ``xprompt`` object and in
``X-Xprompt-*`` headers:

- ``X-Xprompt-Lang``: the reply language (``und`` when none);
- ``X-Xprompt-Lang-Source``: ``client``, ``detected``, ``conversation``, ``default`` or ``none``;
- ``X-Xprompt-Detected``: what language ID said about the user's text, ``code;confidence``;
- ``X-Xprompt-Check``: the check verdict per choice, comma-separated (streams: the
  guard's verdict on the held-back start; the final verdicts are in the last chunk);
- ``X-Xprompt-Retries``: retries per choice; ``X-Xprompt-Pivot``: pivot per choice (0/1).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi.responses import JSONResponse, StreamingResponse

from serving.chat.orchestrator import (
    DeltaEvent,
    Event,
    FinishEvent,
    ReadyEvent,
    ReplyRejected,
    ReplyRun,
    ReplyTimeout,
)
from serving.chat.protocol import (
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    ResponseMessage,
    Usage,
)
from serving.errors import ApiError, error_body
from serving.language import ReplyLanguage
from serving.state import ServerState
from xprompt import languages
from xprompt.errors import BackendError, EngineDiedError, UnknownLanguageError
from xprompt.types import Request, Sampling

LANG_HEADER = "x-xprompt-lang"
CONVERSATION_HEADER = "x-xprompt-conversation"


class ChatService:
    """Serves ``POST /v1/chat/completions`` for one server."""

    def __init__(self, state: ServerState) -> None:
        self.state = state

    async def create(
        self, body: ChatCompletionRequest, headers: Mapping[str, str], access: dict[str, Any]
    ) -> JSONResponse | StreamingResponse:
        """Answer one request (``access`` collects what the access log may show)."""
        state = self.state
        if state.engine_failure is not None:
            raise ApiError(503, engine_down_message(state.engine_failure), code="engine_dead")
        request_id = f"chatcmpl-{uuid.uuid4().hex}"
        access.update(request_id=request_id, stream=body.stream, n=body.n)
        self._validate(body)
        options = body.xprompt
        client_lang = self._client_lang(body, headers)
        conversation_id = (options.conversation_id if options else None) or headers.get(
            CONVERSATION_HEADER
        )
        conversation = body.conversation()
        check = options.check if options is not None else True
        reply = state.chooser.choose(
            conversation, client_lang=client_lang, conversation_id=conversation_id
        )
        plan = state.policy.plan(
            reply.code,
            retries=options.retries if options else None,
            pivot=options.pivot if options else None,
            check=check,
        )
        access.update(lang=plan.lang or languages.UND, lang_source=reply.source)
        hold = (
            options.hold_letters
            if options is not None and options.hold_letters is not None
            else state.config.guard.hold_letters
        )
        probe = Request(
            f"{request_id}-probe",
            messages=state.policy.messages(conversation, plan.lang, plan.first_attempt),
            chat_template_kwargs=body.template_kwargs(),
        )
        run = ReplyRun(
            engine=state.engine,
            policy=state.policy,
            checker=state.checker,
            translator=state.translator,
            conversation=conversation,
            plan=plan,
            sampling=self._sampling(body, probe),
            request_id=request_id,
            stream=body.stream,
            hold_letters=hold,
            timeout_s=state.config.limits.request_timeout_s,
            chat_template_kwargs=body.template_kwargs(),
        )
        context = _Context(request_id, state.model_name, reply, body, run, access)
        if body.stream:
            return await self._stream(context)
        return await self._complete(context)

    # -- validation ----------------------------------------------------------------------

    def _validate(self, body: ChatCompletionRequest) -> None:
        limits = self.state.config.limits
        refused = body.unsupported()
        if refused is not None:
            raise ApiError(400, f"{refused[0]}: {refused[1]}", param=refused[0])
        if body.model is not None and body.model != self.state.model_name:
            raise ApiError(
                404,
                f"model '{body.model}' is not served here (this server serves "
                f"'{self.state.model_name}'; see GET /v1/models)",
                param="model",
                code="model_not_found",
            )
        if body.n > limits.max_n:
            raise ApiError(400, f"n: at most {limits.max_n} choices per request", param="n")
        if len(body.messages) > limits.max_messages:
            raise ApiError(
                400,
                f"messages: at most {limits.max_messages} messages per request, got {len(body.messages)}",
                param="messages",
            )
        wanted = body.requested_max_tokens()
        if wanted is not None and wanted > limits.max_tokens_limit:
            name = "max_completion_tokens" if body.max_completion_tokens else "max_tokens"
            raise ApiError(
                400,
                f"{name}: at most {limits.max_tokens_limit} tokens per choice, got {wanted}",
                param=name,
            )

    def _client_lang(self, body: ChatCompletionRequest, headers: Mapping[str, str]) -> str | None:
        given, where = None, ""
        if body.xprompt is not None and body.xprompt.lang is not None:
            given, where = body.xprompt.lang, "xprompt.lang"
        elif headers.get(LANG_HEADER):
            given, where = headers[LANG_HEADER], "X-Xprompt-Lang header"
        if given is None:
            return None
        try:
            return languages.resolve(given).code
        except UnknownLanguageError as exc:
            raise ApiError(422, f"{where}: {exc.message}", param=where.split(" ")[0]) from None

    def _sampling(self, body: ChatCompletionRequest, first: Request) -> Sampling:
        state = self.state
        engine = state.engine
        prompt_tokens = len(engine.prompt_token_ids(first))
        room = engine.max_model_len - prompt_tokens
        wanted = body.requested_max_tokens()
        name = "max_completion_tokens" if body.max_completion_tokens else "max_tokens"
        if room < 1:
            raise ApiError(
                400,
                f"messages: the conversation is {prompt_tokens} tokens with the language "
                f"instruction; the model's context is {engine.max_model_len} tokens",
                param="messages",
                code="context_length_exceeded",
            )
        if wanted is not None and wanted > room:
            raise ApiError(
                400,
                f"{name}: the conversation is {prompt_tokens} tokens, so at most {room} more "
                f"fit the model's context of {engine.max_model_len} tokens; got {wanted}",
                param=name,
                code="context_length_exceeded",
            )
        max_tokens = (
            wanted if wanted is not None else min(state.config.limits.max_tokens_default, room)
        )
        try:
            return body.to_sampling(
                temperature=state.config.temperature, seed=state.config.seed, max_tokens=max_tokens
            )
        except ValueError as exc:
            param = "n" if "n >" in str(exc) else None
            raise ApiError(400, str(exc), param=param) from None

    # -- answering -----------------------------------------------------------------------

    async def _complete(self, ctx: _Context) -> JSONResponse:
        texts = [""] * ctx.run.sampling.n
        reasons: list[str | None] = [None] * ctx.run.sampling.n
        events = ctx.run.events()
        try:
            while True:
                event = await ctx.next_event(events)
                if event is None:
                    break
                if isinstance(event, DeltaEvent):
                    texts[event.index] += event.text
                elif isinstance(event, FinishEvent):
                    reasons[event.index] = event.reason
        finally:
            await events.aclose()
        outcome = self._outcome(ctx)
        response = ChatCompletion(
            id=ctx.request_id,
            model=ctx.model,
            choices=[
                Choice(
                    index=i,
                    message=ResponseMessage(content=t, reasoning=ctx.run.choices[i].reasoning),
                    finish_reason=reasons[i],
                )
                for i, t in enumerate(texts)
            ],
            usage=ctx.usage(),
            system_fingerprint=ctx.fingerprint,
            xprompt=outcome,
        )
        return JSONResponse(
            response.model_dump(exclude_none=False), headers=self._headers(ctx, final=True)
        )

    async def _stream(self, ctx: _Context) -> StreamingResponse:
        events = ctx.run.events()
        held: list[Event] = []
        started = time.perf_counter()
        try:
            while True:
                event = await ctx.next_event(events)
                if event is None or isinstance(event, ReadyEvent):
                    break
                held.append(event)
        except BaseException:
            await events.aclose()
            raise
        self.state.metrics.hold.observe(time.perf_counter() - started)
        headers = self._headers(ctx, final=False)
        headers.update({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        return StreamingResponse(
            self._sse(ctx, events, held), media_type="text/event-stream", headers=headers
        )

    async def _sse(
        self, ctx: _Context, events: AsyncIterator[Event], held: list[Event]
    ) -> AsyncIterator[str]:
        n = ctx.run.sampling.n
        finished = 0
        chunks = ChunkWriter(ctx.request_id, ctx.created, ctx.model, ctx.fingerprint)
        try:
            yield chunks.write([_choice(i, {"role": "assistant", "content": ""}) for i in range(n)])
            pending = list(held)
            while True:
                if pending:
                    event: Event | None = pending.pop(0)
                else:
                    try:
                        event = await ctx.next_event(events)
                    except ApiError as exc:
                        yield _sse_error(exc.status, exc.message, exc.code)
                        return
                if event is None:
                    break
                if isinstance(event, DeltaEvent):
                    yield chunks.write([_choice(event.index, {"content": event.text})])
                elif isinstance(event, FinishEvent):
                    finished += 1
                    extension = self._outcome(ctx) if finished == n else None
                    thinking = ctx.run.choices[event.index].reasoning
                    delta = {"reasoning": thinking} if thinking is not None else {}
                    yield chunks.write(
                        [_choice(event.index, delta, event.reason)], xprompt=extension
                    )
            options = ctx.body.stream_options
            if options is not None and options.include_usage:
                yield chunks.write([], usage=ctx.usage().model_dump())
            yield "data: [DONE]\n\n"
        finally:
            await events.aclose()

    # -- reporting -----------------------------------------------------------------------

    def _outcome(self, ctx: _Context) -> dict[str, Any]:
        """The response's ``xprompt`` object (and the metrics and access-log record of it)."""
        run = ctx.run
        outcome = {
            "lang": run.plan.lang,
            "lang_source": ctx.reply.source,
            "detected": {"lang": ctx.reply.detected, "confidence": round(ctx.reply.confidence, 4)},
            **run.outcome(),
            "chat_format": self.state.chat_format(),
            "ignored_fields": ctx.body.ignored_fields(),
            "signature": self.state.signature(run.sampling.signature()),
        }
        if not ctx.recorded:
            ctx.recorded = True
            self.state.metrics.record_reply(
                run.plan.lang if run.plan.check else None,
                outcome,
                run.prompt_tokens,
                run.completion_tokens,
            )
            ctx.access.update(
                verdicts=[
                    c["check"]["verdict"] if c["check"] else None for c in outcome["choices"]
                ],
                retries=sum(c["retries"] for c in outcome["choices"]),
                pivot=outcome["pivoted"],
                prompt_tokens=run.prompt_tokens,
                completion_tokens=run.completion_tokens,
            )
        return outcome

    def _headers(self, ctx: _Context, *, final: bool) -> dict[str, str]:
        run = ctx.run
        verdicts = []
        for choice in run.choices:
            check = choice.final if final else (choice.guard or choice.final)
            verdicts.append(check.verdict if check is not None else "unchecked")
        return {
            "X-Xprompt-Lang": run.plan.lang or languages.UND,
            "X-Xprompt-Lang-Source": ctx.reply.source,
            "X-Xprompt-Detected": f"{ctx.reply.detected};{ctx.reply.confidence:.4f}",
            "X-Xprompt-Check": ",".join(verdicts),
            "X-Xprompt-Retries": ",".join(str(c.retries) for c in run.choices),
            "X-Xprompt-Pivot": ",".join(str(int(c.pivoted)) for c in run.choices),
            "X-Request-Id": ctx.request_id,
        }


class _Context:
    """One request in flight: its parts and its deadline."""

    def __init__(
        self,
        request_id: str,
        model: str,
        reply: ReplyLanguage,
        body: ChatCompletionRequest,
        run: ReplyRun,
        access: dict[str, Any],
    ) -> None:
        self.request_id = request_id
        self.model = model
        self.reply = reply
        self.body = body
        self.run = run
        self.access = access
        self.created = int(time.time())
        self.fingerprint = "xprompt-" + uuid.uuid5(uuid.NAMESPACE_URL, model).hex[:8]
        self.recorded = False

    async def next_event(self, events: AsyncIterator[Event]) -> Event | None:
        """The next event; None at the end. Maps failures to ApiError."""
        try:
            return await anext(events)
        except StopAsyncIteration:
            return None
        except ReplyTimeout:
            raise ApiError(
                504,
                f"the reply did not finish within {self.run.timeout_s:g} s (limits.request_timeout_s)",
                code="timeout",
            ) from None
        except ReplyRejected as exc:
            raise ApiError(
                400, f"the engine refused the request: {exc}", param="messages"
            ) from None
        except EngineDiedError as exc:
            raise ApiError(503, engine_down_message(exc.message), code="engine_dead") from None
        except BackendError as exc:
            raise ApiError(502, exc.message, code="engine_error") from None

    def usage(self) -> Usage:
        prompt, completion = self.run.prompt_tokens, self.run.completion_tokens
        return Usage(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        )


def engine_down_message(reason: str) -> str:
    """What a client is told while the engine is dead."""
    return (
        f"the engine is down ({reason}); this server exits so that its supervisor restarts it: "
        "retry shortly"
    )


class ChunkWriter:
    """Server-sent events of one streamed response, in the :class:`ChatCompletionChunk` shape.

    Built by hand rather than through the pydantic model: this runs once per
    token, and the fixed fields are the same for every chunk of a response.
    (``test_serve_replies`` validates the events against the model.)
    """

    def __init__(self, request_id: str, created: int, model: str, fingerprint: str) -> None:
        self.fixed = {
            "id": request_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
        }
        self.fingerprint = fingerprint

    def write(
        self,
        choices: list[dict[str, Any]],
        *,
        usage: dict[str, Any] | None = None,
        xprompt: dict[str, Any] | None = None,
    ) -> str:
        chunk: dict[str, Any] = {
            **self.fixed,
            "choices": choices,
            "system_fingerprint": self.fingerprint,
        }
        if usage is not None:
            chunk["usage"] = usage
        if xprompt is not None:
            chunk["xprompt"] = xprompt
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"


def _choice(index: int, delta: dict[str, str], finish_reason: str | None = None) -> dict[str, Any]:
    return {"index": index, "delta": delta, "finish_reason": finish_reason, "logprobs": None}


def _sse_error(status: int, message: str, code: str | None) -> str:
    return f"data: {json.dumps(error_body(status, message, code=code), ensure_ascii=False)}\n\n"
