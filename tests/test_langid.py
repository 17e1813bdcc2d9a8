"""The off-target check: layers, rules, evidence, modes. Text written by these tests; no downloads."""

from __future__ import annotations

import logging
import sys
import unicodedata

import pytest

from xprompt import langid
from xprompt.errors import ConfigError, DependencyMissingError
from xprompt.langid import LangidConfig, make_checker
from xprompt.langid.detectors import make_detector

# Sentences written for these tests (not the benchmark's text).
TEXT = {
    "hau_Latn": "Gobe da safe za mu je gona domin mu girbe gyaɗa kafin ruwan sama ya sauka.",
    "yor_Latn": "Ní ọ̀la, a ó lọ sí oko láti kórè ẹ̀pà kí òjò tó bẹ̀rẹ̀ sí í rọ̀.",
    "swh_Latn": "Kesho asubuhi tutakwenda shambani kuvuna karanga kabla mvua haijaanza kunyesha.",
    "amh_Ethi": "ነገ ጠዋት ዝናብ መዝነብ ከመጀመሩ በፊት ኦቾሎኒ ለመሰብሰብ ወደ እርሻ እንሄዳለን።",
    "npi_Deva": "भोलि बिहान पानी पर्न सुरु हुनुअघि हामी बदाम टिप्न खेतमा जानेछौँ।",
    "zul_Latn": "Kusasa ekuseni sizoya ensimini ukuvuna amantongomane ngaphambi kokuba lina.",
    "ewe_Latn": "Etsɔ ŋdi míayi agble me aɖaŋe azi hafi tsi nadza.",
    "wol_Latn": "Ëllëg ci suba dinanu dem ci tool bi ngir góob gerte bi bala taw bi di tàmbali.",
    "tir_Ethi": "ጽባሕ ንግሆ ዝናብ ከይጀመረ ኣሉ ኣራኪስ ንምእካብ ናብ ግራት ክንከይድ ኢና።",
    "fra_Latn": "Demain matin, nous irons au champ pour récolter les arachides avant la pluie.",
    "eng_Latn": "Tomorrow morning we will go to the farm to harvest groundnuts before the rain starts.",
}
ENGLISH_2 = "The committee will publish its final report on the new water project next week."


@pytest.fixture(scope="module")
def checker():
    return make_checker()


@pytest.mark.parametrize(
    "lang", ["hau_Latn", "yor_Latn", "swh_Latn", "amh_Ethi", "npi_Deva", "zul_Latn"]
)
def test_correct_text_is_on_and_english_is_off(checker, lang: str) -> None:
    own = checker.check(TEXT[lang], lang)
    assert (own.verdict, own.detected, own.expected) == ("on", lang, lang)
    assert own.confidence > 0.5 and own.off_share == 0.0
    english = checker.check(TEXT["eng_Latn"], lang)
    assert english.verdict == "off"
    assert english.detected == "eng_Latn"
    assert english.off_share == 1.0


def test_script_layer_decides_across_scripts(checker) -> None:
    result = checker.check(TEXT["swh_Latn"], "amh_Ethi")
    assert (result.verdict, result.rule) == ("off", "script")
    assert result.detected == "swh_Latn"  # named by the first detector, script checked
    devanagari_for_latin = checker.check(TEXT["npi_Deva"], "hau_Latn")
    assert (devanagari_for_latin.verdict, devanagari_for_latin.rule) == ("off", "script")


def test_codes_are_resolved_and_macrolanguages_fold(checker) -> None:
    assert checker.check(TEXT["swh_Latn"], "sw").verdict == "on"  # ISO 639-1 of the macrolanguage
    assert checker.check(TEXT["swh_Latn"], "Swahili").expected == "swh_Latn"
    assert checker.check(TEXT["npi_Deva"], "nep").verdict == "on"
    egyptian = "انا رايح السوق بكرة الصبح عشان اشتري خضار وفاكهة للبيت يا جماعة"
    result = checker.check(egyptian, "arb_Arab")
    assert result.verdict == "on"  # py3langid may say arz or ar: both fold into Arabic


def test_short_text_is_uncertain_not_a_guess(checker) -> None:
    result = checker.check("Sannu da zuwa", "hau_Latn")
    assert (result.verdict, result.rule, result.detected) == ("uncertain", "too-short", "und")
    assert checker.check("", "hau_Latn").rule == "no-letters"
    assert checker.check("12 + 30 = 42 !!", "hau_Latn").verdict == "uncertain"


