"""The chat-completions protocol: OpenAI's request and response shapes as pydantic models.

Requests accept unknown fields and ignore them, as OpenAI-compatible servers
do (clients send ``user``, ``metadata``, ``store`` ...); their names are
reported back in the ``xprompt`` extension object. Known features this server
does not have (tools, logprobs, JSON mode, penalties) are refused with a 400
that names the field, rather than silently ignored. The request converts
itself into xprompt's typed :class:`~xprompt.types.Sampling`.

xprompt's own extension is an ``xprompt`` object: in the request (reply
language, conversation id, policy knobs) and in the response (language,
detection, check results, retries, pivot). Plain clients never see it.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from xprompt.data import lone_surrogate, surrogate_problem
from xprompt.types import Message, Sampling


def _unicode_text(value: str) -> str:
    """Refuse text with a lone surrogate (valid JSON, not valid Unicode: it cannot be tokenized)."""
    where = lone_surrogate(value)
    if where is not None:
        raise ValueError(f"has a lone surrogate {where}: not valid Unicode text")
    return value


#: A string that must be valid Unicode text (every text field of a request).
Text = Annotated[str, AfterValidator(_unicode_text)]

#: Roles clients may send; ``developer`` is OpenAI's newer name for ``system``.
ROLES = ("system", "developer", "user", "assistant")


class TextPart(BaseModel):
    """One part of a message's content given as a list (only text parts are served)."""

    model_config = ConfigDict(extra="allow")

    type: str
    text: Text | None = None

    @model_validator(mode="after")
    def _text_only(self) -> TextPart:
        if self.type != "text":
            raise ValueError(f"content part type '{self.type}' is not supported (text only)")
        if self.text is None:
            raise ValueError("a text content part needs 'text'")
        return self


