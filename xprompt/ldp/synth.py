"""Build synthetic exemplar sets from unlabelled text: English <-> X pairs and X -> Y triples.

**Pairs** (``synthesize_pairs``): the X -> English LDP prompt (diverse
high-resource exemplars) translates each unlabelled X sentence ``x_j`` into
English ``e_j``; the pair is kept when ``x_j`` passes the language check and
``e_j`` passes the output filters (:mod:`xprompt.ldp.filters`), and optionally
the round trip: ``e_j`` translated back into X with an English -> X prompt made
of the *other* candidates, scored with chrF++ against ``x_j``. Kept pairs are
written as English -> X exemplars ``(e_j, x_j)``: the X side is genuine X text,
which anchors the output language.

**Triples** (``synthesize_triples``): ``x_j -> e_j`` as above, then ``e_j -> y_j``
with the English -> Y exemplars of a Y set; kept when both legs pass.

Nothing is lost: every input row ends up either in the set or in
``<set>.rejected.jsonl`` with every reason it was rejected (unreadable row,
duplicate, source language, generation error, each failed filter), and
``<set>.summary.json`` counts them. Greedy decoding and seeded exemplar
selection make a build deterministic; ``$SOURCE_DATE_EPOCH`` pins the
timestamps for byte-identical files.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xprompt import __version__, data, languages
from xprompt.errors import ConfigError
from xprompt.isolation import fault, per_item
from xprompt.ldp import filters as F
from xprompt.ldp.exemplar_set import (
    ENGLISH,
    SetRecord,
    check_output_free,
    created_timestamp,
    rejected_path,
    summary_path,
    write_jsonl,
)
from xprompt.ldp.translator import LDPOutput, LDPTranslator
from xprompt.mt.base import Translation, TranslationRequest
from xprompt.signatures import Signature, input_digest


@dataclass(frozen=True)
class SourceRow:
    """One readable, unique input row waiting for generation."""

    index: int
    id: str
    text: str
    checks: dict[str, Any] = field(default_factory=dict)


@dataclass
class SynthResult:
    """What a build produced: accepted rows, rejected rows (with reasons), counts, signature."""

    accepted: list[dict[str, Any]]
    rejected: list[dict[str, Any]]
    signature: str
    inputs: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def reasons(self) -> Counter[str]:
        """How many rejected rows each filter rejected (a row may count under several)."""
        counts: Counter[str] = Counter()
        for row in self.rejected:
            for reason in {r["filter"] for r in row["rejected"]}:
                counts[reason] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        """JSON form for ``<set>.summary.json`` and ``--json``."""
        return {
            "inputs": self.inputs,
            "accepted": len(self.accepted),
            "rejected": len(self.rejected),
            "rejected_by_filter": dict(sorted(self.reasons.items())),
            "signature": self.signature,
            **self.extra,
        }


@dataclass
class SynthJob:
    """Where the unlabelled sentences are and where the set goes (validated at the CLI edge).

    ``lang`` is the language X of the sentences; rows with a language column in
    another language are rejected (``row-language``). ``target_lang`` is Y for
    triples (None for pairs).
    """

    input: str
    output: str
    lang: str
    target_lang: str | None = None
    text_field: str = "text"
    id_field: str = "id"
    lang_field: str = "lang"
    format: str | None = None
    limit: int | None = None
    max_chars: int = 2000
    filters: F.FilterSettings = field(default_factory=F.FilterSettings)
    chunk_size: int = 256
    overwrite: bool = False

    def __post_init__(self) -> None:
        self.lang = languages.resolve(self.lang).code
        if self.lang == ENGLISH:
            raise ConfigError(
                "synthetic pairs are built from unlabelled text in the language X you want "
                "exemplars for, not English (--lang is X)"
            )
        if self.target_lang is not None:
            self.target_lang = languages.resolve(self.target_lang).code
            if self.target_lang in (ENGLISH, self.lang):
                raise ConfigError(
                    f"triples need a target language other than English and {self.lang}"
                )
        if self.chunk_size < 1:
            raise ConfigError("--chunk-size must be >= 1")

    def input_sha(self) -> str:
        """SHA-256 prefix of the input file (computed once), for provenance."""
        if not hasattr(self, "_sha"):
            self._sha = input_digest(self.input)
        return self._sha

    def check_output_free(self) -> None:
        """Before any work: the input exists, and an existing set is not overwritten unless asked."""
        check_output_free(self.input, self.output, overwrite=self.overwrite)


def rejected_row(
    index: int,
    row_id: str,
    lang: str | None,
    source: str | None,
    reasons: Sequence[F.Rejection],
    *,
    candidate: dict[str, Any] | None = None,
    checks: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One row of the rejected file: where it came from, what was generated, every reason."""
    return {
        "index": index,
        "id": row_id,
        "lang": lang,
        "source": source,
        "candidate": candidate or {},
        "rejected": [r.to_dict() for r in reasons],
        "checks": checks or {},
        "provenance": provenance or {},
    }


