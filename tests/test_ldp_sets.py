"""Exemplar sets as data: the JSONL format, its errors, the shipped diverse set, pool loading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import write_jsonl

from xprompt import data, exemplars, langid
from xprompt.errors import DataError
from xprompt.ldp.exemplar_set import (
    DEFAULT_DIVERSE_LANGS,
    SetRecord,
    created_timestamp,
    default_diverse_set,
    is_exemplar_set,
    read_set,
    read_sets,
    records_digest,
    rejected_path,
)
from xprompt.ldp.exemplar_set import write_jsonl as write_set
from xprompt.mt.self_translate import read_translation_pairs
from xprompt.templates import load_template

PAIR = {
    "id": "p1",
    "kind": "pair",
    "lang": "eng_Latn",
    "text": "The children play.",
    "target": "Yara suna wasa.",
    "target_lang": "hau_Latn",
    "provenance": {
        "method": "ldp-back-translation",
        "model": "m@1",
        "created": "2026-01-01T00:00:00Z",
    },
    "checks": {"length_ratio": 1.1},
}


def test_records_round_trip_byte_for_byte(tmp_path: Path) -> None:
    triple = SetRecord(
        "t1",
        "hau_Latn",
        "Ruwa.",
        "Omi.",
        "yor_Latn",
        kind="triple",
        pivot="Water.",
        pivot_lang="eng_Latn",
        provenance={"method": "ldp-chain"},
    )
    path = tmp_path / "set.jsonl"
    rows = [SetRecord(**{k: v for k, v in PAIR.items() if k != "kind"}).to_dict(), triple.to_dict()]
    write_set(path, rows)
    first = path.read_bytes()
    records = read_set(path)
    assert records[0].provenance["model"] == "m@1" and records[0].checks["length_ratio"] == 1.1
    assert records[1].pivot == "Water." and records[1].kind == "triple"
    write_set(path, [r.to_dict() for r in records])
    assert path.read_bytes() == first


def test_plain_parallel_data_reads_without_provenance(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "par.jsonl", [{"lang": "hau", "text": "Sannu.", "target": "Hello."}]
    )
    record = read_set(path)[0]
    assert (record.lang, record.target_lang, record.id) == ("hau_Latn", "eng_Latn", "pair1")
    assert record.reversed().lang == "eng_Latn" and record.reversed().target == "Sannu."


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({**PAIR, "text": ""}, r"row 2 \(line 2\): field 'text' is empty"),
        (
            {k: v for k, v in PAIR.items() if k != "target"},
            r"field 'target' is missing \(fields present: checks, id",
        ),
        ({**PAIR, "target_lang": "klingon-ish"}, r"field 'target_lang': "),
        ({**PAIR, "kind": "task"}, r"field 'kind' is 'task'"),
        ({**PAIR, "id": "p0"}, r"duplicate id 'p0'"),
        ({**PAIR, "kind": "triple"}, r"field 'pivot' is missing"),
        ({**PAIR, "provenance": "made by hand"}, r"field 'provenance' must be an object"),
    ],
)
def test_a_bad_row_names_the_row_and_the_field(tmp_path: Path, row: dict, message: str) -> None:
    path = write_jsonl(tmp_path / "set.jsonl", [{**PAIR, "id": "p0"}, row])
    with pytest.raises(DataError, match=message):
        read_set(path)


def test_malformed_json_and_empty_files_are_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps(PAIR) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"row 2 \(line 2\): not valid JSON"):
        read_set(path)
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(DataError, match="has no rows"):
        read_set(tmp_path / "empty.jsonl")


def test_a_rejected_candidates_file_is_not_a_pool(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "hau.rejected.jsonl",
        [
            {
                "index": 0,
                "id": "r1",
                "source": "x",
                "rejected": [{"filter": "length-ratio", "detail": "…"}],
            }
        ],
    )
    with pytest.raises(DataError, match=r"rejected candidate \(length-ratio\)"):
        read_set(path)
    template = load_template("ldp-translate")
    with pytest.raises(DataError, match="rejected candidate"):
        exemplars.read_exemplar_pool(str(path), template.fields, data.FieldMap())
    assert rejected_path(tmp_path / "hau.jsonl") == tmp_path / "hau.rejected.jsonl"


def test_ids_must_be_unique_across_files(tmp_path: Path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", [PAIR])
    b = write_jsonl(tmp_path / "b.jsonl", [PAIR])
    with pytest.raises(DataError, match=r"'p1' is in both a\.jsonl and b\.jsonl"):
        read_sets([a, b])


def test_the_exemplar_pool_loader_accepts_a_set(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "set.jsonl", [PAIR])
    assert is_exemplar_set(str(path))
    template = load_template("ldp-translate")
    pool = exemplars.read_exemplar_pool(
        str(path), template.fields, data.FieldMap(target="reference")
    )
    example = pool[0]
    assert example.target == "Yara suna wasa." and example.lang == "eng_Latn"
    assert example.fields["source_tag"] == "English:" and example.fields["target_tag"] == "Hausa:"
    assert example.fields["target_lang"] == "hau_Latn"
    with pytest.raises(DataError, match=r"needs field\(s\) \['prompt'\].*ldp-translate"):
        exemplars.read_exemplar_pool(str(path), load_template("chat").fields, data.FieldMap())


def test_the_self_translate_reader_reads_a_set_too(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "set.jsonl", [PAIR])
    pair = read_translation_pairs(str(path))[0]
    assert (pair.lang, pair.text, pair.target, pair.target_lang) == (
        "eng_Latn",
        "The children play.",
        "Yara suna wasa.",
        "hau_Latn",
    )


def test_task_pools_still_load_as_ordinary_pools(tmp_path: Path) -> None:
    row = {
        "id": "t1-hau",
        "kind": "task",
        "lang": "hau_Latn",
        "text": "Wasan kwallo.",
        "label": "sports",
        "provenance": {"method": "ldp-task-translation"},
        "checks": {},
    }
    path = write_jsonl(tmp_path / "pool.jsonl", [row])
    assert not is_exemplar_set(str(path))
    pool = exemplars.read_exemplar_pool(str(path), ["text"], data.FieldMap(target="label"))
    assert pool[0].target == "sports" and pool[0].lang == "hau_Latn"


def test_the_shipped_diverse_set_covers_four_scripts_and_passes_its_own_checks() -> None:
    records = default_diverse_set()
    by_lang: dict[str, int] = {}
    for r in records:
        by_lang[r.lang] = by_lang.get(r.lang, 0) + 1
        assert r.target_lang == "eng_Latn" and r.provenance["method"] == "hand-written"
        assert len(r.text) < 100
        # Short Chinese sentences have too few letters for the statistical layer: uncertain, never off.
        assert langid.check(r.text, r.lang).verdict in ("on", "uncertain"), (r.id, r.text)
        assert langid.check(r.target, "eng_Latn").verdict == "on", (r.id, r.target)
    assert by_lang == {lang: 6 for lang in DEFAULT_DIVERSE_LANGS}
    assert len({r.text for r in records}) == len(records)


def test_digest_depends_on_content_not_provenance() -> None:
    records = default_diverse_set()
    changed = [
        SetRecord(r.id, r.lang, r.text, r.target, r.target_lang, provenance={"x": 1})
        for r in records
    ]
    assert records_digest(changed) == records_digest(records)
    assert records_digest(records[1:]) != records_digest(records)


def test_source_date_epoch_pins_the_timestamp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert created_timestamp() == "2023-11-14T22:13:20Z"
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert created_timestamp().endswith("Z")
