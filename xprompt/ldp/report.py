"""Compare the LDP preset with zero-shot and supervised few-shot prompting on one test file.

Conditions, all with the same LLM, layout, tag style and decoding:

- ``zero-shot``: the layout and tags alone, no exemplars (native tags when
  the LDP tag style is ``none``, since an untagged zero-shot prompt gives the
  model no cue at all);
- ``ldp``: the preset: X -> English with diverse high-resource pairs; English
  -> X with the synthetic in-language pairs of ``--pairs``; X -> Y through
  English (triples from ``--pairs``, or two chained steps);
- ``supervised``: the same number of human parallel pairs in the direction of
  the query (``--parallel``; each pair also serves reversed), when the user has
  parallel data.

Each condition writes ``<dir>/<condition>.jsonl``: one record per test row
(translation or error, its language check, copy flag, exemplar ids), and the
report gives chrF++ (sacrebleu ``CHRF(word_order=2)``, with BLEU and chrF) and
the off-target and copy rates per condition, each with its signature, in
``<dir>/report.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xprompt import data, langid, languages
from xprompt.backends.base import Backend
from xprompt.errors import ConfigError
from xprompt.ldp.exemplar_set import (
    DEFAULT_DIVERSE_LANGS,
    DEFAULT_DIVERSE_SET,
    SetRecord,
    read_set,
    read_sets,
    write_jsonl,
)
from xprompt.ldp.prompt import TagStyle
from xprompt.ldp.translator import DEFAULT_SHOTS, LDPOutput, LDPTranslator
from xprompt.mt.base import TranslationRequest
from xprompt.mt.metrics import MTReport, MTRow, is_copy, report
from xprompt.signatures import engine_versions, input_digest
from xprompt.types import Example, Sampling

CONDITIONS: tuple[str, ...] = ("zero-shot", "ldp", "supervised")


@dataclass
class CompareJob:
    """A test file with references, and the exemplar sets each condition draws from."""

    input: str
    output_dir: str
    tgt: str = "eng_Latn"
    src: str | None = None
    text_field: str = "text"
    ref_field: str = "reference"
    id_field: str = "id"
    lang_field: str = "lang"
    format: str | None = None
    limit: int | None = None
    pairs: tuple[str, ...] = ()
    parallel: str | None = None
    diverse_set: str | None = str(DEFAULT_DIVERSE_SET)
    diverse_langs: tuple[str, ...] = DEFAULT_DIVERSE_LANGS
    shots: int = DEFAULT_SHOTS
    tags: TagStyle = "native"
    select: str = "first"
    seed: int = 0
    sampling: Sampling = field(
        default_factory=lambda: Sampling(temperature=0.0, max_tokens=128, stop=("\n",), seed=0)
    )
    prompt_format: str = "raw"
    chunk_size: int = 256
    bootstrap: int = 0
    overwrite: bool = False

    def __post_init__(self) -> None:
        self.tgt = languages.resolve(self.tgt).code
        if self.src is not None:
            self.src = languages.resolve(self.src).code
        if self.shots < 1:
            raise ConfigError("--shots must be >= 1 (zero-shot is its own condition)")

    def conditions(self) -> list[str]:
        """The conditions this job can run (``supervised`` only with parallel data)."""
        return [c for c in CONDITIONS if c != "supervised" or self.parallel is not None]


@dataclass
class ConditionResult:
    """One condition's report, signature and where its records are."""

    name: str
    report: MTReport
    signature: str
    path: str
    modes: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """JSON form for ``report.json``."""
        return {
            "report": self.report.to_dict(),
            "signature": self.signature,
            "records": self.path,
            "modes": self.modes,
        }


def read_pools(job: CompareJob) -> dict[str, tuple[list[SetRecord], str]]:
    """Per condition: its exemplar pool and its X -> English mode."""
    diverse = read_set(job.diverse_set) if job.diverse_set else []
    extra = read_sets(job.pairs) if job.pairs else []
    pools: dict[str, tuple[list[SetRecord], str]] = {
        "zero-shot": ([], "auto"),
        "ldp": (diverse + extra, "diverse"),
    }
    if job.parallel is not None:
        parallel = read_set(job.parallel)
        both = parallel + [p.reversed() for p in parallel if p.kind == "pair"]
        pools["supervised"] = (both, "in-language")
    return pools


Pools = dict[str, tuple[list[SetRecord], str]]


