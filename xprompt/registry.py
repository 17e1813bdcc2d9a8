"""Named, lazily imported implementations: backends, strategies, translators, projection methods.

A :class:`Registry` maps a name to a ``"module:attr"`` target that is imported
only when the name is used (as lm-evaluation-harness looks up its models), so
``import xprompt`` never imports an engine. Aliases are other names users type
for the same entry; an unknown name is a :class:`~xprompt.errors.ConfigError`
that lists the known names and suggests the closest ones.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator, Mapping, MutableMapping
from types import ModuleType
from typing import Any

from xprompt.errors import ConfigError


class Registry(MutableMapping[str, str]):
    """Name -> ``"module:attr"``, imported on first use.

    ``kind`` names what is registered in messages ("strategy", "backend").
    ``paths``: a name that is itself ``"module:attr"`` is accepted as its own
    target (a user's backend class). A registry is a mapping of canonical names
    to targets, so ``sorted(registry)`` lists them and tests can add one.
    """

    def __init__(
        self,
        kind: str,
        entries: Mapping[str, str],
        *,
        aliases: Mapping[str, str] | None = None,
        paths: bool = False,
    ) -> None:
        self.kind = kind
        self.paths = paths
        self._entries: dict[str, str] = {}
        self.aliases: dict[str, str] = dict(aliases or {})
        for name, target in entries.items():
            self[name] = target
        for alias, name in self.aliases.items():
            if name not in self._entries:
                raise ValueError(f"{kind} alias '{alias}' points to unknown '{name}'")

    # -- the mapping ----------------------------------------------------------------

    def __getitem__(self, name: str) -> str:
        return self._entries[name]

    def __setitem__(self, name: str, target: str) -> None:
        if target.count(":") != 1 or not all(target.split(":")):
            raise ValueError(f"{self.kind} '{name}': target must be 'module:attr', got {target!r}")
        self._entries[name] = target

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    # -- lookups ----------------------------------------------------------------------

    def known(self) -> list[str]:
        """Every name a user may type: entries and aliases, sorted."""
        return sorted({*self._entries, *self.aliases})

    def canonical(self, name: str) -> str:
        """The entry ``name`` (or its alias) stands for; an unknown name is an error with suggestions."""
        key = self.aliases.get(name, name)
        if key in self._entries or (self.paths and _is_path(key)):
            return key
        close = difflib.get_close_matches(name, self.known(), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        extra = " or 'package.module:Name'" if self.paths else ""
        raise ConfigError(
            f"unknown {self.kind} '{name}'{hint} (known: {', '.join(self.known())}{extra})"
        )

    def target(self, name: str) -> str:
        """The ``"module:attr"`` of ``name``."""
        key = self.canonical(name)
        return self._entries.get(key, key)

    def module(self, name: str) -> ModuleType:
        """Import and return the module that implements ``name``."""
        module_name = self.target(name).partition(":")[0]
        try:
            return importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise ConfigError(
                f"{self.kind} '{name}': cannot import {module_name} ({exc})"
            ) from None

    def load(self, name: str) -> Any:
        """Import and return what ``name`` names (a class, a factory function)."""
        attr = self.target(name).partition(":")[2]
        module = self.module(name)
        try:
            return getattr(module, attr)
        except AttributeError:
            raise ConfigError(f"{self.kind} '{name}': {module.__name__} has no {attr}") from None


def _is_path(name: str) -> bool:
    module, sep, attr = name.partition(":")
    return bool(sep and module and attr and ":" not in attr)
