"""LDP prompt layout for every tag option, and the translator's exemplar plans (scripted backend).

The real engine runs the same code in ``test_ldp_engine.py``; here a scripted
backend gives known outputs so prompts, plans, batching and errors are exact.
"""

from __future__ import annotations

import pytest

from xprompt.ldp.exemplar_set import SetRecord, default_diverse_set
from xprompt.ldp.prompt import LDPPrompt, language_tag
from xprompt.ldp.translator import LDPTranslator
from xprompt.mt.base import TranslationRequest
from xprompt.templates import load_template
from xprompt.testing.scripted import ScriptedBackend

AR = SetRecord("ar1", "arb_Arab", "القطار يصل غدا.", "The train arrives tomorrow.", "eng_Latn")
ZH = SetRecord("zh1", "zho_Hans", "今天下雨。", "It is raining today.", "eng_Latn")
HAU = "Yara suna wasa a filin makaranta."


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        (
            "native",
            "العربية: القطار يصل غدا.\nEnglish: The train arrives tomorrow.\n\n"
            "中文: 今天下雨。\nEnglish: It is raining today.\n\n"
            f"Hausa: {HAU}\nEnglish:",
        ),
        (
            "none",
            "القطار يصل غدا.\nThe train arrives tomorrow.\n\n"
            "今天下雨。\nIt is raining today.\n\n"
            f"{HAU}\n",
        ),
        (
            "english",
            "Modern Standard Arabic: القطار يصل غدا.\nEnglish: The train arrives tomorrow.\n\n"
            "Chinese: 今天下雨。\nEnglish: It is raining today.\n\n"
            f"Hausa: {HAU}\nEnglish:",
        ),
        (
            "code",
            "[ar] القطار يصل غدا.\n[en] The train arrives tomorrow.\n\n"
            "[zh] 今天下雨。\n[en] It is raining today.\n\n"
            f"[ha] {HAU}\n[en]",
        ),
    ],
)
def test_pair_layout_for_each_tag_style(style: str, expected: str) -> None:
    prompt = LDPPrompt(style)  # type: ignore[arg-type]
    assert prompt.pair_prompt(HAU, "hau_Latn", "eng_Latn", [AR, ZH]) == expected


def test_native_tags_use_autonyms_and_none_is_empty() -> None:
    assert language_tag("vie_Latn", "native") == "Tiếng Việt:"
    assert language_tag("yor_Latn", "native") == "Èdè Yorùbá:"
    assert language_tag("amh_Ethi", "native") == "አማርኛ:"
    assert language_tag("zho_Hans", "english") == "Chinese:"
    assert language_tag("swh_Latn", "code") == "[sw]"
    assert language_tag("hau_Latn", "none") == ""
    with pytest.raises(ValueError, match="unknown tag style"):
        LDPPrompt("emoji")  # type: ignore[arg-type]


def test_zero_shot_is_the_query_alone() -> None:
    assert LDPPrompt("native").pair_prompt(HAU, "hau_Latn", "eng_Latn", []) == (
        f"Hausa: {HAU}\nEnglish:"
    )


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("native", "Hausa: x1\nEnglish: e1\nÈdè Yorùbá: y1\n\nHausa: xq\nEnglish:"),
        ("none", "x1\ne1\ny1\n\nxq\n"),
    ],
)
def test_chain_layout_triples_then_the_query(style: str, expected: str) -> None:
    triple = SetRecord(
        "t1", "hau_Latn", "x1", "y1", "yor_Latn", kind="triple", pivot="e1", pivot_lang="eng_Latn"
    )
    prompt = LDPPrompt(style)  # type: ignore[arg-type]
    messages = prompt.chain_messages("xq", "hau_Latn", "eng_Latn", "yor_Latn", [triple])
    assert [m.role for m in messages] == ["user"]
    assert messages[0].content == expected


