"""Label projection end to end on the tiny random MT model: both directions, both methods, the CLI.

The model's translations are gibberish, so these tests check structure and
bookkeeping: every output is the template with markers inserted, every sentence
is accounted for (projected, partial or failed with a reason), encoder outputs
are computed once per source, resume works, and the reports add up.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from helpers import EXAMPLES, read_jsonl, write_jsonl

from xprompt.cli import main
from xprompt.projection.records import insert_markers
from xprompt.projection.spans import Span, parse_span_list, read_span_file

NER = EXAMPLES / "ner"


@pytest.fixture(autouse=True, scope="module")
def one_thread():  # type: ignore[no-untyped-def]
    """The tiny model runs fastest single-threaded (threads only add synchronisation)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def translator(tiny_mt_dir: Path):  # type: ignore[no-untyped-def]
    from xprompt.backends.seq2seq import Seq2SeqTranslator
    from xprompt.mt.base import DecodingSettings

    return Seq2SeqTranslator(str(tiny_mt_dir), decoding=DecodingSettings(max_new_tokens=12))


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def first_word_tagger(texts: list[str]) -> list[list[dict]]:
    """A stand-in for the user's English tagger: the first word of each text is a PER."""
    out = []
    for text in texts:
        word = text.split()[0] if text.split() else ""
        start = text.find(word)
        out.append([{"start": start, "end": start + len(word), "label": "PER"}] if word else [])
    return out


def assert_template_with_markers(record: dict) -> None:
    """The record's spans index its text, and ``marked`` is that text with markers inserted."""
    text = record["text"]
    spans = parse_span_list(record["spans"], text)
    assert record["marked"] == insert_markers(text, spans, "[", "]")
    for span in record["spans"]:
        assert span["text"] == text[span["start"] : span["end"]] and span["text"].strip()


# -- library -----------------------------------------------------------------------------


def test_codec_projector_outputs_template_with_markers_and_encodes_once(translator) -> None:  # type: ignore[no-untyped-def]
    from xprompt.mt.base import TranslationRequest
    from xprompt.projection.projector import (
        CodecProjector,
        CodecSettings,
        ProjectionTask,
        mark_one,
    )

    calls: list[list[str]] = []
    original = translator.encode

    def counting_encode(texts, src, tgt=None):  # type: ignore[no-untyped-def]
        calls.append(list(texts))
        return original(texts, src, tgt)

    translator.encode = counting_encode
    try:
        projector = CodecProjector(translator, CodecSettings())
        sentences = read_span_file(NER / "eng.train.conll", lang="en")[:4]
        translations = translator.translate(
            [TranslationRequest(s.text, s.lang, "hau_Latn") for s in sentences]
        )
        tasks = [
            ProjectionTask(s.text, s.spans, s.lang, t.text, "hau_Latn")
            for s, t in zip(sentences, translations, strict=True)
        ]
        calls.clear()
        results = projector.project(tasks)
    finally:
        translator.encode = original
    # One encoder call for the plain and all marked sources, one for the re-ranking candidates:
    # however many entities and search steps, never once per forward pass.
    searched = [t for t in tasks if t.template.strip()]
    source_calls = [c for c in calls if c[0] in {t.source for t in tasks}]
    assert source_calls == [[t.source, *(mark_one(t.source, s) for s in t.spans)] for t in searched]
    assert len(calls) - len(source_calls) <= len(searched)  # re-ranking: one call per sentence

    for task, result in zip(tasks, results, strict=True):
        assert len(result.entities) == len(task.spans)
        if not task.template.strip():  # the random model may translate to nothing
            assert result.status == "failed" and "template (translation) is empty" in result.reason
            continue
        assert result.text == task.template
        assert result.marked == insert_markers(task.template, list(result.spans), "[", "]")
        assert len(result.entities) == len(task.spans)
        assert result.status in ("projected", "partial", "failed")
        for entity in result.entities:
            assert (entity.target is None) == (entity.reason is not None)
            assert entity.stats["placements"] >= entity.stats["leaves"] >= 0
            assert 1 <= len(entity.candidates) <= 5
        assert result.stats["calls"] > 0 and result.stats["sequences"] > 0
        # Non-overlapping source spans never end up overlapping in the target.
        spans = sorted(result.spans)
        assert all(not a.overlaps(b) for a, b in itertools.pairwise(spans))


def test_codec_is_deterministic(translator) -> None:  # type: ignore[no-untyped-def]
    from xprompt.projection.projector import CodecProjector, ProjectionTask

    task = ProjectionTask(
        "Aliko Dangote met officials in Abuja .",
        (Span(0, 13, "PER"), Span(31, 36, "LOC")),
        "eng_Latn",
        "Aliko Dangote ya gana da jami'ai a Abuja .",
        "hau_Latn",
    )
    first = CodecProjector(translator).project([task])[0]
    second = CodecProjector(translator).project([task])[0]
    assert first.to_dict() == second.to_dict()


