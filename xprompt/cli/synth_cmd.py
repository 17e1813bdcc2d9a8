"""``xprompt synth``: build LDP exemplar sets (pairs, triples, task exemplars) from unlabelled text."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.table import Table

from xprompt.cli import app, err_console
from xprompt.cli.common import quiet_engine_logs

synth_app = typer.Typer(
    help="Build exemplar sets with linguistically-diverse prompts (LDP): English<->X pairs from "
    "unlabelled X text, X->Y triples, task exemplars in X.",
    no_args_is_help=True,
)
app.add_typer(synth_app, name="synth")

LLM = "LLM"
PROMPT = "LDP prompt"
FILTERS = "Filters"
DATA = "Data"

# Options shared by the commands (Typer reads them from each signature).
Model = Annotated[
    str,
    typer.Option("--model", "-m", help="LLM: hub name, local dir, or 'tiny'", rich_help_panel=LLM),
]
BackendName = Annotated[str, typer.Option("--backend", help="vllm | openai", rich_help_panel=LLM)]
BaseUrl = Annotated[
    list[str] | None,
    typer.Option("--base-url", help="OpenAI-compatible server (repeatable)", rich_help_panel=LLM),
]
MaxModelLen = Annotated[int | None, typer.Option(help="context length", rich_help_panel=LLM)]
GpuMemory = Annotated[
    float | None,
    typer.Option(
        help="share of accelerator (on a CPU: host) memory for the engine", rich_help_panel=LLM
    ),
]
EnforceEager = Annotated[
    bool | None, typer.Option("--enforce-eager/--no-enforce-eager", rich_help_panel=LLM)
]
Shots = Annotated[
    int, typer.Option("--shots", "-k", help="exemplars per prompt", rich_help_panel=PROMPT)
]
Tags = Annotated[
    str, typer.Option(help="language tags: native | none | english | code", rich_help_panel=PROMPT)
]
DiverseSet = Annotated[
    str,
    typer.Option(help="diverse X->English pairs: default | FILE | none", rich_help_panel=PROMPT),
]
DiverseLangs = Annotated[
    str, typer.Option(help="diverse languages, comma-separated, in order", rich_help_panel=PROMPT)
]
Select = Annotated[str, typer.Option(help="first | random (seeded)", rich_help_panel=PROMPT)]
Seed = Annotated[
    int, typer.Option(help="seed of random exemplar selection", rich_help_panel=PROMPT)
]
MaxTokens = Annotated[int, typer.Option(help="new tokens per translation", rich_help_panel=PROMPT)]
PromptFormat = Annotated[str, typer.Option(help="raw | chat", rich_help_panel=PROMPT)]
LangRule = Annotated[
    str,
    typer.Option(help="language check of X texts: not-off | on | skip", rich_help_panel=FILTERS),
]
EnglishRule = Annotated[
    str,
    typer.Option(
        help="language check of English texts: on | not-off | skip", rich_help_panel=FILTERS
    ),
]
MinRatio = Annotated[
    float, typer.Option(help="least output/source letters", rich_help_panel=FILTERS)
]
MaxRatio = Annotated[
    float, typer.Option(help="most output/source letters", rich_help_panel=FILTERS)
]
KeepCopies = Annotated[
    bool,
    typer.Option(
        "--keep-copies", help="do not reject copies of the source", rich_help_panel=FILTERS
    ),
]
CopyChrf = Annotated[
    float, typer.Option(help="chrF against the source that makes a copy", rich_help_panel=FILTERS)
]
RoundtripChrf = Annotated[
    float | None,
    typer.Option(
        help="keep pairs whose back-translation reaches this chrF++", rich_help_panel=FILTERS
    ),
]
Input = Annotated[
    str, typer.Option("--input", "-i", help="JSONL/CSV/TSV/TXT file", rich_help_panel=DATA)
]
Output = Annotated[str, typer.Option("--output", "-o", help="the set to write (JSONL)")]
IdField = Annotated[str, typer.Option(help="id column", rich_help_panel=DATA)]
LangField = Annotated[str, typer.Option(help="language column", rich_help_panel=DATA)]
Format = Annotated[
    str | None, typer.Option("--format", help="jsonl|csv|tsv|txt", rich_help_panel=DATA)
]
Limit = Annotated[int | None, typer.Option(help="only the first N rows", rich_help_panel=DATA)]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="replace an existing set")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="show the engine's logs")]
JsonOut = Annotated[bool, typer.Option("--json", help="print the summary as JSON on stdout")]

DEFAULT_LANGS = "arb_Arab,zho_Hans,vie_Latn,fra_Latn"


@contextmanager
def open_llm(
    model: str,
    backend: str,
    base_url: list[str] | None,
    max_model_len: int | None,
    enforce_eager: bool | None,
    gpu_memory_utilization: float | None = None,
) -> Iterator[Any]:
    """Start the LLM backend (through ``xprompt.runner.make_backend``) and close it afterwards."""
    from xprompt import runner
    from xprompt.config import EngineConfig
    from xprompt.errors import ConfigError

    try:
        engine = EngineConfig(
            backend=backend,
            model=model,
            base_urls=base_url or [],
            max_model_len=max_model_len,
            enforce_eager=enforce_eager,
            gpu_memory_utilization=gpu_memory_utilization,
        )
    except ValueError as exc:
        raise ConfigError(f"engine settings: {exc}") from None
    llm = runner.make_backend(engine, runner.resolve_model(engine))
    try:
        yield llm
    finally:
        llm.close()


def ldp_settings(
    *,
    exemplars: tuple[str, ...],
    shots: int,
    tags: str,
    diverse_set: str,
    diverse_langs: str,
    select: str,
    seed: int,
    max_tokens: int,
    prompt_format: str,
    x2en: str = "diverse",
) -> Any:
    """The LDP translator settings from the command's flags."""
    from xprompt.ldp.settings import LDPSettings

    langs = tuple(c.strip() for c in diverse_langs.split(",") if c.strip())
    return LDPSettings(
        exemplars=exemplars,
        diverse_set=diverse_set,
        diverse_langs=langs,
        shots=shots,
        tags=tags,
        x2en=x2en,
        select=select,
        seed=seed,
        max_tokens=max_tokens,
        prompt_format=prompt_format,
    )


