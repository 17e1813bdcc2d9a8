"""``xprompt ldp-report``: LDP against zero-shot and supervised few-shot, chrF++ and off-target rate."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from xprompt.cli import app, err_console
from xprompt.cli.common import quiet_engine_logs
from xprompt.cli.ldp_options import (
    DATA,
    DEFAULT_LANGS,
    BackendName,
    BaseUrl,
    DiverseLangs,
    DiverseSet,
    EnforceEager,
    Format,
    GpuMemory,
    IdField,
    LangField,
    Limit,
    MaxModelLen,
    MaxTokens,
    Model,
    Overwrite,
    PromptFormat,
    Seed,
    Select,
    Shots,
    Tags,
    Verbose,
    open_llm,
)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _cell(scores: dict[str, Any], metric: str) -> str:
    found = scores.get(metric)
    if found is None:
        return "-"
    return f"{found.score:.2f}" + (f" ±{found.ci:.2f}" if found.ci is not None else "")


@app.command("ldp-report", no_args_is_help=True)
def ldp_report_command(
    input: Annotated[
        str, typer.Option("--input", "-i", help="test file with references", rich_help_panel=DATA)
    ],
    output_dir: Annotated[
        str, typer.Option("--output-dir", "-o", help="per-condition records and report.json")
    ],
    model: Model,
    tgt: Annotated[str, typer.Option("--tgt", help="target language")] = "eng_Latn",
    src: Annotated[
        str | None,
        typer.Option(
            help="source language of rows without a language column", rich_help_panel=DATA
        ),
    ] = None,
    text_field: Annotated[
        str, typer.Option("--field", "-f", help="source text column", rich_help_panel=DATA)
    ] = "text",
    ref_field: Annotated[
        str, typer.Option(help="reference translation column", rich_help_panel=DATA)
    ] = "reference",
    id_field: IdField = "id",
    lang_field: LangField = "lang",
    fmt: Format = None,
    limit: Limit = None,
    pairs: Annotated[
        list[str] | None,
        typer.Option("--pairs", help="synthetic exemplar set for the LDP condition (repeatable)"),
    ] = None,
    parallel: Annotated[
        str | None,
        typer.Option(help="human parallel pairs: enables the supervised few-shot condition"),
    ] = None,
    shots: Shots = 8,
    tags: Tags = "native",
    diverse_set: DiverseSet = "default",
    diverse_langs: DiverseLangs = DEFAULT_LANGS,
    select: Select = "first",
    seed: Seed = 0,
    max_tokens: MaxTokens = 128,
    prompt_format: PromptFormat = "raw",
    bootstrap: Annotated[int, typer.Option(help="bootstrap resamples for 95% CIs (0 = off)")] = 0,
    backend: BackendName = "vllm",
    base_url: BaseUrl = None,
    max_model_len: MaxModelLen = None,
    enforce_eager: EnforceEager = None,
    gpu_memory_utilization: GpuMemory = None,
    overwrite: Overwrite = False,
    verbose: Verbose = False,
    json_summary: Annotated[
        bool, typer.Option("--json", help="print the report as JSON on stdout")
    ] = False,
) -> None:
    """Compare the LDP preset with zero-shot and (given --parallel) supervised few-shot prompting
    on one test file: chrF++ and the off-target rate per condition, same LLM and decoding.

    Example: xprompt ldp-report -i hau.test.jsonl --src hau_Latn --tgt eng_Latn --parallel hau.dev.jsonl -o runs/ldp -m tiny
    """
    from xprompt.errors import ConfigError
    from xprompt.ldp.exemplar_set import DEFAULT_DIVERSE_SET
    from xprompt.ldp.prompt import check_tag_style
    from xprompt.ldp.report import CompareJob, compare, read_pools, read_test_rows
    from xprompt.types import Sampling

    quiet_engine_logs(verbose)
    try:
        style = check_tag_style(tags)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if select not in ("first", "random") or prompt_format not in ("raw", "chat"):
        raise ConfigError("--select takes first|random and --prompt-format raw|chat")
    langs = tuple(c.strip() for c in diverse_langs.split(",") if c.strip())
    diverse = {"default": str(DEFAULT_DIVERSE_SET), "none": None}.get(diverse_set, diverse_set)
    job = CompareJob(
        input=input,
        output_dir=output_dir,
        tgt=tgt,
        src=src,
        text_field=text_field,
        ref_field=ref_field,
        id_field=id_field,
        lang_field=lang_field,
        format=fmt,
        limit=limit,
        pairs=tuple(pairs or ()),
        parallel=parallel,
        diverse_set=diverse,
        diverse_langs=langs,
        shots=shots,
        tags=style,
        select=select,
        seed=seed,
        sampling=Sampling(temperature=0.0, max_tokens=max_tokens, stop=("\n",), seed=0),
        prompt_format=prompt_format,
        bootstrap=bootstrap,
        overwrite=overwrite,
    )
    read_pools(job)  # bad exemplar files and a missing input fail before the engine starts
    read_test_rows(job)
    err_console.print(
        f"[bold]xprompt ldp-report[/]: {input} -> {job.tgt}, conditions: "
        f"{', '.join(job.conditions())}",
        highlight=False,
    )
    with open_llm(
        model, backend, base_url, max_model_len, enforce_eager, gpu_memory_utilization
    ) as llm:
        results = compare(
            job, llm, on_condition=lambda c: err_console.print(f"  {c}", highlight=False)
        )
    if json_summary:
        payload = {name: r.to_dict() for name, r in results.items()}
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(title=f"LDP vs zero-shot vs supervised ({job.tgt})")
    for column in ("condition", "rows", "errors", "chrF++", "BLEU", "off-target", "copies"):
        table.add_column(column, justify="left" if column == "condition" else "right")
    for name, result in results.items():
        scores = {m.name: m for m in result.report.metrics}
        table.add_row(
            name,
            str(result.report.rows),
            str(result.report.errors),
            _cell(scores, "chrF++"),
            _cell(scores, "BLEU"),
            _pct(result.report.off_target_rate),
            _pct(result.report.copy_rate),
        )
    err_console.print(table)
    for name, result in results.items():
        chrf = next((m for m in result.report.metrics if m.name == "chrF++"), None)
        if chrf is not None:
            err_console.print(f"{name} chrF++: {chrf.signature}", highlight=False, markup=False)
        err_console.print(
            f"{name}: {result.signature}", highlight=False, markup=False, soft_wrap=True
        )
    err_console.print(f"records and report.json: {output_dir}", highlight=False)
