"""The evaluation report: score per language and variant with its interval, the rates beside it, and cost.

Built from the saved cell outputs alone (:func:`build_report`), written as JSON
(everything, re-loadable with :meth:`SuiteReport.from_dict`), Markdown, and
rich tables for the terminal. Two tables per task: the detail (one row per
language and variant: score [95% CI], off-target rate, no-answer rate, errors,
cost per row) and the matrix (languages x variants, the best per language
marked), plus the cost of each variant over all languages.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xprompt.evals.measure import (
    Cost,
    Measured,
    measure_project,
    measure_run,
    measure_translate,
    read_timing,
)
from xprompt.evals.scoring import Bootstrap, MetricResult


@dataclass
class CellResult:
    """One cell of the report."""

    lang: str
    variant: str
    label: str
    kind: str
    status: str  # done | partial | not run
    rows: int
    metric: MetricResult
    errors: int = 0
    off_target_rate: float | None = None
    checked: int = 0
    no_answer_rate: float | None = None
    cost: Cost = field(default_factory=Cost)
    signature: str = ""
    output: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    line_pass_rate: float | None = None
    language_aware: MetricResult | None = None  # chrF++, wrong-language outputs scoring 0

    @property
    def score(self) -> float | None:
        """The cell's score (0-100), None when nothing was scored."""
        return self.metric.score

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (round-trips through :meth:`from_dict`)."""
        return {
            "lang": self.lang,
            "variant": self.variant,
            "label": self.label,
            "kind": self.kind,
            "status": self.status,
            "rows": self.rows,
            "metric": self.metric.to_dict(),
            "errors": self.errors,
            "off_target_rate": _round(self.off_target_rate),
            "checked_texts": self.checked,
            "no_answer_rate": _round(self.no_answer_rate),
            "cost": self.cost.to_dict(),
            "signature": self.signature,
            "output": self.output,
            "settings": self.settings,
            **(
                {"line_pass_rate": _round(self.line_pass_rate)}
                if self.line_pass_rate is not None
                else {}
            ),
            **(
                {"language_aware_metric": self.language_aware.to_dict()}
                if self.language_aware is not None
                else {}
            ),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CellResult:
        """The record from its :meth:`to_dict` form."""
        return cls(
            lang=data["lang"],
            variant=data["variant"],
            label=data.get("label", data["variant"]),
            kind=data.get("kind", "run"),
            status=data.get("status", "done"),
            rows=data.get("rows", 0),
            metric=MetricResult.from_dict(data["metric"]),
            errors=data.get("errors", 0),
            off_target_rate=data.get("off_target_rate"),
            checked=data.get("checked_texts", 0),
            no_answer_rate=data.get("no_answer_rate"),
            cost=Cost.from_dict(data.get("cost") or {}),
            signature=data.get("signature", ""),
            output=data.get("output", ""),
            settings=data.get("settings") or {},
            line_pass_rate=data.get("line_pass_rate"),
            language_aware=MetricResult.from_dict(data["language_aware_metric"])
            if data.get("language_aware_metric")
            else None,
        )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@dataclass
class SuiteReport:
    """Every cell of one suite on one split, with what is needed to read and reproduce it."""

    suite: str
    dataset: str
    split: str
    metric: str
    signature: str
    languages: list[str]
    variants: list[dict[str, str]]
    cells: list[CellResult]
    problems: dict[str, list[str]] = field(default_factory=dict)
    bootstrap: Bootstrap = field(default_factory=Bootstrap)
    engine_start_s: float = 0.0
    model: str = ""
    groups: dict[str, list[str]] = field(default_factory=dict)

    def cell(self, lang: str, variant: str) -> CellResult | None:
        """The cell of a language and variant, None when there is none."""
        return next((c for c in self.cells if c.lang == lang and c.variant == variant), None)

    def variant_names(self) -> list[str]:
        """Variant names in suite order."""
        return [v["name"] for v in self.variants]

    def best(self, lang: str) -> str | None:
        """The variant with the highest score for ``lang`` (ties: the earlier variant)."""
        scored = [c for c in self.cells if c.lang == lang and c.score is not None]
        if not scored:
            return None
        top = max(c.score for c in scored if c.score is not None)
        return next(c.variant for c in scored if c.score == top)

    def average(self, variant: str, langs: Sequence[str] | None = None) -> float | None:
        """Mean score of a variant over the languages (of ``langs``) where it has one."""
        scores = [
            c.score
            for c in self.cells
            if c.variant == variant and c.score is not None and (langs is None or c.lang in langs)
        ]
        return sum(scores) / len(scores) if scores else None

    def total_cost(self, variant: str) -> Cost:
        """A variant's cost summed over languages (rows summed too, so per-row values are averages)."""
        total = Cost()
        for c in self.cells:
            if c.variant == variant:
                total.add(c.cost)
                total.rows += c.cost.rows
        return total

    def metric_signature(self) -> str:
        """The signature of the metric (the same for every scored cell)."""
        return next((c.metric.signature for c in self.cells if c.metric.signature), "")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (round-trips through :meth:`from_dict`)."""
        return {
            "suite": self.suite,
            "dataset": self.dataset,
            "split": self.split,
            "metric": self.metric,
            "metric_signature": self.metric_signature(),
            "signature": self.signature,
            "model": self.model,
            "bootstrap": {"resamples": self.bootstrap.resamples, "seed": self.bootstrap.seed},
            "engine_start_s": round(self.engine_start_s, 3),
            "languages": self.languages,
            "variants": self.variants,
            "averages": {v: _round(self.average(v)) for v in self.variant_names()},
            "groups": self.groups,
            "group_averages": {
                g: {v: _round(self.average(v, langs)) for v in self.variant_names()}
                for g, langs in self.groups.items()
            },
            "best": {lang: self.best(lang) for lang in self.languages},
            "variant_cost": {v: self.total_cost(v).to_dict() for v in self.variant_names()},
            "cells": [c.to_dict() for c in self.cells],
            "data_problems": self.problems,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SuiteReport:
        """The record from its :meth:`to_dict` form."""
        boot = data.get("bootstrap") or {}
        return cls(
            suite=data["suite"],
            dataset=data["dataset"],
            split=data["split"],
            metric=data["metric"],
            signature=data.get("signature", ""),
            languages=list(data["languages"]),
            variants=list(data["variants"]),
            cells=[CellResult.from_dict(c) for c in data["cells"]],
            problems=data.get("data_problems") or {},
            bootstrap=Bootstrap(boot.get("resamples", 1000), boot.get("seed", 12345)),
            engine_start_s=data.get("engine_start_s", 0.0),
            model=data.get("model", ""),
            groups=data.get("groups") or {},
        )

    @classmethod
    def load(cls, path: str | Path) -> SuiteReport:
        """Read a ``report.json``."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


