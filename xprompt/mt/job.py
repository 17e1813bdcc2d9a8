"""Batch-translate a file (``xprompt translate``): resumable, cached, one record per input row.

Input: JSONL, CSV, TSV or plain text (one segment per line), read like every
other dataset (:mod:`xprompt.data`): a row that is bad (malformed, a missing or
empty field, an unknown language, a duplicate id) gets a record with its error.
Each chunk of rows (all their fields) goes to the translator in one call; the
records are appended and flushed per chunk. ``<output>.meta.json`` says which job
the file belongs to; running the same command again after a kill skips the rows
that have a record, and the translation cache makes the chunk that was in
flight cheap. A row already in the target language is not translated (its
translation is the source, flagged ``skipped``).

Record::

    {"index": 0, "id": "t001", "src": "hau_Latn", "tgt": "eng_Latn",
     "source": {"text": "..."}, "translation": {"text": "..."},
     "mt": {"text": {"logprob": -3.2, "tokens": 12, "segments": 1, "cached": false}},
     "checks": {"text": {"verdict": "on", ...}}, "copy": {"text": false},
     "reference": "...", "error": null}

At the end (and with ``xprompt translate-score``, from the saved file alone) a
report gives BLEU, chrF and chrF++ against the references (with signatures),
and always the off-target and copy-of-source rates, overall and per language pair.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from xprompt import data, jobs, langid, languages
from xprompt.errors import ConfigError
from xprompt.mt.base import Translation, TranslationRequest, Translator, model_identity
from xprompt.mt.factory import SELF, TranslatorSettings, build_translator
from xprompt.mt.metrics import MTReport, MTRow, grouped_report, is_copy
from xprompt.resume import meta_path
from xprompt.signatures import Signature, input_digest, version_fields
from xprompt.types import Example, LangCheck

#: The signature fields that decide a translate job's records.
RESUME_FIELDS = ("mt", "tgt", "src", "fields", "reference", "input", "limit")


@dataclass
class TranslateJob:
    """A file to translate and how (validated at the CLI edge)."""

    input: str
    output: str
    translator: TranslatorSettings
    tgt: str = "eng_Latn"
    src: str | None = None
    fields: tuple[str, ...] = ("text",)
    id_field: str = "id"
    lang_field: str = "lang"
    ref_field: str | None = None
    format: str | None = None
    max_chars: int = data.MAX_FIELD_CHARS
    limit: int | None = None
    chunk_size: int = 256
    langid: bool = True
    overwrite: bool = False
    llm: Any = None  # a Backend for self-translate, built by the caller

    def __post_init__(self) -> None:
        self.tgt = languages.resolve(self.tgt).code
        if self.src is not None:
            self.src = languages.resolve(self.src).code
        if not self.fields:
            raise ConfigError("give at least one field to translate (--field NAME)")
        if self.ref_field is not None and len(self.fields) != 1:
            raise ConfigError("--ref-field needs exactly one --field (the reference translates it)")
        if self.chunk_size < 1:
            raise ConfigError("--chunk-size must be >= 1")
        if self.translator.model == SELF and not self.translator.self_translate.exemplars:
            raise ConfigError(
                "self-translate needs an exemplar file of translation pairs (--exemplars FILE; rows: "
                "lang, text, target, target_lang; e.g. examples/mt/topics.pairs.jsonl)"
            )
        self.translator.identity()  # reads the exemplar file now, before any engine starts

    def mt_identity(self) -> str:
        """The translator's identity, with the LLM's for self-translate and other LLM translators."""
        identity = self.translator.identity()
        if self.llm is not None:
            identity += f"@llm={model_identity(self.llm.model_id)}"
        return identity

    def signature_fields(self) -> Signature:
        """Every setting of the job as signature fields (the resume key is a subset)."""
        return Signature(
            {
                "mt": self.mt_identity(),
                "tgt": self.tgt,
                "src": self.src,
                "fields": list(self.fields),
                "reference": self.ref_field,
                "input": input_digest(self.input),
                "limit": self.limit,
                "langid": "on" if self.langid else "off",
                **version_fields(),
            }
        )

    def resume_key(self) -> dict[str, Any]:
        """The fields that decide the records (``translator`` is the ``mt`` field, its old name)."""
        key = self.signature_fields().subset(RESUME_FIELDS)
        return {"translator": key.pop("mt"), **key}

    def signature(self) -> str:
        """The job's signature text (``mt:...|tgt:...|...|xprompt:...``)."""
        return self.signature_fields().format()


