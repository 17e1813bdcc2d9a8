"""What a model's chat template accepts, and the one place conversations are adapted to it.

Real chat templates refuse conversations xprompt builds: Gemma-2's raises
``System role not supported`` on a system turn, Mistral-Instruct's and
Gemma-2's raise ``Conversation roles must alternate ...`` on two user turns in
a row. :func:`probe` renders a few small conversations through the model's own
template, once per model, and returns a :class:`ChatFormat`: what the template
accepted. :meth:`ChatFormat.adapt` then rewrites every conversation before it
is rendered:

- a system turn the template refuses is folded into the next user turn (its
  text first, a blank line, then the user's text);
- consecutive turns of the same role are merged into one (blank line between)
  when the template demands alternation;
- when the template takes one user turn only, the whole conversation becomes
  one user block (earlier turns labelled ``User:`` / ``Assistant:``).

The in-process vLLM backends, the OpenAI backend and the chat server all call
this module, so a run, a batch job and a chat request are adapted the same
way. :attr:`ChatFormat.label` (``native`` when nothing is changed) goes into
run signatures and the server's ``xprompt`` response object.

A conversation that still cannot be rendered raises :class:`ChatTemplateError`
quoting the template's own message and the adaptation that was tried.

The module also splits a reasoning model's thinking from its answer
(:func:`split_reasoning`: ``<think>...</think>``, also when the opening tag was
part of the prompt).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xprompt.errors import XPromptError
from xprompt.types import Message

#: ``render(conversation, add_generation_prompt)``: the prompt text, or raises.
Render = Callable[[list[dict[str, str]], bool], str]


class ChatTemplateError(XPromptError):
    """A conversation the model's chat template refuses, even after adaptation."""

    http_status = 400


@dataclass(frozen=True, slots=True)
class ChatFormat:
    """What a chat template accepts (from :func:`probe`).

    ``system``: a leading system turn is rendered (not refused, not dropped).
    ``system_inside``: a system turn after other turns is rendered.
    ``consecutive``: two turns of the same role in a row are rendered.
    ``multi_turn``: a user/assistant/user conversation is rendered.
    ``prefill``: a conversation may end with an assistant turn (continuation).
    ``refusals``: what the template said to each refused probe.
    """

    system: bool = True
    system_inside: bool = True
    consecutive: bool = True
    multi_turn: bool = True
    prefill: bool = True
    refusals: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def adaptations(self) -> tuple[str, ...]:
        """The rewrites :meth:`adapt` applies, by name."""
        out = []
        if not self.system:
            out.append("fold-system")
        elif not self.system_inside:
            out.append("fold-inner-system")
        if not self.multi_turn:
            out.append("one-block")
        elif not self.consecutive:
            out.append("merge-same-role")
        return tuple(out)

    @property
    def label(self) -> str:
        """``native`` or the adaptations joined by ``+`` (for signatures)."""
        return "+".join(self.adaptations) or "native"

    def to_dict(self) -> dict[str, Any]:
        """The probe's findings and the adaptation, for records and responses."""
        return {
            "adaptation": self.label,
            "system": self.system,
            "system_inside": self.system_inside,
            "consecutive": self.consecutive,
            "multi_turn": self.multi_turn,
            "prefill": self.prefill,
            "refusals": dict(self.refusals),
        }

    def adapt(self, messages: Sequence[Message]) -> tuple[Message, ...]:
        """``messages`` rewritten into a shape the template accepts (unchanged when native)."""
        turns = list(messages)
        if not self.system or not self.system_inside:
            turns = _fold_system(turns, keep_leading=self.system)
        if not self.multi_turn:
            turns = _one_block(turns)
        elif not self.consecutive:
            turns = _merge_same_role(turns)
        return tuple(turns)


#: A template that accepts everything: nothing is adapted.
NATIVE = ChatFormat()

#: The most cautious shape: used when a server refuses a conversation and cannot be probed.
CAUTIOUS = ChatFormat(system=False, system_inside=False, consecutive=False)


