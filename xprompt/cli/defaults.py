"""Help text whose ``[default: X]`` is read from the config models, so a default lives in one place.

``with_default("id column", DataConfig, "id_field")`` gives ``"id column
[default: id]"``; the value is the pydantic field's own default, so changing
it in ``xprompt/config.py`` changes the help too (as sacrebleu's CLI defaults
are the library's own constants).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def config_default(model: type[BaseModel], field: str) -> Any:
    """The default of ``model.field`` (a default factory is called)."""
    return model.model_fields[field].get_default(call_default_factory=True)


def show(value: Any) -> str:
    """A default as help text shows it: on/off, ``0.5``, ``a, b``."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(show(v) for v in value)
    return str(value)


def with_default(
    text: str, model: type[BaseModel], field: str, *, note: str = "", after: str = ""
) -> str:
    """``text [default: X<note>] after`` with X the config's default for ``model.field``.

    The bracket is escaped for rich, which renders Typer's help and would
    otherwise take ``[default: X]`` for a markup tag and drop it.
    """
    out = f"{text} \\[default: {show(config_default(model, field))}{note}]".strip()
    return f"{out} {after}" if after else out
