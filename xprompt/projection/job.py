"""``xprompt project`` as a file job: resumable, one record per sentence (and target language).

translate-train: every input sentence x every target language is one unit;
translate-test: every input sentence is one. Each unit gets exactly one record,
projected or with the reason it failed (a sentence that could not be read is
recorded with its read error). Records are appended and flushed per chunk;
``<output>.meta.json`` names the job, so running the same command after a kill
skips finished units, and a different job refuses to append.

translate-test needs English spans: from ``english_spans`` (a JSONL/CoNLL file of
the tagged translations, matched by id), from a ``tagger`` (``module:function``),
or, with neither, the job only translates and writes the English sentences to
``english_out`` for the user to tag.

At the end: ``<output>.summary.json`` with status counts, failure reasons, search
cost, span P/R/F1 against the gold spans of the input (translate-test) and the
signature; translate-train can also write the projected training file (CoNLL, or
JSONL by extension).
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from xprompt import data, jobs, languages, resume
from xprompt.errors import ConfigError
from xprompt.mt.base import Translator
from xprompt.mt.factory import SELF, TranslatorSettings, build_translator
from xprompt.projection.markers import MarkerProjector
from xprompt.projection.metrics import span_report
from xprompt.projection.pipeline import (
    Method,
    Projector,
    load_tagger,
    translate_test,
    translate_to_pivot,
    translate_train,
)
from xprompt.projection.projector import CodecProjector, CodecSettings
from xprompt.projection.records import ProjectionResult
from xprompt.projection.spans import (
    SentenceError,
    Span,
    SpanSentence,
    parse_span_list,
    read_span_file,
    write_conll,
)
from xprompt.registry import Registry
from xprompt.signatures import Signature, input_digest, version_fields

Direction = Literal["train", "test"]


#: The signature fields that decide a projection job's records.
RESUME_FIELDS = (
    "direction",
    "method",
    "translator",
    "codec",
    "input",
    "lang",
    "tgts",
    "pivot",
    "english_spans",
    "tagger",
    "limit",
)


@dataclass
class ProjectJob:
    """What to project and how (validated at the CLI edge)."""

    direction: Direction
    input: str
    output: str
    translator: TranslatorSettings
    method: Method = "codec"
    codec: CodecSettings = field(default_factory=CodecSettings)
    lang: str | None = None
    tgts: tuple[str, ...] = ()
    pivot: str = "eng_Latn"
    english_spans: str | None = None
    tagger: str | None = None
    english_out: str | None = None
    train_file: str | None = None
    format: str | None = None
    limit: int | None = None
    chunk_size: int = 16
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.direction not in ("train", "test"):
            raise ConfigError(f"direction must be train or test, got '{self.direction}'")
        self.method = PROJECTION_METHODS.canonical(self.method)  # type: ignore[assignment]
        if self.method == "codec" and self.translator.model == SELF:
            raise ConfigError("CODEC needs a seq2seq MT model (forced decoding); 'self' cannot")
        self.lang = languages.resolve(self.lang).code if self.lang else None
        self.tgts = tuple(dict.fromkeys(languages.resolve(t).code for t in self.tgts))
        self.pivot = languages.resolve(self.pivot).code
        if self.direction == "train" and not self.tgts:
            raise ConfigError("translate-train needs at least one --tgt language")
        if self.direction == "test" and self.english_spans and self.tagger:
            raise ConfigError("give --english-spans or --tagger, not both")
        if self.chunk_size < 1:
            raise ConfigError("--chunk-size must be >= 1")

    @property
    def translate_only(self) -> bool:
        """translate-test without spans: only write the English sentences to tag."""
        return self.direction == "test" and not self.english_spans and not self.tagger

    def signature_fields(self, *, inputs: bool = True) -> Signature:
        """Every setting of the job as signature fields (the resume key is a subset).

        ``inputs=False`` leaves out the input files' digests, so a job whose
        inputs do not exist yet (an eval cell before its translate step) can be
        signed; the resume key always has them.
        """
        digest = input_digest if inputs else (lambda path: None)
        return Signature(
            {
                "direction": self.direction,
                "method": self.method,
                "codec": self.codec.signature() if self.method == "codec" else None,
                "translator": self.translator.identity(),
                "pivot": self.pivot,
                "input": digest(self.input),
                "lang": self.lang,
                "tgts": list(self.tgts),
                "english_spans": digest(self.english_spans) if self.english_spans else None,
                "tagger": self.tagger,
                "limit": self.limit,
                **version_fields(),
            }
        )

    def resume_key(self) -> dict[str, Any]:
        """The fields that decide the records."""
        return self.signature_fields().subset(RESUME_FIELDS)

    def signature(self) -> str:
        """The job's signature text (``direction:train|method:codec|codec:(...)|...``).

        Settings only, as before the structured signature: the input digests
        are in the resume key (the meta file), not in the text.
        """
        return self.signature_fields(inputs=False).format()


@dataclass(frozen=True)
class Unit:
    """One output record to produce: a sentence (and, for translate-train, a target language)."""

    index: int
    sentence: SpanSentence | SentenceError
    tgt: str | None

    @property
    def id(self) -> str:
        """The sentence's id (the record's ``id``)."""
        return self.sentence.id


def plan_units(job: ProjectJob) -> list[Unit]:
    """Every unit of the job, in output order (sentence-major)."""
    default = job.lang or ("eng_Latn" if job.direction == "train" else None)
    sentences = read_span_file(job.input, lang=default, fmt=job.format)
    if job.limit is not None:
        sentences = sentences[: job.limit]
    if job.direction == "test":
        return [Unit(n, s, None) for n, s in enumerate(sentences)]
    return [
        Unit(n * len(job.tgts) + k, s, tgt)
        for n, s in enumerate(sentences)
        for k, tgt in enumerate(job.tgts)
    ]


def open_output(job: ProjectJob, units: Sequence[Unit], *, dry_run: bool = False) -> set[int]:
    """Check an existing output belongs to this job; return the unit indices already done (``dry_run``: change no file)."""
    return jobs.open_output(ProjectionRun(job, units=units), dry_run=dry_run)


def read_english(path: str, pivot: str) -> dict[str, tuple[str, tuple[Span, ...]] | str]:
    """Tagged English sentences by id (a bad one maps to its error text)."""
    out: dict[str, tuple[str, tuple[Span, ...]] | str] = {}
    for item in read_span_file(path, lang=pivot):
        if isinstance(item, SentenceError):
            out[item.id] = f"English spans file: {item.error}"
        else:
            out[item.id] = (item.text, item.spans)
    return out


@dataclass
class ProjectResult:
    """What a projection job did, from the whole output file."""

    summary: dict[str, Any]
    rows_this_session: int = 0
    elapsed_s: float = 0.0
    english_out: str | None = None


def marker_projector(job: ProjectJob, translator: Translator) -> Projector:
    """The EasyProject marker baseline: translate the marked sentence, read the markers back."""
    return MarkerProjector(translator)


def codec_projector(job: ProjectJob, translator: Translator) -> Projector:
    """CODEC: constrained search for the markers with the MT model's forced-decoding scores."""
    inner = getattr(translator, "inner", translator)
    if not hasattr(inner, "forced_scores"):
        raise ConfigError("CODEC needs a seq2seq MT model with forced decoding")
    return CodecProjector(inner, job.codec, mt=translator)


