"""``xprompt models``: build the tiny local test models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xprompt.cli import app

models_app = typer.Typer(
    help="Build tiny random-weight test models locally (no model hub needed).", no_args_is_help=True
)
app.add_typer(models_app, name="models")


@models_app.command("tiny")
def tiny(
    out: Annotated[
        Path | None, typer.Option(help="write here instead of the cache directory")
    ] = None,
    family: Annotated[
        str | None,
        typer.Option(
            help="a real chat-model family's template, special tokens and eos list: "
            "gemma2, mistral, llama3, qwen2_5, qwen3 (run it as --model tiny-FAMILY)"
        ),
    ] = None,
) -> None:
    """Build (once) the tiny Llama-shaped test model and print its directory."""
    from xprompt.testing.tiny_models import (
        build_tiny_family,
        build_tiny_llama,
        ensure_tiny_family,
        ensure_tiny_llama,
    )
    from xprompt.testing.tiny_models import (
        family as find_family,
    )

    if family is None:
        path = build_tiny_llama(out) if out is not None else ensure_tiny_llama()
    else:
        try:
            find_family(family)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--family") from None
        path = build_tiny_family(out, family) if out is not None else ensure_tiny_family(family)
    typer.echo(str(path))