def test_chain_output_parsing() -> None:
    prompt = LDPPrompt("native")
    assert prompt.parse_chain(" The rain.\nÈdè Yorùbá: Òjò.", "yor_Latn") == ("The rain.", "Òjò.")
    assert LDPPrompt("none").parse_chain("The rain.\nÒjò.\n", "yor_Latn") == ("The rain.", "Òjò.")
    with pytest.raises(ValueError, match="no target line"):
        prompt.parse_chain(" The rain.", "yor_Latn")


def test_a_pair_template_that_reads_other_fields_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fill"):
        LDPPrompt("native", pair_template=load_template("self-translate"))


# -- plans: which exemplars each direction gets -------------------------------------------


def _pairs(src: str, tgt: str, n: int, prefix: str) -> list[SetRecord]:
    return [SetRecord(f"{prefix}{i}", src, f"{prefix} text {i}", f"out {i}", tgt) for i in range(n)]


def test_x_to_english_interleaves_the_diverse_languages() -> None:
    translator = LDPTranslator(ScriptedBackend(lambda r: " ok"), default_diverse_set(), shots=8)
    plan = translator.plan("hau_Latn", "eng_Latn", HAU)
    assert plan.mode == "diverse"
    assert [r.lang for r in plan.exemplars] == ["arb_Arab", "zho_Hans", "vie_Latn", "fra_Latn"] * 2


def test_diverse_set_skips_the_query_language_and_is_configurable() -> None:
    pool = default_diverse_set()
    auto = LDPTranslator(ScriptedBackend(lambda r: " ok"), pool, shots=6)
    assert auto.plan("fra_Latn", "eng_Latn", "x").mode == "in-language"  # 6 French pairs
    translator = LDPTranslator(ScriptedBackend(lambda r: " ok"), pool, shots=6, x2en="diverse")
    assert {r.lang for r in translator.plan("fra_Latn", "eng_Latn", "x").exemplars} == {
        "arb_Arab",
        "zho_Hans",
        "vie_Latn",
    }
    two = LDPTranslator(
        ScriptedBackend(lambda r: " ok"), pool, shots=4, diverse_langs=("vie", "ar")
    )
    assert [r.lang for r in two.plan("hau_Latn", "eng_Latn", "x").exemplars] == [
        "vie_Latn",
        "arb_Arab",
    ] * 2


def test_auto_uses_in_language_pairs_when_there_are_enough() -> None:
    pool = default_diverse_set() + _pairs("hau_Latn", "eng_Latn", 3, "sup")
    backend = ScriptedBackend(lambda r: " ok")
    assert LDPTranslator(backend, pool, shots=3).plan("hau_Latn", "eng_Latn", "q").mode == (
        "in-language"
    )
    assert LDPTranslator(backend, pool, shots=4).plan("hau_Latn", "eng_Latn", "q").mode == (
        "diverse"
    )
    forced = LDPTranslator(backend, pool, shots=4, x2en="in-language")
    with pytest.raises(ValueError, match=r"3 hau_Latn -> eng_Latn pairs, 4 needed"):
        forced.plan("hau_Latn", "eng_Latn", "q")


def test_english_to_x_needs_synthetic_pairs_and_says_how_to_build_them() -> None:
    backend = ScriptedBackend(lambda r: " ok")
    translator = LDPTranslator(backend, default_diverse_set(), shots=2)
    with pytest.raises(ValueError, match="xprompt synth pairs --lang hau_Latn"):
        translator.plan("eng_Latn", "hau_Latn", "Hello.")
    pool = _pairs("eng_Latn", "hau_Latn", 3, "syn")
    plan = LDPTranslator(backend, pool, shots=2).plan("eng_Latn", "hau_Latn", "Hello.")
    assert plan.mode == "in-language"
    assert [r.id for r in plan.exemplars] == ["syn0", "syn1"]


def test_a_query_never_serves_as_its_own_exemplar() -> None:
    pool = _pairs("eng_Latn", "hau_Latn", 3, "syn")
    translator = LDPTranslator(ScriptedBackend(lambda r: " ok"), pool, shots=2)
    plan = translator.plan("eng_Latn", "hau_Latn", "syn text 0")
    assert [r.id for r in plan.exemplars] == ["syn1", "syn2"]


