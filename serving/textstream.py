"""Cutting a growing text into stream chunks without splitting a character.

A streamed reply arrives as cumulative snapshots (the whole text so far).
:class:`SafeSplitter` turns them into deltas that never end inside a
character: a trailing U+FFFD (bytes of a multi-byte UTF-8 character that are
not all there yet) is held back, and so is the last grapheme cluster, because
the next token may still add a combining mark, a virama conjunct (Devanagari
``क्ष``), a zero-width joiner or a variation selector to it. Only when the
reply is finished is everything released, so the chunks always concatenate to
exactly the final text.
"""

from __future__ import annotations

import unicodedata

REPLACEMENT = "\ufffd"
ZWJ = "\u200d"
ZWNJ = "\u200c"


def _extends(char: str) -> bool:
    """Whether ``char`` attaches to the character before it (same grapheme cluster)."""
    if char in (ZWJ, ZWNJ):
        return True
    if unicodedata.category(char) in ("Mn", "Mc", "Me"):
        return True
    code = ord(char)
    # Variation selectors, emoji modifiers (skin tones), tag characters.
    return (
        0xFE00 <= code <= 0xFE0F
        or 0xE0100 <= code <= 0xE01EF
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
    )


def _joins_next(char: str) -> bool:
    """Whether ``char`` glues the *next* character onto its cluster (virama, ZWJ)."""
    return char == ZWJ or unicodedata.combining(char) == 9


def last_cluster_start(text: str) -> int:
    """Index where the last grapheme cluster of ``text`` starts (0 for one cluster or none).

    An approximation of Unicode extended grapheme clusters that is exact for
    what matters here: a chunk boundary placed at this index is never followed
    by a character that belongs to the cluster before it.
    """
    i = len(text)
    if i == 0:
        return 0
    i -= 1
    while i > 0 and (_extends(text[i]) or _joins_next(text[i - 1])):
        i -= 1
    # A regional-indicator pair (flag) is one cluster.
    if i > 0 and _regional(text[i]) and _regional(text[i - 1]):
        i -= 1
    return i


def _regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def safe_end(text: str, finished: bool) -> int:
    """How much of ``text`` may be sent now: all of it when finished, else up to the last cluster."""
    if finished:
        return len(text)
    end = len(text)
    while end > 0 and text[end - 1] == REPLACEMENT:
        end -= 1
    return last_cluster_start(text[:end])


def letter_count(text: str) -> int:
    """Letters in ``text`` (what the language guard waits for)."""
    return sum(1 for char in text if char.isalpha())


class SafeSplitter:
    """Deltas of one growing text, each ending at a safe boundary.

    ``feed(snapshot, finished)`` returns the new part that may be sent now
    (possibly ``""``). Snapshots must extend each other (vLLM's cumulative
    output holds back stop-string candidates itself, so it only ever grows).
    """

    def __init__(self) -> None:
        self.sent = ""

    def feed(self, snapshot: str, finished: bool) -> str:
        """The next delta after ``snapshot``; everything left when ``finished``."""
        if not snapshot.startswith(self.sent):
            raise RuntimeError(
                "a streamed text changed after part of it was sent "
                f"({len(self.sent)} characters sent, the new snapshot differs within them)"
            )
        end = safe_end(snapshot, finished)
        if end <= len(self.sent):
            return ""
        delta = snapshot[len(self.sent) : end]
        self.sent = snapshot[:end]
        return delta
