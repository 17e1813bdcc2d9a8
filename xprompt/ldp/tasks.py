"""Task exemplars in X (classification, QA, summarisation) from English ones and synthetic pairs.

Each English task exemplar's text fields (``text``; ``question`` and
``context``; ``document``) are translated into X with the English -> X LDP
prompt, whose exemplars are the synthetic pairs ``xprompt synth pairs`` built
from unlabelled X text. The gold answer is kept as it is for label tasks (a
canonical label), or translated too (``translate_target``: a QA answer, a
summary). Every translation passes the filters of :mod:`xprompt.ldp.filters`
(the X language check, not a copy of the English, the length ratio); answers
are exempt from the copy filter, since names and numbers rightly stay the same.

The result is an ordinary exemplar pool in X with the task's own columns plus
``lang``, ``kind: task``, ``provenance`` and ``checks``, so the few-shot
``direct`` strategy runs in X with no human-labelled X data::

    xprompt run --strategy direct --exemplars topics.hau.jsonl --shots 4 ...

Rows that fail go to ``<pool>.rejected.jsonl`` with every reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from xprompt import __version__, data, languages
from xprompt.errors import ConfigError
from xprompt.ldp import filters as F
from xprompt.ldp.exemplar_set import ENGLISH, check_output_free, created_timestamp
from xprompt.ldp.synth import SynthResult, rejected_row, step_record, write_result
from xprompt.ldp.translator import LDPTranslator
from xprompt.mt.base import TranslationRequest
from xprompt.signatures import Signature, input_digest
from xprompt.types import Example


@dataclass
class TaskJob:
    """English task exemplars to carry into X (validated at the CLI edge).

    Args:
        input: English task exemplars (JSONL, CSV, TSV).
        output: the X exemplar pool to write.
        lang: the language X.
        fields: columns to translate.
        target_field: the gold answer column (kept, or translated with ``translate_target``).
    """

    input: str
    output: str
    lang: str
    fields: tuple[str, ...] = ("text",)
    target_field: str | None = None
    translate_target: bool = False
    id_field: str = "id"
    lang_field: str = "lang"
    format: str | None = None
    limit: int | None = None
    max_chars: int = 8000
    filters: F.FilterSettings = field(default_factory=F.FilterSettings)
    chunk_size: int = 64
    overwrite: bool = False

    def __post_init__(self) -> None:
        self.lang = languages.resolve(self.lang).code
        if self.lang == ENGLISH:
            raise ConfigError("--lang is the language X to carry the exemplars into, not English")
        if not self.fields:
            raise ConfigError("give at least one field to translate (--field NAME)")
        if self.translate_target and self.target_field is None:
            raise ConfigError("--translate-target needs --target-field")
        if self.target_field is not None and self.target_field in self.fields:
            raise ConfigError(
                f"'{self.target_field}' is both a field to translate and the target field"
            )

    def check_output_free(self) -> None:
        """Before any work: the input exists, and an existing pool is not overwritten unless asked."""
        check_output_free(self.input, self.output, overwrite=self.overwrite)


def synthesize_task_exemplars(
    job: TaskJob,
    translator: LDPTranslator,
    *,
    checker: F.Checker = F.default_check,
    on_stage: Callable[[str], None] | None = None,
) -> SynthResult:
    """Translate English task exemplars into X; write the accepted ones as an X exemplar pool."""

    job.check_output_free()
    note = on_stage or (lambda _stage: None)
    mapping = data.FieldMap(
        id=job.id_field,
        lang=job.lang_field,
        target=job.target_field,
        default_lang=ENGLISH,
        max_chars=job.max_chars,
    )
    items = list(data.read_examples(job.input, job.fields, mapping, fmt=job.format))
    if job.limit is not None:
        items = items[: job.limit]
    name, digest = Path(job.input).name, input_digest(job.input)
    # Task sources are the user's labelled data: only a confident off-target verdict rejects one.
    source_rules = replace(job.filters, english_rule="not-off")
    answer_rules = replace(job.filters, reject_copies=False)
    rejected: list[dict[str, Any]] = []
    ready: list[Example] = []
    for item in items:
        origin = {"source": {"file": name, "sha256": digest, "row": item.index + 1, "id": item.id}}
        if isinstance(item, data.RowError):
            reason = F.Rejection("unreadable-row", item.error)
            rejected.append(
                rejected_row(item.index, item.id, item.lang, None, [reason], provenance=origin)
            )
            continue
        if item.lang != ENGLISH:
            reason = F.Rejection(
                "row-language", f"the row says {item.lang}; task exemplars are carried from English"
            )
            rejected.append(
                rejected_row(item.index, item.id, item.lang, None, [reason], provenance=origin)
            )
            continue
        checks: dict[str, Any] = {}
        reasons: list[F.Rejection] = []
        for column in job.fields:
            found, failed = F.check_source(item.fields[column], ENGLISH, source_rules, checker)
            checks[column] = found
            reasons += [F.Rejection(f"{column}:{r.filter}", r.detail) for r in failed]
        if reasons:
            rejected.append(
                rejected_row(
                    item.index, item.id, ENGLISH, None, reasons, checks=checks, provenance=origin
                )
            )
            continue
        ready.append(item)
    columns = list(job.fields) + (["__target__"] if job.translate_target else [])
    note(f"{len(ready)} of {len(items)} exemplars: {len(columns)} field(s) each -> {job.lang}")
    accepted: list[tuple[int, dict[str, Any]]] = []
    for start in range(0, len(ready), job.chunk_size):
        chunk = ready[start : start + job.chunk_size]
        requests = [
            TranslationRequest(_value(item, column), ENGLISH, job.lang)
            for item in chunk
            for column in columns
        ]
        outputs = translator.translate_detailed(requests)
        for n, item in enumerate(chunk):
            mine = outputs[n * len(columns) : (n + 1) * len(columns)]
            row: dict[str, Any] = {"id": f"{item.id}-{job.lang}", "kind": "task", "lang": job.lang}
            checks = {}
            reasons = []
            steps = {}
            for column, output in zip(columns, mine, strict=True):
                shown = job.target_field if column == "__target__" else column
                assert shown is not None
                steps[shown] = step_record(output, translator)
                if not output.translation.ok:
                    reasons.append(
                        F.Rejection(f"{shown}:generation-error", output.translation.error or "")
                    )
                    continue
                text = output.translation.text or ""
                rules = answer_rules if column == "__target__" else job.filters
                found, failed = F.check_output(
                    _value(item, column), ENGLISH, text, job.lang, rules, checker
                )
                checks[shown] = found
                reasons += [F.Rejection(f"{shown}:{r.filter}", r.detail) for r in failed]
                row[shown] = text
            if job.target_field is not None and not job.translate_target:
                row[job.target_field] = item.target
            provenance = {
                "method": "ldp-task-translation",
                "model": translator.model_identity,
                "created": created_timestamp(),
                "seed": translator.seed,
                "source": {
                    "file": name,
                    "sha256": digest,
                    "row": item.index + 1,
                    "id": item.id,
                    "lang": ENGLISH,
                    "fields": dict(item.fields),
                    **({"target": item.target} if job.target_field else {}),
                },
                "prompt": steps,
                "generator": translator.signature(),
                "filters": job.filters.signature(),
                "xprompt": __version__,
            }
            if reasons:
                candidate = {k: v for k, v in row.items() if k not in ("id", "kind", "lang")}
                rejected.append(
                    rejected_row(
                        item.index,
                        item.id,
                        ENGLISH,
                        None,
                        reasons,
                        candidate=candidate,
                        checks=checks,
                        provenance=provenance,
                    )
                )
                continue
            row["provenance"] = provenance
            row["checks"] = checks
            accepted.append((item.index, row))
    signature = Signature(
        {"synth-task": translator.signature(), "filters": job.filters.signature()}
    ).format()
    return write_result(job.output, accepted, rejected, signature, len(items))


def _value(item: Example, column: str) -> str:
    if column == "__target__":
        assert item.target is not None
        return item.target
    return item.fields[column]