def test_an_english_sentence_inside_an_answer_is_caught_per_sentence(checker) -> None:
    answer = f"{TEXT['hau_Latn']} {ENGLISH_2} Mun gode da taimakonku sosai a wannan shekarar."
    result = checker.check(answer, "hau_Latn")
    assert result.verdict == "off"
    assert 0.2 < result.off_share < 0.6
    verdicts = [s.verdict for s in result.segments]
    assert verdicts == ["on", "off", "on"]
    english = result.segments[1]
    assert answer[english.start : english.end] == ENGLISH_2
    assert english.detected == "eng_Latn" and english.rule == "py3langid"
    assert result.to_dict()["segments"][1]["verdict"] == "off"


def test_decomposed_unicode_is_normalised_first(checker) -> None:
    nfd = unicodedata.normalize("NFD", TEXT["yor_Latn"])
    assert nfd != TEXT["yor_Latn"]
    assert checker.check(nfd, "yor_Latn").verdict == "on"


def test_code_urls_and_numbers_are_not_language(checker) -> None:
    noisy = (
        "Ga amsar: ```python\nprint('hello world, this is English code')\n``` "
        "duba https://example.com/english/words/here domin ƙarin bayani game da gonar 2024."
    )
    result = checker.check(noisy, "hau_Latn")
    assert result.verdict != "off"


def test_unknown_target_uses_the_pivot_rule_only(checker) -> None:
    assert checker.can_name("ewe_Latn") == ()
    own = checker.check(TEXT["ewe_Latn"], "ewe_Latn")
    assert (own.verdict, own.rule, own.detected) == ("uncertain", "unsupported-target", "und")
    english = checker.check(TEXT["eng_Latn"], "ewe_Latn")
    assert (english.verdict, english.rule, english.detected) == (
        "off",
        "pivot:py3langid",
        "eng_Latn",
    )
    # Hausa text is no pivot: the check does not guess what the Ewe prompt got.
    assert checker.check(TEXT["hau_Latn"], "ewe_Latn").verdict == "uncertain"
    shan_like = "ၵူၼ်းၼုမ်ႇၼမ်ၼမ် ပႅတ်ႈဝၢၼ်ႈသေ ၵႂႃႇႁႃၵၢၼ်ႁဵတ်းၼႂ်းဝဵင်း ယူႇယဝ်ႉ"
    assert checker.check(shan_like, "shn_Mymr").verdict == "uncertain"
    assert checker.check(ENGLISH_2, "shn_Mymr").verdict == "off"


def test_other_pivots_are_configurable() -> None:
    french = "Demain matin, nous irons au champ pour récolter les arachides avant la pluie."
    default = make_checker()
    assert default.check(french, "ewe_Latn").verdict == "uncertain"
    with_french = make_checker(LangidConfig(pivots=["eng_Latn", "fr"]))
    result = with_french.check(french, "ewe_Latn")
    assert (result.verdict, result.detected) == ("off", "fra_Latn")


def test_confusable_cluster_is_uncertain_and_configurable() -> None:
    bokmal = "Vi skal på markedet i morgen tidlig for å kjøpe grønnsaker og frukt til familien."
    default = make_checker()
    result = default.check(bokmal, "nno_Latn")  # Bokmål for a Nynorsk prompt
    assert (result.verdict, result.rule, result.detected) == (
        "uncertain",
        "py3langid:confusable",
        "nob_Latn",
    )
    no_clusters = make_checker(LangidConfig(clusters=[]))
    assert no_clusters.check(bokmal, "nno_Latn").verdict == "off"
    xhosa = "Ngomso kusasa siya kuvuna amandongomane entsimini ngaphambi kokuba kunethe."
    nguni = make_checker(LangidConfig(clusters=[["zul", "xho"]]))
    judged = nguni.check(xhosa, "zul_Latn")
    assert judged.verdict != "off"
    with pytest.raises(ConfigError, match="fewer than two distinct languages"):
        make_checker(LangidConfig(clusters=[["sw", "swh"]]))


def test_serbian_may_be_written_in_either_script(checker) -> None:
    cyrillic = "Сутра ујутру идемо на њиву да уберемо кикирики пре него што почне киша."
    latin = "Sutra ujutru idemo na njivu da uberemo kikiriki pre nego što počne kiša."
    assert checker.check(cyrillic, "srp_Cyrl").verdict == "on"
    assert checker.check(latin, "srp_Cyrl").verdict in ("on", "uncertain")  # bos/hrv cluster
    assert checker.check(latin, "srp_Cyrl").rule != "script"
    russian = "Завтра утром мы пойдём в поле собирать арахис, пока не начался дождь."
    assert checker.check(russian, "hau_Latn").rule == "script"