class ChatMessage(BaseModel):
    """One message of the conversation."""

    model_config = ConfigDict(extra="allow")

    role: str
    content: Text | list[TextPart] | None = None
    name: Text | None = None

    @field_validator("role")
    @classmethod
    def _role(cls, value: str) -> str:
        if value in ("tool", "function"):
            raise ValueError(f"role '{value}' is not supported: this server does not call tools")
        if value not in ROLES:
            raise ValueError(f"unknown role '{value}' (use one of {', '.join(ROLES)})")
        return value

    @model_validator(mode="after")
    def _has_content(self) -> ChatMessage:
        if self.content is None and self.role != "assistant":
            raise ValueError(
                f"content is required for a {self.role} message (null is allowed only for an "
                "assistant turn)"
            )
        return self

    def text(self) -> str:
        """The content as one string (text parts joined)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text or "" for part in self.content)

    def to_message(self) -> Message:
        role = "system" if self.role == "developer" else self.role
        return Message(role, self.text())  # type: ignore[arg-type]


class XpromptRequestOptions(BaseModel):
    """The ``xprompt`` extension object of a request (all optional)."""

    model_config = ConfigDict(extra="forbid")

    lang: Text | None = Field(
        None, description="reply language (FLORES-200 code, ISO 639, BCP-47 or English name)"
    )
    conversation_id: Text | None = Field(
        None, max_length=200, description="key under which the conversation's language is held"
    )
    retries: int | None = Field(None, ge=0, le=5, description="override the policy's retries")
    pivot: Literal["off", "fallback", "always"] | None = Field(
        None, description="override the pivot mode (weak languages only)"
    )
    hold_letters: int | None = Field(
        None, ge=0, le=10_000, description="streaming guard: letters held back before the check"
    )
    check: bool = Field(True, description="false: no language instruction, check or retry")


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = "text"


#: Known OpenAI fields whose non-default values this server refuses, and why.
_UNSUPPORTED: dict[str, str] = {
    "tools": "tool calling is not supported",
    "functions": "function calling is not supported",
    "tool_choice": "tool calling is not supported",
    "function_call": "function calling is not supported",
    "logprobs": "logprobs are not returned by this server",
    "top_logprobs": "logprobs are not returned by this server",
    "logit_bias": "logit_bias is not supported",
    "presence_penalty": "presence_penalty is not supported (send 0 or leave it out)",
    "frequency_penalty": "frequency_penalty is not supported (send 0 or leave it out)",
    "audio": "audio output is not supported",
    "prediction": "predicted outputs are not supported",
}


class ChatCompletionRequest(BaseModel):
    """``POST /v1/chat/completions`` body."""

    model_config = ConfigDict(extra="allow")

    model: Text | None = None
    messages: list[ChatMessage] = Field(..., min_length=1)
    n: int = Field(1, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: Text | list[Text] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    response_format: ResponseFormat | None = None
    user: Text | None = None
    #: Keyword arguments of the model's chat template (``{"enable_thinking": false}``), as vLLM takes them.
    chat_template_kwargs: dict[str, Any] | None = None
    xprompt: XpromptRequestOptions | None = None

    def template_kwargs(self) -> tuple[tuple[str, Any], ...]:
        """``chat_template_kwargs`` as the hashable pairs a :class:`Request` carries."""
        return tuple(sorted((self.chat_template_kwargs or {}).items()))

    @field_validator("stop")
    @classmethod
    def _stop(cls, value: str | list[str] | None) -> list[str]:
        if value is None:
            return []
        stops = [value] if isinstance(value, str) else list(value)
        if len(stops) > 16:
            raise ValueError(f"at most 16 stop sequences, got {len(stops)}")
        if any(not s for s in stops):
            raise ValueError("stop sequences must not be empty")
        return stops

    @field_validator("response_format")
    @classmethod
    def _format(cls, value: ResponseFormat | None) -> ResponseFormat | None:
        if value is not None and value.type != "text":
            raise ValueError(f"response_format type '{value.type}' is not supported (text only)")
        return value

    @field_validator("messages")
    @classmethod
    def _conversation(cls, value: list[ChatMessage]) -> list[ChatMessage]:
        if not any(m.role == "user" for m in value):
            raise ValueError("the conversation has no user message")
        return value

    @model_validator(mode="after")
    def _extra_is_text(self) -> ChatCompletionRequest:
        problem = surrogate_problem(self.model_extra or {})
        if problem is not None:
            raise ValueError(problem)
        return self

    def unsupported(self) -> tuple[str, str] | None:
        """The first known-but-unsupported field the client set, and why: ``(field, reason)``."""
        for name, value in (self.model_extra or {}).items():
            if name in _UNSUPPORTED and not _is_default(name, value):
                return name, _UNSUPPORTED[name]
        return None

    def ignored_fields(self) -> list[str]:
        """Unknown fields the client sent (accepted and ignored)."""
        return sorted(name for name in (self.model_extra or {}) if name not in _UNSUPPORTED)

    def requested_max_tokens(self) -> int | None:
        """``max_completion_tokens`` (newer clients) or ``max_tokens``."""
        return self.max_completion_tokens or self.max_tokens

    def to_sampling(self, *, temperature: float, seed: int | None, max_tokens: int) -> Sampling:
        """The typed sampling record, with the server's defaults for what the client left out."""
        return Sampling(
            temperature=self.temperature if self.temperature is not None else temperature,
            top_p=self.top_p if self.top_p is not None else 1.0,
            max_tokens=max_tokens,
            n=self.n,
            seed=self.seed if self.seed is not None else seed,
            stop=tuple(self.stop or ()),
        )

    def conversation(self) -> tuple[Message, ...]:
        return tuple(m.to_message() for m in self.messages)


def _is_default(name: str, value: Any) -> bool:
    """Whether a client sent an unsupported field with a value that asks for nothing."""
    if value is None or value is False or value == [] or value == {}:
        return True
    if name == "tool_choice" and value in ("none", "auto"):
        return True
    return isinstance(value, int | float) and not isinstance(value, bool) and value == 0


# -- responses -----------------------------------------------------------------------------


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ResponseMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    #: A reasoning model's thinking, apart from the answer (as vLLM's server returns it).
    reasoning: str | None = None


class Choice(BaseModel):
    index: int
    message: ResponseMessage
    finish_reason: str | None
    logprobs: None = None


class ChatCompletion(BaseModel):
    """A non-streamed answer."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[Choice]
    usage: Usage
    system_fingerprint: str | None = None
    xprompt: dict[str, Any] | None = None


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int
    delta: Delta
    finish_reason: str | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    """One server-sent event of a streamed answer."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None
    xprompt: dict[str, Any] | None = None