def _fold_system(turns: list[Message], *, keep_leading: bool) -> list[Message]:
    out: list[Message] = []
    pending: list[str] = []
    for i, turn in enumerate(turns):
        if turn.role == "system" and not (keep_leading and i == 0):
            pending.append(turn.content)
            continue
        if pending and turn.role == "user":
            turn = Message("user", "\n\n".join([*pending, turn.content]))
            pending = []
        elif pending:
            out.append(Message("user", "\n\n".join(pending)))
            pending = []
        out.append(turn)
    if pending:
        out.append(Message("user", "\n\n".join(pending)))
    return out


def _merge_same_role(turns: list[Message]) -> list[Message]:
    out: list[Message] = []
    for turn in turns:
        if out and out[-1].role == turn.role:
            out[-1] = Message(turn.role, f"{out[-1].content}\n\n{turn.content}")
        else:
            out.append(turn)
    return out


def _one_block(turns: list[Message]) -> list[Message]:
    head = (
        [t for t in turns if t.role == "system"][:1] if turns and turns[0].role == "system" else []
    )
    body = turns[len(head) :]
    if len(body) <= 1:
        return turns
    names = {"user": "User", "assistant": "Assistant", "system": "System"}
    lines = [f"{names.get(t.role, t.role)}: {t.content}" for t in body[:-1]]
    last = body[-1]
    lines.append(last.content if last.role == "user" else f"{names[last.role]}: {last.content}")
    return [*head, Message("user", "\n\n".join(lines))]


# -- probing ----------------------------------------------------------------------------


def _renders(render: Render, turns: list[tuple[str, str]], *, generation: bool = True) -> str:
    """The template's refusal of ``turns`` ('' when it renders them and keeps every text)."""
    conversation = [{"role": r, "content": c} for r, c in turns]
    try:
        text = render(conversation, generation)
    except Exception as exc:  # a template raises whatever its author chose
        return template_message(exc) or type(exc).__name__
    missing = [c for _, c in turns if c not in text]
    if missing:
        return f"the template dropped the text of a turn ({missing[0]!r})"
    return ""


def probe(render: Render) -> ChatFormat:
    """Find what the template behind ``render`` accepts, with five small probe conversations.

    Raises :class:`ChatTemplateError` when not even a single user turn renders.
    """
    basic = _renders(render, [("user", "xpq1")])
    if basic:
        raise ChatTemplateError(f"the chat template cannot render one user turn: {basic}")
    checks = {
        "system": [("system", "xps1"), ("user", "xpq1")],
        "system_inside": [
            ("user", "xpq1"),
            ("assistant", "xpa1"),
            ("system", "xps1"),
            ("user", "xpq2"),
        ],
        "consecutive": [("user", "xpq1"), ("user", "xpq2")],
        "multi_turn": [("user", "xpq1"), ("assistant", "xpa1"), ("user", "xpq2")],
    }
    found: dict[str, bool] = {}
    refusals: dict[str, str] = {}
    for name, turns in checks.items():
        refusal = _renders(render, turns)
        found[name] = not refusal
        if refusal:
            refusals[name] = refusal
    prefill = _renders(render, [("user", "xpq1"), ("assistant", "xpa1")], generation=False)
    if prefill:
        refusals["prefill"] = prefill
    return ChatFormat(
        system=found["system"],
        system_inside=found["system_inside"] and found["system"],
        consecutive=found["consecutive"],
        multi_turn=found["multi_turn"],
        prefill=not prefill,
        refusals=refusals,
    )


def template_message(exc: BaseException) -> str:
    """The template's own message in an exception (Jinja's ``TemplateError``, ``raise_exception``)."""
    return str(exc).strip()


def render_adapted(
    render: Render, chat_format: ChatFormat, messages: Sequence[Message]
) -> tuple[str, tuple[Message, ...]]:
    """The prompt text of ``messages`` adapted to ``chat_format``, and the adapted turns.

    Raises :class:`ChatTemplateError` quoting the template and naming what was tried.
    """
    adapted = chat_format.adapt(messages)
    conversation = [m.to_dict() for m in adapted]
    try:
        return render(conversation, True), adapted
    except Exception as exc:
        roles = "/".join(m.role for m in adapted)
        raise ChatTemplateError(
            f"the model's chat template refused the conversation ({roles}): "
            f"'{template_message(exc) or type(exc).__name__}' "
            f"(adaptation tried: {chat_format.label})"
        ) from None


# -- template text without a tokenizer (for signatures) -----------------------------------