def test_random_selection_is_seeded_and_shared_by_a_direction() -> None:
    pool = _pairs("eng_Latn", "hau_Latn", 20, "syn")
    backend = ScriptedBackend(lambda r: " ok")

    def ids(seed: int, query: str) -> list[str]:
        t = LDPTranslator(backend, pool, shots=5, select="random", seed=seed)
        return [r.id for r in t.plan("eng_Latn", "hau_Latn", query).exemplars]

    assert ids(1, "a") == ids(1, "a") == ids(1, "b")
    assert ids(1, "a") != ids(2, "a")
    assert ids(1, "a") != [f"syn{i}" for i in range(5)]


def test_x_to_y_prefers_pairs_then_triples_then_chains() -> None:
    backend = ScriptedBackend(lambda r: " ok")
    yor = _pairs("eng_Latn", "yor_Latn", 2, "y")
    diverse = default_diverse_set()
    assert LDPTranslator(backend, diverse + yor, shots=2).plan(
        "hau_Latn", "yor_Latn", "q"
    ).mode == ("chain")
    triples = [
        SetRecord(
            f"t{i}",
            "hau_Latn",
            f"x{i}",
            f"y{i}",
            "yor_Latn",
            kind="triple",
            pivot=f"e{i}",
            pivot_lang="eng_Latn",
        )
        for i in range(2)
    ]
    plan = LDPTranslator(backend, diverse + yor + triples, shots=2).plan(
        "hau_Latn", "yor_Latn", "q"
    )
    assert plan.mode == "triples"
    direct = _pairs("hau_Latn", "yor_Latn", 2, "d")
    plan = LDPTranslator(backend, diverse + triples + direct, shots=2).plan(
        "hau_Latn", "yor_Latn", "q"
    )
    assert plan.mode == "in-language"
    with pytest.raises(ValueError, match="eng_Latn -> yor_Latn pairs"):
        LDPTranslator(backend, diverse, shots=2).plan("hau_Latn", "yor_Latn", "q")
    with pytest.raises(ValueError, match="same language"):
        LDPTranslator(backend, diverse, shots=2).plan("hau_Latn", "hau_Latn", "q")


# -- translating a batch ---------------------------------------------------------------------


def test_a_batch_is_one_call_and_a_bad_request_does_not_stop_it() -> None:
    backend = ScriptedBackend(lambda r: " The children play.\nHausa: extra line")
    translator = LDPTranslator(backend, default_diverse_set(), shots=4)
    requests = [
        TranslationRequest(HAU, "hau_Latn", "eng_Latn"),
        TranslationRequest("   ", "hau_Latn", "eng_Latn"),
        TranslationRequest("Hello.", "eng_Latn", "hau_Latn"),  # no English->Hausa pairs
        TranslationRequest("Ìjọba ti kéde.", "yor_Latn", "eng_Latn"),
    ]
    outputs = translator.translate_detailed(requests)
    assert len(backend.batches) == 1 and len(backend.batches[0]) == 2
    assert [o.translation.text for o in outputs] == [
        "The children play.",
        None,
        None,
        "The children play.",
    ]
    assert outputs[1].translation.error == "source text is empty"
    assert "synth pairs" in (outputs[2].translation.error or "")
    assert outputs[0].mode == "diverse" and len(outputs[0].exemplar_ids) == 4
    assert backend.batches[0][0].prompt.endswith(f"Hausa: {HAU}\nEnglish:")
    assert backend.batches[0][0].sampling.stop == ("\n",)
    assert translator.translate(requests[:1])[0].text == "The children play."


def test_generation_errors_come_back_per_request() -> None:
    def script(request):  # type: ignore[no-untyped-def]
        if "Ìjọba" in (request.prompt or ""):
            raise ValueError("prompt is longer than the context")
        return " fine"

    translator = LDPTranslator(ScriptedBackend(script), default_diverse_set(), shots=2)
    out = translator.translate(
        [
            TranslationRequest("Ìjọba ti kéde.", "yor_Latn", "eng_Latn"),
            TranslationRequest(HAU, "hau_Latn", "eng_Latn"),
        ]
    )
    assert out[0].error == "prompt is longer than the context" and out[1].text == "fine"


