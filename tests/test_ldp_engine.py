"""LDP end to end on the real vLLM engine (tiny random model), through the commands users run.

``xprompt synth`` turns unlabelled Hausa sentences into an exemplar set with
provenance; ``xprompt translate -m ldp`` and ``xprompt run --strategy ldp`` use
it; ``xprompt synth task`` makes Hausa task exemplars that ``xprompt run
--strategy direct`` uses; ``xprompt ldp-report`` compares LDP with zero-shot
and supervised few-shot. The commands run in-process on the session's shared
engine (``xprompt.backends.factory.make_backend`` is pointed at it). The tiny model's
outputs are random, so the default filters reject nearly everything: the
flows that need accepted pairs relax the filters, and the assertions are on
structure, bookkeeping and determinism.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import EXAMPLES, read_jsonl, write_jsonl

from xprompt.cli import main
from xprompt.ldp.exemplar_set import default_diverse_set, read_set, rejected_path
from xprompt.ldp.filters import FilterSettings
from xprompt.ldp.synth import SynthJob, synthesize_triples
from xprompt.ldp.translator import LDPTranslator
from xprompt.mt.base import TranslationRequest
from xprompt.types import Sampling

pytestmark = pytest.mark.engine

LDP = EXAMPLES / "ldp"
RELAXED = [
    "--english-rule",
    "skip",
    "--min-ratio",
    "0",
    "--max-ratio",
    "1000",
    "--keep-copies",
]
FAST = ["-m", "tiny", "--max-tokens", "12"]


class SharedEngine:
    """The session engine behind the commands; closing it is the session's job, not theirs."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.closed = 0

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    def generate(self, requests):  # type: ignore[no-untyped-def]
        return self.inner.generate(requests)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    def close(self) -> None:
        self.closed += 1


@pytest.fixture
def engine(vllm_backend, monkeypatch: pytest.MonkeyPatch) -> SharedEngine:
    shared = SharedEngine(vllm_backend)
    monkeypatch.setattr("xprompt.backends.factory.make_backend", lambda engine, model: shared)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")
    return shared


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    """Run ``xprompt ...`` in-process with --json; (exit code, JSON on stdout or None, stderr)."""
    try:
        main([*args, "--json"])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    payload = json.loads(captured.out) if code == 0 and captured.out.strip() else None
    return code, payload, captured.err


def unlabelled(tmp_path: Path) -> Path:
    """The example Hausa sentences, plus a duplicate and a Russian line that must be rejected."""
    lines = (LDP / "hau.unlabelled.txt").read_text(encoding="utf-8").splitlines()
    path = tmp_path / "hau.txt"
    extra = [lines[0], "Это новости о здоровье и политике в регионе."]
    path.write_text("\n".join([*lines, *extra]) + "\n", encoding="utf-8")
    return path


def synth_pairs(capsys, tmp_path: Path, name: str, *extra: str) -> tuple[dict, Path]:  # type: ignore[no-untyped-def]
    out = tmp_path / name
    code, summary, err = cli(
        capsys,
        "synth",
        "pairs",
        "-i",
        str(unlabelled(tmp_path)),
        "-l",
        "hau",
        "-o",
        str(out),
        *FAST,
        *extra,
    )
    assert code == 0, err
    return summary, out


def test_translator_batches_and_is_deterministic_on_the_engine(vllm_backend) -> None:
    translator = LDPTranslator(vllm_backend, default_diverse_set(), shots=4)
    texts = (LDP / "hau.unlabelled.txt").read_text(encoding="utf-8").splitlines()[:3]
    requests = [TranslationRequest(t, "hau_Latn", "eng_Latn") for t in texts]
    first = translator.translate_detailed(requests)
    again = translator.translate_detailed(requests)
    assert [o.translation.text for o in first] == [o.translation.text for o in again]
    for out in first:
        assert out.translation.ok and isinstance(out.translation.text, str)
        assert "\n" not in (out.translation.text or "")
        assert out.mode == "diverse" and len(out.exemplar_ids) == 4 and out.prompt_tokens > 50


