"""Translation quality with sacrebleu, always beside the off-target and copy-of-source rates.

Metrics are sacrebleu's own objects, so their signatures survive into reports:
BLEU (``BLEU()``, tokenizer 13a), chrF (``CHRF()``, labelled chrF) and chrF++
(``CHRF(word_order=2)``). spBLEU is BLEU over SentencePiece pieces of the
FLORES-200 model; it cannot be downloaded here, so it needs the model file's
path, and its signature names the file and its digest (``tok:spm[name@sha8]``).
Bootstrap confidence intervals (sacrebleu's resampling, seed ``SACREBLEU_SEED``,
default 12345) are optional.

Every report also says how many outputs are off-target (checked with
:func:`xprompt.langid.check` against the target language) and how many are
copies of their source: a metric can reward an untranslated copy, nothing else
catches it. A row whose translation failed is scored as an empty output (it is
never dropped) and counted in ``errors``.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from xprompt import langid
from xprompt.errors import ConfigError
from xprompt.types import LangCheck

#: Sentence chrF (0-100) against the source at or above which an output counts as a copy.
COPY_CHRF = 80.0


@dataclass(frozen=True, slots=True)
class MTRow:
    """One scored segment: source, output (None when translation failed), optional reference."""

    source: str
    hypothesis: str | None
    tgt: str
    src: str = ""
    reference: str | None = None
    check: LangCheck | None = None


@dataclass(frozen=True, slots=True)
class MetricScore:
    """A corpus score with its sacrebleu signature and, with bootstrap, mean and 95% CI half-width."""

    name: str
    score: float
    signature: str
    mean: float | None = None
    ci: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"score": round(self.score, 4), "signature": self.signature}
        if self.ci is not None:
            out["mean"] = round(self.mean or 0.0, 4)
            out["ci95"] = round(self.ci, 4)
        return out


@dataclass
class MTReport:
    """Quality metrics (when there are references) and the off-target and copy rates, for one group."""

    rows: int = 0
    errors: int = 0
    scored: int = 0
    checked: int = 0
    off_target: int = 0
    uncertain: int = 0
    copies: int = 0
    metrics: list[MetricScore] = field(default_factory=list)

    @property
    def off_target_rate(self) -> float | None:
        return self.off_target / self.checked if self.checked else None

    @property
    def copy_rate(self) -> float | None:
        answered = self.rows - self.errors
        return self.copies / answered if answered else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rows": self.rows,
            "errors": self.errors,
            "scored": self.scored,
            "checked_texts": self.checked,
            "off_target": self.off_target,
            "off_target_rate": self.off_target_rate,
            "uncertain": self.uncertain,
            "copies": self.copies,
            "copy_rate": self.copy_rate,
        }
        out.update({m.name: m.to_dict() for m in self.metrics})
        return out


class _SentencePieceTokenizer:
    """sacrebleu tokenizer over a local SentencePiece model (what ``tok:flores200`` downloads)."""

    def __init__(self, path: str) -> None:
        try:
            import sentencepiece
        except ImportError:
            raise ConfigError(
                "spBLEU needs the sentencepiece package (pip install sentencepiece)"
            ) from None
        model = Path(path).expanduser()
        if not model.is_file():
            raise ConfigError(
                f"SentencePiece model not found: {path} (spBLEU needs a local .model file)"
            )
        self.processor = sentencepiece.SentencePieceProcessor()
        try:
            self.processor.Load(str(model))
        except (OSError, RuntimeError) as exc:
            raise ConfigError(f"{path}: not a SentencePiece model ({exc})") from None
        digest = hashlib.sha256(model.read_bytes()).hexdigest()[:8]
        self.name = f"spm[{model.name}@{digest}]"

    def signature(self) -> str:
        return self.name

    def __call__(self, line: str) -> str:
        return " ".join(self.processor.EncodeAsPieces(line))


def _metric_objects(spm_model: str | None) -> list[tuple[str, Any]]:
    """Fresh sacrebleu metric objects (their signatures are stateful) by report name."""
    from sacrebleu.metrics import BLEU, CHRF

    metrics: list[tuple[str, Any]] = [
        ("BLEU", BLEU()),
        ("chrF", CHRF()),
        ("chrF++", CHRF(word_order=2)),
    ]
    if spm_model is not None:
        spbleu = BLEU(tokenize="none")
        spbleu.tokenizer = _SentencePieceTokenizer(spm_model)
        spbleu.tokenizer_signature = spbleu.tokenizer.signature()
        metrics.append(("spBLEU", spbleu))
    return metrics


def corpus_scores(
    hypotheses: Sequence[str],
    references: Sequence[str],
    *,
    bootstrap: int = 0,
    spm_model: str | None = None,
) -> list[MetricScore]:
    """BLEU, chrF, chrF++ (and spBLEU with ``spm_model``) of hypotheses against one reference each."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    if not hypotheses:
        return []
    out: list[MetricScore] = []
    for name, metric in _metric_objects(spm_model):
        kwargs = {"n_bootstrap": bootstrap} if bootstrap > 1 else {}
        score = metric.corpus_score(list(hypotheses), [list(references)], **kwargs)
        signature = metric.get_signature().format(short=True)
        if bootstrap > 1:
            out.append(
                MetricScore(
                    name, float(score.score), signature, float(score._mean), float(score._ci)
                )
            )
        else:
            out.append(MetricScore(name, float(score.score), signature))
    return out


def _normalize(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


@lru_cache(maxsize=1)
def _sentence_chrf() -> Any:
    from sacrebleu.metrics import CHRF

    return CHRF()


def is_copy(hypothesis: str, source: str, *, threshold: float = COPY_CHRF) -> bool:
    """Whether an output is (nearly) its source: equal after normalisation, or sentence chrF >= threshold."""
    if not hypothesis.strip():
        return False
    if _normalize(hypothesis) == _normalize(source):
        return True
    return _sentence_chrf().sentence_score(hypothesis, [source]).score >= threshold


def report(
    rows: Iterable[MTRow],
    *,
    bootstrap: int = 0,
    spm_model: str | None = None,
    copy_threshold: float = COPY_CHRF,
) -> MTReport:
    """Score one group of rows: metrics over the rows with a reference, rates over all rows."""
    result = MTReport()
    hyps: list[str] = []
    refs: list[str] = []
    for row in rows:
        result.rows += 1
        if row.hypothesis is None:
            result.errors += 1
        else:
            check = row.check or langid.check(row.hypothesis, row.tgt)
            result.checked += 1
            result.off_target += check.verdict == "off"
            result.uncertain += check.verdict == "uncertain"
            result.copies += is_copy(row.hypothesis, row.source, threshold=copy_threshold)
        if row.reference is not None:
            hyps.append(row.hypothesis or "")
            refs.append(row.reference)
    result.scored = len(refs)
    result.metrics = corpus_scores(hyps, refs, bootstrap=bootstrap, spm_model=spm_model)
    return result


def grouped_report(
    rows: Sequence[MTRow], *, bootstrap: int = 0, spm_model: str | None = None
) -> dict[str, MTReport]:
    """Reports for all rows (``"all"``) and for each language pair (``"hau_Latn-eng_Latn"``)."""
    groups: dict[str, list[MTRow]] = {}
    for row in rows:
        groups.setdefault(f"{row.src or 'und'}-{row.tgt}", []).append(row)
    out = {"all": report(rows, bootstrap=bootstrap, spm_model=spm_model)}
    for key in sorted(groups):
        out[key] = report(groups[key], bootstrap=bootstrap, spm_model=spm_model)
    return out
