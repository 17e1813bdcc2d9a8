"""The translator interface and the records it exchanges.

A translator takes a whole batch of :class:`TranslationRequest` (each with its
own source and target language, so one batch can mix language pairs) and returns
one :class:`Translation` per request, in the same order. A request that cannot be
translated (a language the model lacks, a source too long with splitting off)
comes back with ``error`` set; it never raises for the batch and never drops a
row. Translators are deterministic given their settings, which is what makes
translations cacheable: :meth:`Translator.signature` names everything that can
change an output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from xprompt.signatures import model_identity  # noqa: F401 (re-exported for translators)

SplitMode = Literal["long", "always", "never"]


@dataclass(frozen=True, slots=True)
class TranslationRequest:
    """One text to translate from ``src`` to ``tgt`` (canonical language codes)."""

    text: str
    src: str
    tgt: str


@dataclass(frozen=True, slots=True)
class Translation:
    """A translation (or why there is none) with its model score.

    ``logprob`` is the sum of the output tokens' log-probabilities under the
    model (over all pieces when the source was split) and ``tokens`` their
    number, so ``score`` (their mean) compares outputs of different lengths.
    ``segments`` is the number of pieces the source was split into; ``cached``
    says the text came from the translation cache. ``prompt_tokens`` is the
    prompt length an LLM translator (self-translate, LDP) sent, for cost
    reports (0 for seq2seq models and cache hits).
    """

    source: str
    src: str
    tgt: str
    text: str | None
    logprob: float | None = None
    tokens: int = 0
    segments: int = 1
    cached: bool = False
    error: str | None = None
    prompt_tokens: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None

    @property
    def score(self) -> float | None:
        """Mean token log-probability, None when unknown."""
        if self.logprob is None or self.tokens == 0:
            return None
        return self.logprob / self.tokens

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text, "segments": self.segments, "cached": self.cached}
        if self.logprob is not None:
            out["logprob"] = round(self.logprob, 4)
        if self.logprob is not None or self.tokens:
            out["tokens"] = self.tokens
        if self.prompt_tokens:
            out["prompt_tokens"] = self.prompt_tokens
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass(frozen=True, slots=True)
class DecodingSettings:
    """Every setting that changes a seq2seq translation (and so keys the cache).

    Args:
        num_beams: 1 is greedy search, more is beam search.
        length_penalty: beam search's length penalty (exponent on length).
        max_new_tokens: hard cap on output tokens per piece.
        length_ratio, length_extra: per-piece cap ``ceil(ratio * source tokens) + extra``
            (whichever of the two caps is lower), so a degenerate output stops early.
        max_input_tokens: longest piece the model gets; longer sources are split.
        split: ``long`` splits only sources over ``max_input_tokens`` into
            sentences; ``always`` translates every source sentence by sentence;
            ``never`` makes a too-long source an error for that row (no silent cut).
    """

    num_beams: int = 1
    length_penalty: float = 1.0
    max_new_tokens: int = 256
    length_ratio: float = 2.0
    length_extra: int = 16
    max_input_tokens: int = 256
    split: SplitMode = "long"

    def __post_init__(self) -> None:
        if self.num_beams < 1:
            raise ValueError(f"num_beams must be >= 1, got {self.num_beams}")
        if self.max_new_tokens < 1 or self.max_input_tokens < 1:
            raise ValueError("max_new_tokens and max_input_tokens must be >= 1")
        if self.length_ratio <= 0 or self.length_extra < 0:
            raise ValueError("length_ratio must be > 0 and length_extra >= 0")
        if self.split not in ("long", "always", "never"):
            raise ValueError(f"split must be long, always or never, got {self.split!r}")

    def output_limit(self, source_tokens: int) -> int:
        """The most output tokens a piece of ``source_tokens`` tokens may get."""
        ratio_cap = -(-int(self.length_ratio * source_tokens * 1000) // 1000) + self.length_extra
        return max(1, min(self.max_new_tokens, ratio_cap))

    def signature(self) -> str:
        """Short stable description (part of the translator's signature and the cache key)."""
        search = (
            "greedy" if self.num_beams == 1 else f"beam{self.num_beams},lp={self.length_penalty:g}"
        )
        return (
            f"{search},max={self.max_new_tokens},ratio={self.length_ratio:g}+{self.length_extra},"
            f"in={self.max_input_tokens},split={self.split}"
        )


@runtime_checkable
class Translator(Protocol):
    """Anything that translates a batch of requests, in order, deterministically."""

    @property
    def model_id(self) -> str:
        """A stable name of the MT model (with a digest for local directories)."""
        ...

    def signature(self) -> str:
        """Model identity and every decoding setting that can change an output."""
        ...

    def translate(self, requests: Sequence[TranslationRequest]) -> list[Translation]:
        """One translation per request, same order; failures come back with ``error`` set."""
        ...

    def describe(self) -> dict[str, Any]:
        """Facts for reports: engine, device, model, settings."""
        ...

    def close(self) -> None:
        """Release the model."""
        ...


@dataclass
class BatchStats:
    """What a translator did: batches run, pieces translated, padding spent (for benchmarks)."""

    batches: int = 0
    pieces: int = 0
    source_tokens: int = 0
    padded_source_tokens: int = 0
    decode_steps: int = 0
    sizes: list[int] = field(default_factory=list)


def translate_texts(
    translator: Translator, texts: Sequence[str], src: str, tgt: str
) -> list[Translation]:
    """Translate plain texts of one language pair (convenience over ``translate``)."""
    return translator.translate([TranslationRequest(t, src, tgt) for t in texts])