def read_sources(
    job: SynthJob, checker: F.Checker = F.default_check
) -> tuple[list[SourceRow], list[dict[str, Any]], int]:
    """Readable, unique rows that pass the source-language filter; rejected rows; input count."""
    mapping = data.FieldMap(
        id=job.id_field, lang=job.lang_field, default_lang=job.lang, max_chars=job.max_chars
    )
    items = list(data.read_examples(job.input, [job.text_field], mapping, fmt=job.format))
    if job.limit is not None:
        items = items[: job.limit]
    digest = job.input_sha()
    name = Path(job.input).name
    sources: list[SourceRow] = []
    rejected: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for item in items:
        origin = {"source": {"file": name, "sha256": digest, "row": item.index + 1, "id": item.id}}
        if isinstance(item, data.RowError):
            reason = F.Rejection("unreadable-row", item.error)
            rejected.append(
                rejected_row(item.index, item.id, item.lang, None, [reason], provenance=origin)
            )
            continue
        text = item.fields[job.text_field].strip()
        if item.lang != job.lang:
            reason = F.Rejection(
                "row-language", f"the row says {item.lang}, this set is for {job.lang}"
            )
            rejected.append(
                rejected_row(item.index, item.id, item.lang, text, [reason], provenance=origin)
            )
            continue
        key = " ".join(text.casefold().split())
        if key in seen:
            reason = F.Rejection("duplicate", f"same text as row {seen[key] + 1}")
            rejected.append(
                rejected_row(item.index, item.id, item.lang, text, [reason], provenance=origin)
            )
            continue
        seen[key] = item.index
        try:
            checks, reasons = F.check_source(text, job.lang, job.filters, checker)
        except Exception as exc:  # one row's failing check rejects that row only
            checks, reasons = {}, [F.Rejection("check-error", fault(exc))]
        if reasons:
            rejected.append(
                rejected_row(
                    item.index, item.id, item.lang, text, reasons, checks=checks, provenance=origin
                )
            )
            continue
        sources.append(SourceRow(item.index, item.id, text, checks))
    return sources, rejected, len(items)


def _translate(
    translator: LDPTranslator, texts: Sequence[str], src: str, tgt: str, chunk_size: int
) -> list[LDPOutput]:
    out: list[LDPOutput] = []

    def failed(request: TranslationRequest, error: str) -> LDPOutput:
        return LDPOutput(Translation(request.text, src, tgt, None, error=error))

    for start in range(0, len(texts), chunk_size):
        chunk = [TranslationRequest(t, src, tgt) for t in texts[start : start + chunk_size]]
        out.extend(per_item(translator.translate_detailed, chunk, failed))
    return out


def step_record(output: LDPOutput, translator: LDPTranslator) -> dict[str, Any]:
    """How one translation step was prompted, for provenance."""
    assert translator.prompt is not None
    return {
        "template": f"{translator.prompt.pair_template.name}@{translator.prompt.pair_template.digest}",
        "tags": translator.tags,
        "shots": translator.shots,
        "mode": output.mode,
        "exemplars": list(output.exemplar_ids),
        "prompt_digests": list(output.prompt_digests),
    }


def _leg(
    texts: Sequence[str],
    src: str,
    tgt: str,
    translator: LDPTranslator,
    job: SynthJob,
    checker: F.Checker,
) -> list[tuple[LDPOutput, dict[str, Any], list[F.Rejection]]]:
    """Translate ``texts`` (one per source row) and filter every output."""
    outputs = _translate(translator, texts, src, tgt, job.chunk_size)
    results = []
    for text, output in zip(texts, outputs, strict=True):
        if not output.translation.ok:
            reason = F.Rejection("generation-error", output.translation.error or "failed")
            results.append((output, {}, [reason]))
            continue
        try:
            checks, reasons = F.check_output(
                text, src, output.translation.text or "", tgt, job.filters, checker
            )
        except Exception as exc:  # one output's failing check rejects that output only
            checks, reasons = {}, [F.Rejection("check-error", fault(exc))]
        results.append((output, checks, reasons))
    return results


