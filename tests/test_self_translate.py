"""Self-translate: the paper's exact few-shot format, exemplar selection, and the real vLLM engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import EXAMPLES, write_jsonl

from xprompt.errors import DataError
from xprompt.mt.base import TranslationRequest
from xprompt.mt.self_translate import SelfTranslator, TranslationPair, read_translation_pairs
from xprompt.testing.scripted import ScriptedBackend
from xprompt.types import Request

PAIRS_FILE = EXAMPLES / "mt" / "topics.pairs.jsonl"

PAIRS = [
    TranslationPair("p1", "hau_Latn", "Sannu da zuwa.", "Welcome."),
    TranslationPair("p2", "yor_Latn", "Ẹ kú àárọ̀.", "Good morning."),
    TranslationPair("p3", "hau_Latn", "Ina kwana?", "Good morning?"),
    TranslationPair("p4", "hau_Latn", "x" * 120, "A sentence far too long for an exemplar."),
    TranslationPair("p5", "hau_Latn", "Na gode.", "Thank you."),
    TranslationPair("p6", "hau_Latn", "Yaya aiki?", "How is work?"),
    TranslationPair("p7", "hau_Latn", "Sannu.", "Bonjour.", target_lang="fra_Latn"),
]


def test_prompt_is_the_papers_format_exactly() -> None:
    backend = ScriptedBackend(lambda r: " The government is here.\nHausa: more")
    translator = SelfTranslator(backend, PAIRS, shots=3)
    (out,) = translator.translate(
        [TranslationRequest("Gwamnati tana nan.", "hau_Latn", "eng_Latn")]
    )
    (request,) = backend.batches[0]
    assert request.prompt == (
        "Hausa: Sannu da zuwa.\nEnglish: Welcome.\n"
        "Hausa: Ina kwana?\nEnglish: Good morning?\n"
        "Hausa: Na gode.\nEnglish: Thank you.\n"
        "Hausa: Gwamnati tana nan.\nEnglish:"
    ), "the first 3 Hausa pairs under 100 characters, in file order; '{EOS}' is a newline"
    assert request.sampling.temperature == 0 and request.sampling.max_tokens == 64
    assert request.sampling.stop == ("\n",)
    assert out.ok and out.text == "The government is here.", (
        "the translation ends at the first newline"
    )


def test_exemplars_skip_the_query_other_pairs_and_long_sources() -> None:
    translator = SelfTranslator(ScriptedBackend(lambda r: "x"), PAIRS, shots=2)
    assert [p.id for p in translator.exemplars("hau_Latn", "eng_Latn", "Ina kwana?")] == [
        "p1",
        "p5",
    ]
    french = SelfTranslator(ScriptedBackend(lambda r: "x"), PAIRS, shots=1)
    assert [p.id for p in french.exemplars("hau_Latn", "fra_Latn", "q")] == ["p7"], (
        "pairs of the target language only"
    )
    mixed = SelfTranslator(ScriptedBackend(lambda r: "x"), PAIRS, shots=2, exemplar_lang="any")
    request = mixed.request(0, TranslationRequest("Ọjọ́ dára.", "yor_Latn", "eng_Latn"))
    assert isinstance(request, Request) and request.prompt.startswith(
        "Hausa: Sannu da zuwa.\nEnglish: Welcome.\nYoruba: "
    )
    assert request.prompt.endswith("Yoruba: Ọjọ́ dára.\nEnglish:"), (
        "each exemplar names its own language"
    )


def test_missing_exemplars_fail_that_request_only() -> None:
    backend = ScriptedBackend(lambda r: "ok")
    translator = SelfTranslator(backend, PAIRS, shots=4)
    out = translator.translate(
        [
            TranslationRequest("Gwamnati tana nan.", "hau_Latn", "eng_Latn"),
            TranslationRequest("Ọjọ́ dára.", "yor_Latn", "eng_Latn"),
            TranslationRequest("", "hau_Latn", "eng_Latn"),
        ]
    )
    assert out[0].ok and out[0].text == "ok"
    assert "1 usable pairs for yor_Latn -> eng_Latn" in out[1].error and "4 needed" in out[1].error
    assert out[2].error == "source text is empty"
    assert len(backend.batches) == 1 and len(backend.batches[0]) == 1, (
        "one generate call, valid requests only"
    )


def test_backend_errors_become_translation_errors() -> None:
    def script(request: Request) -> str:
        raise ValueError("prompt is 9000 tokens; it exceeds the model's context")

    (out,) = SelfTranslator(ScriptedBackend(script), PAIRS, shots=1).translate(
        [TranslationRequest("Sannu", "hau_Latn", "eng_Latn")]
    )
    assert not out.ok and "exceeds the model's context" in out.error


def test_reading_pairs_names_row_and_field(tmp_path: Path) -> None:
    pairs = read_translation_pairs(str(PAIRS_FILE))
    assert len(pairs) == 154 and pairs[0].target_lang == "eng_Latn"
    bad = write_jsonl(
        tmp_path / "pairs.jsonl",
        [{"lang": "hau", "text": "Sannu", "target": "Hi"}, {"lang": "hau", "text": "Ina"}],
    )
    with pytest.raises(
        DataError,
        match=r"row 2 \(line 2\): field 'target' is missing or empty \(fields present: lang, text\)",
    ):
        read_translation_pairs(str(bad))
    unknown = write_jsonl(
        tmp_path / "unknown.jsonl", [{"lang": "klingon-ish", "text": "a", "target": "b"}]
    )
    with pytest.raises(DataError, match=r"row 1.*unknown language"):
        read_translation_pairs(str(unknown))


def test_signature_names_model_template_exemplars_and_decoding() -> None:
    translator = SelfTranslator(ScriptedBackend(lambda r: "x", model_id="llm-x"), PAIRS, shots=4)
    signature = translator.signature()
    assert signature.startswith("self-translate:llm-x:template=self-translate@")
    assert "k=4" in signature and "t=0" in signature and "max=64" in signature
    other = SelfTranslator(ScriptedBackend(lambda r: "x", model_id="llm-x"), PAIRS[:3], shots=4)
    assert other.signature() != signature, "other exemplars, other signature (and cache key)"


@pytest.mark.engine
def test_self_translate_on_the_real_engine(vllm_backend) -> None:
    class Counting:
        def __init__(self, inner) -> None:
            self.inner, self.calls = inner, 0

        model_id = property(lambda self: self.inner.model_id)

        def describe(self):
            return self.inner.describe()

        def close(self) -> None:
            pass

        def generate(self, requests):
            self.calls += 1
            return self.inner.generate(requests)

    rows = [
        json.loads(line)
        for line in (EXAMPLES / "data" / "topics.test.jsonl")
        .read_text(encoding="utf-8")
        .splitlines()
    ]
    batch = [
        TranslationRequest(r["text"], r["lang"], "eng_Latn")
        for r in rows
        if r["lang"] != "eng_Latn"
    ][::7]
    backend = Counting(vllm_backend)
    translator = SelfTranslator(
        backend, read_translation_pairs(str(PAIRS_FILE)), shots=2, max_exemplar_chars=200
    )
    first = translator.translate(batch)
    assert backend.calls == 1, "the whole batch is one generate call"
    assert len(first) == len(batch) and [t.source for t in first] == [r.text for r in batch]
    assert all(t.ok and "\n" not in t.text and 1 <= t.tokens <= 64 for t in first)
    again = translator.translate(batch)
    assert [t.text for t in again] == [t.text for t in first], "greedy: deterministic"
