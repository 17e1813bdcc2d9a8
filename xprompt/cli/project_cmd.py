"""``xprompt project``: move span labels across translations (CODEC or the marker baseline).

``project train`` projects gold spans onto translations (translate-train) and can
write the training file; ``project test`` projects English spans back onto the
original test sentences (translate-test); ``project score`` re-scores a saved
output without a model.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from xprompt.cli import app, err_console
from xprompt.cli.common import progress_enabled, quiet_engine_logs, row_progress
from xprompt.cli.mt_options import MT, BatchSize, Beams, Cache, Device, MaxNewTokens

project_app = typer.Typer(
    help="Project span labels (NER ...) across translations: CODEC or markers.",
    no_args_is_help=True,
)
app.add_typer(project_app, name="project")

SEARCH = "CODEC search"
DATA = "Data"

Input = Annotated[
    str,
    typer.Option("--input", "-i", help="CoNLL (BIO) or JSONL span file", rich_help_panel=DATA),
]
Output = Annotated[
    str, typer.Option("--output", "-o", help="projections JSONL (resumed when it exists)")
]
Model = Annotated[
    str,
    typer.Option("--model", "-m", help="seq2seq MT model; 'tiny' = test model", rich_help_panel=MT),
]
MethodOpt = Annotated[str, typer.Option(help="codec | markers (EasyProject baseline)")]
Lang = Annotated[
    str | None,
    typer.Option(help="language of sentences that do not name theirs", rich_help_panel=DATA),
]
Fmt = Annotated[
    str | None, typer.Option("--format", help="conll | jsonl (default: from the extension)")
]
Limit = Annotated[int | None, typer.Option(help="only the first N sentences", rich_help_panel=DATA)]
Search = Annotated[str, typer.Option(help="exact | heuristic", rich_help_panel=SEARCH)]
Alpha = Annotated[
    int | None,
    typer.Option(
        help="look-ahead of the heuristic \\[default: 1 train, 5 test]", rich_help_panel=SEARCH
    ),
]
NBest = Annotated[int, typer.Option(help="placements kept per entity", rich_help_panel=SEARCH)]
Prefilter = Annotated[
    bool,
    typer.Option(
        "--prefilter/--no-prefilter", help="log-prob shift filter", rich_help_panel=SEARCH
    ),
]
Rerank = Annotated[
    bool,
    typer.Option("--rerank/--no-rerank", help="reverse prob + overlap", rich_help_panel=SEARCH),
]
RerankRuleOption = Annotated[
    str,
    typer.Option(
        "--rerank-rule",
        help="best overlap < 0.9: original (keep the search's best, replace only by a "
        "lower-NLL word sub-span) or lowest-nll (lowest reverse NLL of all kept)",
        rich_help_panel=SEARCH,
    ),
]
NoCandidateOption = Annotated[
    str,
    typer.Option(
        "--no-candidate",
        help="no candidate passes the re-ranking filter: drop (the sentence, as the original) "
        "or search-order",
        rich_help_panel=SEARCH,
    ),
]
BatchRows = Annotated[int, typer.Option(help="sequences per forward pass", rich_help_panel=SEARCH)]
MaxTemplate = Annotated[
    int, typer.Option(help="longer templates fail instead of searching", rich_help_panel=SEARCH)
]
Chunk = Annotated[int, typer.Option(help="sentences per chunk (and resume unit)")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="discard an existing output")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="show the engines' logs")]
JsonOut = Annotated[bool, typer.Option("--json", help="print the summary as JSON on stdout")]

DEFAULT_MODEL = "facebook/nllb-200-distilled-600M"


def _settings(
    *,
    model: str,
    beams: int,
    max_new_tokens: int,
    device: str,
    batch_size: int,
    cache: str,
    search: str,
    alpha: int | None,
    default_alpha: int,
    n_best: int,
    prefilter: bool,
    rerank: bool,
    batch_rows: int,
    max_template_tokens: int,
    rerank_rule: str = "original",
    no_candidate: str = "drop",
) -> tuple[Any, Any]:
    from xprompt.errors import ConfigError
    from xprompt.mt.base import DecodingSettings
    from xprompt.mt.factory import TranslatorSettings
    from xprompt.projection.codec import SearchSettings
    from xprompt.projection.projector import CodecSettings

    if search not in ("exact", "heuristic"):
        raise ConfigError(f"--search must be exact or heuristic, got '{search}'")
    if alpha is not None and search == "exact":
        raise ConfigError("--alpha applies to --search heuristic only")
    try:
        decoding = DecodingSettings(num_beams=beams, max_new_tokens=max_new_tokens)
        search_settings = SearchSettings(
            n_best=n_best,
            alpha=(alpha if alpha is not None else default_alpha)
            if search == "heuristic"
            else None,
            batch_rows=batch_rows,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if max_template_tokens < 1:
        raise ConfigError("--max-template-tokens must be >= 1")
    translator = TranslatorSettings(
        model=model,
        decoding=decoding,
        device=device,
        max_batch_size=batch_size,
        cache=cache,
    )
    try:
        codec = CodecSettings(
            search=search_settings,
            prefilter=prefilter,
            rerank=rerank,
            rerank_rule=rerank_rule,  # type: ignore[arg-type]
            no_candidate=no_candidate,  # type: ignore[arg-type]
            max_template_tokens=max_template_tokens,
        )
    except ValueError as exc:
        raise ConfigError(f"codec: {exc}") from None
    return translator, codec


def _run(job: Any, quiet: bool, as_json: bool) -> None:
    from xprompt.projection.job import execute

    with row_progress(
        err_console, enabled=progress_enabled(err_console, quiet), description="sentences"
    ) as bar:
        result = execute(job, on_start=bar.start, on_rows=bar.advance)
    if result.english_out:
        err_console.print(
            f"translated {result.summary['translated']} sentences to {job.pivot}: "
            f"{result.english_out}\nTag them (keep the ids; spans as character offsets), then "
            "run the same command with --english-spans FILE (or use --tagger MODULE:FUNCTION).",
            highlight=False,
        )
        return
    print_summary(result.summary, as_json=as_json)
    if result.rows_this_session:
        rate = result.rows_this_session / result.elapsed_s if result.elapsed_s else 0.0
        err_console.print(
            f"units projected now: {result.rows_this_session} in {result.elapsed_s:.1f}s "
            f"({rate:.2f}/s); output: {job.output}",
            highlight=False,
        )


def print_summary(summary: dict[str, Any], *, as_json: bool) -> None:
    """A status table (and P/R/F1 when there is gold) on stderr, or the JSON on stdout."""
    if as_json:
        sys.stdout.write(json.dumps(summary, ensure_ascii=False, indent=2) + "\n")
        return
    status = summary["status"]
    err_console.print(
        f"units: {summary['units']}  projected: {status['projected']}  "
        f"partial: {status['partial']}  failed: {status['failed']}",
        highlight=False,
    )
    for reason, count in list(summary.get("failure_reasons", {}).items())[:5]:
        err_console.print(f"  {count:>5}  {reason}", highlight=False, markup=False)
    if "marker_problems" in summary:
        err_console.print(f"marker problems: {summary['marker_problems']}", highlight=False)
    if "search" in summary:
        s = summary["search"]
        err_console.print(
            f"search: {s['calls_per_sentence']} forward passes and "
            f"{s['sequences_per_sentence']} sequences per sentence",
            highlight=False,
        )
    if "spans" in summary:
        table = Table(title="Span P/R/F1 (exact offsets and type)")
        for column in ("group", "sentences", "gold", "pred", "P", "R", "F1"):
            table.add_column(column, justify="left" if column == "group" else "right")
        spans = summary["spans"]
        rows = [*spans["by_lang"].items(), *spans["by_type"].items(), ("all", spans["all"])]
        for name, c in rows:
            table.add_row(
                name,
                str(c["sentences"]),
                str(c["gold"]),
                str(c["predicted"]),
                f"{c['precision']:.1f}",
                f"{c['recall']:.1f}",
                f"{c['f1']:.1f}",
            )
        err_console.print(table)
        err_console.print(f"spans: {spans['signature']}", highlight=False, markup=False)
    if "train_file" in summary:
        t = summary["train_file"]
        err_console.print(f"training file: {t['path']} ({t['sentences']} sentences)")
    if summary.get("signature"):
        err_console.print(
            f"signature: {summary['signature']}", highlight=False, markup=False, soft_wrap=True
        )


@project_app.command("train", no_args_is_help=True)
def train_command(
    input: Input,
    output: Output,
    tgt: Annotated[
        list[str], typer.Option("--tgt", "-t", help="target language (repeatable, or a,b,c)")
    ],
    train_file: Annotated[
        str | None, typer.Option(help="write projected sentences here (.conll or .jsonl)")
    ] = None,
    model: Model = DEFAULT_MODEL,
    method: MethodOpt = "codec",
    lang: Lang = None,
    fmt: Fmt = None,
    limit: Limit = None,
    search: Search = "exact",
    alpha: Alpha = None,
    n_best: NBest = 5,
    prefilter: Prefilter = True,
    rerank: Rerank = True,
    rerank_rule: RerankRuleOption = "original",
    no_candidate: NoCandidateOption = "drop",
    batch_rows: BatchRows = 16,
    max_template_tokens: MaxTemplate = 256,
    beams: Beams = 5,
    max_new_tokens: MaxNewTokens = 128,
    device: Device = "auto",
    batch_size: BatchSize = 64,
    cache: Cache = "default",
    chunk_size: Chunk = 16,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
    json_summary: JsonOut = False,
) -> None:
    """translate-train: project gold spans (English by default) onto translations into each --tgt.

    One record per sentence and target language: the template (translation),
    the projected spans, the template with markers, or why it failed.

    Example: xprompt project train -i examples/ner/eng.train.conll -t hau,yor -m tiny -o runs/proj.jsonl --train-file runs/train.conll
    """
    from xprompt.projection.job import ProjectJob

    quiet_engine_logs(verbose)
    translator, codec = _settings(
        model=model,
        beams=beams,
        max_new_tokens=max_new_tokens,
        device=device,
        batch_size=batch_size,
        cache=cache,
        search=search,
        alpha=alpha,
        default_alpha=1,
        n_best=n_best,
        prefilter=prefilter,
        rerank=rerank,
        rerank_rule=rerank_rule,
        no_candidate=no_candidate,
        batch_rows=batch_rows,
        max_template_tokens=max_template_tokens,
    )
    tgts = tuple(t.strip() for item in tgt for t in item.split(",") if t.strip())
    job = ProjectJob(
        direction="train",
        input=input,
        output=output,
        translator=translator,
        method=method,  # type: ignore[arg-type]
        codec=codec,
        lang=lang,
        tgts=tgts,
        train_file=train_file,
        format=fmt,
        limit=limit,
        chunk_size=chunk_size,
        overwrite=overwrite,
    )
    err_console.print(
        f"[bold]xprompt project train[/]: {input} -> {', '.join(job.tgts)}, {method}, model {model}",
        highlight=False,
    )
    _run(job, quiet, json_summary)


@project_app.command("test", no_args_is_help=True)
def test_command(
    input: Input,
    output: Output,
    english_spans: Annotated[
        str | None,
        typer.Option(
            help="tagged English translations (JSONL/CoNLL, same ids)", rich_help_panel=DATA
        ),
    ] = None,
    tagger: Annotated[
        str | None, typer.Option(help="MODULE:FUNCTION tagging English texts", rich_help_panel=DATA)
    ] = None,
    english_out: Annotated[
        str | None,
        typer.Option(help="where to write the English to tag \\[default: OUTPUT.english.jsonl]"),
    ] = None,
    pivot: Annotated[str, typer.Option(help="language the tagger works in")] = "eng_Latn",
    model: Model = DEFAULT_MODEL,
    method: MethodOpt = "codec",
    lang: Lang = None,
    fmt: Fmt = None,
    limit: Limit = None,
    search: Search = "exact",
    alpha: Alpha = None,
    n_best: NBest = 5,
    prefilter: Prefilter = True,
    rerank: Rerank = True,
    rerank_rule: RerankRuleOption = "original",
    no_candidate: NoCandidateOption = "drop",
    batch_rows: BatchRows = 16,
    max_template_tokens: MaxTemplate = 256,
    beams: Beams = 5,
    max_new_tokens: MaxNewTokens = 128,
    device: Device = "auto",
    batch_size: BatchSize = 64,
    cache: Cache = "default",
    chunk_size: Chunk = 16,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
    json_summary: JsonOut = False,
) -> None:
    """translate-test: project English spans back onto the original sentences (the templates).

    Without --english-spans or --tagger it translates the input to English and
    writes it for tagging. With gold spans in the input, reports span P/R/F1.

    Example: xprompt project test -i examples/ner/hau.test.conll -m tiny -o runs/tt.jsonl --english-spans tagged.jsonl
    """
    from xprompt.projection.job import ProjectJob

    quiet_engine_logs(verbose)
    translator, codec = _settings(
        model=model,
        beams=beams,
        max_new_tokens=max_new_tokens,
        device=device,
        batch_size=batch_size,
        cache=cache,
        search=search,
        alpha=alpha,
        default_alpha=5,
        n_best=n_best,
        prefilter=prefilter,
        rerank=rerank,
        rerank_rule=rerank_rule,
        no_candidate=no_candidate,
        batch_rows=batch_rows,
        max_template_tokens=max_template_tokens,
    )
    job = ProjectJob(
        direction="test",
        input=input,
        output=output,
        translator=translator,
        method=method,  # type: ignore[arg-type]
        codec=codec,
        lang=lang,
        pivot=pivot,
        english_spans=english_spans,
        tagger=tagger,
        english_out=english_out,
        format=fmt,
        limit=limit,
        chunk_size=chunk_size,
        overwrite=overwrite,
    )
    err_console.print(
        f"[bold]xprompt project test[/]: {input} <- {pivot} spans, {method}, model {model}",
        highlight=False,
    )
    _run(job, quiet, json_summary)


@project_app.command("score", no_args_is_help=True)
def score_command(
    path: Annotated[Path, typer.Argument(help="output JSONL of 'xprompt project'")],
    json_summary: JsonOut = False,
) -> None:
    """Re-summarize a saved projection file (no model): statuses, reasons, span P/R/F1."""
    from xprompt import data
    from xprompt.errors import DataError
    from xprompt.projection.job import summarize
    from xprompt.resume import meta_path

    if not path.is_file():
        raise DataError(f"projection file not found: {path}")
    meta = meta_path(path)
    signature = (
        json.loads(meta.read_text(encoding="utf-8")).get("signature", "") if meta.exists() else ""
    )
    print_summary(summarize(data.read_records(path), signature=signature), as_json=json_summary)
