"""``xprompt strategies``: the strategies ``xprompt run --strategy`` knows, with their options."""

from __future__ import annotations

import typer
from rich.table import Table

from xprompt.cli import app, err_console


@app.command("strategies")
def strategies() -> None:
    """List strategies, their aliases and their options (pass options with --opt KEY=VALUE)."""
    from xprompt.strategies import ALIASES, STRATEGIES, strategy_module

    table = Table(title="strategies (xprompt run --strategy NAME --opt KEY=VALUE)")
    table.add_column("strategy", no_wrap=True)
    table.add_column("aliases")
    table.add_column("what")
    table.add_column("options", overflow="fold")
    for name in sorted(STRATEGIES):
        module = strategy_module(name)
        doc = (module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else ""
        options_model = getattr(module, "Options", None)
        lines = []
        for field_name, info in options_model.model_fields.items() if options_model else []:
            default = "required" if info.is_required() else repr(info.default)
            lines.append(
                f"{field_name} = {default}" + (f": {info.description}" if info.description else "")
            )
        aliases = ", ".join(sorted(a for a, target in ALIASES.items() if target == name))
        table.add_row(name, aliases, doc, "\n".join(lines) or "-")
    err_console.print(table)
    raise typer.Exit(0)
