"""The MT model as CODEC needs it: templates as tokens, forced decoding against encoded sources.

:class:`MTScorer` adapts a :class:`~xprompt.backends.seq2seq.Seq2SeqTranslator`
(with its sources encoded once) to the search's
:class:`~xprompt.projection.codec.SequenceScorer`, counting forward passes and
sequences. :func:`template_tokens` tokenizes a template with character offsets,
so placements between tokens map back to character spans, and marks which token
boundaries fall inside a character (byte-level tokenizers split characters).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from xprompt.projection.codec import Scored


@dataclass
class CallCounter:
    """Forward passes and sequences scored (shared by every scorer of a job, for reports)."""

    calls: int = 0
    sequences: int = 0


class MTScorer:
    """Forced decoding against one encoded source of an :class:`EncodedSources` batch.

    Args:
        translator: the seq2seq translator (a ``Seq2SeqTranslator``).
        encoded: sources encoded once by ``translator.encode``.
        index: which encoded source this scorer decodes against.
        tgt: the target language (decides the decoder's forced language tag).
        counter: where forward passes and sequences are counted.
    """

    def __init__(
        self,
        translator: Any,
        encoded: Any,
        index: int,
        tgt: str,
        counter: CallCounter | None = None,
    ) -> None:
        self.translator = translator
        self.encoded = encoded
        self.index = index
        self.tgt = tgt
        self.counter = counter or CallCounter()

    def score(self, sequences: Sequence[Sequence[int]], watch: Sequence[int]) -> list[Scored]:
        """Per-token log-probs of each sequence (one forward pass per ``max_batch_size`` rows)."""
        if not sequences:
            return []
        limit = self.translator.max_batch_size
        self.counter.calls += -(-len(sequences) // limit)
        self.counter.sequences += len(sequences)
        return self.translator.forced_scores(
            self.encoded, [(self.index, s) for s in sequences], self.tgt, watch=watch
        )


def score_rows(
    translator: Any,
    encoded: Any,
    rows: Sequence[tuple[int, Sequence[int]]],
    tgt: str,
    watch: Sequence[int],
    counter: CallCounter,
) -> list[Scored]:
    """Forced decoding of ``(source index, ids)`` rows against several encoded sources at once."""
    if not rows:
        return []
    counter.calls += -(-len(rows) // translator.max_batch_size)
    counter.sequences += len(rows)
    return translator.forced_scores(encoded, rows, tgt, watch=watch)


@dataclass(frozen=True)
class TemplateTokens:
    """A template as the decoder sees it: token ids, their character offsets, usable boundaries."""

    text: str
    ids: tuple[int, ...]
    offsets: tuple[tuple[int, int], ...]
    boundaries: frozenset[int]

    def char_span(self, i: int, j: int) -> tuple[int, int]:
        """Characters of tokens ``i..j-1``, trimmed of surrounding whitespace (may be empty)."""
        start, end = self.offsets[i][0], self.offsets[j - 1][1]
        piece = self.text[start:end]
        lead = len(piece) - len(piece.lstrip())
        trail = len(piece) - len(piece.rstrip())
        if lead == len(piece):
            return start, start
        return start + lead, end - trail

    def closable(self, i: int, j: int) -> bool:
        """Whether tokens ``i..j-1`` cover at least one non-space character."""
        start, end = self.char_span(i, j)
        return end > start


def template_tokens(tokenizer: Any, text: str) -> TemplateTokens:
    """Tokenize ``text`` without special tokens, with offsets and the boundaries between characters.

    Boundary ``p`` (before token ``p``; ``n`` is the end) is usable unless the
    tokens on both sides share a character (a byte-level split inside it).
    """
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = tuple(int(i) for i in encoded["input_ids"])
    offsets = tuple((int(a), int(b)) for a, b in encoded["offset_mapping"])
    boundaries = {0, len(ids)}
    for p in range(1, len(ids)):
        if offsets[p - 1][1] <= offsets[p][0]:
            boundaries.add(p)
    return TemplateTokens(text, ids, offsets, frozenset(boundaries))