# -- CLI: translate-train ------------------------------------------------------------------


TINY = ["-m", "tiny", "--beams", "2", "--max-new-tokens", "12", "-q"]


def test_translate_train_cli_both_methods_resume_and_training_file(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "proj.jsonl"
    train = tmp_path / "train.hau-yor.conll"
    cache = ["--cache", str(tmp_path / "mt.sqlite")]
    args = ["project", "train", "-i", str(NER / "eng.train.conll"), "-t", "hau,yor", "-o", str(out),
            "--train-file", str(train), *TINY, *cache]  # fmt: skip
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    records = read_jsonl(out)
    assert len(records) == 8 * 2  # every sentence x every target language
    assert [(r["index"], r["tgt"]) for r in records] == [
        (n, tgt) for n, tgt in enumerate(["hau_Latn", "yor_Latn"] * 8)
    ]
    for record in records:
        assert record["status"] in ("projected", "partial", "failed")
        assert record["status"] == "projected" or record["reason"]
        assert record["src"] == "eng_Latn" and record["method"] == "codec"
        if record["text"] is not None:
            assert_template_with_markers(record)
    projected = [r for r in records if r["status"] == "projected"]
    assert projected, "the sentence without entities projects trivially at least"
    summary = json.loads(Path(str(out) + ".summary.json").read_text())
    assert sum(summary["status"].values()) == 16
    assert summary["train_file"]["sentences"] == len(projected)
    assert summary["signature"].startswith(
        "direction:train|method:codec|codec:(codec|bnb:exact,n=5"
    )
    written = read_span_file(train)
    assert len(written) == len(projected)
    for sentence, record in zip(written, projected, strict=True):
        # CoNLL tokens are split where a span edge falls inside a word; nothing else changes.
        assert "".join(sentence.text.split()) == "".join(record["text"].split())  # type: ignore[union-attr]
        assert [
            (s.label, "".join(sentence.text[s.start : s.end].split())) for s in sentence.spans
        ] == [  # type: ignore[union-attr]
            (s["label"], "".join(s["text"].split())) for s in record["spans"]
        ]
    assert "units: 16" in err and "signature:" in err

    # Resume: a finished job does nothing; a half-written line and lost records are redone.
    lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
    out.write_text("".join(lines[:5]) + lines[5][:20], encoding="utf-8")
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    again = read_jsonl(out)
    assert [(r["index"], r["status"], r["spans"]) for r in again] == [
        (r["index"], r["status"], r["spans"]) for r in records
    ]
    code, _, err = run_cli(args, capsys)
    assert code == 0 and "units projected now" not in err and len(read_jsonl(out)) == 16

    # A different job refuses to append.
    code, _, err = run_cli([*args, "--n-best", "3"], capsys)
    assert code == 2 and "written by a different projection job: codec" in err

    # The marker baseline: every sentence accounted for, failure kinds counted.
    markers_out = tmp_path / "markers.jsonl"
    code, _, err = run_cli(
        ["project", "train", "-i", str(NER / "eng.train.conll"), "-t", "swh", "-o",
         str(markers_out), "--method", "markers", "--json", *TINY, *cache],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    rows = read_jsonl(markers_out)
    assert len(rows) == 8 and all(r["method"] == "markers" for r in rows)
    summary = json.loads(Path(str(markers_out) + ".summary.json").read_text())
    problems = summary.get("marker_problems", {})
    assert set(problems) <= {"unbalanced", "empty", "lost", "extra", "translation"}
    with_entities = [r for r in rows if r["source"]["spans"]]
    failed_markers = sum(problems.values())
    assert failed_markers == sum(1 for r in with_entities if r["stats"].get("marker_problem"))


def test_bad_input_sentences_are_recorded_not_lost(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "mixed.conll"
    path.write_text(
        "Kano B-LOC\nis O\nbig O\n\nthe O\nKano I-LOC\n\nAbuja B-LOC\n", encoding="utf-8"
    )
    out = tmp_path / "out.jsonl"
    code, _, err = run_cli(
        [
            "project",
            "train",
            "-i",
            str(path),
            "-t",
            "hau",
            "-o",
            str(out),
            "--cache",
            "none",
            *TINY,
        ],
        capsys,
    )
    assert code == 0, err
    records = read_jsonl(out)
    assert [r["id"] for r in records] == ["s1", "s2", "s3"]
    assert records[1]["status"] == "failed"
    assert records[1]["reason"].startswith(
        "input: sentence 2 (line 5) of mixed.conll: token 2 'Kano': tag 'I-LOC' follows 'O'"
    )
    assert records[1]["source"]["text"] == "the Kano"


def test_project_cli_user_errors(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    base = ["project", "train", "-i", str(NER / "eng.train.conll"), "-o", str(tmp_path / "o.jsonl")]
    code, _, err = run_cli([*base, "-t", "klingon"], capsys)
    assert code == 2 and "klingon" in err
    code, _, err = run_cli([*base, "-t", "hau", "--search", "greedy"], capsys)
    assert code == 2 and "--search must be exact or heuristic" in err
    code, _, err = run_cli([*base, "-t", "hau", "--alpha", "2"], capsys)
    assert code == 2 and "--alpha applies to --search heuristic only" in err
    code, _, err = run_cli([*base, "-t", "hau", "-m", "self"], capsys)
    assert code == 2 and "CODEC needs a seq2seq MT model" in err
    code, _, err = run_cli(["project", "score", str(tmp_path / "missing.jsonl")], capsys)
    assert code == 2 and "projection file not found" in err


# -- CLI: translate-test -------------------------------------------------------------------


def test_translate_test_cli_with_a_spans_file_and_with_a_tagger(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "tt.jsonl"
    cache = ["--cache", str(tmp_path / "mt.sqlite")]
    base = ["project", "test", "-i", str(NER / "hau.test.conll"), "--lang", "hau", "-o", str(out),
            *TINY, *cache]  # fmt: skip
    # Step 1: no spans yet -> translate to English and write the sentences to tag.
    code, _, err = run_cli(base, capsys)
    assert code == 0, err
    english_path = Path(str(out) + ".english.jsonl")
    assert "--english-spans" in err and not out.exists()
    english = read_jsonl(english_path)
    assert [r["id"] for r in english] == [f"hau-00{n}" for n in range(1, 6)]
    # Step 2: the user's tagger output (here: the first word is a PER; one sentence left out).
    tagged = []
    for row, spans in zip(english, first_word_tagger([r["text"] for r in english]), strict=True):
        tagged.append({**row, "spans": spans})
    write_jsonl(tmp_path / "tagged.jsonl", tagged[:-1])
    code, stdout, err = run_cli(
        [*base, "--english-spans", str(tmp_path / "tagged.jsonl"), "--json"], capsys
    )
    assert code == 0, err
    records = read_jsonl(out)
    originals = read_span_file(NER / "hau.test.conll", lang="hau")
    assert [r["id"] for r in records] == [s.id for s in originals]
    for record, original in zip(records, originals, strict=True):
        assert record["original"] == original.text  # type: ignore[union-attr]
        assert record["gold"] == original.span_dicts()  # type: ignore[union-attr]
        if record["id"] != "hau-005":  # the English that was projected from is recorded
            given = tagged[int(record["id"][-1]) - 1]
            assert record["english"]["text"] == given["text"]
            assert [(s["start"], s["end"], s["label"]) for s in record["english"]["spans"]] == [
                (s["start"], s["end"], s["label"]) for s in given["spans"]
            ]
        if record["status"] != "failed" or record["text"] is not None:
            assert record["text"] == original.text  # the original sentence is the template
            assert_template_with_markers(record)
    assert records[-1]["status"] == "failed"
    assert "no English spans for id 'hau-005'" in records[-1]["reason"]
    summary = json.loads(stdout)
    spans = summary["spans"]
    assert spans["all"]["gold"] == sum(len(s.spans) for s in originals)  # type: ignore[union-attr]
    assert spans["all"]["predicted"] == sum(len(r["spans"]) for r in records)
    assert set(spans["by_lang"]) == {"hau_Latn"}
    # Re-scoring the saved file needs no model and gives the same numbers.
    code, stdout, _ = run_cli(["project", "score", str(out), "--json"], capsys)
    assert code == 0 and json.loads(stdout)["spans"] == spans

    # The same with a tagger function instead of a file.
    tagged_out = tmp_path / "tt-tagger.jsonl"
    code, _, err = run_cli(
        ["project", "test", "-i", str(NER / "yor.test.conll"), "--lang", "yo", "-o", str(tagged_out),
         "--tagger", "test_projection_e2e:first_word_tagger", *TINY, *cache],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    rows = read_jsonl(tagged_out)
    assert len(rows) == 4
    for row in rows:
        assert row["status"] == "failed" or row["english"]["spans"][0]["label"] == "PER"
        if row["text"] is not None:
            assert row["text"] == row["original"]
            assert_template_with_markers(row)