@dataclass
class JobResult:
    """What a translate job produced: its reports (overall and per pair) and bookkeeping."""

    reports: dict[str, MTReport]
    signature: str
    rows: int = 0
    rows_this_session: int = 0
    elapsed_s: float = 0.0
    cache_hits: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "rows_this_session": self.rows_this_session,
            "elapsed_s": round(self.elapsed_s, 3),
            "cache_hits": self.cache_hits,
            "signature": self.signature,
            "reports": {k: r.to_dict() for k, r in self.reports.items()},
        }


def read_rows(job: TranslateJob) -> list[Example | data.RowError]:
    """Every input row as an Example (fields = the fields to translate, target = reference) or a RowError."""
    mapping = data.FieldMap(
        id=job.id_field,
        lang=job.lang_field,
        target=job.ref_field,
        default_lang=job.src,
        max_chars=job.max_chars,
    )
    rows = list(data.read_examples(job.input, job.fields, mapping, fmt=job.format))
    return rows[: job.limit] if job.limit is not None else rows


def open_output(
    job: TranslateJob, rows: Sequence[Example | data.RowError], *, dry_run: bool = False
) -> set[int]:
    """Check an existing output belongs to this job; return the indices already done (``dry_run``: change no file)."""
    return jobs.open_output(TranslationRun(job, rows=rows), dry_run=dry_run)


def _error_record(row: data.RowError, job: TranslateJob) -> dict[str, Any]:
    return {
        "index": row.index,
        "id": row.id,
        "src": row.lang,
        "tgt": job.tgt,
        "source": {},
        "translation": {},
        "error": row.error,
    }


def make_record(
    example: Example, results: dict[str, Translation] | None, job: TranslateJob
) -> dict[str, Any]:
    """The output record of one row (``results`` None: the row is already in the target language)."""
    record: dict[str, Any] = {
        "index": example.index,
        "id": example.id,
        "src": example.lang,
        "tgt": job.tgt,
        "source": dict(example.fields),
    }
    if results is None:
        record["translation"] = dict(example.fields)
        record["skipped"] = "source is in the target language"
        record["error"] = None
    else:
        record["translation"] = {n: t.text for n, t in results.items()}
        record["mt"] = {n: t.to_dict() for n, t in results.items()}
        errors = [f"field '{n}': {t.error}" for n, t in results.items() if not t.ok]
        record["error"] = "; ".join(errors) or None
    if job.langid:
        record["checks"] = {
            n: langid.check(text, job.tgt).to_dict()
            for n, text in record["translation"].items()
            if text is not None
        }
    record["copy"] = {
        n: is_copy(text, example.fields[n])
        for n, text in record["translation"].items()
        if text is not None
    }
    if job.ref_field is not None:
        record["reference"] = example.target
    return record


class TranslationRun(jobs.Job):
    """A :class:`TranslateJob` as a :class:`~xprompt.jobs.Job`: rows, records and the MT report.

    ``translator``: one to use (evals share one); otherwise one is built from
    the job's settings, only if some row still needs translating. ``rows``: the
    input rows when the caller has read them already.
    """

    kind = "translation job"

    def __init__(
        self,
        job: TranslateJob,
        *,
        translator: Translator | None = None,
        bootstrap: int = 0,
        spm_model: str | None = None,
        rows: Sequence[Example | data.RowError] | None = None,
    ) -> None:
        self.job = job
        self.output = job.output
        self.chunk_size = job.chunk_size
        self.overwrite = job.overwrite
        self.translator = translator
        self.bootstrap = bootstrap
        self.spm_model = spm_model
        self._owned: Translator | None = None
        self._rows = list(rows) if rows is not None else None

    def rows(self) -> list[Example | data.RowError]:
        if self._rows is None:
            self._rows = read_rows(self.job)
        return self._rows

    def resume_key(self) -> dict[str, Any]:
        return self.job.resume_key()

    def meta(self) -> dict[str, Any]:
        return {"signature": self.job.signature()}

    def needs_engine(self, row: Any) -> bool:
        return isinstance(row, Example)

    def start(self, gate: jobs.EngineGate) -> None:
        if self.translator is None:
            self._owned = self.translator = build_translator(self.job.translator, llm=self.job.llm)

    def close(self) -> None:
        owned, self._owned = self._owned, None
        if owned is not None:
            owned.close()

    def process(self, chunk: Sequence[Any]) -> list[dict[str, Any]]:
        return _translate_rows(chunk, self.job, self.translator)

    def failed(self, row: Any, error: str) -> dict[str, Any]:
        message = f"row {row.index + 1} (id '{row.id}'): {error}"
        return _error_record(data.RowError(row.index, row.id, message, lang=row.lang), self.job)

    def finish(self, records: Sequence[dict[str, Any]], session: jobs.Session) -> JobResult:
        result = score_records(
            records,
            signature=self.job.signature(),
            bootstrap=self.bootstrap,
            spm_model=self.spm_model,
        )
        result.rows_this_session = session.rows_this_session
        result.elapsed_s = session.elapsed_s
        result.cache_hits = getattr(self.translator, "hits", 0)
        return result

    def summary(self, result: JobResult) -> dict[str, Any]:
        return result.to_dict()


