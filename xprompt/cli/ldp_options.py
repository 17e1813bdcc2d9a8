"""Options and helpers shared by the LDP commands (``xprompt synth ...``, ``xprompt ldp-report``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.table import Table

from xprompt.cli import engine_options, err_console

PROMPT = "LDP prompt"
FILTERS = "Filters"
DATA = "Data"

# Options shared by the commands (Typer reads them from each signature). The LLM's engine flags
# are the ones every command shares (``xprompt/cli/engine_options.py``), declared once there.
Model = engine_options.Model
BackendName = engine_options.Backend
BaseUrl = engine_options.BaseUrl
MaxModelLen = engine_options.MaxModelLen
GpuMemory = engine_options.GpuMemoryUtilization
EnforceEager = engine_options.EnforceEager
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
LengthMeasureOption = Annotated[
    str,
    typer.Option(
        "--length-measure",
        help="script: letters weighted by script (a Han character 3, Hangul 2, kana 1.5); "
        "letters: every letter 1",
        rich_help_panel=FILTERS,
    ),
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
    """Start the LLM backend (through ``xprompt.backends.factory.make_backend``) and close it afterwards."""
    from xprompt.backends import factory
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
    llm = factory.make_backend(engine, factory.resolve_model(engine))
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
    length_measure: str = "script",
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
            length_measure=length_measure,  # type: ignore[arg-type]
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
