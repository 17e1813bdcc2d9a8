"""``xprompt strategies``: the strategies ``xprompt run --strategy`` knows, with their options.

The listing goes to standard output (``xprompt strategies | grep translate``),
one block per strategy with its options as a list, readable at 80 columns;
``--json`` prints the same as JSON for scripts.
"""

from __future__ import annotations

import json
import sys
import textwrap
from typing import Annotated, Any

import typer

from xprompt.cli import app


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    return text or str(annotation).replace("typing.", "")


def describe_strategies() -> list[dict[str, Any]]:
    """Every strategy: name, aliases, one-line summary and options (name, type, default, help)."""
    from xprompt.strategies import ALIASES, STRATEGIES, strategy_module

    out = []
    for name in sorted(STRATEGIES):
        module = strategy_module(name)
        doc = (module.__doc__ or "").strip().splitlines()
        options_model = getattr(module, "Options", None)
        options = []
        for field_name, info in options_model.model_fields.items() if options_model else []:
            required = info.is_required()
            default = None if required else info.get_default(call_default_factory=True)
            options.append(
                {
                    "name": field_name,
                    "type": _type_name(info.annotation),
                    "required": required,
                    "default": default,
                    "description": info.description or "",
                }
            )
        out.append(
            {
                "name": name,
                "aliases": sorted(a for a, target in ALIASES.items() if target == name),
                "summary": doc[0] if doc else "",
                "options": options,
            }
        )
    return out


def _default_text(option: dict[str, Any]) -> str:
    if option["required"]:
        return "required"
    return json.dumps(option["default"], ensure_ascii=False)


@app.command("strategies")
def strategies(
    as_json: Annotated[bool, typer.Option("--json", help="print the listing as JSON")] = False,
) -> None:
    """List strategies, their aliases and their options (pass options with --opt KEY=VALUE)."""
    listing = describe_strategies()
    if as_json:
        sys.stdout.write(json.dumps(listing, ensure_ascii=False, indent=2) + "\n")
        return
    lines = ["strategies (xprompt run --strategy NAME --opt KEY=VALUE)", ""]
    for item in listing:
        aliases = f" (aliases: {', '.join(item['aliases'])})" if item["aliases"] else ""
        lines.append(f"{item['name']}{aliases}")
        lines += textwrap.wrap(item["summary"], 78, initial_indent="  ", subsequent_indent="  ")
        if not item["options"]:
            lines.append("  options: none")
        for option in item["options"]:
            head = f"  - {option['name']} ({option['type']}) = {_default_text(option)}"
            lines += textwrap.wrap(head, 78, subsequent_indent="      ")
            if option["description"]:
                lines += textwrap.wrap(
                    option["description"], 78, initial_indent="      ", subsequent_indent="      "
                )
        lines.append("")
    sys.stdout.write("\n".join(lines))
