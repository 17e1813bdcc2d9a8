"""Paper fidelity (issue 16): each deviation from the papers, the paper's rule in the preset, the option's.

Scripted backends only check logic here; the strategies run on the real engine
in ``test_reasoning_engine.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import read_jsonl, write_jsonl

from xprompt import answers, runner
from xprompt.cli import main
from xprompt.config import load_run_config
from xprompt.rescore import ScoreSettings, score_file
from xprompt.testing.scripted import ScriptedBackend
from xprompt.types import Request

HUGE = "9" * 400  # past float's range: int(float(x) * 100) raises OverflowError

# -- 1. a row that raises while it is scored is that row's error ---------------------


def test_mgsm_paper_parser_survives_numbers_past_float_range() -> None:
    extraction = answers.extract_mgsm_paper(f"So... Answer: {HUGE}")
    assert extraction.value == HUGE and extraction.rule == "paper-answer"
    assert answers.is_correct(extraction.value, "18", "mgsm-paper") is False
    assert answers.is_correct(HUGE, HUGE[:-1] + "8", "number") is False
    assert answers.is_correct(HUGE, HUGE, "number") is True


def _interchange(tmp_path: Path) -> Path:
    return write_jsonl(
        tmp_path / "rows.jsonl",
        [
            {"id": "ok", "lang": "swh_Latn", "target": "13", "outputs": [{"text": "Answer: 13"}]},
            {"id": "loop", "lang": "swh_Latn", "target": "13", "outputs": [{"text": f"Answer: {HUGE}"}]},
            {"id": "boom", "lang": "swh_Latn", "target": "5", "outputs": [{"text": "Answer: 5 BOOM"}]},
        ],
    )  # fmt: skip


def test_score_keeps_going_past_a_row_that_raises(tmp_path: Path, monkeypatch, capsys) -> None:
    path = _interchange(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(["score", str(path), "--parser", "mgsm-paper", "--no-langid", "--json"])
    assert exit_.value.code in (0, None)
    summary = json.loads(capsys.readouterr().out)
    assert summary["by_lang"]["swh_Latn"]["accuracy"] == pytest.approx(2 / 3)

    real = answers.extract

    def explode(text: str, parser: str, **kw):
        if "BOOM" in text:
            raise RuntimeError("parser bug")
        return real(text, parser, **kw)

    monkeypatch.setattr(answers, "extract", explode)
    records, _ = score_file(path, ScoreSettings(parser="mgsm-paper", langid=False))
    by_id = {r["id"]: r for r in records}
    assert [r["id"] for r in records] == ["ok", "loop", "boom"]
    assert by_id["ok"]["correct"] is True and by_id["loop"]["correct"] is False
    assert by_id["loop"]["error"] is None
    assert by_id["boom"]["error"] == (
        "row 3 (line 3) of rows.jsonl: scoring failed: RuntimeError: parser bug"
    )
    assert by_id["boom"]["correct"] is False


ROWS = [
    {"id": "a", "lang": "swh_Latn", "question": "Swali la kwanza?", "answer": "13"},
    {"id": "b", "lang": "swh_Latn", "question": "Swali la pili BOOM?", "answer": "5"},
    {"id": "c", "lang": "swh_Latn", "question": "Swali la tatu?", "answer": "7"},
]


def _run(tmp_path: Path, strategy: str, template: str, reply, options=None) -> list[dict]:
    overrides = {
        "data": {"input": str(write_jsonl(tmp_path / "in.jsonl", ROWS)), "target_field": "answer"},
        "output": str(tmp_path / f"{strategy}.jsonl"),
        "template": template,
        "strategy": strategy,
        "options": options or {},
        "engine": {"model": "scripted-model"},
        "overwrite": True,
    }
    runner.execute(runner.prepare(load_run_config(None, overrides)), backend=ScriptedBackend(reply))
    return read_jsonl(Path(overrides["output"]))


def _reply(request: Request) -> str:
    row = request.id.split("/")[0]
    return {"a": f"Jibu: {HUGE} Answer: 13", "b": "BOOM Answer: 5", "c": f"Answer: {HUGE}"}[row]


@pytest.mark.parametrize(
    ("strategy", "template", "options"),
    [
        ("direct", "mgsm-cot", {}),
        ("self-consistency", "mgsm-cot", {"parser": "mgsm-paper"}),
        ("clp", "clp-solve", {"parser": "mgsm-paper"}),
        ("clsp", "clp-solve", {"parser": "mgsm-paper"}),
    ],
)
def test_run_extraction_that_raises_is_that_rows_error(
    tmp_path: Path, monkeypatch, strategy: str, template: str, options: dict
) -> None:
    real = answers.extract

    def explode(text: str, parser: str, **kw):
        if "BOOM" in text:
            raise RuntimeError("parser bug")
        return real(text, parser, **kw)

    real_number = answers.extract_number

    def explode_number(text: str, lang: str | None = None):
        if "BOOM" in text:
            raise RuntimeError("parser bug")
        return real_number(text, lang)

    monkeypatch.setattr(answers, "extract", explode)
    monkeypatch.setattr(answers, "extract_number", explode_number)
    records = _run(tmp_path, strategy, template, _reply, options)
    by_id = {r["id"]: r for r in records}
    assert sorted(by_id) == ["a", "b", "c"]
    assert "scoring failed: RuntimeError: parser bug" in by_id["b"]["error"]
    assert by_id["b"]["steps"], "the generated texts are kept"
    assert by_id["a"]["error"] is None and by_id["a"]["correct"] is True
    assert by_id["c"]["error"] is None and by_id["c"]["correct"] is False


# -- 8. CLSP when no path gives a number: xprompt predicts nothing, mgsm-paper predicts 0 -----


def test_no_answer_on_any_path_is_0_only_in_the_paper_preset(tmp_path: Path) -> None:
    records = {
        parser: _run(
            tmp_path,
            "clsp",
            "clp-solve",
            lambda r: "Sijui." if "/solve:" in r.id else "Let me think.",
            {"parser": parser},
        )
        for parser in ("number", "mgsm-paper")
    }
    for record in records["number"]:
        assert (record["prediction"], record["extraction"]) == (None, "no-number")
        assert record["error"] is None
    for record in records["mgsm-paper"]:
        assert (record["prediction"], record["extraction"]) == ("0", "paper-fallback")
        assert len(record["details"]["paths"]) == 7
    rows = write_jsonl(
        tmp_path / "none.jsonl",
        [{"id": "z", "lang": "swh_Latn", "target": "0", "outputs": [{"text": "Sijui."}] * 3}],
    )
    paper, _ = score_file(rows, ScoreSettings(parser="mgsm-paper", langid=False))
    robust, _ = score_file(rows, ScoreSettings(parser="number", langid=False))
    assert (paper[0]["prediction"], paper[0]["correct"]) == ("0", True)
    assert (robust[0]["prediction"], robust[0]["correct"]) == (None, False)


# -- 2. CLP/CLSP turns: the authors set no limit; the preset allows 2,048 new tokens -----------


def test_clp_turns_are_not_cut_at_512_tokens_unless_asked(tmp_path: Path) -> None:
    def prepared(strategy: str, **sampling):
        overrides = {
            "data": {
                "input": str(write_jsonl(tmp_path / "in.jsonl", ROWS)),
                "target_field": "answer",
            },
            "output": str(tmp_path / f"{strategy}-{len(sampling)}.jsonl"),
            "template": "clp-solve",
            "strategy": strategy,
            "engine": {"model": "scripted-model"},
            "sampling": sampling,
        }
        return runner.prepare(load_run_config(None, overrides)).strategy

    for strategy in ("clp", "clsp"):
        preset = prepared(strategy)
        assert preset.align_sampling.max_tokens == preset.solve_sampling.max_tokens == 2048
        capped = prepared(strategy, max_tokens=512)
        assert capped.align_sampling.max_tokens == capped.solve_sampling.max_tokens == 512


# -- 3. self-translate: 128 tokens for MGSM, 64 otherwise; the paper's language names --------


def test_self_translate_length_and_language_names(tmp_path: Path) -> None:
    from xprompt.mt.base import TranslationRequest
    from xprompt.mt.self_translate import SelfTranslator, TranslationPair
    from xprompt.strategies.translate_test import Options, self_translate_max_tokens
    from xprompt.templates import load_template

    assert self_translate_max_tokens(load_template("mgsm-cot")) == 128
    assert self_translate_max_tokens(load_template("sib200-topic")) == 64
    settings = Options(mt_model="self").translator_settings(load_template("mgsm-cot"))
    assert settings.self_translate.max_tokens == 128
    chosen = Options(mt_model="self", self_translate_max_tokens=64)
    assert chosen.translator_settings(load_template("mgsm-cot")).self_translate.max_tokens == 64

    pairs = [
        TranslationPair(f"p{k}-{code}", code, f"Sentence {k} in {code}.", f"Sentence {k}.")
        for code in ("quy_Latn", "zho_Hans", "arb_Arab", "hat_Latn")
        for k in range(4)
    ]
    translator = SelfTranslator(ScriptedBackend(lambda r: "x"), pairs)
    for code, name in (("quy_Latn", "Quechua"), ("zho_Hans", "Chinese"), ("arb_Arab", "Arabic"),
                       ("hat_Latn", "Haitian")):  # fmt: skip
        request = translator.request(0, TranslationRequest("Query text.", code, "eng_Latn"))
        prompt = request.prompt or ""
        assert prompt.endswith(f"{name}: Query text.\nEnglish:")
        assert prompt.count(f"\n{name}: ") + prompt.startswith(f"{name}: ") == 5


# -- 4. each exemplar is rendered in its own language ---------------------------------------


def test_exemplars_render_with_their_own_language_and_label_names(tmp_path: Path) -> None:
    from xprompt.templates import load_template
    from xprompt.types import Example

    query = Example("q", "hau_Latn", {"text": "Kungiyar ta ci wasan karshe"})
    english = Example("e1", "eng_Latn", {"text": "The team won the final match"}, "sports")
    hausa = Example("h1", "hau_Latn", {"text": "Shugaban kasa ya yi jawabi"}, "politics")
    template = load_template("sib200-topic")
    messages = template.render(query, [english, hausa])
    assert messages[1].content.endswith("Text (English): The team won the final match")
    assert messages[3].content.endswith("Text (Hausa): Shugaban kasa ya yi jawabi")
    assert messages[-1].content.endswith("Text (Hausa): Kungiyar ta ci wasan karshe")
    # The per-template exemplar cache is keyed by the exemplar's language: the same
    # exemplar text as a Hausa exemplar renders as Hausa, before and after.
    as_hausa = Example("e1", "hau_Latn", dict(english.fields), "sports")
    assert template.render(query, [as_hausa])[1].content.endswith(
        "Text (Hausa): The team won the final match"
    )
    assert template.render(query, [english])[1].content.endswith(
        "Text (English): The team won the final match"
    )

    native = load_template("sib200-topic-native")
    messages = native.render(query, [english, hausa])
    assert messages[2].content == "sports"  # the English exemplar's label, in English
    assert messages[4].content == "siyasa"  # the Hausa exemplar's label, in Hausa
    # An exemplar language without i18n strings falls back to the query's strings.
    yoruba = Example("y1", "yor_Latn", {"text": "Ẹgbẹ́ náà borí"}, "sports")
    if "yor_Latn" not in native.i18n:
        assert native.render(query, [yoruba])[2].content == native.choice_names("hau_Latn")[3]


def test_run_with_english_exemplars_for_a_hausa_query(tmp_path: Path) -> None:
    pool = write_jsonl(
        tmp_path / "pool.jsonl",
        [
            {"id": "p1", "lang": "eng_Latn", "text": "The team won the final match", "label": "sports"},
            {"id": "p2", "lang": "hau_Latn", "text": "Shugaban kasa ya yi jawabi", "label": "politics"},
        ],
    )  # fmt: skip
    rows = write_jsonl(
        tmp_path / "in.jsonl",
        [{"id": "q", "lang": "hau_Latn", "text": "Kungiyar ta ci wasan", "label": "sports"}],
    )
    overrides = {
        "data": {"input": str(rows), "target_field": "label"},
        "output": str(tmp_path / "out.jsonl"),
        "template": "sib200-topic",
        "strategy": "direct",
        "engine": {"model": "scripted-model"},
        "exemplars": {"pool": str(pool), "shots": 1, "lang": "eng_Latn"},
    }
    backend = ScriptedBackend(lambda r: "sports")
    runner.execute(runner.prepare(load_run_config(None, overrides)), backend=backend)
    messages = backend.batches[0][0].messages
    assert messages[1].content.endswith("Text (English): The team won the final match")
    assert messages[-1].content.endswith("Text (Hausa): Kungiyar ta ci wasan")


def test_templates_render_shot_takes_the_exemplars_lang(capsys) -> None:
    with pytest.raises(SystemExit):
        main(
            [
                "templates", "render", "sib200-topic-native", "--lang", "hau",
                "--field", "text=Kungiyar ta ci wasan",
                "--shot", '{"text": "The team won", "target": "sports", "lang": "en"}',
                "--shot", '{"text": "Shugaban kasa ya yi jawabi", "target": "politics"}',
            ]
        )  # fmt: skip
    messages = json.loads(capsys.readouterr().out)
    assert [m["content"] for m in messages[2:6:2]] == ["sports", "siyasa"]


def sib200_root() -> Path:
    """The SIB-200 release: ``$XPROMPT_SIB200``, else ``../shared/data/sib200`` beside the clone."""
    default = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sib200"
    return Path(os.environ.get("XPROMPT_SIB200", default))


# -- 6. LDP: a script-aware length ratio; x2en=auto says when it ran supervised pairs ---------

# Chinese / Korean / English renderings of one sentence (written for this test).
ZHO = "政府周二宣布了卡诺州新的医疗计划。"
KOR = "정부는 화요일에 카노 주의 새로운 의료 계획을 발표했다."
ENG = "The government announced a new health plan for Kano state on Tuesday."


def test_length_ratio_is_script_aware_by_default_and_plain_letters_on_request() -> None:
    from xprompt.ldp.filters import FilterSettings, check_output, script_length

    assert script_length("今天下雨。") == 12.0 and script_length("Rain today.") == 9.0
    script, letters = FilterSettings(), FilterSettings(length_measure="letters")
    for text, lang in ((ZHO, "zho_Hans"), (KOR, "kor_Hang")):
        checks, reasons = check_output(text, lang, ENG, "eng_Latn", script)
        assert "length-ratio" not in [r.filter for r in reasons], (lang, checks["length_ratio"])
    checks, reasons = check_output(ZHO, "zho_Hans", ENG, "eng_Latn", letters)
    assert [r.filter for r in reasons] == ["length-ratio"] and checks["length_ratio"] > 3
    assert "ratio=0.333..3/script" in script.signature()
    assert "/script" not in letters.signature()
    with pytest.raises(ValueError, match="length_measure"):
        FilterSettings(length_measure="bytes")  # type: ignore[arg-type]


def test_sib200_gold_pairs_rejected_at_most_1_percent_per_language() -> None:
    """On the real release when it is there (``../shared/data/sib200``): at most 1% per language."""
    root = sib200_root()
    if not (root / "data" / "annotated" / "zho_Hans").is_dir():
        pytest.skip(f"SIB-200 release not found at {root}")
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "ldp_length_ratio",
        Path(__file__).resolve().parents[1] / "benchmarks" / "ldp_length_ratio.py",
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    from xprompt.ldp.filters import FilterSettings

    # The languages plain letters failed, the worst left (knc_Arab) and a few scripts more;
    # the whole release: benchmarks/ldp_length_ratio.py.
    langs = ["zho_Hans", "zho_Hant", "yue_Hant", "kor_Hang", "jpn_Jpan", "knc_Arab", "amh_Ethi",
             "hau_Latn", "tha_Thai"]  # fmt: skip
    results = bench.measure(root, FilterSettings(), langs)
    assert all(results[lang]["pairs"] == 800 for lang in langs)
    assert max(e["script"] for e in results.values()) <= 0.01
    assert results["zho_Hans"]["letters"] > 0.3  # what plain letters did


def test_x2en_auto_names_the_languages_that_ran_supervised_pairs(tmp_path: Path) -> None:
    from xprompt.ldp.exemplar_set import SetRecord
    from xprompt.ldp.translator import LDPTranslator, supervised_sources, x2en_label
    from xprompt.metrics import summarize

    diverse = [
        SetRecord(id=f"d{k}-{lang}", kind="pair", lang=lang, text=f"{lang} sentence {k}",
                  target=f"English sentence {k}", target_lang="eng_Latn")
        for lang in ("arb_Arab", "zho_Hans", "vie_Latn", "fra_Latn") for k in range(1)
    ]  # fmt: skip
    hausa = [
        SetRecord(id=f"h{k}", kind="pair", lang="hau_Latn", text=f"Jumla ta {k}",
                  target=f"Sentence {k}", target_lang="eng_Latn")
        for k in range(2)
    ]  # fmt: skip
    assert supervised_sources(diverse + hausa, 2) == ("hau_Latn",)
    assert x2en_label("auto", diverse + hausa, 2) == "auto[in-language:hau_Latn]"
    assert x2en_label("auto", diverse, 2) == "auto[diverse]"
    assert x2en_label("diverse", diverse + hausa, 2) == "diverse"
    backend = ScriptedBackend(lambda r: "Translated.")
    translator = LDPTranslator(backend, diverse + hausa, shots=2)
    assert "x2en=auto[in-language:hau_Latn]" in translator.signature()
    from xprompt.mt.base import TranslationRequest

    outs = translator.translate_detailed(
        [TranslationRequest("Sabon jumla", "hau_Latn", "eng_Latn"),
         TranslationRequest("Ọ̀rọ̀ tuntun", "yor_Latn", "eng_Latn")]
    )  # fmt: skip
    assert [o.mode for o in outs] == ["in-language", "diverse"]
    records = [
        {"index": i, "id": str(i), "lang": lang, "prediction": "x", "error": None,
         "details": o.details(), "steps": []}
        for i, (o, lang) in enumerate(zip(outs, ("hau_Latn", "yor_Latn"), strict=True))
    ]  # fmt: skip
    summary = summarize(records)
    assert summary.to_dict()["modes"] == {"in-language": 1, "diverse": 1}
    from xprompt.cli.common import summary_table

    caption = summary_table(summary).caption
    assert "in-language (supervised pairs) 1 rows" in caption and "diverse (LDP) 1 rows" in caption


# -- 5. CODEC re-ranking: the original's rules by default, xprompt's as options -------------


def _candidates(template: str, items: list[tuple[str, float, float, float]]):
    from xprompt.projection.records import Candidate
    from xprompt.projection.spans import Span

    out = []
    for text, logprob, nll, overlap in items:
        start = template.index(text)
        out.append(Candidate(Span(start, start + len(text), "LOC"), logprob, nll, overlap))
    return out


def test_codec_rerank_original_rules_and_the_options() -> None:
    from xprompt.projection.projector import CodecSettings, rerank_order

    template = "Ya tafi birnin New York City jiya."
    # Search order: the best kept is "New York City"; "York City" is a word-level sub-span of it
    # with a lower reverse NLL; "jiya" has the lowest NLL of all but is not inside it.
    cands = _candidates(template, [("birnin New York City", -1.0, 4.0, 0.6),
                                   ("New York City", -1.5, 3.0, 0.7),
                                   ("York City", -2.0, 2.0, 0.55),
                                   ("jiya", -3.0, 1.0, 0.1)])  # fmt: skip
    text = lambda c: template[c.span.start : c.span.end]  # noqa: E731
    order, rule = rerank_order(cands, template, CodecSettings())
    # Original: start from the search's best kept (birnin New York City), replace by a lower-NLL
    # sub-span going down the search order: New York City (3.0), then York City (2.0).
    assert (text(order[0]), rule) == ("York City", "sub-span")
    order, rule = rerank_order(cands, template, CodecSettings(rerank_rule="lowest-nll"))
    assert (text(order[0]), rule) == ("jiya", "lowest-nll")  # xprompt's former rule
    no_sub = _candidates(template, [("New York City", -1.0, 4.0, 0.6), ("jiya", -3.0, 1.0, 0.1)])
    order, rule = rerank_order(no_sub, template, CodecSettings())
    assert (text(order[0]), rule) == ("New York City", "search-best")
    exact = _candidates(
        template, [("birnin New York", -1.0, 4.0, 0.6), ("New York City", -2.0, 4.5, 0.95)]
    )
    assert rerank_order(exact, template, CodecSettings())[1] == "top-overlap"
    assert text(rerank_order(exact, template, CodecSettings())[0][0]) == "New York City"
    # No candidate passes the filter (overlap > 0.5 or NLL < 5): drop the sentence, or search order.
    bad = _candidates(template, [("tafi", -1.0, 9.0, 0.1), ("jiya", -2.0, 8.0, 0.2)])
    assert rerank_order(bad, template, CodecSettings()) == (bad, "none-kept-dropped")
    assert rerank_order(bad, template, CodecSettings(no_candidate="search-order")) == (
        bad, "none-kept-search-order")  # fmt: skip
    assert "original,drop" in CodecSettings().signature()
    with pytest.raises(ValueError, match="rerank_rule"):
        CodecSettings(rerank_rule="best")  # type: ignore[arg-type]


def test_codec_rerank_counts_reach_the_summary() -> None:
    from xprompt.projection.job import summarize

    records = [
        {"status": "projected", "stats": {"calls": 3, "sequences": 9, "rerank": {"sub-span": 1, "search-best": 1}}},
        {"status": "failed", "reason": "re-ranking: ... sentence dropped", "stats": {"calls": 2, "sequences": 4, "rerank": {"none-kept-dropped": 1}}},
        {"status": "projected", "stats": {"calls": 1, "sequences": 2}},
    ]  # fmt: skip
    assert summarize(records)["rerank"] == {"sub-span": 1, "search-best": 1, "none-kept-dropped": 1}


# -- 7. MGSM suite: CLSP and self-consistency at the same number of paths -------------------


def test_mgsm_suite_compares_clsp_and_self_consistency_at_equal_paths() -> None:
    from xprompt.evals.suite import load_suite
    from xprompt.reasoning import CLSP_PAPER_LANGS

    variants = {v.name: v for v in load_suite("mgsm").variants}
    clsp_paths = len(variants["clsp"].options.get("reasoning_langs", CLSP_PAPER_LANGS))
    assert variants["self-consistency"].sampling["n"] == clsp_paths == 7
    assert "7 paths" in variants["self-consistency"].description
    # Both score with the paper's rule, and no variant cuts a chain of thought at 512 tokens.
    assert variants["self-consistency"].options["parser"] == variants["clsp"].options["parser"]
    assert all(v.sampling.get("max_tokens", 2048) >= 2048 for v in variants.values())


@pytest.mark.parametrize("stage", ["extract", "vote", "is_correct"])
def test_score_isolates_a_row_that_raises_in_each_stage(
    tmp_path: Path, monkeypatch, stage: str
) -> None:
    from xprompt import reasoning

    path = _interchange(tmp_path)
    target = {"extract": answers, "vote": reasoning, "is_correct": answers}[stage]
    real = getattr(target, stage)

    # The row "boom" (text "Answer: 5 BOOM", target 5) raises in the stage under test.
    triggers = {
        "extract": lambda args: "BOOM" in args[0],
        "vote": lambda args: any(p.answer == "5" for p in args[0]),
        "is_correct": lambda args: args[1] == "5",
    }

    def explode(*args, **kwargs):
        if triggers[stage](args):
            raise RuntimeError(f"{stage} bug")
        return real(*args, **kwargs)

    monkeypatch.setattr(target, stage, explode)
    records, summary = score_file(path, ScoreSettings(parser="mgsm-paper", langid=False))
    by_id = {r["id"]: r for r in records}
    assert [r["id"] for r in records] == ["ok", "loop", "boom"]
    assert f"scoring failed: RuntimeError: {stage} bug" in by_id["boom"]["error"]
    assert by_id["ok"]["correct"] is True and by_id["ok"]["error"] is None
    assert summary.total.rows == 3 and summary.total.errors == 1