#: Projection methods by name: a function ``(job, translator) -> Projector``.
PROJECTION_METHODS = Registry(
    "projection method",
    {
        "codec": "xprompt.projection.job:codec_projector",
        "markers": "xprompt.projection.job:marker_projector",
    },
)


class _Worker:
    """Builds the translator and projector once, then projects chunks of units."""

    def __init__(self, job: ProjectJob) -> None:
        self.job = job
        self.translator = build_translator(job.translator)
        self.projector: Projector = PROJECTION_METHODS.load(job.method)(job, self.translator)
        self.english = read_english(job.english_spans, job.pivot) if job.english_spans else None
        self.tagger = load_tagger(job.tagger) if job.tagger else None

    def close(self) -> None:
        self.translator.close()

    def failed(self, unit: Unit, error: str) -> dict[str, Any]:
        sentence = unit.sentence
        broken = SentenceError(
            unit.index,
            sentence.id,
            f"row {unit.index + 1} (id '{sentence.id}'): {error}",
            lang=sentence.lang,
            text=sentence.text,
        )
        return make_record(Unit(unit.index, broken, unit.tgt), None, None, self.job)

    def run(self, chunk: Sequence[Unit]) -> list[dict[str, Any]]:
        """The records of a chunk (may raise: the executor then isolates its units)."""
        good = [u for u in chunk if isinstance(u.sentence, SpanSentence)]
        results: dict[int, ProjectionResult] = {}
        extra: dict[int, dict[str, Any]] = {}
        if self.job.direction == "train":
            for tgt in self.job.tgts:
                group = [u for u in good if u.tgt == tgt]
                sentences = [u.sentence for u in group]
                for unit, result in zip(
                    group,
                    translate_train(sentences, tgt, self.projector, self.translator),  # type: ignore[arg-type]
                    strict=True,
                ):
                    results[unit.index] = result
        else:
            english = self._english(good, extra)
            sentences = [u.sentence for u in good]
            for unit, result in zip(
                good,
                translate_test(sentences, english, self.projector, self.job.pivot),  # type: ignore[arg-type]
                strict=True,
            ):
                results[unit.index] = result
        return [make_record(u, results.get(u.index), extra.get(u.index), self.job) for u in chunk]

    def _english(
        self, units: Sequence[Unit], extra: dict[int, dict[str, Any]]
    ) -> list[tuple[str, tuple[Span, ...]] | str]:
        """The tagged pivot-language sentence of each unit (recorded in ``extra``), or why not."""
        out: list[tuple[str, tuple[Span, ...]] | str] = []
        if self.english is not None:
            for unit in units:
                found = self.english.get(unit.sentence.id)
                out.append(
                    found
                    if found is not None
                    else f"no English spans for id '{unit.sentence.id}' in {self.job.english_spans}"
                )
        else:
            assert self.tagger is not None
            translations = translate_to_pivot(
                [u.sentence for u in units],  # type: ignore[misc]
                self.translator,
                self.job.pivot,
            )
            texts = [t.text or "" for t in translations]
            spans_of = iter(self.tagger([t for t in texts if t]))
            for translation, text in zip(translations, texts, strict=True):
                if not translation.ok or not text:
                    out.append(f"translation to {self.job.pivot} failed: {translation.error}")
                else:
                    out.append((text, tuple(next(spans_of))))
        for unit, item in zip(units, out, strict=True):
            if not isinstance(item, str):
                extra[unit.index] = {
                    "english": {"text": item[0], "spans": [s.to_dict(item[0]) for s in item[1]]}
                }
        return out