def test_a_chain_is_two_batched_calls_and_keeps_the_english() -> None:
    def script(request):  # type: ignore[no-untyped-def]
        last = (request.prompt or "").rsplit("\n\n", 1)[-1]
        return " The children play." if last.startswith("Hausa:") else " Àwọn ọmọdé ń ṣeré."

    backend = ScriptedBackend(script)
    pool = default_diverse_set() + _pairs("eng_Latn", "yor_Latn", 2, "y")
    translator = LDPTranslator(backend, pool, shots=2)
    outputs = translator.translate_detailed(
        [
            TranslationRequest(HAU, "hau_Latn", "yor_Latn"),
            TranslationRequest("Sannu.", "hau_Latn", "yor_Latn"),
        ]
    )
    assert [len(b) for b in backend.batches] == [2, 2]
    assert outputs[0].mode == "chain" and outputs[0].pivot == "The children play."
    assert outputs[0].translation.text == "Àwọn ọmọdé ń ṣeré."
    assert len(outputs[0].prompt_digests) == 2
    assert outputs[0].exemplar_ids[-2:] == ("y0", "y1")
    assert backend.batches[1][0].prompt.endswith("English: The children play.\nÈdè Yorùbá:")


def test_triples_are_one_prompt_with_a_two_line_answer() -> None:
    triples = [
        SetRecord(
            f"t{i}",
            "hau_Latn",
            f"x{i}",
            f"y{i}",
            "yor_Latn",
            kind="triple",
            pivot=f"e{i}",
            pivot_lang="eng_Latn",
        )
        for i in range(2)
    ]
    backend = ScriptedBackend(lambda r: " The rain.\nÈdè Yorùbá: Òjò.")
    out = LDPTranslator(backend, triples, shots=2).translate_detailed(
        [TranslationRequest("Ruwan sama.", "hau_Latn", "yor_Latn")]
    )[0]
    assert (out.mode, out.pivot, out.translation.text) == ("triples", "The rain.", "Òjò.")
    assert backend.batches[0][0].sampling.stop == ("\n\n",)


def test_signature_names_every_setting() -> None:
    translator = LDPTranslator(
        ScriptedBackend(lambda r: ""), default_diverse_set(), shots=3, tags="none"
    )
    sig = translator.signature()
    for part in (
        "ldp:scripted",
        "tags=none",
        "k=3",
        "x2en=auto",
        "pool=",
        "ldp-translate@",
        "seed=0",
    ):
        assert part in sig
    other = LDPTranslator(
        ScriptedBackend(lambda r: ""), default_diverse_set()[:8], shots=3, tags="none"
    )
    assert other.signature() != sig


def test_the_translator_factory_builds_ldp_for_translate_and_translate_test(tmp_path) -> None:
    from xprompt.errors import ConfigError
    from xprompt.ldp.settings import LDPSettings
    from xprompt.mt.factory import TranslatorSettings, build_translator

    settings = TranslatorSettings(model="ldp", cache=str(tmp_path / "cache.sqlite"))
    assert settings.identity().startswith("ldp(tags=native") and "k=8" in settings.identity()
    other = TranslatorSettings(model="ldp", ldp=LDPSettings(shots=2, tags="none"))
    assert other.identity() != settings.identity()
    with pytest.raises(ConfigError, match="ldp needs an LLM backend"):
        build_translator(settings)
    backend = ScriptedBackend(lambda r: " The children play.")
    translator = build_translator(settings, llm=backend)
    request = TranslationRequest(HAU, "hau_Latn", "eng_Latn")
    assert translator.translate([request])[0].text == "The children play."
    again = build_translator(settings, llm=backend).translate([request])[0]
    assert again.cached and len(backend.batches) == 1  # the second translator hit the cache
    with pytest.raises(ConfigError, match="ldp tags must be one of"):
        LDPSettings(tags="loud")
