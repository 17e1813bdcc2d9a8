"""Reading datasets: every row becomes an Example or a RowError that names row, field and problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import write_jsonl

from xprompt.data import (
    FieldMap,
    RecordWriter,
    RowError,
    read_examples,
    read_records,
)
from xprompt.errors import DataError
from xprompt.exemplars import read_exemplar_pool
from xprompt.types import Example

MAP = FieldMap(target="label")


def read(
    path: Path, mapping: FieldMap = MAP, fields: tuple[str, ...] = ("text",)
) -> list[Example | RowError]:
    return list(read_examples(str(path), fields, mapping))


def errors(items: list[Example | RowError]) -> dict[int, str]:
    return {i.index: i.error for i in items if isinstance(i, RowError)}


def test_jsonl_rows_become_examples_with_canonical_languages(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"id": "a", "lang": "ha", "text": "Sannu", "label": "travel"},
            {"id": "b", "lang": "Swahili", "text": "Habari", "label": "health"},
            {"id": 7, "lang": "yor_Latn", "text": 42, "label": "sports"},
        ],
    )
    items = read(path)
    assert all(isinstance(i, Example) for i in items)
    assert [(i.id, i.lang, i.fields["text"], i.target, i.index) for i in items] == [
        ("a", "hau_Latn", "Sannu", "travel", 0),
        ("b", "swh_Latn", "Habari", "health", 1),
        ("7", "yor_Latn", "42", "sports", 2),
    ]


def test_every_bad_row_is_kept_with_a_precise_error(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    lines = [
        b'{"id": "ok", "lang": "hau", "text": "Sannu", "label": "travel"}',
        b'{"id": "nolang", "text": "x", "label": "travel"}',
        b'{"id": "badlang", "lang": "husa", "text": "x", "label": "travel"}',
        b'{"id": "notext", "lang": "en", "sentence": "x", "label": "travel"}',
        b'{"id": "empty", "lang": "en", "text": "  \\n ", "label": "travel"}',
        b'{"id": "nolabel", "lang": "en", "text": "x"}',
        b"{not json",
        b'["a", "list"]',
        b'{"id": "utf8", "lang": "en", "text": "caf\xe9", "label": "travel"}',
        b'{"id": "ok", "lang": "en", "text": "again", "label": "travel"}',
        b'{"id": "listtext", "lang": "en", "text": ["a"], "label": "travel"}',
        b"",
        b'{"id": "huge", "lang": "en", "text": "' + b"a" * 200 + b'", "label": "travel"}',
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    items = read(path, FieldMap(target="label", max_chars=100))
    assert len(items) == 12, "blank lines are not rows; every other line is"
    errs = errors(items)
    assert 0 not in errs
    assert "row 2 (line 2) of d.jsonl: field 'lang' (language) is missing" in errs[1]
    assert "did you mean hau_Latn (Hausa)" in errs[2]
    assert "field 'text' is missing (fields present: id, label, lang, sentence)" in errs[3]
    assert errs[4].endswith("field 'text' is empty")
    assert "target field 'label' is missing" in errs[5]
    assert "row 7 (line 7) of d.jsonl: not valid JSON" in errs[6]
    assert "must be an object, got list" in errs[7]
    assert "invalid UTF-8 at byte" in errs[8]
    assert "duplicate id 'ok' (first seen at row 1)" in errs[9]
    assert "field 'text' must be text, got list" in errs[10]
    assert "row 12 (line 13)" in errs[11] and "over the limit of 100" in errs[11]
    # The row keeps what could be read, so the record still names its language and target.
    bad_lang = next(i for i in items if isinstance(i, RowError) and i.id == "notext")
    assert (bad_lang.lang, bad_lang.target) == ("eng_Latn", "travel")


def test_default_language_and_field_mapping(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "d.jsonl", [{"uid": "x1", "sentence": "Bonjour", "topic": "travel"}]
    )
    mapping = FieldMap(fields={"text": "sentence"}, id="uid", target="topic", default_lang="fr")
    (item,) = read(path, mapping)
    assert isinstance(item, Example)
    assert (item.id, item.lang, item.fields["text"], item.target) == (
        "x1",
        "fra_Latn",
        "Bonjour",
        "travel",
    )


def test_csv_and_tsv_with_bad_rows(tmp_path: Path) -> None:
    csv_path = tmp_path / "d.csv"
    csv_path.write_bytes(
        "\ufeffid,lang,text,label\n"
        'a,hau,"Sannu, ""aboki""",travel\n'
        "b,hau,extra,travel,column\n".encode()
        + b"c,hau,caf\xe9,travel\n"
        + b'd,yor,"two\nlines",sports\n'
    )
    items = read(csv_path)
    assert isinstance(items[0], Example) and items[0].fields["text"] == 'Sannu, "aboki"'
    errs = errors(items)
    assert "has 5 columns, the header has 4" in errs[1]
    assert "invalid UTF-8 in column 'text'" in errs[2]
    assert isinstance(items[3], Example) and items[3].fields["text"] == "two\nlines"
    tsv_path = tmp_path / "d.tsv"
    tsv_path.write_text("id\tlang\ttext\tlabel\nx\tsw\tHabari za leo\thealth\n", encoding="utf-8")
    (row,) = read(tsv_path)
    assert isinstance(row, Example) and row.lang == "swh_Latn"


