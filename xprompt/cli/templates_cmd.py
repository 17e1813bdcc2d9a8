"""``xprompt templates``: list, show and render prompt templates."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from xprompt.cli import app, out_console
from xprompt.cli.common import parse_mapping

templates_app = typer.Typer(help="List, show and render prompt templates.", no_args_is_help=True)
app.add_typer(templates_app, name="templates")


@templates_app.command("list")
def list_templates(
    as_json: Annotated[
        bool, typer.Option("--json", help="print the listing as JSON (one object per template)")
    ] = False,
) -> None:
    """Every template found (built-ins and $XPROMPT_TEMPLATES directories), on standard output."""
    from xprompt.templates import available_templates, load_template

    rows = []
    for name, path in sorted(available_templates().items()):
        t = load_template(path)
        rows.append(
            {
                "name": name,
                "task": t.task,
                "fields": list(t.fields),
                "labels": len(t.choices or []),
                "layout": t.layout,
                "description": t.description.split("; ")[0].split(". ")[0],
                "path": str(path),
            }
        )
    if as_json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(title="templates")
    for column in ("name", "task", "fields", "labels", "layout"):
        table.add_column(column, no_wrap=True)
    table.add_column("description", overflow="fold")
    for row in rows:
        table.add_row(
            row["name"],
            row["task"],
            ", ".join(row["fields"]),
            str(row["labels"]),
            row["layout"],
            row["description"],
        )
    out_console.print(table)


@templates_app.command("show")
def show(name: Annotated[str, typer.Argument(help="template name or path")]) -> None:
    """Print a template's file."""
    from pathlib import Path

    from xprompt.templates import load_template

    template = load_template(name)
    sys.stdout.write(Path(template.path or name).read_text(encoding="utf-8"))


@templates_app.command("render")
def render(
    name: Annotated[str, typer.Argument(help="template name or path")],
    field: Annotated[list[str], typer.Option("--field", "-f", help="FIELD=VALUE (repeatable)")],
    lang: Annotated[str, typer.Option(help="language of the query")] = "eng_Latn",
    shot: Annotated[
        list[str] | None,
        typer.Option(
            help='exemplar as JSON {"text": ..., "target": ..., "lang": ...} (repeatable; '
            "lang: the exemplar's language, default the query's)"
        ),
    ] = None,
) -> None:
    """Render a template for one query and print the chat messages as JSON."""
    from xprompt import languages
    from xprompt.errors import ConfigError
    from xprompt.templates import load_template
    from xprompt.types import Example

    template = load_template(name)
    code = languages.resolve(lang).code
    query = Example("query", code, parse_mapping_values(field))
    exemplars = []
    for i, raw in enumerate(shot or []):
        try:
            item = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--shot {i + 1}: not valid JSON ({exc.msg})") from None
        if not isinstance(item, dict):
            raise ConfigError(f"--shot {i + 1}: must be a JSON object, got {type(item).__name__}")
        target = item.pop("target", None)
        shot_lang = languages.resolve(str(item.pop("lang"))).code if "lang" in item else code
        exemplars.append(
            Example(
                f"shot{i + 1}",
                shot_lang,
                {k: str(v) for k, v in item.items()},
                target=None if target is None else str(target),
            )
        )
    messages = template.render(query, exemplars)
    sys.stdout.write(
        json.dumps([m.to_dict() for m in messages], ensure_ascii=False, indent=2) + "\n"
    )


def parse_mapping_values(pairs: list[str]) -> dict[str, str]:
    """FIELD=VALUE pairs where the value may contain '=' and spaces."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            parse_mapping([pair], "--field")  # raises the standard message
        out[key.strip()] = value
    return out
