"""Language-ID settings as a validated model: one place for the defaults (CLI, run config, API)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from xprompt import languages
from xprompt.errors import UnknownLanguageError

#: Confidence that a sentence is *not* the target needed to call it off-target. Chosen on
#: the project's own evaluation text (benchmarks/langid_accuracy.py --sweep --heldout):
#: at 0.8 no own-language sentence of 20 targets or of the demo data is flagged, and
#: related-language output is caught 86.6% on the held-out half (83.1% at 0.9).
OFF_CONFIDENCE = 0.8


class LangidConfig(BaseModel):
    """How generated texts are checked for being in the right language.

    The defaults are the measured ones (see ``benchmarks/langid_accuracy.py``):
    py3langid decides, pycld2 decides as a fallback for the languages py3langid
    cannot name (Wolof, Tigrinya, Rundi), full sentences only, English as the pivot.
    """

    model_config = ConfigDict(extra="forbid")

    mode: Literal["default", "strict"] = Field(
        "default",
        description="default: the first detector that knows the language decides, pycld2 as a "
        "fallback for languages the others cannot name; strict: pycld2 gives a second opinion "
        "everywhere, any confident 'other language' is off",
    )
    detectors: list[str] | None = Field(
        None,
        description="statistical identifiers in order (py3langid, pycld2, langdetect, fasttext); "
        "default: py3langid (+ fasttext with a model; + pycld2 as fallback in default mode, as "
        "second opinion in strict mode). Given explicitly, exactly these are used (no fallback)",
    )
    fasttext_model: str | None = Field(
        None, description="fastText language-ID model file (GlotLID, OpenLID) for rare languages"
    )
    pivots: list[str] = Field(
        default_factory=lambda: ["eng_Latn"],
        description="languages caught even when no detector knows the target",
    )
    clusters: list[list[str]] | None = Field(
        None, description="confusable clusters (detected sibling = uncertain); default: built-in"
    )
    alternate_scripts: dict[str, list[str]] | None = Field(
        None,
        description="language -> scripts it may be written in; default: built-in (srp: Cyrl, Latn, ...)",
    )
    min_letters: int = Field(20, ge=1, description="sentences with fewer letters are uncertain")
    off_confidence: float = Field(
        OFF_CONFIDENCE,
        gt=0,
        le=1,
        description="detector confidence needed to call a sentence off-target",
    )
    pivot_confidence: float = Field(
        0.8, gt=0, le=1, description="P(pivot) needed for the pivot rule (unknown targets)"
    )
    off_share: float = Field(
        0.2, gt=0, le=1, description="share of a text's letters off-target that makes it off"
    )

    @field_validator("pivots")
    @classmethod
    def _pivots(cls, value: list[str]) -> list[str]:
        out = []
        for code in value:
            try:
                out.append(languages.resolve(code).code)
            except UnknownLanguageError as exc:
                raise ValueError(f"pivot language: {exc}") from None
        return out

    @field_validator("detectors")
    @classmethod
    def _detectors(cls, value: list[str] | None) -> list[str] | None:
        from xprompt.langid.detectors import DETECTORS

        if value is None:
            return None
        if not value:
            raise ValueError("give at least one detector (or leave detectors unset)")
        unknown = [d for d in value if d not in DETECTORS]
        if unknown:
            raise ValueError(f"unknown detector(s) {unknown} (known: {', '.join(DETECTORS)})")
        return value

    def fallback_names(self) -> list[str]:
        """Detectors that decide only for languages none of :meth:`detector_names` can name.

        Default mode with the default detectors: pycld2 (it knows Wolof, Tigrinya,
        Rundi, which py3langid cannot name). None in strict mode (pycld2 is a
        second opinion there) or when ``detectors`` is given explicitly.
        """
        if self.mode == "default" and self.detectors is None:
            return ["pycld2"]
        return []

    def detector_names(self) -> list[str]:
        """The detectors this configuration uses, in order (fallbacks not included)."""
        if self.detectors is not None:
            return list(self.detectors)
        names = ["py3langid"]
        if self.fasttext_model:
            names.append("fasttext")
        if self.mode == "strict":
            names.append("pycld2")
        return names
