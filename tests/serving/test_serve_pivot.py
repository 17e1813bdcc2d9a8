"""Pivot translators: concurrent translations batched into one call of the real tiny MT model."""

from __future__ import annotations

import asyncio

from serve_helpers import HAUSA, HAUSA_2

from serving.pivot import BatchedTranslator, SelfTranslator, build_translator
from serving.testing import ScriptedChatEngine
from xprompt.mt.base import TranslationRequest

TEXTS = [
    "The committee met on Tuesday.",
    "The new health policy was announced today.",
    "Is this a piece of news about science or sports?",
    "The answer is 42.",
    "Schools reopen next week in the capital.",
    "Rain is expected in the north.",
    "The market was busy this morning.",
    "Doctors recommend more sleep.",
]


def test_concurrent_translations_share_one_model_call():
    translator = build_translator("tiny-nllb", engine=None)
    assert isinstance(translator, BatchedTranslator)

    async def go():
        try:
            batched = await asyncio.gather(
                *(translator.translate(t, "eng_Latn", "hau_Latn") for t in TEXTS)
            )
            requests = [TranslationRequest(t, "eng_Latn", "hau_Latn") for t in TEXTS]
            return batched, translator.translator.translate(requests)
        finally:
            await translator.aclose()

    results, direct = asyncio.run(go())
    assert translator.batches == [len(TEXTS)]
    assert [r.text for r in results] == [d.text for d in direct]  # same as one direct batch
    assert all(r.ok and r.src == "eng_Latn" and r.tgt == "hau_Latn" for r in results)
    assert translator.signature().startswith("seq2seq:tiny-nllb")


def test_a_failing_model_fails_its_requests_not_the_worker():
    class Broken:
        def signature(self) -> str:
            return "broken"

        def translate(self, requests):
            raise RuntimeError("out of memory")

        def close(self) -> None:
            pass

    translator = BatchedTranslator(Broken())

    async def go():
        first = await translator.translate("a", "eng_Latn", "hau_Latn")
        second = await translator.translate("b", "eng_Latn", "hau_Latn")
        await translator.aclose()
        return first, second

    first, second = asyncio.run(go())
    assert not first.ok and "out of memory" in first.error and not second.ok


def test_self_translator_asks_the_served_model():
    def script(request):
        system = request.messages[0].content
        assert "from English into Hausa" in system and request.sampling.temperature == 0
        return "  " + HAUSA_2 + "\n"

    engine = ScriptedChatEngine(script)
    result = asyncio.run(SelfTranslator(engine).translate(HAUSA, "eng_Latn", "hau_Latn"))
    assert result.ok and result.text == HAUSA_2 and result.tokens > 0
    refused = ScriptedChatEngine(lambda r: (_ for _ in ()).throw(ValueError("too long")))
    failed = asyncio.run(SelfTranslator(refused).translate("x", "eng_Latn", "hau_Latn"))
    assert not failed.ok and failed.error == "too long"