def _roundtrip(
    pairs: Sequence[tuple[SourceRow, str]],
    lang: str,
    translator: LDPTranslator,
    job: SynthJob,
) -> list[tuple[dict[str, Any], list[F.Rejection]]]:
    """Back-translate each English side into X with the *other* candidates as exemplars."""
    settings = job.filters
    if settings.roundtrip_chrf is None:
        return [({}, []) for _ in pairs]
    pool = [
        SetRecord(f"rt{i}", ENGLISH, english, row.text, lang)
        for i, (row, english) in enumerate(pairs)
    ]
    shots = min(translator.shots, len(pool) - 1)
    if shots < 1:
        reason = F.Rejection(
            "roundtrip-error",
            "fewer than 2 candidates passed the other filters, so there is no English -> X "
            "prompt to translate back with",
        )
        return [({}, [reason]) for _ in pairs]
    back = LDPTranslator(
        translator.backend,
        pool,
        shots=shots,
        tags=translator.tags,
        select=translator.select,
        seed=translator.seed,
        sampling=translator.sampling,
        prompt_format=translator.prompt_format,
        prompt=translator.prompt,
    )
    outputs = _translate(back, [english for _, english in pairs], ENGLISH, lang, job.chunk_size)
    return [
        F.check_roundtrip(row.text, out.translation.text, out.translation.error, settings)
        for (row, _), out in zip(pairs, outputs, strict=True)
    ]


def _provenance(
    job: SynthJob, row: SourceRow, translator: LDPTranslator, method: str, **steps: Any
) -> dict[str, Any]:
    return {
        "method": method,
        "model": translator.model_identity,
        "created": created_timestamp(),
        "seed": translator.seed,
        "source": {
            "file": Path(job.input).name,
            "sha256": job.input_sha(),
            "row": row.index + 1,
            "id": row.id,
        },
        **steps,
        "generator": translator.signature(),
        "filters": job.filters.signature(),
        "xprompt": __version__,
    }