def translator_for(
    job: CompareJob, condition: str, backend: Backend, pools: Pools
) -> LDPTranslator:
    """The translator of one condition."""
    pool, x2en = pools[condition]
    zero = condition == "zero-shot"
    tags: TagStyle = "native" if zero and job.tags == "none" else job.tags
    return LDPTranslator(
        backend,
        pool,
        shots=0 if zero else job.shots,
        tags=tags,
        x2en=x2en,  # type: ignore[arg-type]
        diverse_langs=job.diverse_langs,
        select=job.select,  # type: ignore[arg-type]
        seed=job.seed,
        sampling=job.sampling,
        prompt_format=job.prompt_format,  # type: ignore[arg-type]
    )


def read_test_rows(job: CompareJob) -> list[Example | data.RowError]:
    """The test rows (text and reference), with a RowError for every unreadable row."""
    mapping = data.FieldMap(
        fields={"text": job.text_field},
        id=job.id_field,
        lang=job.lang_field,
        target=job.ref_field,
        default_lang=job.src,
    )
    rows = list(data.read_examples(job.input, ["text"], mapping, fmt=job.format))
    return rows[: job.limit] if job.limit is not None else rows


def _record(
    row: Example | data.RowError, output: LDPOutput | None, tgt: str
) -> tuple[dict[str, Any], MTRow]:
    if isinstance(row, data.RowError):
        record = {"index": row.index, "id": row.id, "src": row.lang, "tgt": tgt, "error": row.error}
        return record, MTRow("", None, tgt, row.lang or "und", row.target)
    assert output is not None
    translation = output.translation
    source = row.fields["text"]
    record: dict[str, Any] = {
        "index": row.index,
        "id": row.id,
        "src": row.lang,
        "tgt": tgt,
        "source": source,
        "translation": translation.text,
        "reference": row.target,
        "error": translation.error,
        **output.details(),
    }
    check = None
    if translation.text is not None:
        check = langid.check(translation.text, tgt)
        record["check"] = check.to_dict()
        record["copy"] = is_copy(translation.text, source)
    return record, MTRow(source, translation.text, tgt, row.lang, row.target, check)


def run_condition(
    job: CompareJob,
    condition: str,
    rows: Sequence[Example | data.RowError],
    backend: Backend,
    pools: Pools,
) -> ConditionResult:
    """Translate every readable row under one condition, write its records, score it."""
    translator = translator_for(job, condition, backend, pools)
    examples = [r for r in rows if isinstance(r, Example)]
    outputs: dict[int, LDPOutput] = {}
    for start in range(0, len(examples), job.chunk_size):
        chunk = examples[start : start + job.chunk_size]
        requests = [TranslationRequest(e.fields["text"], e.lang, job.tgt) for e in chunk]
        for example, output in zip(chunk, translator.translate_detailed(requests), strict=True):
            outputs[example.index] = output
    records, mt_rows = [], []
    modes: dict[str, int] = {}
    for row in rows:
        output = outputs.get(row.index)
        record, mt_row = _record(row, output, job.tgt)
        records.append(record)
        mt_rows.append(mt_row)
        if output is not None and output.mode:
            modes[output.mode] = modes.get(output.mode, 0) + 1
    path = Path(job.output_dir) / f"{condition}.jsonl"
    write_jsonl(path, records)
    scored = report(mt_rows, bootstrap=job.bootstrap)
    return ConditionResult(condition, scored, translator.signature(), str(path), modes)


def compare(
    job: CompareJob,
    backend: Backend,
    *,
    on_condition: Callable[[str], None] | None = None,
) -> dict[str, ConditionResult]:
    """Run every condition over the test file and write ``report.json``."""
    out_dir = Path(job.output_dir)
    report_file = out_dir / "report.json"
    if report_file.exists() and not job.overwrite:
        raise ConfigError(f"{report_file} exists; pass --overwrite to replace it")
    pools = read_pools(job)  # a bad exemplar file fails before any generation
    rows = read_test_rows(job)
    results: dict[str, ConditionResult] = {}
    for condition in job.conditions():
        if on_condition is not None:
            on_condition(condition)
        results[condition] = run_condition(job, condition, rows, backend, pools)

    summary = {
        "input": job.input,
        "input_sha256": input_digest(job.input),
        "rows": len(rows),
        "tgt": job.tgt,
        "shots": job.shots,
        "tags": job.tags,
        "versions": engine_versions(),
        "conditions": {name: r.to_dict() for name, r in results.items()},
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    report_file.write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", "utf-8")
    return results
