"""``xprompt run``: run a strategy over a dataset file (resumable, scored)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from xprompt.cli import app, err_console
from xprompt.cli.common import (
    parse_mapping,
    parse_pairs,
    print_summary,
    progress_enabled,
    quiet_engine_logs,
    row_progress,
    set_path,
)
from xprompt.cli.defaults import with_default
from xprompt.cli.engine_options import (
    ENGINE,
    Backend,
    BaseUrl,
    ChatTemplate,
    ChatTemplateKwarg,
    DataParallel,
    Dtype,
    EnforceEager,
    EngineOption,
    GpuMemoryUtilization,
    MaxModelLen,
    Model,
    PipelineParallel,
    PrefixCaching,
    RayActors,
    RayAddress,
    TensorParallel,
)
from xprompt.config import (
    DataConfig,
    EngineConfig,
    ExemplarConfig,
    RunConfig,
    SamplingConfig,
    load_run_config,
)
from xprompt.guard import GuardConfig
from xprompt.langid.config import LangidConfig

DATA = "Data"
SHOTS = "Exemplars"
DECODE = "Decoding"
GUARD = "Off-target guard"


@app.command("run", no_args_is_help=True)
def run_command(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML run config; flags override it")
    ] = None,
    recommendation: Annotated[
        Path | None,
        typer.Option(
            help="recommendation.yaml of 'xprompt eval --recommend': the strategy settings for --lang"
        ),
    ] = None,
    input: Annotated[
        str | None,
        typer.Option(
            "--input",
            "-i",
            help="JSONL/CSV/TSV/TXT file or hf:NAME[:CONFIG]:SPLIT",
            rich_help_panel=DATA,
        ),
    ] = None,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="results JSONL (resumed when it exists)")
    ] = None,
    template: Annotated[
        str | None, typer.Option("--template", "-t", help="template name or YAML path")
    ] = None,
    strategy: Annotated[
        str | None,
        typer.Option(
            "--strategy", "-s", help="direct (zero/few-shot), ... see 'xprompt strategies'"
        ),
    ] = None,
    option: Annotated[
        list[str] | None, typer.Option("--opt", help="strategy option KEY=VALUE (repeatable)")
    ] = None,
    model: Model = None,
    backend: Backend = None,
    base_url: BaseUrl = None,
    ray_address: RayAddress = None,
    ray_actors: RayActors = None,
    max_model_len: MaxModelLen = None,
    gpu_memory_utilization: GpuMemoryUtilization = None,
    tensor_parallel_size: TensorParallel = None,
    pipeline_parallel_size: PipelineParallel = None,
    data_parallel_size: DataParallel = None,
    prefix_caching: PrefixCaching = None,
    dtype: Dtype = None,
    enforce_eager: EnforceEager = None,
    chat_template: ChatTemplate = None,
    chat_template_kwarg: ChatTemplateKwarg = None,
    engine_option: EngineOption = None,
    field: Annotated[
        list[str] | None,
        typer.Option(
            "--field",
            "-f",
            help="map a template field to a column: FIELD=COLUMN (repeatable)",
            rich_help_panel=DATA,
        ),
    ] = None,
    id_field: Annotated[
        str | None,
        typer.Option(help=with_default("id column", DataConfig, "id_field"), rich_help_panel=DATA),
    ] = None,
    lang_field: Annotated[
        str | None,
        typer.Option(
            help=with_default("language column", DataConfig, "lang_field"), rich_help_panel=DATA
        ),
    ] = None,
    target_field: Annotated[
        str | None, typer.Option(help="gold answer column (enables accuracy)", rich_help_panel=DATA)
    ] = None,
    lang: Annotated[
        str | None,
        typer.Option(help="language of rows without a language column", rich_help_panel=DATA),
    ] = None,
    max_chars: Annotated[
        int | None,
        typer.Option(
            help=with_default("longest accepted text field", DataConfig, "max_chars"),
            rich_help_panel=DATA,
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(help="only the first N rows", rich_help_panel=DATA)
    ] = None,
    shots: Annotated[
        int | None,
        typer.Option(
            "--shots",
            "-k",
            help=with_default("number of exemplars", ExemplarConfig, "shots"),
            rich_help_panel=SHOTS,
        ),
    ] = None,
    exemplars: Annotated[
        str | None, typer.Option("--exemplars", help="exemplar pool file", rich_help_panel=SHOTS)
    ] = None,
    select: Annotated[
        str | None,
        typer.Option(
            help=with_default("first | random | balanced", ExemplarConfig, "select"),
            rich_help_panel=SHOTS,
        ),
    ] = None,
    exemplar_lang: Annotated[
        str | None,
        typer.Option(
            help=with_default("same | any | a language code", ExemplarConfig, "lang"),
            rich_help_panel=SHOTS,
        ),
    ] = None,
    per_row: Annotated[
        bool | None,
        typer.Option(
            "--per-row/--per-language",
            help="draw exemplars per row instead of once per language",
            rich_help_panel=SHOTS,
        ),
    ] = None,
    temperature: Annotated[
        float | None,
        typer.Option(
            help=with_default("", SamplingConfig, "temperature", note=" = greedy"),
            rich_help_panel=DECODE,
        ),
    ] = None,
    top_p: Annotated[float | None, typer.Option(rich_help_panel=DECODE)] = None,
    max_tokens: Annotated[
        int | None,
        typer.Option(help=with_default("", SamplingConfig, "max_tokens"), rich_help_panel=DECODE),
    ] = None,
    n: Annotated[
        int | None,
        typer.Option("--n", help="samples per prompt (one request)", rich_help_panel=DECODE),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            help=with_default("seed for sampling and exemplar draws", RunConfig, "seed"),
            rich_help_panel=DECODE,
        ),
    ] = None,
    stop: Annotated[
        list[str] | None, typer.Option(help="stop string (repeatable)", rich_help_panel=DECODE)
    ] = None,
    constrained: Annotated[
        bool | None,
        typer.Option(
            "--constrained/--free",
            help="force labels into the label set \\[default: template's]",
            rich_help_panel=DECODE,
        ),
    ] = None,
    prompt_format: Annotated[
        str | None, typer.Option(help="chat | raw (base models)", rich_help_panel=DECODE)
    ] = None,
    langid: Annotated[
        bool | None,
        typer.Option(
            "--langid/--no-langid",
            help=with_default("check output languages", RunConfig, "langid"),
            rich_help_panel=GUARD,
        ),
    ] = None,
    off_target: Annotated[
        str | None,
        typer.Option(
            "--off-target",
            help=with_default(
                "flag (record) | retry (ask again, firmer) | rerank (order the --n samples)",
                GuardConfig,
                "policy",
            ),
            rich_help_panel=GUARD,
        ),
    ] = None,
    retries: Annotated[
        int | None,
        typer.Option(
            help=with_default("retry rounds for --off-target retry", GuardConfig, "retries"),
            rich_help_panel=GUARD,
        ),
    ] = None,
    mixed: Annotated[
        str | None,
        typer.Option(
            "--mixed",
            help=with_default(
                "how retry and rerank treat a 'mixed' answer (an off-target line such as an "
                "English preamble beside on-target text): off (like off-target) | accept",
                GuardConfig,
                "mixed",
            ),
            rich_help_panel=GUARD,
        ),
    ] = None,
    trim: Annotated[
        bool | None,
        typer.Option(
            "--trim/--no-trim",
            help="drop a leading off-target line (a preamble) when the rest checks better; "
            "recorded in the step \\[default: no-trim]",
            rich_help_panel=GUARD,
        ),
    ] = None,
    langid_mode: Annotated[
        str | None,
        typer.Option(
            help="default (py3langid, pycld2 as fallback) | strict (+ pycld2 second opinion)",
            rich_help_panel=GUARD,
        ),
    ] = None,
    langid_model: Annotated[
        str | None,
        typer.Option(
            help="fastText language-ID model file (GlotLID, OpenLID)", rich_help_panel=GUARD
        ),
    ] = None,
    pivot: Annotated[
        list[str] | None,
        typer.Option(
            help=with_default(
                "language caught even when no detector knows the target", LangidConfig, "pivots"
            ),
            rich_help_panel=GUARD,
        ),
    ] = None,
    chunk_size: Annotated[
        int | None,
        typer.Option(
            help=with_default("rows per batched call and per resume unit", RunConfig, "chunk_size")
        ),
    ] = None,
    chunks_in_flight: Annotated[
        int | None,
        typer.Option(
            help=with_default(
                "chunks worked on at once (host work overlaps generation; 1: chunk by chunk)",
                RunConfig,
                "chunks_in_flight",
            )
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="discard an existing output and start again")
    ] = False,
    retry_errors: Annotated[
        bool,
        typer.Option("--retry-errors", help="on resume, run rows that ended with an error again"),
    ] = False,
    concurrency: Annotated[
        int | None,
        typer.Option(
            help=with_default(
                "requests in flight per server",
                EngineConfig,
                "concurrency",
                after="(backend openai)",
            ),
            rich_help_panel=ENGINE,
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            help=with_default(
                "seconds per request", EngineConfig, "timeout_s", after="(backend openai)"
            ),
            rich_help_panel=ENGINE,
        ),
    ] = None,
    max_retries: Annotated[
        int | None,
        typer.Option(
            help=with_default(
                "retries of a failed request", EngineConfig, "max_retries", after="(backend openai)"
            ),
            rich_help_panel=ENGINE,
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="show the engine's own logs")
    ] = False,
    json_summary: Annotated[
        bool, typer.Option("--json", help="print the summary as JSON on stdout")
    ] = False,
) -> None:
    """Run a prompting strategy over a dataset and score it.

    Every input row gets one output record (with a result or an error naming
    the row and field). Interrupt and run the same command again to resume.

    Example: xprompt run -i examples/data/topics.test.jsonl -o runs/topics.jsonl
    -t sib200-topic -m tiny -k 3 --exemplars examples/data/topics.pool.jsonl --target-field label
    """
    overrides: dict[str, Any] = {}
    for dotted, value in [
        ("data.input", input),
        ("output", output),
        ("template", template),
        ("strategy", strategy),
        ("engine.model", model),
        ("engine.backend", backend),
        ("engine.base_urls", base_url or None),
        ("engine.ray_address", ray_address),
        ("engine.ray_actors", ray_actors),
        ("engine.concurrency", concurrency),
        ("engine.timeout_s", timeout),
        ("engine.max_retries", max_retries),
        ("engine.max_model_len", max_model_len),
        ("engine.gpu_memory_utilization", gpu_memory_utilization),
        ("engine.tensor_parallel_size", tensor_parallel_size),
        ("engine.pipeline_parallel_size", pipeline_parallel_size),
        ("engine.data_parallel_size", data_parallel_size),
        ("engine.enable_prefix_caching", prefix_caching),
        ("engine.dtype", dtype),
        ("engine.enforce_eager", enforce_eager),
        ("engine.chat_template", chat_template),
        (
            "engine.chat_template_kwargs",
            parse_pairs(chat_template_kwarg, "--chat-template-kwarg") or None,
        ),
        ("engine.engine_options", parse_pairs(engine_option, "--engine-option") or None),
        ("data.fields", parse_mapping(field, "--field") or None),
        ("data.id_field", id_field),
        ("data.lang_field", lang_field),
        ("data.target_field", target_field),
        ("data.lang", lang),
        ("data.max_chars", max_chars),
        ("data.limit", limit),
        ("exemplars.shots", shots),
        ("exemplars.pool", exemplars),
        ("exemplars.select", select),
        ("exemplars.lang", exemplar_lang),
        ("exemplars.per_row", per_row),
        ("sampling.temperature", temperature),
        ("sampling.top_p", top_p),
        ("sampling.max_tokens", max_tokens),
        ("sampling.n", n),
        ("sampling.seed", seed),
        ("sampling.stop", stop or None),
        ("constrained", constrained),
        ("prompt_format", prompt_format),
        ("langid", langid),
        ("guard.policy", off_target),
        ("guard.retries", retries),
        ("guard.mixed", mixed),
        ("guard.trim", trim),
        ("guard.langid.mode", langid_mode),
        ("guard.langid.fasttext_model", langid_model),
        ("guard.langid.pivots", pivot or None),
        ("chunk_size", chunk_size),
        ("chunks_in_flight", chunks_in_flight),
        ("options", parse_pairs(option, "--opt") or None),
    ]:
        set_path(overrides, dotted, value)
    if seed is not None:
        overrides["seed"] = seed
    if overwrite:
        overrides["overwrite"] = True
    if retry_errors:
        overrides["retry_errors"] = True
    if recommendation is not None:
        from xprompt.evals.recommend import apply_recommendation

        overrides = apply_recommendation(recommendation, lang, overrides)
    run_config = load_run_config(config, overrides)
    quiet_engine_logs(verbose)

    from xprompt import runner

    prepared = runner.prepare(run_config)
    err_console.print(
        f"[bold]xprompt run[/]: {len(prepared.rows)} rows, model {prepared.model}", highlight=False
    )
    with row_progress(err_console, enabled=progress_enabled(err_console, quiet)) as bar:
        summary = runner.execute(prepared, on_start=bar.start, on_rows=bar.advance)
    print_summary(summary, err_console, as_json=json_summary)
    err_console.print(f"results: {run_config.output}", highlight=False)
