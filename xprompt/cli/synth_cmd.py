"""``xprompt synth``: build LDP exemplar sets (pairs, triples, task exemplars) from unlabelled text."""

from __future__ import annotations

from typing import Annotated

import typer

from xprompt import resume
from xprompt.cli import app, err_console
from xprompt.cli.common import quiet_engine_logs
from xprompt.cli.ldp_options import (
    DATA,
    DEFAULT_LANGS,
    BackendName,
    BaseUrl,
    CopyChrf,
    DiverseLangs,
    DiverseSet,
    EnforceEager,
    EnglishRule,
    Format,
    GpuMemory,
    IdField,
    Input,
    JsonOut,
    KeepCopies,
    LangField,
    LangRule,
    LengthMeasureOption,
    Limit,
    MaxModelLen,
    MaxRatio,
    MaxTokens,
    MinRatio,
    Model,
    Output,
    Overwrite,
    PromptFormat,
    RoundtripChrf,
    Seed,
    Select,
    Shots,
    Tags,
    Verbose,
    filter_settings,
    ldp_settings,
    open_llm,
    print_summary,
)

synth_app = typer.Typer(
    help="Build exemplar sets with linguistically-diverse prompts (LDP): English<->X pairs from "
    "unlabelled X text, X->Y triples, task exemplars in X.",
    no_args_is_help=True,
)
app.add_typer(synth_app, name="synth")


@synth_app.command("pairs", no_args_is_help=True)
def pairs_command(
    input: Input,
    output: Output,
    lang: Annotated[str, typer.Option("--lang", "-l", help="the language X of the sentences")],
    model: Model,
    text_field: Annotated[
        str, typer.Option("--field", "-f", help="text column", rich_help_panel=DATA)
    ] = "text",
    id_field: IdField = "id",
    lang_field: LangField = "lang",
    fmt: Format = None,
    limit: Limit = None,
    shots: Shots = 8,
    tags: Tags = "native",
    diverse_set: DiverseSet = "default",
    diverse_langs: DiverseLangs = DEFAULT_LANGS,
    select: Select = "first",
    seed: Seed = 0,
    max_tokens: MaxTokens = 128,
    prompt_format: PromptFormat = "raw",
    lang_rule: LangRule = "not-off",
    english_rule: EnglishRule = "on",
    min_ratio: MinRatio = 1 / 3,
    max_ratio: MaxRatio = 3.0,
    length_measure: LengthMeasureOption = "script",
    keep_copies: KeepCopies = False,
    copy_chrf: CopyChrf = 80.0,
    roundtrip_chrf: RoundtripChrf = None,
    backend: BackendName = "vllm",
    base_url: BaseUrl = None,
    max_model_len: MaxModelLen = None,
    enforce_eager: EnforceEager = None,
    gpu_memory_utilization: GpuMemory = None,
    overwrite: Overwrite = False,
    verbose: Verbose = False,
    json_summary: JsonOut = False,
) -> None:
    """English<->X pairs from unlabelled X sentences: translate each into English with diverse
    high-resource exemplars, keep the pairs that pass the filters, write them as English->X
    exemplars with provenance; every rejected candidate goes to <set>.rejected.jsonl with its reasons.

    Example: xprompt synth pairs -i hau.txt -l hau_Latn -o sets/hau.jsonl -m tiny
    """
    from xprompt.ldp.synth import SynthJob, synthesize_pairs

    quiet_engine_logs(verbose)
    settings = ldp_settings(
        exemplars=(),
        shots=shots,
        tags=tags,
        diverse_set=diverse_set,
        diverse_langs=diverse_langs,
        select=select,
        seed=seed,
        max_tokens=max_tokens,
        prompt_format=prompt_format,
    )
    job = SynthJob(
        input=input,
        output=output,
        lang=lang,
        text_field=text_field,
        id_field=id_field,
        lang_field=lang_field,
        format=fmt,
        limit=limit,
        overwrite=overwrite,
        filters=filter_settings(
            lang_rule=lang_rule,
            english_rule=english_rule,
            min_ratio=min_ratio,
            max_ratio=max_ratio,
            length_measure=length_measure,
            keep_copies=keep_copies,
            copy_chrf=copy_chrf,
            roundtrip_chrf=roundtrip_chrf,
        ),
    )
    job.check_output_free()
    settings.read_pool()
    err_console.print(
        f"[bold]xprompt synth pairs[/]: {input} ({job.lang}) -> {output}", highlight=False
    )
    with (
        resume.lock_output(job.output),
        open_llm(
            model, backend, base_url, max_model_len, enforce_eager, gpu_memory_utilization
        ) as llm,
    ):
        result = synthesize_pairs(job, settings.build(llm), on_stage=_note)
    print_summary(
        result, output, as_json=json_summary, title=f"Synthetic pairs: English <-> {job.lang}"
    )