# -- building from an evaluation ---------------------------------------------------------------


def build_report(evaluation: Any) -> SuiteReport:
    """Score every cell of a prepared :class:`~xprompt.evals.session.Evaluation` from its files."""
    from xprompt import data, signatures
    from xprompt.backends import factory

    suite = evaluation.suite
    bootstrap: Bootstrap = evaluation.options.bootstrap
    results = []
    for cell in evaluation.cells:
        records = data.read_records(cell.output)
        measured = _measure(cell, records, suite.metric, bootstrap)
        measured.cost.add(read_timing(cell.output))
        english = cell.settings.get("english")
        if english:
            from xprompt.evals.english_side import read_cost

            shared = read_cost(Path(english))
            shared.timed_rows = 0  # the same sentences: its seconds add to each row's time
            measured.cost.add(shared)
        status = "not run" if not records else ("done" if len(records) >= cell.rows else "partial")
        results.append(
            CellResult(
                lang=cell.lang,
                variant=cell.variant.name,
                label=cell.variant.label,
                kind=cell.kind,
                status=status,
                rows=cell.rows,
                metric=measured.metric,
                errors=measured.errors,
                off_target_rate=measured.off_target_rate,
                checked=measured.checked,
                no_answer_rate=measured.no_answer_rate,
                cost=measured.cost,
                signature=cell.signature,
                output=str(cell.output),
                settings=_plain(cell.settings),
                line_pass_rate=measured.line_pass_rate,
                language_aware=measured.language_aware,
            )
        )
    model = signatures.model_identity(factory.resolve_model(evaluation.engine))
    digest = hashlib.sha256()
    for lang in evaluation.languages:
        digest.update(evaluation.data_file(evaluation.split, lang).read_bytes())
    signature = signatures.Signature(
        {
            "suite": f"{suite.name}@{suite.digest}",
            "dataset": suite.dataset,
            "split": evaluation.split,
            "data": digest.hexdigest()[:12],
            "model": model,
            "metric": suite.metric,
            **signatures.Signature.parse(bootstrap.signature()).fields,
            **signatures.version_fields(),
        }
    ).format()
    return SuiteReport(
        suite=suite.name,
        dataset=suite.dataset,
        split=str(evaluation.split),
        metric=suite.metric,
        signature=signature,
        languages=list(evaluation.languages),
        variants=[{"name": v.name, "label": v.label} for v in evaluation.variants],
        cells=results,
        problems={k: v for k, v in evaluation.problems.items() if v},
        bootstrap=bootstrap,
        engine_start_s=evaluation.engine_start_s,
        model=model,
        groups={
            g: [c for c in langs if c in evaluation.languages] for g, langs in suite.groups.items()
        },
    )


