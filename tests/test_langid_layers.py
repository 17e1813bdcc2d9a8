"""The parts under the check: text preparation, scripts, labels, detectors, degenerate output."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from xprompt.errors import ConfigError, DependencyMissingError
from xprompt.langid import LangidConfig, degenerate, labels, make_checker, scripts
from xprompt.langid.detectors import Cld2Detector, FastTextDetector, Py3LangidDetector
from xprompt.langid.equivalence import Equivalence, language_key
from xprompt.langid.text import mask_noise, normalize, split

# -- text ------------------------------------------------------------------------------


def test_masking_keeps_offsets_and_removes_non_language() -> None:
    text = "See `x = 3.5` at https://example.org/a.b or mail a.b@example.com <b>now</b> 10:30."
    masked = mask_noise(text)
    assert len(masked) == len(text)
    for gone in ("example", "3.5", "<b>", "10:30", "x ="):
        assert gone not in masked
    assert masked.startswith("See ") and "now" in masked
    assert mask_noise("plain words only") == "plain words only"


def test_sentences_split_in_many_scripts_with_offsets() -> None:
    cases = {
        "Ethiopic": "ዛሬ ጠዋት ወደ ገበያ ሄድን እና አትክልት ገዛን። ከዚያ በኋላ ወደ ቤት ተመልሰን ምሳ በላን።",
        "Devanagari": "आज बिहान हामी बजार गयौँ र तरकारी किन्यौँ। त्यसपछि घर फर्केर खाना खायौँ।",
        "CJK": "今天早上我们去市场买了很多新鲜的蔬菜和水果。然后我们回家一起做了一顿丰盛的午饭。",
        "Myanmar": "ဒီနေ့မနက် ကျွန်တော်တို့ ဈေးကို သွားပြီး ဟင်းသီးဟင်းရွက် ဝယ်ခဲ့တယ်။ ပြီးတော့ အိမ်ပြန်ပြီး ထမင်းစားခဲ့တယ်။",
        "Thai": "เช้านี้พวกเราไปตลาดและซื้อผักผลไม้มากมายหลายอย่าง แล้วพวกเราก็กลับบ้านไปทำอาหารกลางวันกินด้วยกัน",
        "Latin": "This morning we went to the market and bought vegetables. Then we came home and cooked lunch together.",
    }
    for name, text in cases.items():
        segments = split(text, min_letters=10)
        assert len(segments) == 2, name
        for seg in segments:
            assert text[seg.start : seg.end] == seg.text
            assert seg.letters >= 10


def test_short_pieces_merge_into_a_neighbour() -> None:
    text = "Dr. Okafor arrived early. Yes. He then examined every patient in the ward carefully."
    segments = split(text, min_letters=20)
    assert all(s.letters >= 20 for s in segments)
    assert "Dr. Okafor" in segments[0].text
    assert split("   \n  ") == []


def test_nfc_normalisation() -> None:
    nfd = "Yorùbá ọ̀rọ̀".encode().decode()
    import unicodedata

    decomposed = unicodedata.normalize("NFD", nfd)
    assert normalize(decomposed) == unicodedata.normalize("NFC", nfd)


# -- scripts ---------------------------------------------------------------------------


def test_script_counting() -> None:
    latin = scripts.members({"Latn"})
    count = scripts.count("Hello ሰላም", latin)
    assert (count.letters, count.other) == (8, 3)
    assert abs(count.off_share - 3 / 8) < 1e-9
    # African Latin orthographies: hooked letters, open vowels, dotted vowels are Latin.
    assert scripts.count("ɓaƙo ɗaya ŋɔ ɛ ọ̀ ṣ ƴ", latin).other == 0
    # Modifier letters (Hausa ʼ) belong to no script.
    assert scripts.letter_count("ʼyaʼyan") == 5
    # Japanese: kana and Han; Chinese: Han only.
    assert scripts.count("今日は市場に行きました", scripts.members({"Jpan"})).other == 0
    kana = scripts.count("ひらがな", scripts.members({"Hans"}))
    assert (kana.letters, kana.other) == (12, 12), "dense scripts count three times, on both sides"
    # A short whole sentence in Chinese is long enough to judge (13 characters weigh 39).
    assert scripts.letter_count("政府今天宣布了新的卫生计划。") == 39
    assert scripts.dominant("Hello ሰላም ሰላም") == "Ethi"
    assert scripts.char_script("1") is None


def test_scripts_outside_the_table_never_count_against_a_text() -> None:
    adlam = "𞤆𞤵𞤤𞤢𞤪 𞤬𞤵𞤤𞤬𞤵𞤤𞤣𞤫"  # Fula in Adlam, a script the table does not list
    assert "Adlm" not in scripts.SCRIPT_RANGES
    assert scripts.count(adlam, scripts.members({"Latn"})).other == 0
    assert scripts.count(adlam, scripts.members({"Adlm"})).other == 0
    # ... while text in a table script still counts against an Adlam target.
    assert scripts.count("Pular fulfulde", scripts.members({"Adlm"})).other == 13


# -- labels and detectors ----------------------------------------------------------------


def test_every_detector_label_maps_or_is_declared_no_language() -> None:
    import pycld2
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    py3 = LanguageIdentifier.from_model_file(MODEL_FILE).labels
    mapped, unmapped = labels.label_map("py3langid", py3)
    assert unmapped == ["zxx"]
    assert mapped["rw"] == "kin_Latn" and mapped["gug"] == "grn_Latn" and mapped["ne"] == "npi_Deva"
    names = set(pycld2.DETECTED_LANGUAGES)
    cld2 = [code for name, code in pycld2.LANGUAGES if name in names]
    mapped, unmapped = labels.label_map("pycld2", cld2)
    assert set(unmapped) <= {"tlh", "zzp"}
    assert mapped["iw"] == "heb_Hebr" and mapped["jw"] == "jav_Latn" and mapped["rn"] == "run_Latn"


def test_fasttext_labels() -> None:
    assert labels.canonical("fasttext", "__label__hau_Latn") == "hau_Latn"
    assert labels.canonical("fasttext", "__label__swa_Latn") == "swh_Latn"  # macrolanguage
    assert labels.canonical("fasttext", "__label__ha") == "hau_Latn"  # lid.176 style
    assert labels.canonical("fasttext", "__label__zxx_Zxxx") is None
    assert labels.canonical("fasttext", "__label__und_Latn") is None
    assert labels.canonical("fasttext", "__label__qqq_Xxxx") is None
    with pytest.raises(ValueError, match="unknown detector"):
        labels.canonical("cld3", "en")


def test_detectors_declare_what_they_can_name() -> None:
    py3 = Py3LangidDetector()
    assert {"hau_Latn", "yor_Latn", "amh_Ethi", "lug_Latn", "grn_Latn"} <= py3.codes
    assert not py3.supports("tir_Ethi") and not py3.supports("ewe_Latn")
    assert py3.supports("swh_Latn") and py3.supports("arz_Arab")  # folds
    cld2 = Cld2Detector()
    assert cld2.supports("tir_Ethi") and cld2.supports("wol_Latn") and cld2.supports("run_Latn")
    english = "The weather was lovely and we walked along the river all afternoon."
    assert py3.detect(english).code == "eng_Latn"
    assert py3.probability(english, "hau") < 0.01
    assert cld2.probability(english, "eng") > 0.9


def test_fasttext_missing_package_and_missing_file(monkeypatch, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        FastTextDetector(tmp_path / "nope.bin")
    model = tmp_path / "model.bin"
    model.write_bytes(b"not a model")
    monkeypatch.setitem(sys.modules, "fasttext", None)
    with pytest.raises(DependencyMissingError, match=r"xprompt\[fasttext\]"):
        FastTextDetector(model)


def test_fasttext_model_end_to_end(tmp_path: Path) -> None:
    """Train a tiny GlotLID-style model on text written here, load it as a user would."""
    fasttext = pytest.importorskip("fasttext")
    ewe = [
        "míayi agble me etsɔ ŋdi",
        "ɖeviwo le suku me egbe",
        "nye dada le asi me fifia",
        "tsi dza le kɔƒe la me etsɔ",
        "míeɖu nu le aƒeme fiẽ sia",
        "agbledelawo le bli ƒãm",
    ]
    english = [
        "we will go to the farm tomorrow",
        "the children are at school today",
        "my mother is at the market now",
        "it rained in the village yesterday",
        "we ate dinner at home this evening",
        "the farmers are planting maize",
    ]
    lines = [f"__label__ewe_Latn {t}" for t in ewe] + [f"__label__eng_Latn {t}" for t in english]
    train = tmp_path / "train.txt"
    train.write_text("\n".join(lines * 20) + "\n", encoding="utf-8")
    trained = fasttext.train_supervised(
        str(train), epoch=25, lr=0.5, minn=2, maxn=4, dim=16, thread=1, seed=0, verbose=0
    )
    path = tmp_path / "glotlid-like.bin"
    trained.save_model(str(path))

    checker = make_checker(LangidConfig(fasttext_model=str(path)))
    assert checker.can_name("ewe_Latn") == ("fasttext",)  # py3langid cannot
    assert checker.can_name("hau_Latn") == ("py3langid",)  # the fastText model cannot
    sentence = "ɖeviwo kple wo dada le asi me le agble me etsɔ ŋdi"
    assert checker.check(sentence, "ewe_Latn").verdict == "on"
    result = checker.check("the children and their mother went to the farm market", "ewe_Latn")
    assert result.verdict == "off" and result.rule == "fasttext"
    assert "fasttext:glotlid-like.bin@" in checker.signature()


# -- equivalence -----------------------------------------------------------------------


def test_folds_and_scripts() -> None:
    assert language_key("swh_Latn") == language_key("swa") == "swa"
    assert language_key("arz_Arab") == language_key("arb_Arab")
    assert language_key("ind_Latn") != language_key("zsm_Latn")
    eq = Equivalence.build()
    assert eq.confusable("ind_Latn", "zsm_Latn") and not eq.confusable("zul_Latn", "xho_Latn")
    assert eq.scripts("srp_Cyrl") == {"Cyrl", "Latn"}
    assert eq.scripts("hau_Latn") == {"Latn"}
    assert "srp" not in Equivalence.build(alternate_scripts={}).alternate_scripts
    with pytest.raises(ConfigError, match="ISO 15924"):
        Equivalence.build(alternate_scripts={"hau": ["Latin"]})


# -- degenerate output -----------------------------------------------------------------


def test_repetition_and_copy_scores() -> None:
    assert degenerate.is_repetitive("the the the the the the the the")
    assert degenerate.is_repetitive("A B C. A B C. A B C. A B C. A B C.")
    assert degenerate.is_repetitive("ကကကကကကကကကကကကကကကကကကကကကကကက")
    assert not degenerate.is_repetitive(
        "Farmers in the north planted sorghum early this year because the rains came in March."
    )
    assert degenerate.repetition_share("a b a b a b x y") == pytest.approx(6 / 8)
    assert degenerate.copy_score("Hello world again", "Hello world again!") == 1.0
    assert degenerate.copy_score("Sannu da zuwa gida", "Welcome home, friend") < 0.2
    assert degenerate.copy_score("", "anything") == 0.0
