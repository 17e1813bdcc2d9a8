"""``xprompt translate``: batch machine translation of a file; ``xprompt translate-score``: re-score one."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from xprompt.cli import app, err_console
from xprompt.cli.common import progress_enabled, quiet_engine_logs, row_progress

MT = "MT model"
DATA = "Data"
SELF = "Self-translate (--model self)"
LDP = "LDP (--model ldp; also uses --exemplars, --llm, --llm-backend, --base-url, --prompt-format)"
SCORE = "Scoring"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def report_table(result, title: str) -> Table:  # type: ignore[no-untyped-def]
    """One row per language pair (and all): counts, metrics, off-target and copy rates."""
    names = [m.name for m in result.reports["all"].metrics] if result.reports else []
    table = Table(title=title)
    for column in ["pair", "rows", "errors", *names, "off-target", "copies"]:
        table.add_column(column, justify="left" if column == "pair" else "right", no_wrap=True)
    for key, report in result.reports.items():
        scores = {m.name: m for m in report.metrics}
        cells = []
        for name in names:
            metric = scores.get(name)
            if metric is None:
                cells.append("-")
            elif metric.ci is not None:
                cells.append(f"{metric.score:.2f} ±{metric.ci:.2f}")
            else:
                cells.append(f"{metric.score:.2f}")
        table.add_row(
            key,
            str(report.rows),
            str(report.errors),
            *cells,
            _pct(report.off_target_rate),
            _pct(report.copy_rate),
        )
    return table


def print_result(result, console: Console, *, as_json: bool, title: str) -> None:  # type: ignore[no-untyped-def]
    """The report as a table on the console, or as JSON on stdout."""
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    console.print(report_table(result, title))
    if result.reports:
        for metric in result.reports["all"].metrics:
            console.print(f"{metric.name}: {metric.signature}", highlight=False, markup=False)
    if result.rows_this_session:
        rate = result.rows_this_session / result.elapsed_s if result.elapsed_s > 0 else 0.0
        console.print(
            f"rows translated now: {result.rows_this_session} in {result.elapsed_s:.1f}s "
            f"({rate:.1f} rows/s), cache hits: {result.cache_hits}",
            highlight=False,
        )
    if result.signature:
        console.print(
            f"signature: {result.signature}", highlight=False, markup=False, soft_wrap=True
        )


@app.command("translate", no_args_is_help=True)
def translate_command(
    input: Annotated[
        str, typer.Option("--input", "-i", help="JSONL/CSV/TSV/TXT file", rich_help_panel=DATA)
    ],
    output: Annotated[
        str, typer.Option("--output", "-o", help="translations JSONL (resumed when it exists)")
    ],
    tgt: Annotated[str, typer.Option("--tgt", help="target language")] = "eng_Latn",
    src: Annotated[
        str | None,
        typer.Option(
            help="source language of rows without a language column", rich_help_panel=DATA
        ),
    ] = None,
    field: Annotated[
        list[str] | None,
        typer.Option(
            "--field",
            "-f",
            help="column to translate (repeatable) \\[default: text]",
            rich_help_panel=DATA,
        ),
    ] = None,
    id_field: Annotated[str, typer.Option(help="id column", rich_help_panel=DATA)] = "id",
    lang_field: Annotated[str, typer.Option(help="language column", rich_help_panel=DATA)] = "lang",
    ref_field: Annotated[
        str | None,
        typer.Option(help="reference translation column (enables BLEU/chrF)", rich_help_panel=DATA),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", help="jsonl|csv|tsv|txt (default: from the extension)", rich_help_panel=DATA
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(help="only the first N rows", rich_help_panel=DATA)
    ] = None,
    max_chars: Annotated[
        int, typer.Option(help="longest accepted text", rich_help_panel=DATA)
    ] = 100_000,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            help="MT model dir or hub name; 'tiny' (test model); 'self' (LLM)",
            rich_help_panel=MT,
        ),
    ] = "facebook/nllb-200-distilled-600M",
    beams: Annotated[int, typer.Option(help="1 = greedy", rich_help_panel=MT)] = 1,
    max_new_tokens: Annotated[
        int, typer.Option(help="output cap per sentence", rich_help_panel=MT)
    ] = 256,
    max_input_tokens: Annotated[
        int, typer.Option(help="longer inputs are split", rich_help_panel=MT)
    ] = 256,
    split: Annotated[
        str, typer.Option(help="long | always | never (sentence splitting)", rich_help_panel=MT)
    ] = "long",
    device: Annotated[str, typer.Option(help="auto | cpu | cuda[:N]", rich_help_panel=MT)] = "auto",
    dtype: Annotated[
        str, typer.Option(help="auto | float32 | bfloat16 | float16", rich_help_panel=MT)
    ] = "auto",
    batch_tokens: Annotated[
        int, typer.Option(help="token budget per batch", rich_help_panel=MT)
    ] = 16384,
    batch_size: Annotated[int, typer.Option(help="most rows per batch", rich_help_panel=MT)] = 64,
    cache: Annotated[
        str,
        typer.Option(
            help="translation cache (SQLite): 'default', a path, or 'none'", rich_help_panel=MT
        ),
    ] = "default",
    exemplars: Annotated[
        str | None,
        typer.Option(
            help="translation pairs file (lang, text, target, target_lang)", rich_help_panel=SELF
        ),
    ] = None,
    shots: Annotated[int, typer.Option(help="exemplars per prompt", rich_help_panel=SELF)] = 4,
    self_max_tokens: Annotated[
        int, typer.Option(help="new tokens per translation", rich_help_panel=SELF)
    ] = 64,
    exemplar_lang: Annotated[str, typer.Option(help="same | any", rich_help_panel=SELF)] = "same",
    exemplar_max_chars: Annotated[
        int, typer.Option(help="only exemplars with shorter sources", rich_help_panel=SELF)
    ] = 100,
    llm: Annotated[
        str, typer.Option(help="LLM for self-translate ('tiny' = test model)", rich_help_panel=SELF)
    ] = "tiny",
    llm_backend: Annotated[str, typer.Option(help="vllm | openai", rich_help_panel=SELF)] = "vllm",
    base_url: Annotated[
        list[str] | None,
        typer.Option("--base-url", help="OpenAI-compatible server", rich_help_panel=SELF),
    ] = None,
    prompt_format: Annotated[str, typer.Option(help="raw | chat", rich_help_panel=SELF)] = "raw",
    tags: Annotated[
        str, typer.Option(help="native | none | english | code", rich_help_panel=LDP)
    ] = "native",
    x2en: Annotated[
        str,
        typer.Option(help="X->English pairs: auto | diverse | in-language", rich_help_panel=LDP),
    ] = "auto",
    ldp_shots: Annotated[int, typer.Option(help="exemplars per prompt", rich_help_panel=LDP)] = 8,
    diverse_set: Annotated[
        str,
        typer.Option(help="diverse X->English pairs: default | FILE | none", rich_help_panel=LDP),
    ] = "default",
    diverse_langs: Annotated[
        str,
        typer.Option(help="diverse languages, comma-separated, in order", rich_help_panel=LDP),
    ] = "arb_Arab,zho_Hans,vie_Latn,fra_Latn",
    ldp_max_tokens: Annotated[
        int, typer.Option(help="new tokens per translation", rich_help_panel=LDP)
    ] = 128,
    bootstrap: Annotated[
        int, typer.Option(help="bootstrap resamples for 95% CIs (0 = off)", rich_help_panel=SCORE)
    ] = 0,
    spm: Annotated[
        str | None, typer.Option(help="SentencePiece model file for spBLEU", rich_help_panel=SCORE)
    ] = None,
    langid: Annotated[
        bool, typer.Option("--langid/--no-langid", help="check output languages")
    ] = True,
    chunk_size: Annotated[
        int, typer.Option(help="rows per translator call and per resume unit")
    ] = 256,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="discard an existing output")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="show the engines' logs")
    ] = False,
    json_summary: Annotated[
        bool, typer.Option("--json", help="print the report as JSON on stdout")
    ] = False,
) -> None:
    """Translate a file with an MT model (or self-translate with an LLM), resumably, and score it.

    One output record per input row, with the translation or an error naming
    the row and field. Interrupt and run the same command again to resume;
    translations are cached. With --ref-field: BLEU, chrF, chrF++ (and spBLEU
    with --spm); always the off-target and copy-of-source rates.

    Example: xprompt translate -i examples/data/topics.test.jsonl -o runs/mt.jsonl -m tiny --tgt eng_Latn
    """
    from xprompt.errors import ConfigError
    from xprompt.mt.base import DecodingSettings
    from xprompt.mt.factory import LDP as LDP_MODEL
    from xprompt.mt.factory import SELF as SELF_MODEL
    from xprompt.mt.factory import SelfTranslateSettings, TranslatorSettings
    from xprompt.mt.job import TranslateJob, execute

    quiet_engine_logs(verbose)
    if split not in ("long", "always", "never"):
        raise ConfigError(f"--split must be long, always or never, got '{split}'")
    if exemplar_lang not in ("same", "any") or prompt_format not in ("raw", "chat"):
        raise ConfigError("--exemplar-lang takes same|any and --prompt-format raw|chat")
    try:
        decoding = DecodingSettings(
            num_beams=beams,
            max_new_tokens=max_new_tokens,
            max_input_tokens=max_input_tokens,
            split=split,  # type: ignore[arg-type]
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    settings = TranslatorSettings(
        model=model,
        decoding=decoding,
        device=device,
        dtype=dtype,
        batch_tokens=batch_tokens,
        max_batch_size=batch_size,
        cache=cache,
        self_translate=SelfTranslateSettings(
            exemplars=exemplars,
            shots=shots,
            max_tokens=self_max_tokens,
            exemplar_lang=exemplar_lang,  # type: ignore[arg-type]
            prompt_format=prompt_format,  # type: ignore[arg-type]
            max_exemplar_chars=exemplar_max_chars,
        ),
        ldp=_ldp_settings(
            model == LDP_MODEL,
            exemplars=exemplars,
            shots=ldp_shots,
            tags=tags,
            x2en=x2en,
            diverse_set=diverse_set,
            diverse_langs=diverse_langs,
            max_tokens=ldp_max_tokens,
            prompt_format=prompt_format,
        ),
    )
    job = TranslateJob(
        input=input,
        output=output,
        translator=settings,
        tgt=tgt,
        src=src,
        fields=tuple(field or ["text"]),
        id_field=id_field,
        lang_field=lang_field,
        ref_field=ref_field,
        format=fmt,
        max_chars=max_chars,
        limit=limit,
        chunk_size=chunk_size,
        langid=langid,
        overwrite=overwrite,
    )
    owned_llm = None
    if model in (SELF_MODEL, LDP_MODEL):
        from xprompt.backends import factory
        from xprompt.config import EngineConfig

        engine = EngineConfig(
            backend=llm_backend, model=llm, base_urls=base_url or [], enforce_eager=True
        )
        owned_llm = job.llm = factory.make_backend(engine, factory.resolve_model(engine))
    err_console.print(
        f"[bold]xprompt translate[/]: {input} -> {tgt}, model {model}", highlight=False
    )
    try:
        with row_progress(
            err_console, enabled=progress_enabled(err_console, quiet), description="rows"
        ) as bar:
            result = execute(
                job, on_start=bar.start, on_rows=bar.advance, bootstrap=bootstrap, spm_model=spm
            )
    finally:
        if owned_llm is not None:
            owned_llm.close()
    print_result(result, err_console, as_json=json_summary, title="Translation report")
    err_console.print(f"translations: {output}", highlight=False)


def _ldp_settings(wanted: bool, *, exemplars: str | None, diverse_langs: str, **values):  # type: ignore[no-untyped-def]
    """LDP settings for ``--model ldp`` (None otherwise, so other models never read the files)."""
    if not wanted:
        return None
    from xprompt.ldp.settings import LDPSettings

    langs = tuple(c.strip() for c in diverse_langs.split(",") if c.strip())
    return LDPSettings(exemplars=(exemplars,) if exemplars else (), diverse_langs=langs, **values)


@app.command("translate-score", no_args_is_help=True)
def translate_score_command(
    path: Annotated[Path, typer.Argument(help="output JSONL of 'xprompt translate'")],
    bootstrap: Annotated[int, typer.Option(help="bootstrap resamples for 95% CIs (0 = off)")] = 0,
    spm: Annotated[str | None, typer.Option(help="SentencePiece model file for spBLEU")] = None,
    json_summary: Annotated[
        bool, typer.Option("--json", help="print the report as JSON on stdout")
    ] = False,
) -> None:
    """Re-score a saved translation file (no model needed): metrics, off-target and copy rates."""
    from xprompt.errors import DataError
    from xprompt.mt.job import score_file

    if not path.is_file():
        raise DataError(f"translation file not found: {path}")
    result = score_file(path, bootstrap=bootstrap, spm_model=spm)
    print_result(
        result, err_console, as_json=json_summary, title=f"Translation report: {path.name}"
    )
