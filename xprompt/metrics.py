"""Scores over result records: accuracy, errors, extraction failures, off-target rate, tokens, calls.

Everything here works from saved result records alone, so re-scoring needs no
model. The off-target rate is reported beside every quality number: a metric
can reward output in the wrong language, and nothing else catches it.

Strategies that vote over several reasoning paths (CLP, CLSP,
self-consistency) write ``details.paths`` and ``details.first_correct`` (see
``xprompt.reasoning``); from those the summary also counts paths, path
extraction failures and off-target paths per row language, the single-sample
accuracy next to the voted one (maj@k), and per reasoning language
(``by_path_lang``) how each language's own paths did.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from xprompt.answers import FAILED_RULES


@dataclass
class GroupStats:
    """Counts for one language (or the whole run)."""

    rows: int = 0
    errors: int = 0
    scored: int = 0
    correct: int = 0
    extraction_failures: int = 0
    checked: int = 0
    off_target: int = 0
    uncertain: int = 0
    mixed: int = 0
    line_pass: int = 0
    checked_non_latin: int = 0
    english_words: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    first_scored: int = 0
    first_correct: int = 0
    paths: int = 0
    path_failures: int = 0
    paths_checked: int = 0
    paths_off_target: int = 0
    calls: int = 0
    mt_calls: int = 0
    mt_tokens: int = 0

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.scored if self.scored else None

    @property
    def first_sample_accuracy(self) -> float | None:
        """Accuracy of the first sample alone (self-consistency's single-sample baseline)."""
        return self.first_correct / self.first_scored if self.first_scored else None

    @property
    def path_failure_rate(self) -> float | None:
        """Share of reasoning paths whose text gave no answer."""
        return self.path_failures / self.paths if self.paths else None

    @property
    def path_off_target_rate(self) -> float | None:
        """Share of checked reasoning paths that are off-target."""
        return self.paths_off_target / self.paths_checked if self.paths_checked else None

    @property
    def off_target_rate(self) -> float | None:
        return self.off_target / self.checked if self.checked else None

    @property
    def mixed_rate(self) -> float | None:
        """Share of checked texts with an off-target line beside on-target text."""
        return self.mixed / self.checked if self.checked else None

    @property
    def line_pass_rate(self) -> float | None:
        """LPR (Language Confusion Benchmark): share of checked texts with no off-target line."""
        return self.line_pass / self.checked if self.checked else None

    @property
    def english_words_rate(self) -> float | None:
        """Non-Latin-script targets: share of checked texts with English words in target lines."""
        return self.english_words / self.checked_non_latin if self.checked_non_latin else None

    @property
    def extraction_failure_rate(self) -> float | None:
        answered = self.rows - self.errors
        return self.extraction_failures / answered if answered else None

    def merge(self, other: GroupStats) -> None:
        """Add ``other``'s counts to these (every field is a count)."""
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def add(self, record: Mapping[str, Any]) -> None:
        self.rows += 1
        error = record.get("error")
        if error:
            self.errors += 1
        correct = record.get("correct")
        if correct is not None:
            self.scored += 1
            self.correct += bool(correct)
        if not error and record.get("extraction") in FAILED_RULES:
            self.extraction_failures += 1
        for step in record.get("steps") or ():
            self.prompt_tokens += int(step.get("prompt_tokens") or 0)
            self.completion_tokens += int(step.get("completion_tokens") or 0)
            # One model call per step, plus the off-target guard's retries; mt:* steps are translations.
            calls = 1 + len((step.get("guard") or {}).get("attempts") or ())
            self.calls += calls
            if str(step.get("step", "")).startswith("mt:"):
                self.mt_calls += calls
                self.mt_tokens += int(step.get("completion_tokens") or 0)
            for check in step.get("checks") or ():
                self.add_check(check)
        details = record.get("details") or {}
        if details.get("first_correct") is not None:
            self.first_scored += 1
            self.first_correct += bool(details["first_correct"])
        for path in details.get("paths") or ():
            self.paths += 1
            self.path_failures += path.get("error") is None and path.get("answer") is None
            if path.get("verdict") is not None:
                self.paths_checked += 1
                self.paths_off_target += path["verdict"] == "off"

    def add_check(self, check: Mapping[str, Any]) -> None:
        """Count one language check record (``LangCheck.to_dict()``)."""
        self.checked += 1
        verdict = check.get("verdict")
        self.off_target += verdict == "off"
        self.uncertain += verdict == "uncertain"
        self.mixed += verdict == "mixed"
        self.line_pass += verdict not in ("off", "mixed")
        if "Latn" not in str(check.get("expected", "_Latn")).split("_", 1)[-1]:
            self.checked_non_latin += 1
            self.english_words += "english-words" in (check.get("flags") or ())

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "errors": self.errors,
            "scored": self.scored,
            "accuracy": self.accuracy,
            "extraction_failures": self.extraction_failures,
            "extraction_failure_rate": self.extraction_failure_rate,
            "checked_texts": self.checked,
            "off_target": self.off_target,
            "off_target_rate": self.off_target_rate,
            "uncertain": self.uncertain,
            "mixed": self.mixed,
            "mixed_rate": self.mixed_rate,
            "line_pass_rate": self.line_pass_rate,
            "english_words_rate": self.english_words_rate,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "calls": self.calls,
            "mt_calls": self.mt_calls,
            "mt_tokens": self.mt_tokens,
            "first_sample_accuracy": self.first_sample_accuracy,
            "paths": self.paths,
            "path_extraction_failures": self.path_failures,
            "path_extraction_failure_rate": self.path_failure_rate,
            "paths_checked": self.paths_checked,
            "paths_off_target": self.paths_off_target,
            "path_off_target_rate": self.path_off_target_rate,
        }