def test_copy_of_the_source_is_off_target(checker) -> None:
    source = TEXT["eng_Latn"]
    copied = checker.check(source, "hau_Latn", source=source, source_lang="eng_Latn")
    assert (copied.verdict, copied.rule, copied.detected) == ("off", "copy-of-source", "eng_Latn")
    translated = checker.check(TEXT["hau_Latn"], "hau_Latn", source=source, source_lang="eng_Latn")
    assert translated.verdict == "on"
    # Same language on both sides (a paraphrase task): a copy is not off-target by itself.
    same = checker.check(TEXT["hau_Latn"], "hau_Latn", source=TEXT["hau_Latn"], source_lang="ha")
    assert same.verdict == "on"


def test_degenerate_repetition_is_flagged(checker) -> None:
    loop = " ".join(["Mun gode sosai."] * 8)
    result = checker.check(loop, "hau_Latn")
    assert result.flags == ("repetition",)
    assert result.to_dict()["flags"] == ["repetition"]
    assert checker.check(TEXT["hau_Latn"], "hau_Latn").flags == ()


def test_identify_names_the_language_and_script(checker) -> None:
    found = checker.identify(TEXT["amh_Ethi"])
    assert (found.detected, found.script, found.detector) == ("amh_Ethi", "Ethi", "py3langid")
    assert langid.identify("ok").detected == "und"


def test_module_level_check_is_the_strategy_signature() -> None:
    result = langid.check(TEXT["swh_Latn"], "swh_Latn")
    assert result.verdict == "on"
    assert langid.default_checker() is langid.default_checker()


def test_signature_records_every_setting() -> None:
    a = make_checker().signature()
    b = make_checker(LangidConfig(off_confidence=0.9)).signature()
    c = make_checker(LangidConfig(clusters=[])).signature()
    assert a.startswith("langid(py3langid@") and "mode=default" in a
    assert len({a, b, c}) == 3


def test_strict_mode_adds_a_second_opinion() -> None:
    pytest.importorskip("pycld2")
    strict = make_checker(LangidConfig(mode="strict"))
    assert "pycld2@" in strict.signature()
    # Tigrinya: py3langid cannot name it, so only pycld2 decides (default mode: as the fallback).
    assert strict.can_name("tir_Ethi") == ("pycld2",) and not strict.by_fallback("tir_Ethi")
    tigrinya = TEXT["tir_Ethi"]
    amharic_prompt = strict.check(tigrinya, "amh_Ethi")
    assert amharic_prompt.verdict == "off" and amharic_prompt.detected == "tir_Ethi"
    assert amharic_prompt.rule.startswith("strict:")
    # Default mode: py3langid decides for Amharic but has no Tigrinya label; pycld2, which has
    # one, is consulted for that sibling (rule sibling:pycld2).
    default = make_checker().check(tigrinya, "amh_Ethi")
    assert (default.verdict, default.detected, default.rule) == (
        "off",
        "tir_Ethi",
        "sibling:pycld2",
    )
    for lang in ("hau_Latn", "swh_Latn", "amh_Ethi"):
        assert strict.check(TEXT[lang], lang).verdict == "on"


def test_strict_mode_without_pycld2_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pycld2", None)
    with pytest.raises(
        DependencyMissingError, match=r"pycld2 cannot be imported.*pip install pycld2"
    ):
        make_checker(LangidConfig(mode="strict"))


