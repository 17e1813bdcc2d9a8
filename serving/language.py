"""Which language the reply should be in: set by the client, or the conversation's own.

Order of precedence (the first that applies decides; ``source`` says which):

1. ``client``: the request's ``xprompt.lang`` or the ``X-Xprompt-Lang`` header.
2. ``detected``: the latest user turn, identified confidently (the user may
   switch language mid-conversation).
3. ``conversation``: the language held for the request's conversation id
   (from an earlier request), so a short or ambiguous turn ("ok", a number, a
   code snippet) keeps the conversation's language.
4. ``detected``: all user turns of the conversation pooled (OpenAI clients send
   the whole history, so this holds the language without any state).
5. ``default``: the server's default language, or none (``lang`` is None: no
   instruction and no check).

Identification is xprompt's language ID (:func:`xprompt.langid.identify`).
When the deployment lists the languages it serves, a detected language outside
the list is used only through its script: an Ethiopic text is Amharic when
Amharic is the only served language written in Ethiopic.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from xprompt import languages
from xprompt.langid import Identification, scripts
from xprompt.types import Message

Source = Literal["client", "detected", "conversation", "default", "none"]
Identify = Callable[[str], Identification]


@dataclass(frozen=True, slots=True)
class ReplyLanguage:
    """The reply language of one request and how it was chosen.

    ``code`` is a canonical code, or None when nothing could be determined and
    there is no default. ``detected``/``confidence`` are what language ID said
    about the user's text (``und`` when it could not tell or was not asked).
    """

    code: str | None
    source: Source
    detected: str = languages.UND
    confidence: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "lang": self.code,
            "source": self.source,
            "detected": self.detected,
            "confidence": round(self.confidence, 4),
        }


class ConversationLanguages:
    """Languages held per conversation id: bounded (least recently used go first) and expiring.

    Single-threaded use from the event loop; no lock needed.
    """

    def __init__(self, capacity: int = 10_000, ttl_s: float = 24 * 3600) -> None:
        self.capacity = capacity
        self.ttl_s = ttl_s
        self._items: OrderedDict[str, tuple[str, bool, float]] = OrderedDict()

    def get(self, key: str) -> tuple[str, bool] | None:
        """``(code, set_by_client)`` held for ``key``, or None."""
        item = self._items.get(key)
        if item is None:
            return None
        code, by_client, stamp = item
        if time.monotonic() - stamp > self.ttl_s:
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return code, by_client

    def put(self, key: str, code: str, *, by_client: bool) -> None:
        if self.capacity == 0:
            return
        self._items[key] = (code, by_client, time.monotonic())
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class LanguageChooser:
    """Chooses the reply language of a conversation (see the module docstring for the rules)."""

    identify: Identify
    store: ConversationLanguages
    default_lang: str | None = None
    served: tuple[str, ...] = ()
    min_confidence: float = 0.8
    min_letters: int = 12

    def choose(
        self,
        conversation: Sequence[Message],
        *,
        client_lang: str | None = None,
        conversation_id: str | None = None,
    ) -> ReplyLanguage:
        """The reply language for ``conversation`` (``client_lang`` must already be canonical)."""
        turns = [m.content for m in conversation if m.role == "user" and m.content.strip()]
        latest = self._detect(turns[-1]) if turns else None
        if client_lang is not None:
            if conversation_id:
                self.store.put(conversation_id, client_lang, by_client=True)
            return ReplyLanguage(client_lang, "client", *_evidence(latest))
        held = self.store.get(conversation_id) if conversation_id else None
        if held is not None and held[1]:  # a language the client set sticks
            return ReplyLanguage(held[0], "conversation", *_evidence(latest))
        if latest is not None and latest.code is not None:
            self._hold(conversation_id, latest.code)
            return latest
        if held is not None:
            return ReplyLanguage(held[0], "conversation", *_evidence(latest))
        if len(turns) > 1:
            pooled = self._detect("\n".join(turns))
            if pooled is not None and pooled.code is not None:
                self._hold(conversation_id, pooled.code)
                return pooled
        if self.default_lang is not None:
            return ReplyLanguage(self.default_lang, "default", *_evidence(latest))
        return ReplyLanguage(None, "none", *_evidence(latest))

    def _hold(self, conversation_id: str | None, code: str) -> None:
        if conversation_id:
            self.store.put(conversation_id, code, by_client=False)

    def _detect(self, text: str) -> ReplyLanguage | None:
        """A confident identification of ``text`` (code None when not confident)."""
        if sum(1 for c in text if c.isalpha()) < self.min_letters:
            return ReplyLanguage(None, "detected")
        found = self.identify(text)
        detected, confidence = found.detected, found.confidence
        code: str | None = None
        if detected != languages.UND and confidence >= self.min_confidence:
            code = detected
        if self.served and code not in self.served:
            code = self._by_script(found.script)
        return ReplyLanguage(code, "detected", detected, confidence)

    def _by_script(self, script: str | None) -> str | None:
        """The one served language written in ``script``, else None."""
        if script is None:
            return None
        matches = [
            c for c in self.served if script in scripts.members((languages.resolve(c).script,))
        ]
        return matches[0] if len(matches) == 1 else None


def _evidence(found: ReplyLanguage | None) -> tuple[str, float]:
    if found is None:
        return languages.UND, 0.0
    return found.detected, found.confidence
