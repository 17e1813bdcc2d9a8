"""``xprompt score``: re-extract and re-vote stored outputs, no model, and print the report."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from xprompt.cli import app, err_console
from xprompt.cli.common import path_table, summary_table


@app.command("score", no_args_is_help=True)
def score_command(
    file: Annotated[
        Path,
        typer.Argument(
            help="xprompt result records or interchange rows (JSONL); with --format, "
            "a CLP/CLSP authors' output directory or an lm-eval samples file"
        ),
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="xprompt (default) | clp-authors (DIR: clp/ or clsp/ of the CLP authors' "
            "outputs) | lm-eval (samples_<task>_<time>.jsonl of --log_samples)",
        ),
    ] = "xprompt",
    lang: Annotated[
        str | None,
        typer.Option(
            help="lm-eval: the language of every document \\[default: doc field, task name]"
        ),
    ] = None,
    lang_field: Annotated[
        str | None,
        typer.Option(help="lm-eval: the doc field with the language \\[default: lang, language]"),
    ] = None,
    parser: Annotated[
        str | None,
        typer.Option(
            help="answer parser: number (robust), mgsm-paper (Qin et al.), choice, text, regex "
            "\\[default: each record's own, else number; clp-authors: mgsm-paper]"
        ),
    ] = None,
    vote_order: Annotated[
        str | None,
        typer.Option(
            help="tie order of path languages, e.g. en,de,es,fr,ja,ru,zh \\[default: as stored]"
        ),
    ] = None,
    exclude_off_target: Annotated[
        bool | None,
        typer.Option(
            "--exclude-off-target/--keep-off-target",
            help="leave off-target paths out of the vote \\[default: as stored, else keep]",
        ),
    ] = None,
    choices: Annotated[
        str | None, typer.Option(help="label set for --parser choice, comma-separated")
    ] = None,
    pattern: Annotated[str | None, typer.Option(help="regex for --parser regex")] = None,
    langid: Annotated[
        bool,
        typer.Option("--langid/--no-langid", help="check interchange paths against their language"),
    ] = True,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="write the re-scored records here (JSONL)"),
    ] = None,
    json_summary: Annotated[
        bool,
        typer.Option("--json", help="print the summary as JSON on stdout (by_lang, average, ...)"),
    ] = False,
) -> None:
    """Re-score stored outputs without a model: re-extract every path's answer and re-vote.

    FILE holds xprompt result records (the output of xprompt run) or interchange
    rows {"id", "lang", "target", "outputs": [{"text", "path"}]}; see the README.

    Example: xprompt score runs/mgsm.clsp.jsonl --parser mgsm-paper --vote-order en,de,es,fr,ja,ru,zh

    Others' outputs: xprompt score --format clp-authors mgsm/output/clsp;
    xprompt score --format lm-eval results/samples_mgsm_direct_sw_2024-05-01T10-00-00.jsonl
    """
    from xprompt.data import RecordWriter
    from xprompt.errors import DataError
    from xprompt.rescore import ScoreSettings, parse_vote_order, score_file

    if fmt == "clp-authors" and not file.is_dir():
        raise DataError(f"--format clp-authors reads a directory (clp/ or clsp/): {file}")
    if fmt != "clp-authors" and not file.is_file():
        raise DataError(f"file not found: {file}")
    settings = ScoreSettings(
        parser=parser,
        vote_order=parse_vote_order(vote_order),
        exclude_off_target=exclude_off_target,
        choices=tuple(c.strip() for c in choices.split(",") if c.strip()) if choices else None,
        pattern=pattern,
        langid=langid,
    )
    records, summary = score_file(file, settings, fmt=fmt, lang=lang, lang_field=lang_field)
    if output is not None:
        output.unlink(missing_ok=True)
        with RecordWriter(output) as writer:
            writer.write_many(records)
    if json_summary:
        sys.stdout.write(json.dumps(summary.to_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    err_console.print(summary_table(summary, title=f"Score of {file.name}"))
    if summary.by_path_lang:
        err_console.print(path_table(summary.to_dict()["by_path_lang"]))
    if summary.total.first_scored:
        first = summary.total.first_sample_accuracy or 0.0
        voted = summary.total.accuracy or 0.0
        err_console.print(
            f"maj@k accuracy {100 * voted:.1f}%, first sample {100 * first:.1f}%", highlight=False
        )
    average = summary.to_dict()["average"]
    if average is not None:
        err_console.print(f"average accuracy over languages: {100 * average:.1f}%", highlight=False)
    err_console.print(
        f"signature: {summary.signature}", highlight=False, markup=False, soft_wrap=True
    )
    if output is not None:
        err_console.print(f"re-scored records: {output}", highlight=False)