def test_default_filters_record_every_rejection_on_the_engine(engine, capsys, tmp_path) -> None:
    summary, out = synth_pairs(capsys, tmp_path, "strict.jsonl")
    assert summary["inputs"] == 16
    assert summary["accepted"] + summary["rejected"] == 16
    rejected = read_jsonl(rejected_path(out))
    assert len(rejected) == summary["rejected"] and all(r["rejected"] for r in rejected)
    filters = {x["filter"] for r in rejected for x in r["rejected"]}
    assert {"duplicate", "source-language"} <= filters
    generated = [r for r in rejected if r["candidate"]]
    assert generated and all(r["provenance"]["prompt"]["mode"] == "diverse" for r in generated)
    assert all(
        "output_lang" in r["checks"] or "empty-output" in {x["filter"] for x in r["rejected"]}
        for r in generated
    )
    assert engine.closed == 1


def test_synth_builds_a_set_with_provenance_deterministically(engine, capsys, tmp_path) -> None:
    summary, out = synth_pairs(capsys, tmp_path, "one.jsonl", *RELAXED)
    _, again = synth_pairs(capsys, tmp_path, "two.jsonl", *RELAXED)
    assert out.read_bytes() == again.read_bytes()
    assert rejected_path(out).read_bytes() == rejected_path(again).read_bytes()
    records = read_set(out)
    assert len(records) == summary["accepted"] >= 4
    assert summary["accepted"] + summary["rejected"] == 16
    first = records[0]
    assert (first.lang, first.target_lang) == ("eng_Latn", "hau_Latn")
    assert first.provenance["model"].startswith("tiny-llama") and "@" in first.provenance["model"]
    assert first.provenance["created"] == "2026-09-21T14:13:20Z"
    assert first.provenance["source"]["file"] == "hau.txt"
    assert "output_lang" in first.checks and "length_ratio" in first.checks
    hausa = (LDP / "hau.unlabelled.txt").read_text(encoding="utf-8").splitlines()
    assert {r.target for r in records} <= set(hausa)


def test_translate_and_run_use_the_set(engine, capsys, tmp_path) -> None:
    _, pairs = synth_pairs(capsys, tmp_path, "hau.set.jsonl", *RELAXED)
    english = write_jsonl(
        tmp_path / "en.jsonl",
        [
            {"id": "e1", "lang": "eng_Latn", "text": "The market opens early on Monday."},
            {"id": "e2", "lang": "eng_Latn", "text": "The rain stopped in the evening."},
            {"id": "bad", "lang": "eng_Latn"},
        ],
    )
    out = tmp_path / "mt.jsonl"
    code, report, err = cli(
        capsys,
        "translate",
        "-i",
        str(english),
        "-o",
        str(out),
        "-m",
        "ldp",
        "--tgt",
        "hau_Latn",
        "--exemplars",
        str(pairs),
        "--ldp-shots",
        "2",
        "--ldp-max-tokens",
        "12",
        "--cache",
        "none",
        "-q",
    )
    assert code == 0, err
    records = read_jsonl(out)
    assert [r["id"] for r in records] == ["e1", "e2", "bad"]
    assert all(isinstance(r["translation"]["text"], str) for r in records[:2])
    assert "field 'text' is missing" in records[2]["error"]
    assert report["reports"]["all"]["rows"] == 3
    assert "ldp(" in report["signature"] and "k=2" in report["signature"]

    run_out = tmp_path / "run.jsonl"
    code, summary, err = cli(
        capsys,
        "run",
        "-i",
        str(english),
        "-o",
        str(run_out),
        "-t",
        "ldp-translate",
        "-m",
        "tiny",
        "--strategy",
        "ldp",
        "--exemplars",
        str(pairs),
        "--opt",
        "tgt=hau_Latn",
        "--opt",
        "shots=2",
        "--opt",
        "max_tokens=12",
        "-q",
    )
    assert code == 0, err
    rows = read_jsonl(run_out)
    assert len(rows) == 3 and rows[2]["error"]
    step = rows[0]["steps"][0]
    assert step["step"] == "translate" and step["lang"] == "hau_Latn" and step["checks"]
    assert rows[0]["prediction"] == step["texts"][0]
    assert rows[0]["details"]["mode"] == "in-language"
    assert set(rows[0]["details"]["exemplar_ids"]) <= {r.id for r in read_set(pairs)}
    assert "ldp(tgt=hau_Latn" in summary["signature"]

    hausa_out = tmp_path / "x2en.jsonl"
    code, _, err = cli(
        capsys,
        "run",
        "-i",
        str(LDP / "hau-eng.test.jsonl"),
        "-o",
        str(hausa_out),
        "-t",
        "ldp-translate",
        "-m",
        "tiny",
        "--strategy",
        "ldp",
        "--opt",
        "shots=4",
        "--opt",
        "max_tokens=12",
        "--limit",
        "3",
        "-q",
    )
    assert code == 0, err
    assert [r["details"]["mode"] for r in read_jsonl(hausa_out)] == ["diverse"] * 3