_COUNTS = tuple(f.name for f in fields(GroupStats))


@dataclass
class PathStats:
    """Counts over the reasoning paths of one reasoning language (CLSP), across all rows."""

    paths: int = 0
    errors: int = 0
    failures: int = 0
    scored: int = 0
    correct: int = 0
    voted: int = 0
    checked: int = 0
    off_target: int = 0

    def add(self, path: Mapping[str, Any]) -> None:
        self.paths += 1
        if path.get("error") is not None:
            self.errors += 1
        elif path.get("answer") is None:
            self.failures += 1
        if path.get("correct") is not None:
            self.scored += 1
            self.correct += bool(path["correct"])
        self.voted += bool(path.get("voted"))
        if path.get("verdict") is not None:
            self.checked += 1
            self.off_target += path["verdict"] == "off"

    def to_dict(self) -> dict[str, Any]:
        answered = self.paths - self.errors
        return {
            "paths": self.paths,
            "errors": self.errors,
            "extraction_failures": self.failures,
            "extraction_failure_rate": self.failures / answered if answered else None,
            "accuracy": self.correct / self.scored if self.scored else None,
            "voted": self.voted,
            "checked": self.checked,
            "off_target": self.off_target,
            "off_target_rate": self.off_target / self.checked if self.checked else None,
        }


@dataclass
class RunSummary:
    """What a run produced, overall and per language."""

    total: GroupStats = field(default_factory=GroupStats)
    by_lang: dict[str, GroupStats] = field(default_factory=dict)
    by_path_lang: dict[str, PathStats] = field(default_factory=dict)
    error_reasons: Counter[str] = field(default_factory=Counter)
    #: How each row's exemplars were chosen, where a strategy records it (``details.mode``:
    #: LDP's ``diverse`` / ``in-language`` (supervised) / ``zero-shot`` / ``triples`` / ``chain``).
    modes: Counter[str] = field(default_factory=Counter)
    signature: str = ""
    elapsed_s: float = 0.0
    engine_start_s: float = 0.0
    rows_this_session: int = 0

    def to_dict(self) -> dict[str, Any]:
        out = self.total.to_dict()
        out["by_lang"] = {lang: stats.to_dict() for lang, stats in sorted(self.by_lang.items())}
        accuracies = [s.accuracy for s in self.by_lang.values() if s.accuracy is not None]
        out["average"] = sum(accuracies) / len(accuracies) if accuracies else None
        out["by_path_lang"] = {
            lang: stats.to_dict() for lang, stats in sorted(self.by_path_lang.items())
        }
        out["error_reasons"] = dict(self.error_reasons.most_common(10))
        if self.modes:
            out["modes"] = dict(self.modes.most_common())
        out["signature"] = self.signature
        out["elapsed_s"] = round(self.elapsed_s, 3)
        out["engine_start_s"] = round(self.engine_start_s, 3)
        out["rows_this_session"] = self.rows_this_session
        return out


def language_ok(record: Mapping[str, Any]) -> bool:
    """Whether a record's output passed its language check (the last step that was checked).

    No check (not checked, no language asked) counts as passed. A ``mixed``
    output (an off-target line) fails, as in the Language Confusion Benchmark.
    """
    checks: list[Mapping[str, Any]] = []
    for step in record.get("steps") or ():
        if step.get("checks"):
            checks = list(step["checks"])
    if isinstance(record.get("checks"), Mapping):  # translation-job records
        checks = list(record["checks"].values())
    return all(c.get("verdict") not in ("off", "mixed") for c in checks)


def error_reason(message: str) -> str:
    """A short class of an error message, for counting (drops the row-specific prefix)."""
    text = message.split(": ", 1)[1] if message.startswith("row ") and ": " in message else message
    for marker in (" (", "'"):
        cut = text.find(marker)
        if cut > 0:
            text = text[:cut]
    return text.strip()[:80]


def summarize(records: Iterable[Mapping[str, Any]], *, signature: str = "") -> RunSummary:
    """Aggregate result records, overall and per language."""
    summary = RunSummary(signature=signature)
    by_lang = summary.by_lang
    for record in records:
        lang = record.get("lang") or "und"
        group = by_lang.get(lang)
        if group is None:
            group = by_lang[lang] = GroupStats()
        group.add(record)
        for path in (record.get("details") or {}).get("paths") or ():
            if path.get("path"):
                summary.by_path_lang.setdefault(path["path"], PathStats()).add(path)
        if record.get("error"):
            summary.error_reasons[error_reason(str(record["error"]))] += 1
        mode = (record.get("details") or {}).get("mode")
        if isinstance(mode, str):
            summary.modes[mode] += 1
    for group in by_lang.values():  # every record is in one language's group
        summary.total.merge(group)
    return summary