def test_default_mode_falls_back_to_pycld2_where_py3langid_cannot_name_the_target(checker) -> None:
    # Wolof and Tigrinya: py3langid cannot name them, pycld2 can: it decides, alone.
    for lang in ("wol_Latn", "tir_Ethi"):
        assert checker.can_name(lang) == ("pycld2",) and checker.by_fallback(lang)
        own = checker.check(TEXT[lang], lang)
        assert (own.verdict, own.detected, own.rule) == ("on", lang, "pycld2-fallback")
        english = checker.check(TEXT["eng_Latn"], lang)
        rule = "pycld2-fallback" if lang == "wol_Latn" else "script"  # Latin for Ethiopic
        assert (english.verdict, english.detected, english.rule) == ("off", "eng_Latn", rule)
    # Related-language output, "uncertain" before the fallback, is now caught.
    french = checker.check(TEXT["fra_Latn"], "wol_Latn")
    assert (french.verdict, french.detected, french.rule) == ("off", "fra_Latn", "pycld2-fallback")
    assert french.confidence >= 0.9 and french.off_share == 1.0
    amharic = checker.check(TEXT["amh_Ethi"], "tir_Ethi")
    assert (amharic.verdict, amharic.detected, amharic.rule) == (
        "off",
        "amh_Ethi",
        "pycld2-fallback",
    )
    # Clusters still apply: Kinyarwanda for a Rundi prompt is a sibling, not a false alarm.
    kinyarwanda = (
        "Ejo mu gitondo tuzajya mu murima gusarura ubunyobwa mbere y'uko imvura itangira kugwa."
    )
    sibling = checker.check(kinyarwanda, "run_Latn")
    assert (sibling.verdict, sibling.rule) == ("uncertain", "pycld2-fallback:confusable")
    # A fallback, not a second opinion: where py3langid can name the target, it alone decides.
    assert checker.can_name("hau_Latn") == ("py3langid",) and not checker.by_fallback("hau_Latn")
    assert checker.check(TEXT["hau_Latn"], "hau_Latn").rule == "py3langid"
    # Neither knows Ewe: still the pivot rule, never a guess.
    assert checker.can_name("ewe_Latn") == ()
    assert checker.check(TEXT["hau_Latn"], "ewe_Latn").rule == "unsupported-target"
    # Deterministic, and recorded in the run signature.
    again = [checker.check(TEXT["fra_Latn"], "wol_Latn") for _ in range(3)]
    assert all(r == french for r in again)
    assert ",fallback=pycld2@" in checker.signature()


def test_default_mode_without_pycld2_degrades_with_a_clear_rule(monkeypatch, caplog) -> None:
    monkeypatch.setitem(sys.modules, "pycld2", None)
    monkeypatch.setattr(langid, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="xprompt.langid"):
        degraded = make_checker()
    assert "pycld2 unavailable" in caplog.text and "pip install pycld2" in caplog.text
    assert degraded.fallbacks == () and degraded.missing_fallbacks == ("pycld2",)
    assert ",fallback=pycld2-missing," in degraded.signature()
    assert degraded.can_name("wol_Latn") == ()
    # The old behaviour: only the pivot rule for Wolof, and the rule says why.
    french = degraded.check(TEXT["fra_Latn"], "wol_Latn")
    assert (french.verdict, french.detected, french.rule) == (
        "uncertain",
        "und",
        "unsupported-target:pycld2-missing",
    )
    english = degraded.check(TEXT["eng_Latn"], "wol_Latn")
    assert (english.verdict, english.rule) == ("off", "pivot:py3langid")
    assert degraded.check(TEXT["hau_Latn"], "hau_Latn").verdict == "on"


def test_explicit_detectors_get_no_fallback() -> None:
    only = make_checker(LangidConfig(detectors=["py3langid"]))
    assert only.fallbacks == () and only.can_name("wol_Latn") == ()
    assert "fallback" not in only.signature()
    result = only.check(TEXT["fra_Latn"], "wol_Latn")
    assert (result.verdict, result.rule) == ("uncertain", "unsupported-target")
    assert make_checker(LangidConfig(mode="strict")).fallbacks == ()


def test_langdetect_is_seeded_and_never_decides_for_languages_it_lacks() -> None:
    pytest.importorskip("langdetect")
    checker = make_checker(LangidConfig(detectors=["langdetect"]))
    assert checker.can_name("hau_Latn") == ()  # langdetect has no Hausa
    first = [checker.check(TEXT["eng_Latn"], "swh_Latn") for _ in range(3)]
    assert len({(r.verdict, r.confidence) for r in first}) == 1
    assert first[0].verdict == "off"
    assert checker.check(TEXT["hau_Latn"], "hau_Latn").rule == "unsupported-target"


def test_bad_settings_name_the_problem() -> None:
    with pytest.raises(ValueError, match="unknown detector"):
        LangidConfig(detectors=["cld3"])
    with pytest.raises(ValueError, match="pivot language"):
        LangidConfig(pivots=["klingonish"])
    with pytest.raises(ConfigError, match="needs a model file"):
        make_detector("fasttext")
    with pytest.raises(ConfigError, match="second detector"):
        make_checker(LangidConfig(mode="strict", detectors=["py3langid"]))


