"""``xprompt eval SUITE``: run an evaluation suite (resumable), report scores with intervals and cost."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from xprompt.cli import app, err_console
from xprompt.cli.common import parse_mapping, quiet_engine_logs, set_path
from xprompt.cli.engine_options import (
    ENGINE,
    Backend,
    BaseUrl,
    EnforceEager,
    GpuMemoryUtilization,
    MaxModelLen,
    Model,
    RayActors,
    RayAddress,
    TensorParallel,
)

DATA = "Data"
REPORT = "Report"


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@app.command("eval", no_args_is_help=True)
def eval_command(
    suite: Annotated[str, typer.Argument(help="suite name (evals/<name>/suite.yaml) or YAML path")],
    split: Annotated[
        str,
        typer.Option(help="eval | dev (the suite's splits) or a split spec such as test[25:]"),
    ] = "eval",
    out: Annotated[
        str | None,
        typer.Option("--out", "-o", help="output directory \\[default: runs/eval/SUITE]"),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            help="local data directory in the dataset's public layout", rich_help_panel=DATA
        ),
    ] = None,
    hf: Annotated[
        str | None,
        typer.Option(
            help="read from Hugging Face: a dataset name, or 'default' for the suite's",
            rich_help_panel=DATA,
        ),
    ] = None,
    languages: Annotated[
        str | None,
        typer.Option(help="only these languages (comma-separated)", rich_help_panel=DATA),
    ] = None,
    variants: Annotated[
        str | None, typer.Option(help="only these variants (comma-separated)")
    ] = None,
    limit: Annotated[
        int | None, typer.Option(help="only the first N rows per language", rich_help_panel=DATA)
    ] = None,
    model: Model = None,
    backend: Backend = None,
    base_url: BaseUrl = None,
    ray_address: RayAddress = None,
    ray_actors: RayActors = None,
    tensor_parallel_size: TensorParallel = None,
    max_model_len: MaxModelLen = None,
    gpu_memory_utilization: GpuMemoryUtilization = None,
    enforce_eager: EnforceEager = None,
    set_var: Annotated[
        list[str] | None,
        typer.Option("--set", help="suite var NAME=VALUE, e.g. mt_model=tiny (repeatable)"),
    ] = None,
    max_tokens: Annotated[
        int | None,
        typer.Option(help="cap on every generation (quick runs)", rich_help_panel=ENGINE),
    ] = None,
    bootstrap: Annotated[
        int,
        typer.Option(
            help="bootstrap resamples for 95% intervals (0 = off)", rich_help_panel=REPORT
        ),
    ] = 1000,
    bootstrap_seed: Annotated[
        int, typer.Option(help="bootstrap seed", rich_help_panel=REPORT)
    ] = 12345,
    recommend: Annotated[
        bool,
        typer.Option(
            "--recommend", help="write recommendation.yaml and serve.yaml", rich_help_panel=REPORT
        ),
    ] = False,
    budget: Annotated[
        str | None,
        typer.Option(
            help="cost budget per row for --recommend: tokens=N,calls=N,llm_calls=N,seconds=N",
            rich_help_panel=REPORT,
        ),
    ] = None,
    report_only: Annotated[
        bool,
        typer.Option(
            "--report-only", help="score the saved outputs, run nothing", rich_help_panel=REPORT
        ),
    ] = False,
    plots: Annotated[
        bool, typer.Option("--plots/--no-plots", help="write PNG plots", rich_help_panel=REPORT)
    ] = True,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="discard existing cell outputs and start again")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="show the engines' logs")
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="print the report JSON on stdout")
    ] = False,
) -> None:
    """Run an evaluation suite: every (language, variant) cell, resumable, then a report.

    Writes report.json, report.md, scores.png and score_vs_cost.png under
    OUT/SPLIT; with --recommend also recommendation.yaml (for 'xprompt run
    --recommendation') and serve.yaml (for 'xprompt serve --config').

    Example: xprompt eval sib200 --data tests/fixtures/evals/sib200 -m tiny --set mt_model=tiny
    --max-tokens 8 --limit 3
    """
    from xprompt.errors import ConfigError
    from xprompt.evals import plots as plotting
    from xprompt.evals import recommend as recommending
    from xprompt.evals.report import build_report, markdown, rich_tables
    from xprompt.evals.scoring import Bootstrap
    from xprompt.evals.session import EvalOptions, Evaluation
    from xprompt.evals.suite import load_suite

    quiet_engine_logs(verbose)
    if bootstrap < 0:
        raise ConfigError("--bootstrap must be >= 0")
    engine: dict[str, Any] = {}
    for dotted, value in [
        ("model", model),
        ("backend", backend),
        ("base_urls", base_url or None),
        ("ray_address", ray_address),
        ("ray_actors", ray_actors),
        ("tensor_parallel_size", tensor_parallel_size),
        ("max_model_len", max_model_len),
        ("gpu_memory_utilization", gpu_memory_utilization),
        ("enforce_eager", enforce_eager),
    ]:
        set_path(engine, dotted, value)
    if report_only and overwrite:
        raise ConfigError("--report-only scores the saved outputs; it cannot --overwrite them")
    chosen_budget = recommending.Budget.parse(budget)
    if budget and not recommend:
        raise ConfigError("--budget applies to --recommend; add --recommend")
    options = EvalOptions(
        split=split,
        out_dir=out,
        data=data,
        hf=None if hf is None else ("" if hf == "default" else hf),
        languages=_csv(languages),
        variants=_csv(variants),
        limit=limit,
        engine=engine,
        vars=parse_mapping(set_var, "--set"),
        max_tokens=max_tokens,
        bootstrap=Bootstrap(bootstrap, bootstrap_seed),
        overwrite=overwrite,
    )
    evaluation = Evaluation(load_suite(suite), options)
    cells = evaluation.prepare()
    err_console.print(
        f"[bold]xprompt eval[/] {escape(evaluation.suite.name)} ({escape(str(evaluation.split))}): "
        f"{len(evaluation.languages)} languages x {len(evaluation.variants)} variants = "
        f"{len(cells)} cells, model {escape(str(evaluation.engine.model))}",
        highlight=False,
    )
    for lang, problems in evaluation.problems.items():
        for problem in problems[:5]:
            err_console.print(f"[yellow]data problem[/] {lang}: {escape(problem)}", highlight=False)
        if len(problems) > 5:
            err_console.print(
                f"[yellow]data problem[/] {lang}: ... {len(problems) - 5} more (report.json)"
            )
    if report_only:
        evaluation.check_outputs()
    else:
        _run(evaluation, quiet=quiet or not err_console.is_terminal)
    report = build_report(evaluation)
    out_dir = evaluation.split_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    written = plotting.write_plots(report, out_dir) if plots else []
    (out_dir / "report.json").write_text(
        json.dumps(report.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8"
    )
    (out_dir / "report.md").write_text(
        markdown(report, plots=[str(p) for p in written]), encoding="utf-8"
    )
    if json_out:
        sys.stdout.write(json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n")
    else:
        # Not a terminal (a log file): wide enough that the detail table is not squeezed.
        console = err_console if err_console.is_terminal else Console(stderr=True, width=220)
        for table in rich_tables(report):
            console.print(table)
        err_console.print(
            f"signature: {report.signature}", highlight=False, markup=False, soft_wrap=True
        )
        err_console.print(f"metric: {report.metric_signature()}", highlight=False, markup=False)
    if recommend:
        rec, serve = recommending.write(report, out_dir, chosen_budget)
        document = recommending.recommend(report, chosen_budget)
        for lang, entry in document["languages"].items():
            what = entry.get("variant") or f"none ({entry.get('reason')})"
            err_console.print(f"recommended for {lang}: {escape(str(what))}", highlight=False)
        err_console.print(f"recommendation: {rec}\nserve config: {serve}", highlight=False)
    err_console.print(f"report: {out_dir / 'report.md'}", highlight=False)


def _run(evaluation: Any, *, quiet: bool) -> None:
    total = sum(cell.rows for cell in evaluation.cells)
    if quiet:
        evaluation.run()
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
    )
    with progress:
        overall = progress.add_task("rows", total=total)

        def on_cell(cell: Any, rows: int, done: int) -> None:
            progress.update(overall, description=escape(cell.key), advance=done)

        def on_rows(n: int) -> None:
            progress.advance(overall, n)

        evaluation.run(on_cell=on_cell, on_rows=on_rows)