def _measure(
    cell: Any, records: list[dict[str, Any]], metric: str, bootstrap: Bootstrap
) -> Measured:
    if cell.kind == "translate":
        return measure_translate(records, bootstrap, llm_translates=cell.llm_translates)
    if cell.kind == "project":
        return measure_project(records, bootstrap)
    return measure_run(records, metric, bootstrap, llm_translates=cell.llm_translates)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


# -- rendering ---------------------------------------------------------------------------------


def fmt_score(metric: MetricResult) -> str:
    """``61.2 [55.0, 67.1]`` (the interval when there is one), ``-`` without a score."""
    if metric.score is None:
        return "-"
    if metric.low is None:
        return f"{metric.score:.1f}"
    return f"{metric.score:.1f} [{metric.low:.1f}, {metric.high:.1f}]"


def fmt_pct(value: float | None) -> str:
    """A rate as a percentage, ``-`` when unknown."""
    return "-" if value is None else f"{100 * value:.1f}%"


def fmt_num(value: float | None, digits: int = 1) -> str:
    """A number with thousands separators, ``-`` when unknown."""
    return "-" if value is None else f"{value:,.{digits}f}"


DETAIL_COLUMNS = (
    "language",
    "variant",
    "score [95% CI]",
    "off-target",
    "no answer",
    "errors",
    "LLM calls/row",
    "tokens/row",
    "MT calls/row",
    "s/row",
    "status",
)


def detail_rows(report: SuiteReport) -> list[list[str]]:
    """One row per cell: the detail table's cells as text."""
    rows = []
    for c in report.cells:
        rows.append(
            [
                c.lang,
                c.variant,
                fmt_score(c.metric),
                fmt_pct(c.off_target_rate),
                fmt_pct(c.no_answer_rate),
                str(c.errors),
                fmt_num(c.cost.per_row("llm_calls"), 2),
                fmt_num(c.cost.per_row("tokens"), 0),
                fmt_num(c.cost.per_row("mt_calls"), 2),
                fmt_num(c.cost.per_row("seconds"), 3),
                c.status,
            ]
        )
    return rows


def matrix_rows(report: SuiteReport, *, marker: tuple[str, str] = ("**", "**")) -> list[list[str]]:
    """Languages x variants (score only), the best of each language marked; last row the average."""
    rows = []
    for lang in report.languages:
        best = report.best(lang)
        row = [lang]
        for name in report.variant_names():
            cell = report.cell(lang, name)
            text = "-" if cell is None or cell.score is None else f"{cell.score:.1f}"
            if name == best and text != "-":
                text = f"{marker[0]}{text}{marker[1]}"
            row.append(text)
        rows.append(row)
    rows.append(["average", *[fmt_num(report.average(v)) for v in report.variant_names()]])
    for group, langs in report.groups.items():
        if langs:
            averages = [fmt_num(report.average(v, langs)) for v in report.variant_names()]
            rows.append([f"average {group}", *averages])
    return rows


