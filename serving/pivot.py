"""Pivot translators: turn the pivot-language answer into the reply language.

A :class:`PivotTranslator` translates one text asynchronously. Two real ones:

- :class:`BatchedTranslator` wraps any xprompt :class:`~xprompt.mt.base.Translator`
  (seq2seq NLLB / M2M-100 / MADLAD through transformers). Requests that arrive
  while a batch is running are collected and translated together in the next
  batch, in a worker thread, so the event loop never blocks and concurrent
  pivots share one model call.
- :class:`SelfTranslator` asks the served LLM itself to translate, through the
  same async engine (no second model needed).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Protocol, runtime_checkable

from serving.engine import ChatEngine
from xprompt import languages
from xprompt.mt.base import Translation, TranslationRequest, Translator
from xprompt.types import Message, Request, Sampling


@runtime_checkable
class PivotTranslator(Protocol):
    """Translates one text; failures come back as a ``Translation`` with ``error`` set."""

    def signature(self) -> str:
        """The translator and every setting that can change a translation."""
        ...

    async def translate(self, text: str, src: str, tgt: str) -> Translation:
        """``text`` from ``src`` into ``tgt`` (canonical codes)."""
        ...

    async def aclose(self) -> None:
        """Stop background work and release the model."""
        ...


class BatchedTranslator:
    """Micro-batches concurrent translations into one call of an xprompt ``Translator``.

    Args:
        translator: the MT model (its ``translate`` runs in a worker thread).
        max_batch: most texts in one call.
    """

    def __init__(self, translator: Translator, *, max_batch: int = 32) -> None:
        self.translator = translator
        self.max_batch = max_batch
        self._queue: asyncio.Queue[tuple[TranslationRequest, asyncio.Future[Translation]]] = (
            asyncio.Queue()
        )
        self._worker: asyncio.Task[None] | None = None
        self.batches: list[int] = []  # sizes of the batches run (for tests and metrics)

    def signature(self) -> str:
        return self.translator.signature()

    async def translate(self, text: str, src: str, tgt: str) -> Translation:
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._run())
        future: asyncio.Future[Translation] = asyncio.get_running_loop().create_future()
        await self._queue.put((TranslationRequest(text, src, tgt), future))
        return await future

    async def _run(self) -> None:
        while True:
            pending = [await self._queue.get()]
            while len(pending) < self.max_batch and not self._queue.empty():
                pending.append(self._queue.get_nowait())
            live = [(r, f) for r, f in pending if not f.cancelled()]
            if not live:
                continue
            self.batches.append(len(live))
            try:
                results = await asyncio.to_thread(self.translator.translate, [r for r, _ in live])
            except Exception as exc:  # a failing model fails these requests, not the worker
                for request, future in live:
                    if not future.done():
                        future.set_result(
                            Translation(
                                request.text,
                                request.src,
                                request.tgt,
                                None,
                                error=f"{type(exc).__name__}: {exc}",
                            )
                        )
                continue
            for (_, future), result in zip(live, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def aclose(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        await asyncio.to_thread(self.translator.close)


#: The served LLM's translation prompt (greedy; the reply is taken as the translation).
SELF_TRANSLATE_SYSTEM = (
    "You are a translator. Translate the user's text from {src_name} into {tgt_name}. "
    "Reply with the translation only."
)


class SelfTranslator:
    """The served LLM translates (greedy), through the same async engine.

    Args:
        engine: the chat engine.
        max_tokens: most tokens of a translation.
    """

    def __init__(self, engine: ChatEngine, *, max_tokens: int = 512) -> None:
        self.engine = engine
        self.max_tokens = max_tokens

    def signature(self) -> str:
        return f"self-translate:{self.engine.model_id}:greedy,max={self.max_tokens}"

    async def translate(self, text: str, src: str, tgt: str) -> Translation:
        system = SELF_TRANSLATE_SYSTEM.format(
            src_name=languages.english_name(src), tgt_name=languages.english_name(tgt)
        )
        request = Request(
            f"translate-{uuid.uuid4().hex}",
            messages=(Message("system", system), Message("user", text)),
            sampling=Sampling(temperature=0.0, max_tokens=self.max_tokens, seed=0),
        )
        completion = await self.engine.generate(request)
        if not completion.ok:
            return Translation(text, src, tgt, None, error=completion.error)
        return Translation(
            text, src, tgt, completion.texts[0].strip(), tokens=completion.completion_tokens
        )

    async def aclose(self) -> None:
        return None


def build_translator(spec: str, engine: ChatEngine) -> PivotTranslator:
    """The pivot translator named by ``spec``.

    ``self``: the served LLM translates. Anything else is an MT model as xprompt's
    translator factory names them: a directory or hub name (NLLB-200, M2M-100,
    MADLAD), or ``tiny-nllb`` / ``tiny-m2m100`` / ``tiny-madlad`` (tiny local test models).
    """
    if spec == "self":
        return SelfTranslator(engine)
    from xprompt.mt.factory import TranslatorSettings
    from xprompt.mt.factory import build_translator as build_mt

    return BatchedTranslator(build_mt(TranslatorSettings(model=spec, cache="none")))
