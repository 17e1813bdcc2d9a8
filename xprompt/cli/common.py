"""Helpers shared by CLI commands: key=value parsing, progress bars, summary tables."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import yaml
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from xprompt.errors import ConfigError
from xprompt.metrics import RunSummary


def parse_pairs(pairs: list[str] | None, flag: str) -> dict[str, Any]:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}`` (values parsed as YAML scalars)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} takes KEY=VALUE, got '{pair}'")
        try:
            out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            out[key.strip()] = value
    return out


def parse_mapping(pairs: list[str] | None, flag: str) -> dict[str, str]:
    """``["text=sentence"]`` -> ``{"text": "sentence"}`` (values kept as strings)."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"{flag} takes NAME=COLUMN, got '{pair}'")
        out[key.strip()] = value.strip()
    return out


def set_path(target: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``target["a"]["b"] = value`` for ``dotted == "a.b"``, skipping None (flag not given)."""
    if value is None:
        return
    node = target
    *parents, last = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value


def quiet_engine_logs(verbose: bool) -> None:
    """vLLM logs a great deal (and warns about CPU details); keep its errors only unless asked."""
    if not verbose:
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")


@contextlib.contextmanager
def row_progress(console: Console, *, enabled: bool, description: str = "rows") -> Iterator[Any]:
    """A rich progress bar over rows; a no-op object when disabled (``--quiet`` or not a TTY)."""

    class _Bar:
        def __init__(self, progress: Progress | None) -> None:
            self.progress = progress
            self.task: Any = None

        def start(self, total: int, done: int) -> None:
            if self.progress is not None:
                self.task = self.progress.add_task(description, total=total, completed=done)

        def advance(self, n: int) -> None:
            if self.progress is not None and self.task is not None:
                self.progress.advance(self.task, n)

    if not enabled:
        yield _Bar(None)
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    with progress:
        yield _Bar(progress)


def progress_enabled(console: Console, quiet: bool) -> bool:
    return not quiet and console.is_terminal


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def summary_table(summary: RunSummary, title: str = "Run summary") -> Table:
    """Per-language and total rows: rows, errors, accuracy, extraction failures, off-target rate,
    line-level pass rate (LPR: no off-target line), tokens."""
    table = Table(title=title, show_lines=False)
    for column in (
        "language",
        "rows",
        "errors",
        "accuracy",
        "no answer",
        "off-tgt",
        "LPR",
        "prompt tok",
        "gen tok",
    ):
        table.add_column(column, justify="left" if column == "language" else "right")

    def add(name: str, stats: Any, style: str | None = None) -> None:
        table.add_row(
            name,
            str(stats.rows),
            str(stats.errors),
            _pct(stats.accuracy),
            _pct(stats.extraction_failure_rate),
            _pct(stats.off_target_rate) + (f" ({stats.checked})" if stats.checked else ""),
            _pct(stats.line_pass_rate),
            f"{stats.prompt_tokens:,}",
            f"{stats.completion_tokens:,}",
            style=style,
        )

    for lang, stats in sorted(summary.by_lang.items()):
        add(lang, stats)
    add("all", summary.total, style="bold")
    if summary.modes:
        names = {"in-language": "in-language (supervised pairs)", "diverse": "diverse (LDP)"}
        table.caption = "exemplars: " + ", ".join(
            f"{names.get(mode, mode)} {count} rows" for mode, count in summary.modes.most_common()
        )
    return table


def path_table(by_path_lang: Mapping[str, Mapping[str, Any]]) -> Table:
    """Per reasoning language (CLSP, self-consistency): paths, answers found, own accuracy, votes, off-target."""
    table = Table(title="Reasoning paths by language")
    for column in ("reasoning lang", "paths", "no answer", "own accuracy", "voted", "off-tgt"):
        table.add_column(column, justify="left" if column == "reasoning lang" else "right")
    for lang, stats in by_path_lang.items():
        table.add_row(
            lang,
            str(stats["paths"]),
            _pct(stats["extraction_failure_rate"]),
            _pct(stats["accuracy"]),
            str(stats["voted"]),
            _pct(stats["off_target_rate"]) + f" ({stats['checked']})",
        )
    return table


def print_summary(summary: RunSummary, console: Console, *, as_json: bool = False) -> None:
    """Print a run summary: a table and the signature to stderr, or JSON to stdout."""
    if as_json:
        sys.stdout.write(json.dumps(summary.to_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    console.print(summary_table(summary))
    paths = summary.to_dict().get("by_path_lang") or {}
    if paths:
        console.print(path_table(paths))
    first = summary.total.first_sample_accuracy
    if first is not None and first != summary.total.accuracy:
        console.print(
            f"accuracy of the vote: {_pct(summary.total.accuracy)}; "
            f"of the first sample alone: {_pct(first)}",
            highlight=False,
        )
    working = summary.elapsed_s - summary.engine_start_s
    rate = summary.rows_this_session / working if working > 0 else 0.0
    started = (
        f" (after {summary.engine_start_s:.1f}s engine start)" if summary.engine_start_s else ""
    )
    console.print(
        f"rows run now: {summary.rows_this_session} in {working:.1f}s, {rate:.1f} rows/s{started}",
        highlight=False,
    )
    if summary.error_reasons:
        console.print("errors by reason:", highlight=False)
        for reason, count in summary.error_reasons.most_common(5):
            console.print(f"  {count:>5}  {reason}", highlight=False, markup=False)
    console.print(f"signature: {summary.signature}", highlight=False, markup=False, soft_wrap=True)