def test_task_exemplars_let_direct_run_in_hausa(engine, capsys, tmp_path) -> None:
    _, pairs = synth_pairs(capsys, tmp_path, "hau.set.jsonl", *RELAXED)
    pool = tmp_path / "topics.hau.jsonl"
    code, summary, err = cli(
        capsys,
        "synth",
        "task",
        "-i",
        str(EXAMPLES / "data" / "topics.en.jsonl"),
        "-l",
        "hau",
        "-e",
        str(pairs),
        "--target-field",
        "label",
        "-o",
        str(pool),
        "-m",
        "tiny",
        "--shots",
        "2",
        "--max-tokens",
        "16",
        "--limit",
        "14",
        "--lang-rule",
        "skip",
        "--min-ratio",
        "0",
        "--max-ratio",
        "1000",
        "--keep-copies",
    )
    assert code == 0, err
    assert summary["accepted"] + summary["rejected"] == 14
    rows = read_jsonl(pool)
    assert len(rows) >= 4
    assert {r["lang"] for r in rows} == {"hau_Latn"} and rows[0]["provenance"]["source"][
        "lang"
    ] == "eng_Latn"
    labels = {
        json.loads(x)["id"]: json.loads(x)["label"]
        for x in (EXAMPLES / "data" / "topics.en.jsonl").read_text().splitlines()
    }
    assert all(r["label"] == labels[r["id"].split("-")[0]] for r in rows)

    hausa_test = write_jsonl(
        tmp_path / "topics.hau.test.jsonl",
        [
            row
            for row in read_jsonl(EXAMPLES / "data" / "topics.test.jsonl")
            if row["lang"] == "hau_Latn"
        ][:3],
    )
    out = tmp_path / "topics.run.jsonl"
    code, summary, err = cli(
        capsys,
        "run",
        "-i",
        str(hausa_test),
        "--target-field",
        "label",
        "-o",
        str(out),
        "-t",
        "sib200-topic",
        "-m",
        "tiny",
        "-k",
        "2",
        "--exemplars",
        str(pool),
        "-q",
    )
    assert code == 0, err
    records = read_jsonl(out)
    assert len(records) == 3 and all(r["error"] is None for r in records)
    assert all(r["prediction"] in labels.values() for r in records)  # constrained to the label set
    assert summary["rows"] == 3 and summary["accuracy"] is not None
    assert all(set(r["details"]["exemplar_ids"]) <= {x["id"] for x in rows} for r in records)


