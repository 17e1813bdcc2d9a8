"""``xprompt langid``: check or identify the language of lines or JSONL rows; evaluate the check.

- ``check``: is each text in the expected language? JSONL evidence on stdout, summary on stderr.
- ``identify``: which language is each text in?
- ``eval``: false alarms and recall of the check on your own text (one file per language).
- ``coverage``: which detectors can name a language, and what the check does for it.

Every input row gets one output line: a bad row (not JSON, no text, unknown
language) gets an ``error`` naming the line and the field, and the rest go on.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from xprompt.cli import app, err_console, out_console
from xprompt.data import surrogate_problem
from xprompt.errors import ConfigError, DataError, UnknownLanguageError

langid_app = typer.Typer(
    help="Language identification and the off-target check, on files or stdin.",
    no_args_is_help=True,
)
app.add_typer(langid_app, name="langid")

LANGID = "Language ID"

ModeOption = Annotated[
    str,
    typer.Option(
        "--mode",
        help="default (py3langid, pycld2 as fallback) or strict (+ pycld2 second opinion)",
        rich_help_panel=LANGID,
    ),
]
DetectorOption = Annotated[
    list[str] | None,
    typer.Option(
        "--detector",
        help="py3langid | pycld2 | langdetect | fasttext, in order (repeatable)",
        rich_help_panel=LANGID,
    ),
]
ModelOption = Annotated[
    str | None,
    typer.Option(
        "--langid-model", help="fastText model file (GlotLID, OpenLID)", rich_help_panel=LANGID
    ),
]
PivotOption = Annotated[
    list[str] | None,
    typer.Option(
        "--pivot",
        help="language caught even for unknown targets \\[default: eng_Latn] (repeatable)",
        rich_help_panel=LANGID,
    ),
]
InputArgument = Annotated[
    str, typer.Argument(help="text file (one text per line) or JSONL file; '-' for stdin")
]
FieldOption = Annotated[
    str | None,
    typer.Option(
        "--field", "-f", help="JSONL field holding the text (reads JSONL; default for .jsonl: text)"
    ),
]
IdOption = Annotated[str, typer.Option("--id-field", help="JSONL field copied to the output")]


def _checker(
    mode: str, detector: list[str] | None, model: str | None, pivot: list[str] | None
) -> Any:
    from xprompt.langid import LangidConfig, make_checker

    settings: dict[str, Any] = {"mode": mode}
    if detector:
        settings["detectors"] = detector
    if model:
        settings["fasttext_model"] = model
    if pivot:
        settings["pivots"] = pivot
    try:
        config = LangidConfig.model_validate(settings)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"language-ID options: {problems}") from None
    return make_checker(config)


#: Tables read like JSONL rows (the form benchmarks publish model outputs in), by extension.
TABLE_DELIMITERS = {".csv": ",", ".tsv": "\t"}


def _rows(source: str, field: str | None, id_field: str) -> Iterator[dict[str, Any]]:
    """``{"line", "id"?, "text"?, "row"?, "error"?}`` per non-empty input line (or table row)."""
    delimiter = TABLE_DELIMITERS.get(Path(source).suffix.lower()) if source != "-" else None
    if delimiter is not None:
        yield from _rows_of_table(source, field or "text", id_field, delimiter)
        return
    jsonl = field is not None or source.endswith(".jsonl")
    field = field or "text"
    if source == "-":
        data = sys.stdin.buffer.read()
        name = "stdin"
    else:
        path = Path(source)
        if not path.is_file():
            raise DataError(f"input file not found: {path}")
        data = path.read_bytes()
        name = str(path)
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        out: dict[str, Any] = {"line": number}
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            out["error"] = f"{name} line {number}: not valid UTF-8 ({exc.reason})"
            yield out
            continue
        if not jsonl:
            out["text"] = line
            yield out
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            out["error"] = f"{name} line {number}: not valid JSON ({exc.msg})"
            yield out
            continue
        except RecursionError:
            out["error"] = f"{name} line {number}: not valid JSON (nested too deeply)"
            yield out
            continue
        if not isinstance(row, dict):
            out["error"] = f"{name} line {number}: a JSON object was expected"
            yield out
            continue
        problem = surrogate_problem(row)
        if problem is not None:
            out["error"] = f"{name} line {number}: {problem}"
            yield out
            continue
        if id_field in row:
            out["id"] = row[id_field]
        text = row.get(field)
        if not isinstance(text, str):
            present = ", ".join(sorted(row)) or "none"
            what = "missing" if text is None else f"not a string ({type(text).__name__})"
            out["error"] = (
                f"{name} line {number}: field '{field}' is {what} (fields present: {present})"
            )
            yield out
            continue
        out["text"] = text
        out["row"] = row
        yield out


def _rows_of_table(
    source: str, field: str, id_field: str, delimiter: str
) -> Iterator[dict[str, Any]]:
    path = Path(source)
    if not path.is_file():
        raise DataError(f"input file not found: {path}")
    from xprompt import data

    fmt = "tsv" if delimiter == "\t" else "csv"
    for _, number, row in data.read_raw_rows(str(path), fmt):
        out: dict[str, Any] = {"line": number}
        if isinstance(row, str):
            out["error"] = f"{path} line {number}: {row}"
            yield out
            continue
        if row.get(id_field) not in (None, ""):
            out["id"] = row[id_field]
        text = row.get(field)
        if text is None:
            present = ", ".join(sorted(row)) or "none"
            out["error"] = f"{path} line {number}: column '{field}' is missing (columns: {present})"
            yield out
            continue
        out["text"] = text
        out["row"] = {k: v for k, v in row.items() if v not in (None, "")}
        yield out


def _emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")


@langid_app.command("check")
def check_command(
    source: InputArgument = "-",
    lang: Annotated[
        str | None,
        typer.Option("--lang", "-l", help="expected language of every text (code or name)"),
    ] = None,
    field: FieldOption = None,
    lang_field: Annotated[
        str, typer.Option("--lang-field", help="JSONL field with each row's expected language")
    ] = "lang",
    id_field: IdOption = "id",
    echo: Annotated[
        bool, typer.Option("--echo", help="copy each text into its output line")
    ] = False,
    mode: ModeOption = "default",
    detector: DetectorOption = None,
    model: ModelOption = None,
    pivot: PivotOption = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="worker processes for large inputs \\[default: the usable cores; a pool is "
            "used from 4,000 texts on]",
        ),
    ] = None,
) -> None:
    """Check that each text is in the expected language: one JSONL line of evidence per input line.

    Example: xprompt langid check answers.jsonl --lang hau_Latn --field answer
    """
    from xprompt import languages
    from xprompt.langid.parallel import check_many

    checker = _checker(mode, detector, model, pivot)
    fixed = languages.resolve(lang).code if lang else None
    resolved: dict[str, str] = {}
    verdicts: dict[str, Counter[str]] = {}
    errors = 0
    items = []
    for item in _rows(source, field, id_field):
        expected = fixed
        if "error" not in item and expected is None:
            value = item.get("row", {}).get(lang_field)
            if value is None:
                item["error"] = (
                    f"line {item['line']}: no expected language: give --lang or a "
                    f"'{lang_field}' field (--lang-field)"
                )
            else:
                key = str(value)
                expected = resolved.get(key)
                if expected is None:
                    try:
                        expected = resolved[key] = languages.resolve(key).code
                    except UnknownLanguageError as exc:
                        item["error"] = f"line {item['line']}: field '{lang_field}': {exc}"
        item["expected"] = expected
        items.append(item)
    todo = [(item["text"], item["expected"]) for item in items if "error" not in item]
    results = iter(check_many(checker.check, todo, jobs=jobs))
    encode = json.JSONEncoder(ensure_ascii=False).encode
    write = sys.stdout.write
    for item in items:
        out = {k: item[k] for k in ("line", "id") if k in item}
        if "error" in item:
            errors += 1
            write(encode({**out, "error": item["error"]}) + "\n")
            continue
        result = next(results)
        verdicts.setdefault(item["expected"], Counter())[result.verdict] += 1
        if echo:
            out["text"] = item["text"]
        out["check"] = result.to_dict()
        write(encode(out) + "\n")
    _summary(verdicts, errors, checker.signature())


def _summary(verdicts: dict[str, Counter[str]], errors: int, signature: str) -> None:
    table = Table(title="off-target check")
    for column in ("expected", "texts", "on", "off", "mixed", "uncertain", "off-target"):
        table.add_column(column, justify="left" if column == "expected" else "right")
    total: Counter[str] = Counter()
    for lang, counts in sorted(verdicts.items()):
        total.update(counts)
        n = sum(counts.values())
        table.add_row(
            lang,
            str(n),
            str(counts["on"]),
            str(counts["off"]),
            str(counts["mixed"]),
            str(counts["uncertain"]),
            f"{100 * counts['off'] / n:.1f}%",
        )
    n = sum(total.values())
    if len(verdicts) > 1:
        rate = f"{100 * total['off'] / n:.1f}%" if n else "-"
        table.add_row(
            "all",
            str(n),
            str(total["on"]),
            str(total["off"]),
            str(total["mixed"]),
            str(total["uncertain"]),
            rate,
        )
    err_console.print(table)
    if errors:
        err_console.print(f"[yellow]{errors} line(s) with errors[/] (see their 'error' field)")
    err_console.print(f"signature: {signature}", highlight=False, markup=False, soft_wrap=True)


@langid_app.command("identify")
def identify_command(
    source: InputArgument = "-",
    field: FieldOption = None,
    id_field: IdOption = "id",
    echo: Annotated[
        bool, typer.Option("--echo", help="copy each text into its output line")
    ] = False,
    mode: ModeOption = "default",
    detector: DetectorOption = None,
    model: ModelOption = None,
) -> None:
    """Identify the language of each text (by the first detector): one JSONL line per input line.

    Identification guesses among the detector's own languages; to test whether a
    text is in a language the detector may not know, use 'check'.
    """
    checker = _checker(mode, detector, model, None)
    found: Counter[str] = Counter()
    errors = 0
    for item in _rows(source, field, id_field):
        out = {k: item[k] for k in ("line", "id") if k in item}
        if "error" in item:
            errors += 1
            _emit({**out, "error": item["error"]})
            continue
        result = checker.identify(item["text"])
        found[result.detected] += 1
        if echo:
            out["text"] = item["text"]
        _emit({**out, **result.to_dict()})
    table = Table(title="identified languages")
    table.add_column("language")
    table.add_column("texts", justify="right")
    for code, count in found.most_common():
        table.add_row(code, str(count))
    err_console.print(table)
    if errors:
        err_console.print(f"[yellow]{errors} line(s) with errors[/] (see their 'error' field)")


@langid_app.command("eval")
def eval_command(
    files: Annotated[
        list[str],
        typer.Argument(help="one text file per language: hau_Latn.txt or LANG=PATH"),
    ],
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target", "-t", help="check against these languages \\[default: every file's]"
        ),
    ] = None,
    pivot_lang: Annotated[
        str, typer.Option("--english", help="the file counted as 'English caught'")
    ] = "eng_Latn",
    as_json: Annotated[bool, typer.Option("--json", help="all counts as JSON on stdout")] = False,
    mode: ModeOption = "default",
    detector: DetectorOption = None,
    model: ModelOption = None,
    pivot: PivotOption = None,
) -> None:
    """Measure the check on your own text: false alarms on each language, recall on the others.

    Every file is checked against every target language. A file checked
    against its own language gives the false-alarm rate (correct text flagged)
    and the uncertain rate; against another language, the share caught.

    Example: xprompt langid eval hau_Latn.txt yor_Latn.txt eng_Latn.txt --mode strict
    """
    from xprompt import languages
    from xprompt.langid.evaluation import corpus_from_files, evaluate

    checker = _checker(mode, detector, model, pivot)
    corpus = corpus_from_files(files)
    targets = [languages.resolve(t).code for t in target] if target else list(corpus)
    english = languages.resolve(pivot_lang).code
    result = evaluate(checker.check, corpus, targets=targets, signature=checker.signature())
    if as_json:
        sys.stdout.write(
            json.dumps(
                {**result.to_dict(), "summary": result.summary(english)},
                ensure_ascii=False,
                indent=2,
            )
            + "\n"
        )
        return
    table = Table(title=f"off-target check on your text ({sum(map(len, corpus.values()))} lines)")
    for column in (
        "target",
        "own lines",
        "false alarm",
        "uncertain",
        "English caught",
        "others caught",
    ):
        table.add_column(column, justify="left" if column == "target" else "right")
    for row in result.summary(english):
        own, eng, others = row["own"], row["pivot"], row["others"]
        table.add_row(
            row["target"],
            str(own["n"]) if own["n"] else "-",
            _share(own, "off"),
            _share(own, "uncertain"),
            _share(eng, "off") if eng else "-",
            _share(others, "off") if others else "-",
        )
    err_console.print(table)
    err_console.print(
        "false alarm: own text flagged off-target; uncertain: own text not confirmed; "
        "caught: other-language text flagged off-target."
    )
    err_console.print(
        f"signature: {result.signature}", highlight=False, markup=False, soft_wrap=True
    )


def _share(cell: dict[str, Any], verdict: str) -> str:
    return f"{100 * cell[verdict] / cell['n']:.1f}%" if cell["n"] else "-"


def _siblings(checker: Any, code: str) -> str:
    """What the check can say about same-script siblings of ``code`` (coverage column)."""
    if not checker.can_name(code):
        return "cannot tell it from other languages of its script: they are uncertain"
    info = checker.siblings(code)
    parts = []
    blind = [k for k in info["blind"] if k not in info["confusable"]]
    if blind:
        parts.append(f"{info['consulted']} consulted for {', '.join(blind)}")
    if info["orthography"]:
        parts.append(f"{', '.join(info['orthography'])} caught by its own letters")
    if info["confusable"]:
        parts.append(f"cannot tell it from {', '.join(info['confusable'])}: uncertain, never off")
    return "; ".join(parts) or "-"


@langid_app.command("coverage")
def coverage_command(
    langs: Annotated[list[str], typer.Argument(help="language codes or names")],
    mode: ModeOption = "default",
    detector: DetectorOption = None,
    model: ModelOption = None,
    pivot: PivotOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the listing as JSON")] = False,
) -> None:
    """Which detectors can name each language, and what the check does for it (on standard output)."""
    from xprompt import languages

    checker = _checker(mode, detector, model, pivot)
    table = Table(title=f"language-ID coverage ({checker.mode} mode)")
    for column in ("language", "name", "decided by", "what the check does", "siblings"):
        table.add_column(column)
    listing: list[dict[str, Any]] = []
    for text in langs:
        language = languages.resolve(text)
        deciders = checker.can_name(language.code)
        if deciders:
            how = "script layer, then statistical ID"
            if checker.by_fallback(language.code):
                how += " (fallback: no main detector can name it)"
            elif checker.mode == "strict" and len(deciders) > 1:
                how += " with a second opinion"
        else:
            pivots = ", ".join(checker.pivots)
            how = f"script layer; no detector knows it: only {pivots} output is caught"
        siblings = _siblings(checker, language.code)
        table.add_row(language.code, language.name, ", ".join(deciders) or "-", how, siblings)
        listing.append(
            {
                "language": language.code,
                "name": language.name,
                "decided_by": list(deciders),
                "check": how,
                "siblings": siblings,
            }
        )
    if as_json:
        sys.stdout.write(json.dumps(listing, ensure_ascii=False, indent=2) + "\n")
        return
    out_console.print(table)