def execute(
    job: TranslateJob,
    *,
    translator: Translator | None = None,
    on_start: Callable[[int, int], None] | None = None,
    on_rows: Callable[[int], None] | None = None,
    bootstrap: int = 0,
    spm_model: str | None = None,
) -> JobResult:
    """Translate the pending rows, then score the whole output file."""
    run = TranslationRun(job, translator=translator, bootstrap=bootstrap, spm_model=spm_model)
    return jobs.execute(run, on_start=on_start, on_rows=on_rows)


def _translate_rows(
    chunk: Sequence[Example | data.RowError], job: TranslateJob, translator: Translator | None
) -> list[dict[str, Any]]:
    requests: list[TranslationRequest] = []
    owners: list[tuple[int, str]] = []
    for position, row in enumerate(chunk):
        if isinstance(row, Example) and row.lang != job.tgt:
            for name in job.fields:
                requests.append(TranslationRequest(row.fields[name], row.lang, job.tgt))
                owners.append((position, name))
    results: dict[int, dict[str, Translation]] = {}
    if requests:
        assert translator is not None
        for (position, name), result in zip(owners, translator.translate(requests), strict=True):
            results.setdefault(position, {})[name] = result
    records = []
    for position, row in enumerate(chunk):
        if isinstance(row, data.RowError):
            records.append(_error_record(row, job))
        else:
            records.append(make_record(row, results.get(position), job))
    return records


def score_file(
    path: str | os.PathLike[str],
    *,
    signature: str = "",
    bootstrap: int = 0,
    spm_model: str | None = None,
) -> JobResult:
    """Score a saved translation file (no model needed): one MTRow per translated field."""
    if not signature:
        meta = meta_path(path)
        if meta.exists():
            signature = json.loads(meta.read_text(encoding="utf-8")).get("signature", "")
    return score_records(
        data.read_records(path), signature=signature, bootstrap=bootstrap, spm_model=spm_model
    )


def score_records(
    records: Sequence[dict[str, Any]],
    *,
    signature: str = "",
    bootstrap: int = 0,
    spm_model: str | None = None,
) -> JobResult:
    """Score saved translation records: one MTRow per translated field."""
    mt_rows: list[MTRow] = []
    for record in records:
        translations = record.get("translation") or {}
        checks = record.get("checks") or {}
        if not translations:  # a row that could not be read: count it as a failed translation
            mt_rows.append(MTRow("", None, record.get("tgt") or "und", record.get("src") or "und"))
            continue
        for name, source in (record.get("source") or {}).items():
            stored = checks.get(name)
            check = (
                LangCheck(
                    **{
                        k: stored[k]
                        for k in ("expected", "verdict", "detected", "confidence", "rule")
                    }
                )
                if stored
                else None
            )
            mt_rows.append(
                MTRow(
                    source=source,
                    hypothesis=translations.get(name),
                    tgt=record["tgt"],
                    src=record.get("src") or "und",
                    reference=record.get("reference"),
                    check=check,
                )
            )
    reports = grouped_report(mt_rows, bootstrap=bootstrap, spm_model=spm_model) if mt_rows else {}
    return JobResult(reports=reports, signature=signature, rows=len(records))
