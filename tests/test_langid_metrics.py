"""Language metrics of run summaries and eval cells: LPR, mixed, English words, language-aware chrF++."""

from __future__ import annotations

from xprompt.evals.measure import measure_run, measure_translate
from xprompt.evals.scoring import Bootstrap
from xprompt.langid import make_checker
from xprompt.metrics import language_ok, summarize

HAUSA = "Gobe da safe za mu je gona domin mu girbe gyaɗa kafin ruwan sama ya sauka."
HINDI = "बारिश हो रही थी इसलिए बच्चे सुबह जल्दी पैदल स्कूल गए।"
HINDI_WITH_ENGLISH = "बारिश हो रही थी इसलिए बच्चे सुबह जल्दी पैदल school गए।"
ENGLISH = "Tomorrow morning we will go to the farm to harvest groundnuts before the rain."


def record(lang: str, text: str, target: str | None = None) -> dict:
    check = make_checker().check(text, lang).to_dict()
    out = {"lang": lang, "prediction": text, "steps": [{"step": "answer", "checks": [check]}]}
    if target is not None:
        out["target"] = target
    return out


def test_summary_gives_line_pass_rate_mixed_and_english_words() -> None:
    records = [
        record("hau_Latn", HAUSA),  # on
        record("hau_Latn", "Here is the answer in Hausa:\n" + HAUSA),  # mixed (preamble)
        record("hau_Latn", ENGLISH),  # off
        record("hin_Deva", HINDI),  # on
        record("hin_Deva", HINDI_WITH_ENGLISH),  # on, with an English word inside
    ]
    total = summarize(records).total.to_dict()
    assert (total["checked_texts"], total["off_target"], total["mixed"]) == (5, 1, 1)
    assert total["line_pass_rate"] == 3 / 5  # the mixed and the off one fail LPR
    assert total["english_words_rate"] == 1 / 2  # over the non-Latin-script target's texts
    by_lang = summarize(records).by_lang
    assert by_lang["hau_Latn"].english_words_rate is None  # Latin-script target: not measured
    assert [language_ok(r) for r in records] == [True, False, False, True, True]


def test_language_aware_chrf_scores_wrong_language_outputs_0() -> None:
    records = [
        record("hau_Latn", HAUSA, target=HAUSA),
        record("hau_Latn", ENGLISH, target=HAUSA),  # wrong language
    ]
    measured = measure_run(records, "chrF++", Bootstrap(0), llm_translates=False)
    assert measured.language_aware is not None and measured.metric.score is not None
    assert measured.language_aware.score < measured.metric.score
    assert measured.line_pass_rate == 0.5
    # Translation-job records: the same, from their per-side checks.
    jobs = [
        {
            "translation": {"text": r["prediction"]},
            "reference": HAUSA,
            "checks": {"tgt": r["steps"][0]["checks"][0]},
        }
        for r in records
    ]
    translated = measure_translate(jobs, Bootstrap(0), llm_translates=False)
    assert translated.language_aware.score < translated.metric.score
    assert translated.line_pass_rate == 0.5
    clean = measure_run(records[:1], "chrF++", Bootstrap(0), llm_translates=False)
    assert clean.language_aware.score == clean.metric.score