def write_result(
    output: str,
    accepted: list[tuple[int, dict[str, Any]]],
    rejected: list[dict[str, Any]],
    signature: str,
    inputs: int,
) -> SynthResult:
    """Sort, check that no row was lost, write the set, its rejected file and its summary."""
    accepted.sort(key=lambda item: item[0])
    rejected.sort(key=lambda row: row["index"])
    result = SynthResult([row for _, row in accepted], rejected, signature, inputs)
    if len(result.accepted) + len(result.rejected) != inputs:  # the no-loss invariant
        raise AssertionError(
            f"{inputs} input rows but {len(result.accepted)} accepted + {len(result.rejected)} rejected"
        )
    write_jsonl(output, result.accepted)
    write_jsonl(rejected_path(output), result.rejected)
    summary_path(output).write_text(
        json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return result


def synthesize_pairs(
    job: SynthJob,
    translator: LDPTranslator,
    *,
    checker: F.Checker = F.default_check,
    on_stage: Callable[[str], None] | None = None,
) -> SynthResult:
    """Build English -> X exemplar pairs from the unlabelled X sentences of ``job.input``."""
    job.check_output_free()
    note = on_stage or (lambda _stage: None)
    sources, rejected, inputs = read_sources(job, checker)
    note(f"{len(sources)} of {inputs} rows to translate into English")
    legs = _leg([s.text for s in sources], job.lang, ENGLISH, translator, job, checker)
    passed: list[tuple[SourceRow, LDPOutput, dict[str, Any]]] = []
    for row, (output, checks, reasons) in zip(sources, legs, strict=True):
        all_checks = {**row.checks, **checks}
        provenance = _provenance(
            job, row, translator, "ldp-back-translation", prompt=step_record(output, translator)
        )
        if reasons:
            rejected.append(
                rejected_row(
                    row.index,
                    row.id,
                    job.lang,
                    row.text,
                    reasons,
                    candidate={"text": output.translation.text, "lang": ENGLISH},
                    checks=all_checks,
                    provenance=provenance,
                )
            )
            continue
        passed.append((row, output, all_checks))
    if job.filters.roundtrip_chrf is not None:
        note(f"round trip over {len(passed)} candidates")
    trips = _roundtrip(
        [(row, out.translation.text or "") for row, out, _ in passed], job.lang, translator, job
    )
    accepted: list[tuple[int, dict[str, Any]]] = []
    for (row, output, checks), (rt_checks, reasons) in zip(passed, trips, strict=True):
        english = output.translation.text or ""
        all_checks = {**checks, **rt_checks}
        provenance = _provenance(
            job, row, translator, "ldp-back-translation", prompt=step_record(output, translator)
        )
        if reasons:
            rejected.append(
                rejected_row(
                    row.index,
                    row.id,
                    job.lang,
                    row.text,
                    reasons,
                    candidate={"text": english, "lang": ENGLISH},
                    checks=all_checks,
                    provenance=provenance,
                )
            )
            continue
        record = SetRecord(
            f"ldp-{job.lang}-{row.id}",
            ENGLISH,
            english,
            row.text,
            job.lang,
            provenance=provenance,
            checks=all_checks,
        )
        accepted.append((row.index, record.to_dict()))
    signature = Signature(
        {"synth-pairs": translator.signature(), "filters": job.filters.signature()}
    ).format()
    return write_result(job.output, accepted, rejected, signature, inputs)


def synthesize_triples(
    job: SynthJob,
    translator: LDPTranslator,
    *,
    checker: F.Checker = F.default_check,
    on_stage: Callable[[str], None] | None = None,
) -> SynthResult:
    """Build X -> English -> Y triples: X sentences to English (diverse), then to Y (Y's pairs)."""
    if job.target_lang is None:
        raise ConfigError("triples need a target language (--tgt)")
    tgt = job.target_lang
    job.check_output_free()
    note = on_stage or (lambda _stage: None)
    sources, rejected, inputs = read_sources(job, checker)
    note(f"{len(sources)} of {inputs} rows: {job.lang} -> English")
    first = _leg([s.text for s in sources], job.lang, ENGLISH, translator, job, checker)
    middle: list[tuple[SourceRow, LDPOutput, dict[str, Any]]] = []
    for row, (output, checks, reasons) in zip(sources, first, strict=True):
        if reasons:
            rejected.append(
                rejected_row(
                    row.index,
                    row.id,
                    job.lang,
                    row.text,
                    [F.Rejection(f"english-{r.filter}", r.detail) for r in reasons],
                    candidate={"pivot": output.translation.text},
                    checks={**row.checks, "english": checks},
                    provenance=_provenance(
                        job, row, translator, "ldp-chain", english=step_record(output, translator)
                    ),
                )
            )
            continue
        middle.append((row, output, {**row.checks, "english": checks}))
    note(f"{len(middle)} English sentences -> {tgt}")
    englishes = [out.translation.text or "" for _, out, _ in middle]
    second = _leg(englishes, ENGLISH, tgt, translator, job, checker)
    accepted: list[tuple[int, dict[str, Any]]] = []
    for (row, out1, checks1), english, (out2, checks2, reasons) in zip(
        middle, englishes, second, strict=True
    ):
        provenance = _provenance(
            job,
            row,
            translator,
            "ldp-chain",
            english=step_record(out1, translator),
            target=step_record(out2, translator),
        )
        checks = {**checks1, "target": checks2}
        if reasons:
            rejected.append(
                rejected_row(
                    row.index,
                    row.id,
                    job.lang,
                    row.text,
                    [F.Rejection(f"target-{r.filter}", r.detail) for r in reasons],
                    candidate={"pivot": english, "target": out2.translation.text},
                    checks=checks,
                    provenance=provenance,
                )
            )
            continue
        record = SetRecord(
            f"ldp-{job.lang}-{tgt}-{row.id}",
            job.lang,
            row.text,
            out2.translation.text or "",
            tgt,
            kind="triple",
            pivot=english,
            pivot_lang=ENGLISH,
            provenance=provenance,
            checks=checks,
        )
        accepted.append((row.index, record.to_dict()))
    signature = Signature(
        {"synth-triples": translator.signature(), "filters": job.filters.signature()}
    ).format()
    return write_result(job.output, accepted, rejected, signature, inputs)