def test_ldp_report_compares_three_conditions(engine, capsys, tmp_path) -> None:
    test = tmp_path / "test.jsonl"
    lines = (LDP / "hau-eng.test.jsonl").read_text(encoding="utf-8").splitlines()[:5]
    test.write_text(
        "\n".join([*lines, '{"id": "bad", "lang": "hau_Latn"}']) + "\n", encoding="utf-8"
    )
    out_dir = tmp_path / "report"
    code, report, err = cli(
        capsys,
        "ldp-report",
        "-i",
        str(test),
        "-o",
        str(out_dir),
        "-m",
        "tiny",
        "--shots",
        "4",
        "--max-tokens",
        "12",
        "--parallel",
        str(LDP / "hau-eng.parallel.jsonl"),
    )
    assert code == 0, err
    assert list(report) == ["zero-shot", "ldp", "supervised"]
    for name, result in report.items():
        scores = result["report"]
        assert scores["rows"] == 6 and scores["errors"] == 1
        assert "chrF++" in scores and "nw:2" in scores["chrF++"]["signature"]
        assert 0 <= scores["off_target_rate"] <= 1
        records = read_jsonl(out_dir / f"{name}.jsonl")
        assert [r["id"] for r in records][-1] == "bad" and len(records) == 6
    assert report["ldp"]["modes"] == {"diverse": 5}
    assert report["supervised"]["modes"] == {"in-language": 5}
    assert report["zero-shot"]["modes"] == {"zero-shot": 5}
    assert "x2en=in-language" in report["supervised"]["signature"]
    saved = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    assert set(saved["conditions"]) == {"zero-shot", "ldp", "supervised"}


def test_chained_triples_on_the_engine(vllm_backend, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")
    yor = write_jsonl(
        tmp_path / "yor.jsonl",
        [
            {
                "id": "y1",
                "lang": "eng_Latn",
                "text": "The rain fell all night.",
                "target": "Òjò rọ̀ ní gbogbo òru.",
                "target_lang": "yor_Latn",
            },
            {
                "id": "y2",
                "lang": "eng_Latn",
                "text": "The market is very big.",
                "target": "Ọjà náà tóbi gan-an.",
                "target_lang": "yor_Latn",
            },
        ],
    )
    pool = default_diverse_set() + read_set(yor)
    relaxed = FilterSettings(
        lang_rule="skip", english_rule="skip", min_ratio=0, max_ratio=1000, reject_copies=False
    )
    job = SynthJob(
        str(LDP / "hau.unlabelled.txt"),
        str(tmp_path / "hau-yor.jsonl"),
        "hau",
        target_lang="yor",
        limit=4,
        filters=relaxed,
    )
    translator = LDPTranslator(
        vllm_backend, pool, shots=2, sampling=Sampling(max_tokens=12, stop=("\n",))
    )
    result = synthesize_triples(job, translator)
    assert len(result.accepted) + len(result.rejected) == 4
    for row in result.accepted:
        assert (
            row["kind"] == "triple"
            and row["pivot_lang"] == "eng_Latn"
            and row["target_lang"] == "yor_Latn"
        )
        assert row["provenance"]["target"]["exemplars"] == ["y1", "y2"]
    outputs = translator.translate_detailed(
        [TranslationRequest("Sannu da zuwa.", "hau_Latn", "yor_Latn")]
    )
    assert outputs[0].mode == "chain" and len(outputs[0].prompt_digests) == 2


@pytest.mark.slow
def test_synth_pairs_as_a_user_runs_it(tmp_path: Path) -> None:
    """The real command in its own process, with its own engine: files, summary, exit code."""
    import os
    import subprocess
    import sys

    out = tmp_path / "hau.set.jsonl"
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1790000000", "VLLM_LOGGING_LEVEL": "ERROR"}
    command = [
        sys.executable,
        "-m",
        "xprompt",
        "synth",
        "pairs",
        "-i",
        str(LDP / "hau.unlabelled.txt"),
        "-l",
        "hau_Latn",
        "-o",
        str(out),
        "-m",
        "tiny",
        "--enforce-eager",
        "--max-tokens",
        "12",
        "--gpu-memory-utilization",
        "0.1",
        "--json",
        *RELAXED,
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["inputs"] == 14 and summary["accepted"] + summary["rejected"] == 14
    assert len(read_set(out)) == summary["accepted"]
    assert len(read_jsonl(rejected_path(out))) == summary["rejected"]
    assert (
        json.loads((tmp_path / "hau.set.jsonl.summary.json").read_text())["signature"]
        == summary["signature"]
    )
