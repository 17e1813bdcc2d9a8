"""Span data: CoNLL (BIO) and JSONL reading with per-sentence errors, BIO both ways, markers, P/R/F1."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import EXAMPLES, write_jsonl

from xprompt.errors import DataError
from xprompt.projection.metrics import span_report
from xprompt.projection.records import insert_markers
from xprompt.projection.spans import (
    SentenceError,
    Span,
    SpanSentence,
    bio_from_spans,
    read_span_file,
    spans_from_bio,
    validate_spans,
    write_conll,
)

NER = EXAMPLES / "ner"


def texts_of(sentence: SpanSentence) -> list[tuple[str, str]]:
    return [(s.label, sentence.text[s.start : s.end]) for s in sentence.spans]


def test_masakhaner_style_fixtures_read_with_offsets_and_types() -> None:
    hau = read_span_file(NER / "hau.test.conll", lang="ha")
    assert all(isinstance(s, SpanSentence) for s in hau) and len(hau) == 5
    first = hau[0]
    assert first.id == "hau-001" and first.lang == "hau_Latn" and first.line == 2
    assert first.text == "Shugaba Muhammadu Buhari ya ziyarci Kano ranar Talata ."
    assert texts_of(first) == [
        ("PER", "Muhammadu Buhari"),
        ("LOC", "Kano"),
        ("DATE", "ranar Talata"),
    ]
    yor = read_span_file(NER / "yor.test.conll", lang="yo")
    assert texts_of(yor[2]) == [
        ("PER", "Wọ́le Ṣóyínká"),
        ("ORG", "Yunifásítì Ìbàdàn"),
        ("DATE", "lánàá"),
    ]
    eng = read_span_file(NER / "eng.train.conll", lang="en")
    labels = {s.label for item in eng for s in item.spans}  # type: ignore[union-attr]
    assert labels == {"PER", "ORG", "LOC", "DATE"}
    assert eng[-1].spans == ()  # type: ignore[union-attr]


def test_bad_conll_sentences_become_errors_naming_sentence_line_and_token(tmp_path: Path) -> None:
    path = tmp_path / "bad.conll"
    path.write_text(
        "-DOCSTART- O\n\n"
        "Kano B-LOC\nna O\n\n"  # 1: fine
        "jiya O\nKano I-LOC\n\n"  # 2: I- after O
        "Abuja B-LOC\nkawai\n\n"  # 3: one column
        "# lang = xx-nowhere\nAbuja B-LOC\n\n"  # 4: bad language
        "Legas B-LOC\nda X-LOC\n\n"  # 5: tag not BIO
        "# id = s1\nKano B-LOC\n",  # 6: duplicate id of sentence 1
        encoding="utf-8",
    )
    items = read_span_file(path, lang="hau")
    assert len(items) == 6, "every sentence is accounted for"
    assert isinstance(items[0], SpanSentence)
    errors = {i: item.error for i, item in enumerate(items) if isinstance(item, SentenceError)}
    assert "sentence 2 (line 6) of bad.conll: token 2 'Kano': tag 'I-LOC' follows 'O'" in errors[1]
    assert "(a LOC span starts with B-LOC)" in errors[1]
    assert "sentence 3 (line 9) of bad.conll: line 10 has one column 'kawai'" in errors[2]
    assert "sentence 4" in errors[3] and "'# lang = xx-nowhere'" in errors[3]
    assert "token 2 'da': tag 'X-LOC' is not O, B-TYPE or I-TYPE" in errors[4]
    assert "duplicate id 's1' (first seen at sentence 1)" in errors[5]
    assert items[1].text == "jiya Kano"  # the text is kept for the output record


def test_jsonl_spans_are_validated_with_the_row_and_span_named(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "spans.jsonl",
        [
            {
                "id": "a",
                "lang": "yo",
                "text": "Bola lọ sí Èkó",
                "spans": [
                    {"start": 0, "end": 4, "label": "PER", "text": "Bola"},
                    {"start": 11, "end": 14, "label": "LOC"},
                ],
            },
            {
                "id": "b",
                "lang": "yo",
                "text": "Bola lọ",
                "spans": [{"start": 5, "end": 2, "label": "PER"}],
            },
            {
                "id": "c",
                "lang": "yo",
                "text": "Bola lọ",
                "spans": [{"start": 0, "end": 40, "label": "PER"}],
            },
            {
                "id": "d",
                "lang": "yo",
                "text": "Bola Tinubu",
                "spans": [
                    {"start": 0, "end": 11, "label": "PER"},
                    {"start": 5, "end": 11, "label": "PER"},
                ],
            },
            {
                "id": "e",
                "lang": "yo",
                "text": "Bola Tinubu",
                "spans": [
                    {"start": 0, "end": 11, "label": "PER"},
                    {"start": 5, "end": 11, "label": "ORG"},
                ],
            },
            {
                "id": "f",
                "lang": "yo",
                "text": "Bola lọ",
                "spans": [{"start": 0, "end": 5, "label": "PER"}],
            },
            {
                "id": "g",
                "lang": "yo",
                "text": "Bola lọ",
                "spans": [{"start": 0, "end": 4, "label": "PER", "text": "Bol"}],
            },
            {"id": "h", "lang": "yo", "sentence": "Bola"},
            {"id": "i", "text": "Bola"},
            {
                "id": "j",
                "lang": "yo",
                "text": "Bola",
                "spans": [{"start": "0", "end": 4, "label": "PER"}],
            },
        ],
    )
    items = read_span_file(path)
    assert [type(i).__name__ for i in items] == ["SpanSentence"] + ["SentenceError"] * 3 + [
        "SpanSentence"
    ] + ["SentenceError"] * 5
    assert texts_of(items[0]) == [("PER", "Bola"), ("LOC", "Èkó")]  # type: ignore[arg-type]
    err = {i.id: i.error for i in items if isinstance(i, SentenceError)}
    assert (
        err["b"]
        == "row 2 (line 2) of spans.jsonl: span 1 (PER 5-2): end must be greater than start"
    )
    assert "span 1 (PER 0-40): outside the text (0-7)" in err["c"]
    assert "span 1 and span 2 overlap and are both PER (0-11, 5-11)" in err["d"]
    assert "'Bola ' starts or ends with whitespace" in err["f"]
    assert "text 'Bol' does not match the sentence at those offsets ('Bola')" in err["g"]
    assert "field 'text' is missing (fields present: id, lang, sentence)" in err["h"]
    assert "field 'lang' is missing" in err["i"]
    assert "start and end must be integers" in err["j"]
    with pytest.raises(DataError, match="sentence 'x': span 1"):
        validate_spans("Bola", [Span(0, 9, "PER")], "sentence 'x'")


def test_bio_both_ways_and_conll_round_trip(tmp_path: Path) -> None:
    text, spans = spans_from_bio(
        ["Rais", "Samia", "Suluhu", "alitembelea", "Dodoma"], ["O", "B-PER", "I-PER", "O", "B-LOC"]
    )
    assert text == "Rais Samia Suluhu alitembelea Dodoma"
    assert spans == (Span(5, 17, "PER"), Span(30, 36, "LOC"))
    # Span edges inside a whitespace token split it (projections land between subwords).
    tokens, tags = bio_from_spans("kwa Kenya,leo", [Span(4, 9, "LOC")])
    assert tokens == ["kwa", "Kenya", ",leo"] and tags == ["O", "B-LOC", "O"]
    with pytest.raises(ValueError, match="overlap"):
        bio_from_spans("Bola Tinubu", [Span(0, 11, "PER"), Span(5, 11, "ORG")])
    path = tmp_path / "out.conll"
    rows = [("x-hau", "hau_Latn", text, spans), ("y-hau", "hau_Latn", "babu komai", ())]
    assert write_conll(path, rows) == 2
    back = read_span_file(path)
    assert [(s.id, s.lang, s.text, s.spans) for s in back] == [  # type: ignore[union-attr]
        (i, lang, t, tuple(sp)) for i, lang, t, sp in rows
    ]


def test_insert_markers_keeps_the_text_and_nests() -> None:
    text = "Bola Tinubu lọ sí Èkó"
    marked = insert_markers(text, [Span(0, 11, "PER"), Span(18, 21, "LOC")], "[", "]")
    assert marked == "[Bola Tinubu] lọ sí [Èkó]"
    assert marked.replace("[", "").replace("]", "") == text
    nested = insert_markers(text, [Span(5, 11, "ORG"), Span(0, 11, "PER")], "[", "]")
    assert nested == "[Bola [Tinubu]] lọ sí Èkó"


def test_span_f1_exact_offsets_and_type_micro_averaged() -> None:
    gold_a = [Span(0, 4, "PER"), Span(10, 14, "LOC")]
    pred_a = [Span(0, 4, "PER"), Span(10, 13, "LOC"), Span(20, 25, "ORG")]  # 1 right, 2 wrong
    gold_b = [Span(0, 3, "LOC")]
    pred_b = [Span(0, 3, "ORG")]  # right offsets, wrong type
    report = span_report(
        [("hau_Latn", gold_a, pred_a), ("yor_Latn", gold_b, pred_b), ("yor_Latn", gold_b, [])]
    )
    total = report.total
    assert (total.tp, total.predicted, total.gold, total.sentences) == (1, 4, 4, 3)
    assert total.precision == 0.25 and total.recall == 0.25 and total.f1 == 0.25
    assert report.by_lang["hau_Latn"].f1 == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    assert report.by_lang["yor_Latn"].to_dict()["f1"] == 0.0
    assert report.by_type["PER"].f1 == 1.0 and report.by_type["LOC"].recall == 0.0
    assert report.by_type["LOC"].sentences == 3 and report.by_type["ORG"].sentences == 2
    assert report.to_dict()["signature"].startswith("span-f1|match:exact-offsets+type|avg:micro")