def test_plain_text_lines(tmp_path: Path) -> None:
    path = tmp_path / "d.txt"
    path.write_text("Sannu da zuwa\n\nYaya kake\n", encoding="utf-8")
    items = read(path, FieldMap(default_lang="hau"))
    assert [(i.id, i.fields["text"]) for i in items] == [
        ("row1", "Sannu da zuwa"),
        ("row2", "Yaya kake"),
    ]


def test_unreadable_inputs_raise_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        read(tmp_path / "missing.jsonl")
    with pytest.raises(DataError, match="cannot tell the format"):
        read(tmp_path / "data.parquet")
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="no header"):
        read(tmp_path / "empty.csv")


def test_exemplar_pool_rejects_bad_rows(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "pool.jsonl", [{"id": "p", "lang": "en", "label": "travel"}])
    with pytest.raises(DataError, match=r"exemplar pool row 1 .* field 'text' is missing"):
        read_exemplar_pool(str(path), ("text",), MAP)


def test_record_writer_and_partial_last_line_repair(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with RecordWriter(out) as writer:
        writer.write_many([{"index": 0, "text": "ሰላም"}, {"index": 1}])
    with out.open("ab") as handle:
        handle.write(b'{"index": 2, "trunc')  # a kill in the middle of a write
    assert [r["index"] for r in read_records(out)] == [0, 1]
    assert out.read_bytes().endswith(b"trunc"), "reading without repair leaves the file alone"
    assert [r["index"] for r in read_records(out, repair=True)] == [0, 1]
    assert out.read_bytes().endswith(b"}\n")
    out.write_text('{"index": 0}\n{broken}\n{"index": 2}\n', encoding="utf-8")
    with pytest.raises(DataError, match="line 2 is not a valid result record"):
        read_records(out)


def test_hugging_face_datasets_from_local_files(tmp_path: Path, monkeypatch) -> None:
    """hf:NAME:SPLIT reads through `datasets` (here from local files: no hub is reachable)."""
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    folder = tmp_path / "topics"
    folder.mkdir()
    write_jsonl(
        folder / "test.jsonl",
        [
            {"id": "a", "lang": "hau", "text": "Sannu", "label": "travel"},
            {"id": "b", "lang": "xx", "text": "?", "label": "travel"},
        ],
    )
    items = read(Path(f"hf:{folder}:test"))
    assert isinstance(items[0], Example) and items[0].lang == "hau_Latn"
    assert isinstance(items[1], RowError) and "unknown language 'xx'" in items[1].error
    saved = tmp_path / "saved"
    datasets.DatasetDict(
        {
            "dev": datasets.Dataset.from_list(
                [{"id": "c", "lang": "sw", "text": "Habari", "label": "health"}]
            )
        }
    ).save_to_disk(str(saved))
    (item,) = read(Path(f"hf:{saved}:dev"))
    assert isinstance(item, Example) and item.lang == "swh_Latn"
    with pytest.raises(DataError, match="no split 'train'"):
        read(Path(f"hf:{saved}:train"))
    with pytest.raises(DataError, match="use hf:NAME:SPLIT"):
        read(Path("hf:onlyname"))