@synth_app.command("chain", no_args_is_help=True)
def chain_command(
    input: Input,
    output: Output,
    lang: Annotated[str, typer.Option("--lang", "-l", help="the language X of the sentences")],
    tgt: Annotated[str, typer.Option("--tgt", help="the language Y")],
    exemplars: Annotated[
        list[str], typer.Option("--exemplars", "-e", help="English->Y pair set (repeatable)")
    ],
    model: Model,
    text_field: Annotated[
        str, typer.Option("--field", "-f", help="text column", rich_help_panel=DATA)
    ] = "text",
    id_field: IdField = "id",
    lang_field: LangField = "lang",
    fmt: Format = None,
    limit: Limit = None,
    shots: Shots = 8,
    tags: Tags = "native",
    diverse_set: DiverseSet = "default",
    diverse_langs: DiverseLangs = DEFAULT_LANGS,
    select: Select = "first",
    seed: Seed = 0,
    max_tokens: MaxTokens = 128,
    prompt_format: PromptFormat = "raw",
    lang_rule: LangRule = "not-off",
    english_rule: EnglishRule = "on",
    min_ratio: MinRatio = 1 / 3,
    max_ratio: MaxRatio = 3.0,
    length_measure: LengthMeasureOption = "script",
    keep_copies: KeepCopies = False,
    copy_chrf: CopyChrf = 80.0,
    backend: BackendName = "vllm",
    base_url: BaseUrl = None,
    max_model_len: MaxModelLen = None,
    enforce_eager: EnforceEager = None,
    gpu_memory_utilization: GpuMemory = None,
    overwrite: Overwrite = False,
    verbose: Verbose = False,
    json_summary: JsonOut = False,
) -> None:
    """X->Y triples through English: X sentences to English with diverse exemplars, then to Y with
    the English->Y pairs of --exemplars; both legs are filtered.

    Example: xprompt synth chain -i hau.txt -l hau_Latn --tgt yor_Latn -e sets/yor.jsonl -o sets/hau-yor.jsonl -m tiny
    """
    from xprompt.ldp.synth import SynthJob, synthesize_triples

    quiet_engine_logs(verbose)
    settings = ldp_settings(
        exemplars=tuple(exemplars),
        shots=shots,
        tags=tags,
        diverse_set=diverse_set,
        diverse_langs=diverse_langs,
        select=select,
        seed=seed,
        max_tokens=max_tokens,
        prompt_format=prompt_format,
    )
    job = SynthJob(
        input=input,
        output=output,
        lang=lang,
        target_lang=tgt,
        text_field=text_field,
        id_field=id_field,
        lang_field=lang_field,
        format=fmt,
        limit=limit,
        overwrite=overwrite,
        filters=filter_settings(
            lang_rule=lang_rule,
            english_rule=english_rule,
            min_ratio=min_ratio,
            max_ratio=max_ratio,
            length_measure=length_measure,
            keep_copies=keep_copies,
            copy_chrf=copy_chrf,
            roundtrip_chrf=None,
        ),
    )
    job.check_output_free()
    settings.read_pool()
    err_console.print(
        f"[bold]xprompt synth chain[/]: {input} ({job.lang} -> English -> {job.target_lang}) -> {output}",
        highlight=False,
    )
    with (
        resume.lock_output(job.output),
        open_llm(
            model, backend, base_url, max_model_len, enforce_eager, gpu_memory_utilization
        ) as llm,
    ):
        result = synthesize_triples(job, settings.build(llm), on_stage=_note)
    print_summary(
        result,
        output,
        as_json=json_summary,
        title=f"Synthetic triples: {job.lang} -> {job.target_lang}",
    )


