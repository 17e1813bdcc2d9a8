"""MT model flags shared by ``xprompt translate`` and ``xprompt project``: one spelling, one help text.

Each alias is a complete Typer parameter type; a command gives its own default
(``beams: Beams = 5`` for CODEC, ``= 1`` for plain translation).
"""

from __future__ import annotations

from typing import Annotated

import typer

MT = "MT model"

Beams = Annotated[int, typer.Option(help="translation beams (1 = greedy)", rich_help_panel=MT)]
MaxNewTokens = Annotated[int, typer.Option(help="output cap per sentence", rich_help_panel=MT)]
Device = Annotated[str, typer.Option(help="auto | cpu | cuda[:N]", rich_help_panel=MT)]
BatchSize = Annotated[int, typer.Option(help="most rows per model call", rich_help_panel=MT)]
Cache = Annotated[
    str,
    typer.Option(
        help="translation cache (SQLite): 'default', a path, or 'none'", rich_help_panel=MT
    ),
]
