"""Engines shared by every cell of an evaluation: one LLM backend, one translator per MT setting.

The LLM starts on the first request any cell sends (a finished evaluation
re-scores without starting it), and the seconds it took to start are kept
apart so no cell's wall time includes them. Seq2seq MT models are loaded once
per setting and handed to translate-test cells, instead of once per cell.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from xprompt.backends.base import Backend
from xprompt.mt.base import Translator
from xprompt.mt.factory import TranslatorSettings, build_translator
from xprompt.types import Completion, Request


class SharedBackend:
    """A backend that starts on first use (or wraps one given), and counts its start-up seconds."""

    def __init__(
        self,
        factory: Callable[[], Backend] | None = None,
        *,
        backend: Backend | None = None,
        model_id: str = "",
    ) -> None:
        if (factory is None) == (backend is None):
            raise ValueError("give a factory or a backend")
        self._factory = factory
        self._backend = backend
        self._owned = backend is None
        self._model_id = model_id or (backend.model_id if backend is not None else "")
        self.start_s = 0.0
        self._unclaimed_start_s = 0.0

    @property
    def started(self) -> bool:
        """Whether the engine is running."""
        return self._backend is not None

    @property
    def model_id(self) -> str:
        """The model's id (known before the engine starts)."""
        return self._backend.model_id if self._backend is not None else self._model_id

    def _ensure(self) -> Backend:
        if self._backend is None:
            assert self._factory is not None
            began = time.perf_counter()
            self._backend = self._factory()
            self.start_s = time.perf_counter() - began
            self._unclaimed_start_s += self.start_s
        return self._backend

    def claim_start_seconds(self) -> float:
        """Start-up seconds not yet subtracted from a cell's wall time (then zero)."""
        seconds, self._unclaimed_start_s = self._unclaimed_start_s, 0.0
        return seconds

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        """Serve a batch (starting the engine first if needed)."""
        return self._ensure().generate(requests)

    def describe(self) -> dict[str, Any]:
        """Engine facts (starts the engine)."""
        return self._ensure().describe()

    def close(self) -> None:
        """Close the engine if this object started it (a backend given by the caller stays open)."""
        if self._owned and self._backend is not None:
            self._backend.close()
            self._backend = None


class TranslatorPool:
    """One built translator per distinct settings, closed together at the end."""

    def __init__(self) -> None:
        self._translators: dict[TranslatorSettings, Translator] = {}
        self.load_s = 0.0

    def get(self, settings: TranslatorSettings, *, llm: Backend | None = None) -> Translator:
        """The translator for ``settings`` (built on first request)."""
        if settings not in self._translators:
            began = time.perf_counter()
            self._translators[settings] = build_translator(settings, llm=llm)
            self.load_s += time.perf_counter() - began
        return self._translators[settings]

    def close(self) -> None:
        """Close every translator the pool built."""
        for translator in self._translators.values():
            translator.close()
        self._translators.clear()