@synth_app.command("task", no_args_is_help=True)
def task_command(
    input: Annotated[
        str,
        typer.Option(
            "--input", "-i", help="English task exemplars (JSONL/CSV/TSV)", rich_help_panel=DATA
        ),
    ],
    output: Annotated[str, typer.Option("--output", "-o", help="the X exemplar pool to write")],
    lang: Annotated[str, typer.Option("--lang", "-l", help="the language X")],
    exemplars: Annotated[
        list[str], typer.Option("--exemplars", "-e", help="English->X pair set (repeatable)")
    ],
    model: Model,
    field: Annotated[
        list[str] | None,
        typer.Option(
            "--field",
            "-f",
            help="column to translate (repeatable) \\[default: text]",
            rich_help_panel=DATA,
        ),
    ] = None,
    target_field: Annotated[
        str | None, typer.Option(help="gold answer column (kept as is)", rich_help_panel=DATA)
    ] = None,
    translate_target: Annotated[
        bool,
        typer.Option(
            "--translate-target",
            help="translate the answer too (QA, summaries)",
            rich_help_panel=DATA,
        ),
    ] = False,
    id_field: IdField = "id",
    lang_field: LangField = "lang",
    fmt: Format = None,
    limit: Limit = None,
    shots: Shots = 8,
    tags: Tags = "native",
    select: Select = "first",
    seed: Seed = 0,
    max_tokens: MaxTokens = 256,
    prompt_format: PromptFormat = "raw",
    lang_rule: LangRule = "not-off",
    min_ratio: MinRatio = 1 / 3,
    max_ratio: MaxRatio = 3.0,
    length_measure: LengthMeasureOption = "script",
    keep_copies: KeepCopies = False,
    copy_chrf: CopyChrf = 80.0,
    backend: BackendName = "vllm",
    base_url: BaseUrl = None,
    max_model_len: MaxModelLen = None,
    enforce_eager: EnforceEager = None,
    gpu_memory_utilization: GpuMemory = None,
    overwrite: Overwrite = False,
    verbose: Verbose = False,
    json_summary: JsonOut = False,
) -> None:
    """Task exemplars in X: translate English task exemplars (classification, QA, summarisation)
    into X with the synthetic English->X pairs; the labels are kept. The result is an exemplar
    pool for 'xprompt run --exemplars'.

    Example: xprompt synth task -i examples/data/topics.en.jsonl -l hau_Latn -e sets/hau.jsonl --target-field label -o sets/topics.hau.jsonl -m tiny
    """
    from xprompt.ldp.tasks import TaskJob, synthesize_task_exemplars

    quiet_engine_logs(verbose)
    settings = ldp_settings(
        exemplars=tuple(exemplars),
        shots=shots,
        tags=tags,
        diverse_set="none",
        diverse_langs=DEFAULT_LANGS,
        select=select,
        seed=seed,
        max_tokens=max_tokens,
        prompt_format=prompt_format,
    )
    job = TaskJob(
        input=input,
        output=output,
        lang=lang,
        fields=tuple(field or ["text"]),
        target_field=target_field,
        translate_target=translate_target,
        id_field=id_field,
        lang_field=lang_field,
        format=fmt,
        limit=limit,
        overwrite=overwrite,
        filters=filter_settings(
            lang_rule=lang_rule,
            english_rule="on",
            min_ratio=min_ratio,
            max_ratio=max_ratio,
            length_measure=length_measure,
            keep_copies=keep_copies,
            copy_chrf=copy_chrf,
            roundtrip_chrf=None,
        ),
    )
    job.check_output_free()
    settings.read_pool()
    err_console.print(
        f"[bold]xprompt synth task[/]: {input} (English -> {job.lang}) -> {output}", highlight=False
    )
    with (
        resume.lock_output(job.output),
        open_llm(
            model, backend, base_url, max_model_len, enforce_eager, gpu_memory_utilization
        ) as llm,
    ):
        result = synthesize_task_exemplars(job, settings.build(llm), on_stage=_note)
    print_summary(result, output, as_json=json_summary, title=f"Task exemplars in {job.lang}")


def _note(stage: str) -> None:
    err_console.print(f"  {stage}", highlight=False)
