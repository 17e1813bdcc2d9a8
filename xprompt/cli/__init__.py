"""The ``xprompt`` command line: Typer + rich.

Each command lives in its own module under ``xprompt.cli`` and registers itself
on ``app``. Errors meant for the user (``XPromptError``) print one clear
message and exit non-zero, without a traceback; anything else is a bug and
shows its traceback.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from xprompt.errors import XPromptError

app = typer.Typer(
    name="xprompt",
    help="Prompt large language models in low-resource languages, with an off-target language guard.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)

#: Messages for people go to stderr; results (JSON, JSONL) go to stdout.
err_console = Console(stderr=True)
#: Listings and tables that are the command's result (``xprompt strategies | grep ...``).
out_console = Console()


def _register() -> None:
    # Each module adds its commands to ``app`` on import.
    from xprompt.cli import (  # noqa: F401
        eval_cmd,
        langid_cmd,
        ldp_report_cmd,
        models_cmd,
        project_cmd,
        run_cmd,
        score_cmd,
        serve_cmd,
        strategies_cmd,
        synth_cmd,
        templates_cmd,
        translate_cmd,
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``xprompt`` script."""
    _register()
    try:
        app(args=argv, prog_name="xprompt")
    except XPromptError as exc:
        err_console.print(
            f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True
        )
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print(
            "[yellow]interrupted[/]: finished rows are saved; run the same command again to resume"
        )
        sys.exit(130)


if __name__ == "__main__":
    main()
