"""The reply-language policy: ask for the language, check the reply, retry firmer, pivot.

Pure decisions and message building, no I/O; :mod:`serving.chat.orchestrator`
carries them out against the engine.

- **Ask.** The instruction ("Always reply in Hausa (Harshen Hausa) ...") goes
  into the system message (merged into the client's own system message when
  there is one) or, for models without a system role, after the last user turn.
- **Check.** Each reply is checked with the off-target guard
  (:func:`xprompt.langid.check`): ``on``, ``off`` or ``uncertain``. Only
  ``off`` triggers anything; ``uncertain`` (too short, no detector knows the
  language) passes, flagged as such.
- **Retry.** An off-target reply is generated again with a firmer instruction
  (in the system message, plus a reminder after the last user turn, where
  recency helps most), up to ``retries`` times.
- **Pivot.** For languages configured as weak for the model, when the retries
  stay off-target (``fallback``) or always (``always``): the model answers in
  the pivot language (English) and the answer is translated into the reply
  language by the pivot translator, then checked again.
- **Never silent.** A reply that is still off-target is delivered flagged: the
  response's ``xprompt`` object and ``X-Xprompt-Check`` header say ``off``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from serving.config import PivotMode, PolicyConfig
from xprompt.guard import instruction_fields
from xprompt.types import LangCheck, Message

AttemptKind = Literal["direct", "firm", "pivot"]
Step = Literal["accept", "retry", "pivot", "give_up"]


@dataclass(frozen=True, slots=True)
class ChoicePlan:
    """The policy's settings for one request (after the client's overrides)."""

    lang: str | None
    retries: int
    pivot: PivotMode  # for this language: off unless it is weak and a translator exists
    check: bool

    @property
    def first_attempt(self) -> AttemptKind:
        return "pivot" if self.pivot == "always" else "direct"


@dataclass(frozen=True)
class LanguagePolicy:
    """Builds the prompts of each attempt and decides the next step after a check."""

    config: PolicyConfig
    has_translator: bool = False

    def plan(
        self,
        lang: str | None,
        *,
        retries: int | None = None,
        pivot: PivotMode | None = None,
        check: bool = True,
    ) -> ChoicePlan:
        """The settings for a request in ``lang`` (None: nothing to ask for or check)."""
        if lang is None or not check:
            return ChoicePlan(lang if check else None, 0, "off", False)
        mode = pivot if pivot is not None else self.config.pivot
        if lang not in self.config.weak_langs or not self.has_translator:
            mode = "off"
        if lang == self.config.pivot_lang:
            mode = "off"
        return ChoicePlan(lang, self.config.retries if retries is None else retries, mode, True)

    def messages(
        self, conversation: Sequence[Message], lang: str | None, kind: AttemptKind
    ) -> tuple[Message, ...]:
        """The conversation with the instruction for an attempt of ``kind`` in ``lang``."""
        if lang is None:
            return tuple(conversation)
        if kind == "pivot":
            text = self.config.pivot_instruction.format(
                **instruction_fields(self.config.pivot_lang)
            )
            return self._with_instruction(conversation, text, reminder=None)
        fields = instruction_fields(lang)
        if kind == "firm":
            return self._with_instruction(
                conversation,
                self.config.firm_instruction.format(**fields),
                reminder=self.config.instruction.format(**fields),
            )
        return self._with_instruction(
            conversation, self.config.instruction.format(**fields), reminder=None
        )

    def _with_instruction(
        self, conversation: Sequence[Message], instruction: str, *, reminder: str | None
    ) -> tuple[Message, ...]:
        out = list(conversation)
        last_user = max(i for i, m in enumerate(out) if m.role == "user")
        if self.config.instruction_role == "user":
            suffix = instruction if reminder is None else f"{instruction} {reminder}"
            out[last_user] = Message("user", f"{out[last_user].content}\n\n{suffix}")
            return tuple(out)
        if reminder is not None:
            out[last_user] = Message("user", f"{out[last_user].content}\n\n({reminder})")
        if out and out[0].role == "system":
            out[0] = Message("system", f"{out[0].content}\n\n{instruction}")
        else:
            out.insert(0, Message("system", instruction))
        return tuple(out)

    def next_step(
        self, check: LangCheck | None, *, kind: AttemptKind, direct_attempts: int, plan: ChoicePlan
    ) -> Step:
        """What to do after an attempt of ``kind`` was checked (``direct_attempts`` made so far)."""
        if check is None or check.verdict not in ("off", "mixed"):  # mixed: an off line (preamble)
            return "accept"
        if kind == "pivot":
            return "give_up"
        if direct_attempts <= plan.retries:
            return "retry"
        if plan.pivot == "fallback":
            return "pivot"
        return "give_up"

    def signature(self) -> str:
        """Every policy setting that can change a reply."""
        c = self.config
        weak = "+".join(c.weak_langs) or "none"
        return (
            f"policy(retries={c.retries},pivot={c.pivot}:{c.pivot_lang},weak={weak},"
            f"role={c.instruction_role},translator={c.translator or 'none'})"
        )