def test_short_cjk_sentences_are_judged_not_left_uncertain() -> None:
    """Han, kana and Hangul weigh three letters each, so one short sentence clears the length bar."""
    from xprompt import langid

    assert langid.check("政府今天宣布了该地区新的卫生计划。", "zho_Hans").verdict == "on"
    assert langid.check("政府は今日、新しい保健計画を発表しました。", "jpn_Jpan").verdict == "on"
    assert langid.check("政府今天宣布了该地区新的卫生计划。", "eng_Latn").verdict == "off"


def test_default_mode_consults_pycld2_for_siblings_the_decider_cannot_name() -> None:
    pytest.importorskip("pycld2")
    checker = make_checker()
    # Aymara: py3langid has no Aymara label and calls it Quechua; pycld2 names it.
    aymara = (
        "Jichhürux wali sumaw inti jalsu, ukat jiwasax yapuchañ sarañani. "
        "Nayax utaj jak'an jach'a qutaw utji sasaw sapxi."
    )
    got = checker.check(aymara, "quy_Latn")
    assert (got.verdict, got.rule) == ("off", "sibling:pycld2")
    assert got.detected.startswith("ayr") or got.detected.startswith("aym")
    assert checker.siblings("quy_Latn")["blind"] == ["aym"]
    assert checker.siblings("amh_Ethi") == {
        "consulted": "pycld2",
        "blind": ["tir"],
        "orthography": [],
        "confusable": [],
    }
    # Rundi for Kinyarwanda is confusable: at most uncertain, never a guessed "off".
    assert checker.siblings("kin_Latn")["confusable"] == ["run"]
    # Strict mode has its own second opinions, no sibling consultation.
    assert make_checker(LangidConfig(mode="strict")).siblings("quy_Latn")["consulted"] is None


def test_shan_for_burmese_is_caught_by_its_own_letters() -> None:
    # Shan uses the Myanmar script's "Extended for Shan" letters and tone marks, Burmese none.
    shan = "ၵူၼ်းတႆး ယူႇၼႂ်း ၸိုင်ႈတႆး ၼမ်ႉၼႃႇ လႄႈ ႁဵတ်းႁႆႈ ႁဵတ်းၼႃး ၵမ်ႉၼမ်။"
    got = make_checker().check(shan, "mya_Mymr")
    assert (got.verdict, got.detected, got.rule) == ("off", "shn_Mymr", "orthography:shn")
    burmese = "ကျွန်ုပ်၏ အမေသည် စနေနေ့တိုင်း ဈေးကြီးတွင် ဟင်းသီးဟင်းရွက်နှင့် သစ်သီးများ ရောင်းသည်။"
    assert make_checker().check(burmese, "mya_Mymr").verdict == "on"


def test_check_many_over_processes_gives_the_same_checks_in_order() -> None:
    from xprompt.langid.parallel import check_many

    checker = make_checker()
    items = [(TEXT["hau_Latn"], "hau_Latn"), (TEXT["swh_Latn"], "hau_Latn")] * 6
    alone = check_many(checker.check, items, jobs=1)
    assert [c.verdict for c in alone[:2]] == ["on", "off"]
    pooled = check_many(checker.check, items, jobs=2, min_parallel=1)
    assert pooled == alone
    # Small inputs never start a pool (the default threshold): same answers.
    assert check_many(checker.check, items, jobs=2) == alone


def test_compiled_feature_walk_gives_bit_identical_scores() -> None:
    pytest.importorskip("numba")
    from xprompt.langid.detectors import _NaiveBayes, _py3langid_identifier

    identifier = _py3langid_identifier()
    compiled = _NaiveBayes(identifier)
    compiled._compiled = compiled._compile()
    assert compiled._compiled
    plain = _NaiveBayes(identifier)
    plain._compiled = False
    for text in [*TEXT.values(), "", "123", "ABC DEF GHI"]:
        a, b = plain.probabilities(text), compiled.probabilities(text)
        assert a.tolist() == b.tolist()
        label, confidence = identifier.classify(text)
        assert plain.classes[int(b.argmax())] == label and float(b.max()) == confidence


def test_check_many_never_forks_a_process_with_other_threads(monkeypatch) -> None:
    import threading

    from xprompt.langid import parallel

    checker = make_checker()
    items = [(TEXT["hau_Latn"], "hau_Latn")] * 4
    monkeypatch.setattr(threading, "active_count", lambda: 3)
    monkeypatch.setattr(
        parallel.multiprocessing, "get_context", lambda *_: pytest.fail("must not fork")
    )
    assert [
        c.verdict for c in parallel.check_many(checker.check, items, jobs=2, min_parallel=1)
    ] == ["on"] * 4