def make_record(
    unit: Unit,
    result: ProjectionResult | None,
    extra: dict[str, Any] | None,
    job: ProjectJob,
) -> dict[str, Any]:
    """The output record of one unit (a read error or a projection result)."""
    sentence = unit.sentence
    record: dict[str, Any] = {
        "index": unit.index,
        "id": sentence.id,
        "method": job.method,
        "direction": job.direction,
    }
    if job.direction == "train":
        record["src"] = sentence.lang
        record["tgt"] = unit.tgt
    else:
        record["lang"] = sentence.lang
    if isinstance(sentence, SentenceError):
        record.update(
            {"source": {"text": sentence.text}, "text": None, "spans": [], "status": "failed"}
        )
        record["reason"] = f"input: {sentence.error}"
        return record
    if job.direction == "train":
        record["source"] = {"text": sentence.text, "spans": sentence.span_dicts()}
    else:
        record["original"] = sentence.text
        record["gold"] = sentence.span_dicts()
    assert result is not None
    record.update(result.to_dict())
    if extra:
        record.update(extra)
    return record


class ProjectionRun(jobs.Job):
    """A :class:`ProjectJob` as a :class:`~xprompt.jobs.Job`: its units, their records, the summary."""

    kind = "projection job"

    def __init__(self, job: ProjectJob, *, units: Sequence[Unit] | None = None) -> None:
        self.job = job
        self.output = job.output
        self.chunk_size = job.chunk_size
        self.overwrite = job.overwrite
        self._units = list(units) if units is not None else None
        self._worker: _Worker | None = None

    def rows(self) -> list[Unit]:
        if self._units is None:
            self._units = plan_units(self.job)
        return self._units

    def resume_key(self) -> dict[str, Any]:
        return self.job.resume_key()

    def meta(self) -> dict[str, Any]:
        return {"signature": self.job.signature()}

    def start(self, gate: jobs.EngineGate) -> None:
        self._worker = _Worker(self.job)

    def close(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.close()

    def process(self, chunk: Sequence[Any]) -> list[dict[str, Any]]:
        assert self._worker is not None
        return self._worker.run(chunk)

    def failed(self, row: Any, error: str) -> dict[str, Any]:
        assert self._worker is not None
        return self._worker.failed(row, error)

    def finish(self, records: Sequence[dict[str, Any]], session: jobs.Session) -> ProjectResult:
        summary = summarize(records, signature=self.job.signature())
        if self.job.train_file:
            summary["train_file"] = {
                "path": self.job.train_file,
                "sentences": write_train_file(self.job),
            }
        return ProjectResult(summary, session.rows_this_session, session.elapsed_s)

    def summary(self, result: ProjectResult) -> dict[str, Any]:
        return result.summary


def execute(
    job: ProjectJob,
    *,
    on_start: Callable[[int, int], None] | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> ProjectResult:
    """Run the pending units (or, translate-test without spans, write the English to tag)."""
    if job.translate_only:
        with resume.lock_output(job.output):
            return _translate_only(job, plan_units(job))
    return jobs.execute(ProjectionRun(job), on_start=on_start, on_rows=on_rows)


def _translate_only(job: ProjectJob, units: Sequence[Unit]) -> ProjectResult:
    target = job.english_out or str(job.output) + ".english.jsonl"
    good = [u for u in units if isinstance(u.sentence, SpanSentence)]
    translator = build_translator(job.translator)
    try:
        translations = translate_to_pivot([u.sentence for u in good], translator, job.pivot)  # type: ignore[misc]
    finally:
        translator.close()
    rows = []
    for unit, translation in zip(good, translations, strict=True):
        row: dict[str, Any] = {"id": unit.sentence.id, "lang": job.pivot, "text": translation.text}
        row["spans"] = []
        if not translation.ok:
            row["error"] = translation.error
        rows.append(row)
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    Path(target).write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    bad = len(units) - len(good)
    return ProjectResult(
        {"translated": len(rows), "unreadable": bad, "english_out": target},
        english_out=target,
    )


def summarize(records: Sequence[dict[str, Any]], *, signature: str = "") -> dict[str, Any]:
    """Status counts, failure reasons, search cost and (with gold spans) P/R/F1 of saved records."""
    statuses = Counter(r.get("status", "failed") for r in records)
    reasons = Counter(
        (r.get("reason") or "unknown")[:120] for r in records if r.get("status") != "projected"
    )
    problems = Counter(
        r["stats"]["marker_problem"]
        for r in records
        if (r.get("stats") or {}).get("marker_problem")
    )
    calls = [r["stats"]["calls"] for r in records if "calls" in (r.get("stats") or {})]
    sequences = [r["stats"]["sequences"] for r in records if "sequences" in (r.get("stats") or {})]
    summary: dict[str, Any] = {
        "units": len(records),
        "status": {k: statuses.get(k, 0) for k in ("projected", "partial", "failed")},
        "failure_reasons": dict(reasons.most_common(10)),
        "signature": signature,
    }
    if problems:
        summary["marker_problems"] = dict(problems)
    rerank: Counter[str] = Counter()
    for r in records:
        rerank.update((r.get("stats") or {}).get("rerank") or {})
    if rerank:
        # How often each CODEC re-ranking rule decided an entity's span.
        summary["rerank"] = dict(rerank.most_common())
    if calls:
        summary["search"] = {
            "sentences_searched": len(calls),
            "calls_per_sentence": round(sum(calls) / len(calls), 2),
            "sequences_per_sentence": round(sum(sequences) / len(sequences), 2),
        }
    scored = [r for r in records if "gold" in r]
    if scored:
        summary["spans"] = span_report(
            (
                r.get("lang") or "und",
                parse_span_list(r["gold"], r.get("original") or ""),
                parse_span_list(r.get("spans") or [], r.get("text") or ""),
            )
            for r in scored
        ).to_dict()
    return summary


def write_train_file(job: ProjectJob) -> int:
    """Write the fully projected translate-train sentences (CoNLL, or JSONL by extension)."""
    assert job.train_file is not None
    records = [r for r in data.read_records(job.output) if r.get("status") == "projected"]
    rows = []
    for r in records:
        spans = parse_span_list(r["spans"], r["text"])
        ordered = sorted(spans)
        if any(a.overlaps(b) for a, b in itertools.pairwise(ordered)):
            continue  # nested spans (of different types) have no BIO form
        rows.append((f"{r['id']}-{r['tgt']}", r["tgt"], r["text"], spans))
    if Path(job.train_file).suffix.lower() in (".jsonl", ".json"):
        Path(job.train_file).parent.mkdir(parents=True, exist_ok=True)
        with open(job.train_file, "w", encoding="utf-8") as handle:
            for row_id, lang, text, spans in rows:
                payload = {"id": row_id, "lang": lang, "text": text}
                payload["spans"] = [s.to_dict(text) for s in spans]
                handle.write(json.dumps(payload, ensure_ascii=False) + "\n")
        return len(rows)
    return write_conll(job.train_file, rows)
