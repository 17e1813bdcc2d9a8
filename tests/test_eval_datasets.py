"""Dataset loaders of the evaluation suites: the public layouts (fixtures), Hugging Face copies, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import REPO

from xprompt.errors import ConfigError, DataError
from xprompt.evals import datasets
from xprompt.evals.datasets import SplitSpec, load_hf, load_local, write_split

FIXTURES = REPO / "tests" / "fixtures" / "evals"


def test_sib200_rows_come_from_the_public_tsv_layout() -> None:
    loaded = load_local("sib200", FIXTURES / "sib200", "hau_Latn", SplitSpec("test"))
    assert loaded.problems == []
    assert [r["id"] for r in loaded.rows] == ["201", "202", "203", "204"]
    first = loaded.rows[0]
    assert first["lang"] == "hau_Latn" and first["label"] == "science/technology"
    assert first["text"].startswith("Injiniyoyi") and first["source"] == "test.tsv line 2"
    assert {r["label"] for r in loaded.rows} <= set(datasets.SIB200_LABELS)


def test_language_files_are_matched_by_any_code_xprompt_resolves() -> None:
    # MGSM names files by ISO 639-1 (sw, fr, bn); MasakhaNER by ISO 639-3 (hau, yor).
    assert set(datasets.local_languages("mgsm", FIXTURES / "mgsm")) == {
        "swh_Latn",
        "fra_Latn",
        "ben_Beng",
    }
    assert set(datasets.local_languages("masakhaner", FIXTURES / "masakhaner")) == {
        "hau_Latn",
        "yor_Latn",
    }
    mgsm = load_local("mgsm", FIXTURES / "mgsm", "swh_Latn", SplitSpec("test"))
    assert [r["answer"] for r in mgsm.rows] == ["8", "48", "10", "42", "4"]
    assert mgsm.rows[1]["id"] == "mgsm_sw-2" and mgsm.rows[1]["question"].startswith("Kitabu")


def test_split_slices_take_the_named_rows() -> None:
    spec = SplitSpec.parse("test[1:3]")
    assert (spec.name, spec.start, spec.stop, str(spec)) == ("test", 1, 3, "test[1:3]")
    loaded = load_local("mgsm", FIXTURES / "mgsm", "fra_Latn", spec)
    assert [r["answer"] for r in loaded.rows] == ["48", "10"]
    assert str(SplitSpec.parse("dev[:2]")) == "dev[:2]"
    with pytest.raises(ConfigError, match="split name"):
        SplitSpec.parse("test[a:b]")


def test_flores_rows_pair_each_sentence_with_its_english_line() -> None:
    loaded = load_local("flores200", FIXTURES / "flores200", "yor_Latn", SplitSpec("devtest"))
    assert loaded.problems == []
    assert len(loaded.rows) == 4
    row = loaded.rows[2]
    assert row["id"] == "devtest-3" and row["target_lang"] == "eng_Latn"
    assert row["target"] == "The teacher gave the students a test."
    assert row["text"].startswith("Olùkọ́")


def test_masakhaner_sentences_are_written_as_conll_that_the_projection_reader_reads(
    tmp_path: Path,
) -> None:
    from xprompt.projection.spans import SpanSentence, read_span_file

    loaded = load_local("masakhaner", FIXTURES / "masakhaner", "hau_Latn", SplitSpec("test"))
    assert len(loaded) == 3 and loaded.problems == []
    path = write_split(loaded, tmp_path / "hau.conll")
    sentences = read_span_file(path)
    assert all(isinstance(s, SpanSentence) for s in sentences)
    first = sentences[0]
    assert first.id == "test-1" and first.lang == "hau_Latn"
    assert [(first.text[s.start : s.end], s.label) for s in first.spans] == [
        ("Aminu", "PER"),
        ("Kano", "LOC"),
        ("ranar Litinin", "DATE"),
    ]


def test_writing_an_unchanged_split_keeps_the_file(tmp_path: Path) -> None:
    loaded = load_local("sib200", FIXTURES / "sib200", "yor_Latn", SplitSpec("dev"))
    path = write_split(loaded, tmp_path / "yor.jsonl")
    before = path.stat().st_mtime_ns
    write_split(loaded, path)
    assert path.stat().st_mtime_ns == before
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert list(rows[0])[:2] == ["id", "lang"] and len(rows) == 4


# -- bad input: every row kept, each problem named with file and line ---------------------------


def test_bad_sib200_rows_are_kept_and_named(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "annotated" / "hau_Latn"
    folder.mkdir(parents=True)
    (folder / "test.tsv").write_text(
        "index_id\tcategory\ttext\n"
        "1\tsports\tWasan ya yi kyau.\n"
        "2\tweather\tAna ruwan sama.\n"
        "3\thealth\n"
        '4\ttravel\tYa ce "mu tafi" yau.\n',
        encoding="utf-8",
    )
    loaded = load_local("sib200", tmp_path, "hau_Latn", SplitSpec("test"))
    assert [r["id"] for r in loaded.rows] == ["1", "2", "3", "4"]
    assert loaded.problems == [
        "test.tsv line 3: category 'weather' is not one of SIB-200's labels "
        "(science/technology, travel, politics, sports, health, entertainment, geography)",
        "test.tsv line 4: 2 columns, the header has 3 (index_id, category, text)",
    ]
    assert (
        "text" not in loaded.rows[2]
    )  # the runner records this row with "field 'text' is missing"
    assert loaded.rows[3]["text"] == 'Ya ce "mu tafi" yau.'  # quotes are text, not CSV quoting


def test_bad_mgsm_and_flores_lines_are_named(tmp_path: Path) -> None:
    (tmp_path / "mgsm_sw.tsv").write_text(
        "Swali la kwanza?\t7\nSwali bila jibu\nSwali la tatu?\tsaba\n", encoding="utf-8"
    )
    mgsm = load_local("mgsm", tmp_path, "swh_Latn", SplitSpec("test"))
    assert len(mgsm.rows) == 3 and "answer" not in mgsm.rows[1]
    assert mgsm.problems == [
        "mgsm_sw.tsv line 2: 1 tab-separated columns; MGSM lines are question<TAB>answer",
        "mgsm_sw.tsv line 3: answer 'saba' is not a number",
    ]
    flores = tmp_path / "flores"
    (flores / "dev").mkdir(parents=True)
    (flores / "dev" / "hau_Latn.dev").write_text("Na farko.\n\nNa uku.\n", encoding="utf-8")
    (flores / "dev" / "eng_Latn.dev").write_text("The first.\nThe second.\n", encoding="utf-8")
    loaded = load_local("flores200", flores, "hau_Latn", SplitSpec("dev"))
    assert len(loaded.rows) == 3
    assert loaded.problems == [
        "hau_Latn.dev has 3 lines, eng_Latn.dev has 2: FLORES files must be aligned line by line",
        "hau_Latn.dev line 2: empty line",
    ]
    assert "text" not in loaded.rows[1] and "target" not in loaded.rows[2]


def test_missing_data_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="data directory not found"):
        load_local("sib200", tmp_path / "nowhere", "hau_Latn", SplitSpec("test"))
    with pytest.raises(
        DataError, match=r"no data for ibo_Latn .*languages found: hau_Latn, swh_Latn, yor_Latn"
    ):
        load_local("sib200", FIXTURES / "sib200", "ibo_Latn", SplitSpec("test"))
    with pytest.raises(ConfigError, match="one split, 'test'"):
        load_local("mgsm", FIXTURES / "mgsm", "swh_Latn", SplitSpec("dev"))


# -- Hugging Face copies (datasets, saved locally: nothing is downloaded) -------------------------


def test_hf_copies_read_like_the_local_files(tmp_path: Path) -> None:
    datasets_lib = pytest.importorskip("datasets")
    local = load_local("sib200", FIXTURES / "sib200", "hau_Latn", SplitSpec("test"))
    rows = [
        {"index_id": int(r["id"]), "category": r["label"], "text": r["text"]} for r in local.rows
    ]
    datasets_lib.DatasetDict({"test": datasets_lib.Dataset.from_list(rows)}).save_to_disk(
        str(tmp_path / "sib-hau_Latn")
    )
    from_hf = load_hf("sib200", str(tmp_path / "sib-{config}"), "hau_Latn", SplitSpec("test"))
    assert from_hf.problems == []
    assert [(r["id"], r["label"], r["text"]) for r in from_hf.rows] == [
        (r["id"], r["label"], r["text"]) for r in local.rows
    ]

    tags = list(datasets.MASAKHANER_TAGS)
    ner = load_local("masakhaner", FIXTURES / "masakhaner", "yor_Latn", SplitSpec("test"))
    ner_rows = [
        {
            "id": str(n),
            "tokens": [line.split()[0] for line in lines],
            "ner_tags": [tags.index(line.split()[1]) for line in lines],
        }
        for n, (_, lines) in enumerate(ner.sentences)
    ]
    datasets_lib.DatasetDict({"test": datasets_lib.Dataset.from_list(ner_rows)}).save_to_disk(
        str(tmp_path / "ner-yor")
    )
    from_hf_ner = load_hf(
        "masakhaner", str(tmp_path / "ner-{config}"), "yor_Latn", SplitSpec("test")
    )
    assert [lines for _, lines in from_hf_ner.sentences] == [lines for _, lines in ner.sentences]
    assert datasets.hf_config("mgsm", "swh_Latn") == "sw"
    assert datasets.hf_config("flores200", "hau_Latn") == "hau_Latn-eng_Latn"
