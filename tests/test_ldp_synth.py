"""Building exemplar sets: filters applied, every rejected candidate recorded, nothing lost, deterministic.

A scripted backend plays a model that translates a few known sentences (and
writes gibberish for the rest), so what is kept and what is rejected, and why,
is exact. ``test_ldp_engine.py`` runs the same builds on the real engine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import read_jsonl, write_jsonl

from xprompt.errors import ConfigError
from xprompt.ldp.exemplar_set import default_diverse_set, read_set, rejected_path, summary_path
from xprompt.ldp.filters import FilterSettings
from xprompt.ldp.synth import SynthJob, synthesize_pairs, synthesize_triples
from xprompt.ldp.tasks import TaskJob, synthesize_task_exemplars
from xprompt.ldp.translator import LDPTranslator
from xprompt.testing.scripted import ScriptedBackend
from xprompt.types import Request

HAU_EN = {
    "Gwamnati ta sanar da sabon shirin kiwon lafiya a jihar Kano ranar Talata.": (
        "The government announced a new health plan in Kano state on Tuesday."
    ),
    "Yara suna wasa a filin makaranta bayan an tashi daga aji.": (
        "The children are playing in the school field after class."
    ),
    "Manoma sun fara shuka gero saboda damina ta fara.": (
        "The farmers have started planting millet because the rainy season has begun."
    ),
    "Kasuwar Kano tana da girma sosai kuma tana cike da mutane.": (
        "Kasuwar Kano tana da girma sosai kuma tana cike da mutane."  # the model copies
    ),
    "Ruwan sama ya sauka da yawa a daren jiya a garin Zariya.": (
        "Il a beaucoup plu hier soir dans la ville de Zaria."  # the model answers in French
    ),
}
EN_YOR = {
    "The government announced a new health plan in Kano state on Tuesday.": (
        "Ìjọba kéde ètò ìlera tuntun ní ìpínlẹ̀ Kano ní ọjọ́ Ìṣẹ́gun."
    ),
    "The children are playing in the school field after class.": (
        "Àwọn ọmọdé ń ṣeré ní pápá ilé-ìwé lẹ́yìn kíláàsì."
    ),
}


def fake_llm(table: dict[str, str]) -> ScriptedBackend:
    """A model that knows the translations in ``table`` (either way) and loops on anything else.

    The direction is read from the query's target tag, so an English sentence
    goes to Hausa or to Yoruba as the prompt asks.
    """
    targets = {"English:": "eng", "Hausa:": "hau", "Èdè Yorùbá:": "yor"}
    known: dict[tuple[str, str], str] = {}
    for source, output in table.items():
        out_lang = "yor" if output in EN_YOR.values() else "eng"
        src_lang = "eng" if out_lang == "yor" else "hau"
        known[(source, out_lang)] = output
        known[(output, src_lang)] = source

    def script(request: Request) -> str:
        query, _, tag = (request.prompt or "").rsplit("\n\n", 1)[-1].partition("\n")
        text = query.split(": ", 1)[1] if ": " in query else query
        return " " + known.get((text, targets.get(tag, "")), "la la la la la la la la la la") + "\n"

    return ScriptedBackend(script, model_id="fake-llm")


def sentences(tmp_path: Path) -> Path:
    lines = [
        *HAU_EN,
        next(iter(HAU_EN)),
        "Это новости о здоровье и политике в регионе.",
        "Wannan jumla ce da ba a sani ba.",
    ]
    path = tmp_path / "hau.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def build(tmp_path: Path, name: str = "hau.set.jsonl", **filters: object) -> tuple:
    backend = fake_llm({**HAU_EN, **EN_YOR})
    job = SynthJob(
        str(sentences(tmp_path)), str(tmp_path / name), "hau", filters=FilterSettings(**filters)
    )
    return synthesize_pairs(job, LDPTranslator(backend, default_diverse_set())), backend


def test_pairs_keep_good_candidates_as_english_to_x_exemplars(tmp_path: Path) -> None:
    _, backend = build(tmp_path)
    accepted = read_set(tmp_path / "hau.set.jsonl")
    assert [r.text for r in accepted] == list(HAU_EN.values())[:3]
    first = accepted[0]
    assert (first.lang, first.target_lang, first.kind) == ("eng_Latn", "hau_Latn", "pair")
    assert first.target == next(iter(HAU_EN))
    prov = first.provenance
    assert prov["method"] == "ldp-back-translation" and prov["model"] == "fake-llm"
    assert prov["source"]["row"] == 1 and prov["source"]["file"] == "hau.txt"
    assert prov["prompt"]["mode"] == "diverse" and len(prov["prompt"]["exemplars"]) == 8
    assert prov["prompt"]["tags"] == "native" and prov["created"].endswith("Z")
    assert "ldp:fake-llm" in prov["generator"] and "ratio=" in prov["filters"]
    assert first.checks["output_lang"]["verdict"] == "on"
    assert first.checks["source_lang"]["expected"] == "hau_Latn"
    assert len(backend.batches) == 1  # one batched call for the whole file


def test_every_rejected_candidate_is_recorded_with_its_reasons(tmp_path: Path) -> None:
    build(tmp_path)
    rejected = read_jsonl(rejected_path(tmp_path / "hau.set.jsonl"))
    by_source = {r["source"]: r for r in rejected}
    copy = by_source["Kasuwar Kano tana da girma sosai kuma tana cike da mutane."]
    assert [x["filter"] for x in copy["rejected"]] == ["copy-of-source"]
    assert copy["candidate"] == {"text": copy["source"], "lang": "eng_Latn"}
    french = by_source["Ruwan sama ya sauka da yawa a daren jiya a garin Zariya."]
    assert [x["filter"] for x in french["rejected"]] == ["output-language"]
    assert "fra_Latn" in french["rejected"][0]["detail"]
    assert french["provenance"]["prompt"]["mode"] == "diverse"
    russian = by_source["Это новости о здоровье и политике в регионе."]
    assert [x["filter"] for x in russian["rejected"]] == ["source-language"]
    assert russian["candidate"] == {}  # nothing was generated for it
    loop = by_source["Wannan jumla ce da ba a sani ba."]
    assert {x["filter"] for x in loop["rejected"]} >= {"repetition"}
    duplicate = [r for r in rejected if r["rejected"][0]["filter"] == "duplicate"]
    assert duplicate[0]["index"] == 5 and "row 1" in duplicate[0]["rejected"][0]["detail"]
    summary = json.loads(summary_path(tmp_path / "hau.set.jsonl").read_text(encoding="utf-8"))
    assert summary["inputs"] == 8 and summary["accepted"] == 3 and summary["rejected"] == 5
    assert summary["rejected_by_filter"]["copy-of-source"] == 1


def test_no_row_is_lost_even_unreadable_ones(tmp_path: Path) -> None:
    path = tmp_path / "hau.jsonl"
    good = list(HAU_EN)[:2]
    lines = [
        json.dumps({"id": "a", "text": good[0]}),
        "{broken json",
        json.dumps({"id": "b"}),
        json.dumps({"id": "c", "text": good[1], "lang": "yor"}),
        json.dumps({"id": "d", "text": "   "}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    job = SynthJob(str(path), str(tmp_path / "set.jsonl"), "hau_Latn")
    result = synthesize_pairs(job, LDPTranslator(fake_llm(HAU_EN), default_diverse_set()))
    assert len(result.accepted) + len(result.rejected) == 5
    reasons = {r["id"]: r["rejected"][0] for r in result.rejected}
    assert (
        reasons["row2"]["filter"] == "unreadable-row"
        and "not valid JSON" in reasons["row2"]["detail"]
    )
    assert "field 'text' is missing" in reasons["b"]["detail"]
    assert reasons["c"]["filter"] == "row-language" and "yor_Latn" in reasons["c"]["detail"]
    assert "field 'text' is empty" in reasons["d"]["detail"]
    assert [r["id"] for r in result.accepted] == ["ldp-hau_Latn-a"]


def test_a_build_is_deterministic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")
    build(tmp_path, "one.jsonl")
    build(tmp_path, "two.jsonl")
    for suffix in ("", ".rejected"):
        one = (tmp_path / f"one{suffix}.jsonl").read_bytes()
        assert one == (tmp_path / f"two{suffix}.jsonl").read_bytes()
    assert b"2026-09-21T" in (tmp_path / "one.jsonl").read_bytes()


def test_roundtrip_uses_the_other_candidates_and_rejects_a_bad_return(tmp_path: Path) -> None:
    table = dict(HAU_EN)
    third = list(HAU_EN)[2]
    backend = fake_llm(table)
    # The model cannot bring the third English sentence back to its Hausa source.
    original = backend.script
    backend.script = lambda r: (  # type: ignore[method-assign]
        " Wani abu daban gaba daya.\n"
        if (r.prompt or "").endswith(f"English: {HAU_EN[third]}\nHausa:")
        else original(r)
    )
    job = SynthJob(
        str(sentences(tmp_path)),
        str(tmp_path / "rt.jsonl"),
        "hau",
        filters=FilterSettings(roundtrip_chrf=50),
    )
    result = synthesize_pairs(job, LDPTranslator(backend, default_diverse_set()))
    assert len(backend.batches) == 2
    back = backend.batches[1]
    assert len(back) == 3  # the three candidates that passed the first filters
    for request in back:
        english = (request.prompt or "").rsplit("\n\n", 1)[-1].split("\n")[0]
        shots = (request.prompt or "").rsplit("\n\n", 1)[0]
        assert english not in shots  # never its own exemplar
        assert shots.count("\n\n") == 1  # two exemplars: the other candidates
    assert [r["target"] for r in result.accepted] == list(HAU_EN)[:2]
    assert result.accepted[0]["checks"]["roundtrip_chrf"] == 100.0
    bad = next(r for r in result.rejected if r["source"] == third)
    assert bad["rejected"][0]["filter"] == "roundtrip-chrf"
    assert bad["checks"]["roundtrip"] == "Wani abu daban gaba daya."


def test_an_existing_set_is_not_overwritten_unless_asked(tmp_path: Path) -> None:
    build(tmp_path)
    with pytest.raises(ConfigError, match="exists; pass --overwrite"):
        build(tmp_path)
    with pytest.raises(ConfigError, match="not English"):
        SynthJob("x.txt", "y.jsonl", "eng")


def test_triples_chain_through_english_with_the_y_pairs(tmp_path: Path) -> None:
    yor_pairs = write_jsonl(
        tmp_path / "yor.jsonl",
        [
            {"id": f"y{i}", "lang": "eng_Latn", "text": e, "target": y, "target_lang": "yor_Latn"}
            for i, (e, y) in enumerate(
                [("The rain fell.", "Òjò rọ̀."), ("The market is big.", "Ọjà náà tóbi.")]
            )
        ],
    )
    pool = default_diverse_set() + read_set(yor_pairs)
    backend = fake_llm({**HAU_EN, **EN_YOR})
    job = SynthJob(
        str(sentences(tmp_path)), str(tmp_path / "hau-yor.jsonl"), "hau", target_lang="yor"
    )
    result = synthesize_triples(job, LDPTranslator(backend, pool, shots=2))
    triples = read_set(tmp_path / "hau-yor.jsonl")
    assert [t.pivot for t in triples] == list(EN_YOR)
    assert [t.target for t in triples] == list(EN_YOR.values())
    assert triples[0].kind == "triple" and triples[0].target_lang == "yor_Latn"
    assert triples[0].provenance["target"]["exemplars"] == ["y0", "y1"]
    assert len(backend.batches) == 2
    reasons = {r["source"]: [x["filter"] for x in r["rejected"]] for r in result.rejected}
    assert reasons[list(HAU_EN)[2]][0].startswith("target-")  # no Yoruba for it: gibberish
    assert reasons[list(HAU_EN)[3]] == ["english-copy-of-source"]
    assert len(result.accepted) + len(result.rejected) == 8


def _en_hau_pairs(tmp_path: Path) -> Path:
    return write_jsonl(
        tmp_path / "hau.set.jsonl",
        [
            {"id": f"p{i}", "lang": "eng_Latn", "text": e, "target": h, "target_lang": "hau_Latn"}
            for i, (h, e) in enumerate(list(HAU_EN.items())[:3])
        ],
    )


def test_task_exemplars_keep_labels_and_carry_provenance(tmp_path: Path) -> None:
    english = write_jsonl(
        tmp_path / "topics.en.jsonl",
        [
            {
                "id": "t1",
                "text": "The children are playing in the school field after class.",
                "label": "sports",
            },
            {
                "id": "t2",
                "text": "The government announced a new health plan in Kano state on Tuesday.",
                "label": "health",
            },
            {
                "id": "t3",
                "text": "An unknown sentence that this model cannot translate at all.",
                "label": "travel",
            },
            {"id": "t4", "label": "travel"},
        ],
    )
    pool = read_set(_en_hau_pairs(tmp_path))
    backend = fake_llm(HAU_EN)
    job = TaskJob(str(english), str(tmp_path / "topics.hau.jsonl"), "hau", target_field="label")
    result = synthesize_task_exemplars(job, LDPTranslator(backend, pool, shots=2))
    rows = read_jsonl(tmp_path / "topics.hau.jsonl")
    assert [(r["id"], r["label"]) for r in rows] == [
        ("t1-hau_Latn", "sports"),
        ("t2-hau_Latn", "health"),
    ]
    assert rows[0]["text"] == "Yara suna wasa a filin makaranta bayan an tashi daga aji."
    assert rows[0]["kind"] == "task" and rows[0]["lang"] == "hau_Latn"
    assert rows[0]["provenance"]["source"]["fields"]["text"].startswith("The children")
    assert rows[0]["provenance"]["prompt"]["text"]["mode"] == "in-language"
    reasons = {r["id"]: [x["filter"] for x in r["rejected"]] for r in result.rejected}
    assert "text:repetition" in reasons["t3"]
    assert reasons["t4"] == ["unreadable-row"]
    assert len(backend.batches) == 1


def test_task_exemplars_can_translate_the_answer_too(tmp_path: Path) -> None:
    qa = write_jsonl(
        tmp_path / "qa.en.jsonl",
        [
            {
                "id": "q1",
                "question": "The children are playing in the school field after class.",
                "answer": "The farmers have started planting millet because the rainy season has begun.",
            }
        ],
    )
    job = TaskJob(
        str(qa),
        str(tmp_path / "qa.hau.jsonl"),
        "hau",
        fields=("question",),
        target_field="answer",
        translate_target=True,
    )
    result = synthesize_task_exemplars(
        job, LDPTranslator(fake_llm(HAU_EN), read_set(_en_hau_pairs(tmp_path)), shots=2)
    )
    row = result.accepted[0]
    assert row["answer"] == "Manoma sun fara shuka gero saboda damina ta fara."
    assert set(row["checks"]) == {"question", "answer"}
    with pytest.raises(ConfigError, match="needs --target-field"):
        TaskJob("x", "y", "hau", translate_target=True)


def test_report_english_to_x_uses_synthetic_and_reversed_parallel_pairs(tmp_path: Path) -> None:
    from xprompt.ldp.report import CompareJob, compare

    test = write_jsonl(
        tmp_path / "test.jsonl",
        [
            {
                "id": "a",
                "text": "The children are playing in the school field after class.",
                "reference": "Yara suna wasa a filin makaranta bayan an tashi daga aji.",
            },
            {
                "id": "b",
                "text": "Something the model does not know at all, sadly.",
                "reference": "Wani abu.",
            },
        ],
    )
    parallel = write_jsonl(
        tmp_path / "parallel.jsonl",
        [
            {"id": f"h{i}", "lang": "hau_Latn", "text": h, "target": e, "target_lang": "eng_Latn"}
            for i, (h, e) in enumerate(list(HAU_EN.items())[:3])
        ],
    )
    job = CompareJob(
        str(test),
        str(tmp_path / "report"),
        tgt="hau",
        src="eng",
        pairs=(str(_en_hau_pairs(tmp_path)),),
        parallel=str(parallel),
        shots=2,
    )
    backend = fake_llm(HAU_EN)
    results = compare(job, backend)
    assert list(results) == ["zero-shot", "ldp", "supervised"]
    ldp = read_jsonl(tmp_path / "report" / "ldp.jsonl")
    supervised = read_jsonl(tmp_path / "report" / "supervised.jsonl")
    assert ldp[0]["mode"] == "in-language" and ldp[0]["exemplar_ids"] == [
        "p0",
        "p2",
    ]  # p1 is the query
    assert all(i.endswith("~r") for i in supervised[0]["exemplar_ids"])
    assert ldp[0]["translation"] == "Yara suna wasa a filin makaranta bayan an tashi daga aji."
    assert results["ldp"].report.rows == 2 and results["ldp"].report.metrics
    chrf = {m.name: m.score for m in results["ldp"].report.metrics}["chrF++"]
    assert 0 < chrf <= 100
    assert len(backend.batches) == 3  # one batched call per condition
    with pytest.raises(ConfigError, match="exists; pass --overwrite"):
        compare(job, backend)