def template_renderer(
    template: str, special: Mapping[str, str] | None = None, **kwargs: Any
) -> Render:
    """A :data:`Render` for Jinja chat-template text, the way Hugging Face renders it.

    (Sandboxed, ``trim_blocks``/``lstrip_blocks``, ``raise_exception`` and
    ``tojson``); ``special`` gives ``bos_token`` and friends, ``kwargs`` the
    chat-template keyword arguments (``enable_thinking``).
    """
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        from jinja2.exceptions import TemplateError

        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]
    )
    env.filters["tojson"] = lambda x, indent=None, **_: json.dumps(
        x, ensure_ascii=False, indent=indent
    )
    env.globals["raise_exception"] = raise_exception
    compiled = env.from_string(template)
    values = dict(special or {})

    def render(conversation: list[dict[str, str]], add_generation_prompt: bool) -> str:
        return compiled.render(
            messages=conversation,
            add_generation_prompt=add_generation_prompt,
            **values,
            **kwargs,
        )

    return render


def local_template(model_dir: str | Path) -> tuple[str, dict[str, str]] | None:
    """The chat template and special tokens in a local model directory, or None."""
    root = Path(model_dir)
    config_file = root / "tokenizer_config.json"
    if not config_file.is_file():
        return None
    config = json.loads(config_file.read_text(encoding="utf-8"))
    template = config.get("chat_template")
    if isinstance(template, list):  # named templates: the default one
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default")
    jinja_file = root / "chat_template.jinja"
    if not template and jinja_file.is_file():
        template = jinja_file.read_text(encoding="utf-8")
    if not isinstance(template, str) or not template:
        return None
    special: dict[str, str] = {}
    for key in ("bos_token", "eos_token", "pad_token", "unk_token"):
        value = config.get(key)
        if isinstance(value, dict):
            value = value.get("content")
        if isinstance(value, str):
            special[key] = value
    return template, special


def probe_model_dir(
    model_dir: str | Path,
    *,
    chat_template: str | None = None,
    kwargs: Mapping[str, Any] | None = None,
) -> ChatFormat | None:
    """:func:`probe` of a local model's template (or ``chat_template``) without loading a tokenizer.

    None when there is no template to probe (a hub name, a base model).
    """
    found = local_template(model_dir) if Path(model_dir).is_dir() else None
    special = found[1] if found is not None else {}
    template = chat_template or (found[0] if found is not None else None)
    if template is None:
        return None
    try:
        return probe(template_renderer(template, special, **dict(kwargs or {})))
    except ChatTemplateError:
        return None
    except Exception:  # a template this light renderer cannot compile: the engine will say
        return None


# -- reasoning -----------------------------------------------------------------------------

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


def split_reasoning(text: str, *, opened: bool = False) -> tuple[str | None, str]:
    """``(thinking, answer)`` of a generated text; thinking None when there is none.

    ``<think>...</think>answer``; also ``...</think>answer`` (the template put
    ``<think>`` in the prompt, as DeepSeek-R1 distills do), and an unclosed
    ``<think>...`` (thinking ran out of tokens: no answer). ``opened``: the
    prompt opened the thinking, so a text without ``</think>`` is all thinking.
    """
    stripped = text.lstrip()
    if opened and THINK_CLOSE not in text:
        return text.strip(), ""
    if THINK_CLOSE in text:
        head, _, answer = text.partition(THINK_CLOSE)
        thinking = head.split(THINK_OPEN, 1)[1] if THINK_OPEN in head else head
        return thinking.strip(), answer.strip()
    if stripped.startswith(THINK_OPEN):
        return stripped[len(THINK_OPEN) :].strip(), ""
    return None, text


def reasoning_fields(
    reasoning: Sequence[str | None], lang: str | None, checker: Callable[[str, str], Any] | None
) -> dict[str, Any]:
    """``reasoning`` and ``reasoning_checks`` of a :class:`StepOutput`: each thinking checked on its own.

    The answer's check (``checks``) never looks at the thinking; this one records
    which language the model thought in (against ``lang``, when there is one).
    """
    if not any(r is not None for r in reasoning):
        return {}
    checks = tuple(
        checker(r, lang) if r and lang is not None and checker is not None else None
        for r in reasoning
    )
    return {"reasoning": tuple(reasoning), "reasoning_checks": checks}