def filter_settings(
    *,
    lang_rule: str,
    english_rule: str,
    min_ratio: float,
    max_ratio: float,
    keep_copies: bool,
    copy_chrf: float,
    roundtrip_chrf: float | None,
) -> Any:
    """The filter settings from the command's flags (a ConfigError names a bad value)."""
    from xprompt.errors import ConfigError
    from xprompt.ldp.filters import FilterSettings

    try:
        return FilterSettings(
            lang_rule=lang_rule,  # type: ignore[arg-type]
            english_rule=english_rule,  # type: ignore[arg-type]
            min_ratio=min_ratio,
            max_ratio=max_ratio,
            reject_copies=not keep_copies,
            copy_chrf=copy_chrf,
            roundtrip_chrf=roundtrip_chrf,
        )
    except ValueError as exc:
        raise ConfigError(f"filters: {exc}") from None


def print_summary(result: Any, output: str, *, as_json: bool, title: str) -> None:
    """Accepted and rejected counts, rejections by filter, file paths, signature."""
    from xprompt.ldp.exemplar_set import rejected_path

    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(title=title)
    table.add_column("")
    table.add_column("rows", justify="right")
    table.add_row("input rows", str(result.inputs))
    table.add_row("accepted", str(len(result.accepted)), style="bold green")
    table.add_row("rejected", str(len(result.rejected)), style="bold")
    for reason, count in result.reasons.most_common():
        table.add_row(f"  {reason}", str(count))
    err_console.print(table)
    err_console.print(
        f"set: {output}\nrejected (with reasons): {rejected_path(output)}", highlight=False
    )
    if not result.accepted:
        err_console.print(
            "[yellow]warning:[/] no candidate passed the filters; the rejected file says why",
        )
    err_console.print(
        f"signature: {result.signature}", highlight=False, markup=False, soft_wrap=True
    )


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
    with open_llm(
        model, backend, base_url, max_model_len, enforce_eager, gpu_memory_utilization
    ) as llm:
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
    with open_llm(
        model, backend, base_url, max_model_len, enforce_eager, gpu_memory_utilization
    ) as llm:
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
            help="column to translate (repeatable) [default: text]",
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
    with open_llm(
        model, backend, base_url, max_model_len, enforce_eager, gpu_memory_utilization
    ) as llm:
        result = synthesize_task_exemplars(job, settings.build(llm), on_stage=_note)
    print_summary(result, output, as_json=json_summary, title=f"Task exemplars in {job.lang}")


def _note(stage: str) -> None:
    err_console.print(f"  {stage}", highlight=False)