def cost_rows(report: SuiteReport) -> list[list[str]]:
    """Per variant: label, average score, and cost per row over all languages."""
    rows = []
    for v in report.variants:
        total = report.total_cost(v["name"])
        rows.append(
            [
                v["name"],
                v["label"],
                fmt_num(report.average(v["name"])),
                fmt_num(total.per_row("llm_calls"), 2),
                fmt_num(total.per_row("prompt_tokens"), 0),
                fmt_num(total.per_row("generated_tokens"), 0),
                fmt_num(total.per_row("mt_calls"), 2),
                fmt_num(total.per_row("seconds"), 3),
            ]
        )
    return rows


COST_COLUMNS = (
    "variant",
    "what",
    "avg score",
    "LLM calls/row",
    "prompt tok/row",
    "gen tok/row",
    "MT calls/row",
    "s/row",
)


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    out = [line(header), "| " + " | ".join("---" for _ in header) + " |"]
    out += [line(r) for r in rows]
    return "\n".join(out)


def markdown(report: SuiteReport, *, plots: Sequence[str] = ()) -> str:
    """The report as Markdown: matrix, detail, cost, signatures, data problems, plots."""
    parts = [
        f"# {report.suite}: {report.metric} on {report.split}",
        "",
        f"Model: `{report.model}`. Scores are {report.metric} (0-100) with 95% bootstrap intervals "
        f"({report.bootstrap.resamples} resamples, seed {report.bootstrap.seed}); the best variant of "
        "each language is in bold. Off-target: share of checked texts in the wrong language. No "
        "answer: share of answered rows whose text gave no answer (NER: sentences whose projection "
        "failed). Cost per input row: LLM calls, LLM prompt+generated tokens, MT calls, wall seconds.",
        "",
        "## Score by language and variant",
        "",
        _md_table(["language", *report.variant_names()], matrix_rows(report)),
        "",
        "## Detail",
        "",
        _md_table(DETAIL_COLUMNS, detail_rows(report)),
        "",
        "## Cost by variant (all languages)",
        "",
        _md_table(COST_COLUMNS, cost_rows(report)),
        "",
        "## Signatures",
        "",
        f"- report: `{report.signature}`",
        f"- metric: `{report.metric_signature()}`",
    ]
    for c in report.cells:
        if c.signature:
            parts.append(f"- {c.lang}/{c.variant}: `{c.signature}`")
    problems = [(lang, p) for lang, items in report.problems.items() for p in items]
    if problems:
        parts += ["", "## Data problems (rows kept; see each row's error in the cell outputs)", ""]
        parts += [f"- {lang}: {p}" for lang, p in problems]
    if plots:
        parts += ["", "## Plots", ""]
        parts += [f"![{Path(p).stem}]({Path(p).name})" for p in plots]
    return "\n".join(parts) + "\n"


def rich_tables(report: SuiteReport) -> list[Any]:
    """The matrix, detail and cost tables for the terminal."""
    from rich.markup import escape
    from rich.table import Table

    matrix = Table(title=f"{report.suite}: {report.metric} on {report.split} (best in bold)")
    for column in ["language", *report.variant_names()]:
        matrix.add_column(column, justify="left" if column == "language" else "right")
    for row in matrix_rows(report, marker=("[bold green]", "[/]")):
        matrix.add_row(*row)
    detail = Table(title="Detail: score, rates beside it, cost per row")
    for column in DETAIL_COLUMNS:
        detail.add_column(
            column, justify="left" if column in ("language", "variant", "status") else "right"
        )
    for row in detail_rows(report):
        detail.add_row(*[escape(cell) for cell in row])
    cost = Table(title="Cost by variant (all languages)")
    for column in COST_COLUMNS:
        cost.add_column(column, justify="left" if column in ("variant", "what") else "right")
    for row in cost_rows(report):
        cost.add_row(*[escape(cell) for cell in row])
    return [matrix, detail, cost]
