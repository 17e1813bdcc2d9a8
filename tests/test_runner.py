"""Runner bookkeeping with a scripted backend: one record per row, resume, refusal, summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import read_jsonl, write_jsonl

from xprompt import resume, runner
from xprompt.config import load_run_config
from xprompt.errors import ResumeError
from xprompt.testing.scripted import ScriptedBackend
from xprompt.types import Request

LABELS = [
    "science/technology",
    "travel",
    "politics",
    "sports",
    "health",
    "entertainment",
    "geography",
]


def dataset(tmp_path: Path, n: int = 40) -> Path:
    rows = []
    for i in range(n):
        rows.append(
            {
                "id": f"r{i}",
                "lang": ["hau", "yor", "swh", "amh"][i % 4],
                "text": f"text {i}",
                "label": LABELS[i % 7],
            }
        )
    if n > 9:
        rows[5] = {"id": "r5", "lang": "hau", "label": "travel"}  # missing text
        rows[9]["lang"] = "zz"  # unknown language
    return write_jsonl(tmp_path / "data.jsonl", rows)


def config(tmp_path: Path, data: Path, **extra):
    overrides = {
        "data": {"input": str(data), "target_field": "label"},
        "output": str(tmp_path / "out.jsonl"),
        "template": "sib200-topic",
        "engine": {"model": "scripted-model"},
        "chunk_size": 8,
    }
    overrides.update(extra)
    return load_run_config(None, overrides)


def answer_with_label_of_text(request: Request) -> str:
    """Deterministic 'model': answers the gold label for even rows, 'travel' for odd rows."""
    number = int(request.id.split("/")[0][1:])
    return LABELS[number % 7] if number % 2 == 0 else "travel"


class Crash(Exception):
    pass


class CrashingBackend(ScriptedBackend):
    """Dies (like a killed process would) on its n-th batch."""

    def __init__(self, crash_on_batch: int) -> None:
        super().__init__(answer_with_label_of_text)
        self.crash_on_batch = crash_on_batch

    def generate(self, requests):
        if len(self.batches) + 1 == self.crash_on_batch:
            self.batches.append(list(requests))
            raise Crash("engine died")
        return super().generate(requests)


def test_every_row_gets_one_record_and_each_chunk_is_one_batch(tmp_path: Path) -> None:
    prepared = runner.prepare(config(tmp_path, dataset(tmp_path)))
    backend = ScriptedBackend(answer_with_label_of_text)
    summary = runner.execute(prepared, backend=backend)
    records = read_jsonl(tmp_path / "out.jsonl")
    assert [r["index"] for r in records] == list(range(40))
    assert [len(b) for b in backend.batches] == [7, 7, 8, 8, 8], (
        "bad rows are not sent; one call per chunk"
    )
    by_id = {r["id"]: r for r in records}
    assert "field 'text' is missing" in by_id["r5"]["error"]
    assert "unknown language 'zz'" in by_id["r9"]["error"]
    assert by_id["r2"]["prediction"] == LABELS[2] and by_id["r2"]["correct"] is True
    assert by_id["r3"]["prediction"] == "travel"
    assert summary.total.rows == 40 and summary.total.errors == 2
    # Even rows right, odd rows right only when their label is travel (r1, r15, r29 ... i % 7 == 1).
    expected = sum(1 for i in range(40) if i not in (5, 9) and (i % 2 == 0 or i % 7 == 1))
    assert summary.total.correct == expected
    assert summary.total.scored == 38
    assert set(summary.by_lang) == {"hau_Latn", "yor_Latn", "swh_Latn", "amh_Ethi", "und"}
    saved = json.loads((tmp_path / "out.jsonl.summary.json").read_text())
    assert saved["rows"] == 40 and saved["signature"].startswith("model:scripted-model|")


def test_resume_after_a_crash_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    data = dataset(tmp_path)
    with pytest.raises(Crash):
        runner.execute(
            runner.prepare(config(tmp_path, data)), backend=CrashingBackend(crash_on_batch=3)
        )
    partial = read_jsonl(tmp_path / "out.jsonl")
    assert [r["index"] for r in partial] == list(range(16)), (
        "two chunks were written before the crash"
    )
    # A kill can also leave half a line behind.
    with (tmp_path / "out.jsonl").open("a", encoding="utf-8") as handle:
        handle.write('{"index": 16, "id": "r1')
    backend = ScriptedBackend(answer_with_label_of_text)
    summary = runner.execute(runner.prepare(config(tmp_path, data)), backend=backend)
    records = read_jsonl(tmp_path / "out.jsonl")
    assert sorted(r["index"] for r in records) == list(range(40))
    assert records[:16] == partial, "finished rows are kept as they were"
    assert sum(len(b) for b in backend.batches) == 40 - 16, "only unfinished rows go to the model"
    assert summary.rows_this_session == 24
    uninterrupted = tmp_path / "clean"
    uninterrupted.mkdir()
    runner.execute(
        runner.prepare(config(uninterrupted, data)),
        backend=ScriptedBackend(answer_with_label_of_text),
    )
    assert sorted(records, key=lambda r: r["index"]) == read_jsonl(uninterrupted / "out.jsonl")


def test_finished_run_resumes_without_starting_an_engine(tmp_path: Path) -> None:
    data = dataset(tmp_path, n=8)
    runner.execute(
        runner.prepare(config(tmp_path, data)), backend=ScriptedBackend(answer_with_label_of_text)
    )
    # No backend given and the model name is not loadable: it must not be needed.
    summary = runner.execute(runner.prepare(config(tmp_path, data)))
    assert summary.total.rows == 8 and summary.rows_this_session == 0


def test_changed_settings_or_input_refuse_to_resume(tmp_path: Path) -> None:
    data = dataset(tmp_path, n=8)
    runner.execute(
        runner.prepare(config(tmp_path, data)), backend=ScriptedBackend(answer_with_label_of_text)
    )
    changed = config(tmp_path, data, sampling={"max_tokens": 5})
    with pytest.raises(ResumeError, match=r"different run: strategy\.max \d+ -> 5; "):
        runner.execute(runner.prepare(changed), backend=ScriptedBackend(answer_with_label_of_text))
    write_jsonl(data, [{"id": "new", "lang": "en", "text": "x", "label": "travel"}])
    with pytest.raises(ResumeError, match=r"different run: input [0-9a-f]{16} -> [0-9a-f]{16}; "):
        runner.execute(
            runner.prepare(config(tmp_path, data)),
            backend=ScriptedBackend(answer_with_label_of_text),
        )
    fresh = config(tmp_path, data, overwrite=True)
    summary = runner.execute(
        runner.prepare(fresh), backend=ScriptedBackend(answer_with_label_of_text)
    )
    assert summary.total.rows == 1


def test_foreign_output_file_is_not_appended_to(tmp_path: Path) -> None:
    data = dataset(tmp_path, n=4)
    (tmp_path / "out.jsonl").write_text('{"something": "else"}\n', encoding="utf-8")
    with pytest.raises(ResumeError, match="not an xprompt run to resume"):
        runner.execute(
            runner.prepare(config(tmp_path, data)),
            backend=ScriptedBackend(answer_with_label_of_text),
        )


def test_backend_errors_become_row_errors(tmp_path: Path) -> None:
    def script(request: Request) -> str:
        if request.id.startswith("r3/"):
            raise ValueError("prompt is 9999 tokens; it exceeds the model's context")
        return "sports"

    runner.execute(
        runner.prepare(config(tmp_path, dataset(tmp_path, n=8))), backend=ScriptedBackend(script)
    )
    by_id = {r["id"]: r for r in read_jsonl(tmp_path / "out.jsonl")}
    assert "exceeds the model's context" in by_id["r3"]["error"]
    assert by_id["r3"]["correct"] is False and by_id["r3"]["steps"][0]["error"]
    assert by_id["r4"]["prediction"] == "sports"


def test_exemplars_go_first_and_are_shared_within_a_language(tmp_path: Path) -> None:
    data = dataset(tmp_path, n=8)
    pool = write_jsonl(
        tmp_path / "pool.jsonl",
        [
            {"id": f"p{lang}{i}", "lang": lang, "text": f"pool {lang} {i}", "label": LABELS[i]}
            for lang in ("hau", "yor", "swh", "amh")
            for i in range(3)
        ],
    )
    backend = ScriptedBackend(lambda r: "health")
    cfg = config(tmp_path, data, exemplars={"shots": 2, "pool": str(pool), "select": "balanced"})
    runner.execute(runner.prepare(cfg), backend=backend)
    requests = {r.id.split("/")[0]: r for r in backend.batches[0]}
    first, second = requests["r0"].messages, requests["r4"].messages  # both Hausa
    assert first[:-1] == second[:-1], "same language: identical prefix up to the query"
    assert "pool hau" in first[1].content and first[2].role == "assistant"
    assert requests["r0"].constraint is not None and requests["r0"].constraint.choices == tuple(
        LABELS
    )
    record = read_jsonl(tmp_path / "out.jsonl")[0]
    assert record["details"]["exemplar_ids"] == ["phau0", "phau1"]


def test_an_edited_exemplar_pool_refuses_to_resume(tmp_path: Path) -> None:
    data = dataset(tmp_path, n=8)
    rows = [
        {"id": f"p{i}", "lang": "hau", "text": f"pool {i}", "label": LABELS[i]} for i in range(3)
    ]
    pool = write_jsonl(tmp_path / "pool.jsonl", rows)
    cfg = config(tmp_path, data, exemplars={"shots": 1, "pool": str(pool), "lang": "any"})
    runner.execute(runner.prepare(cfg), backend=ScriptedBackend(lambda r: "health"))
    rows[0]["text"] = "pool 0, corrected"
    write_jsonl(pool, rows)
    with pytest.raises(
        ResumeError, match=r"different run: strategy\.pool [0-9a-f]+ -> [0-9a-f]+; "
    ):
        runner.execute(runner.prepare(cfg), backend=ScriptedBackend(lambda r: "health"))


def test_retry_errors_runs_failed_rows_again_and_keeps_the_rest(tmp_path: Path) -> None:
    data = dataset(tmp_path, n=8)
    outage = {"on": True}

    def flaky(request: Request) -> str:
        if outage["on"] and request.id.startswith(("r2/", "r5/")):
            raise ValueError("server unreachable after 5 retries")
        return "health"

    runner.execute(runner.prepare(config(tmp_path, data)), backend=ScriptedBackend(flaky))
    first = {r["id"]: r for r in read_jsonl(tmp_path / "out.jsonl")}
    assert first["r2"]["error"] and first["r5"]["error"]
    outage["on"] = False
    plain = ScriptedBackend(flaky)
    runner.execute(runner.prepare(config(tmp_path, data)), backend=plain)
    assert plain.batches == [], "a plain resume keeps error records as they are"
    again = ScriptedBackend(flaky)
    summary = runner.execute(
        runner.prepare(config(tmp_path, data, retry_errors=True)), backend=again
    )
    assert sorted(r.id.split("/")[0] for r in again.batches[0]) == ["r2", "r5"]
    records = read_jsonl(tmp_path / "out.jsonl")
    assert sorted(r["index"] for r in records) == list(range(8)), "every row once"
    assert summary.total.errors == 0
    by_id = {r["id"]: r for r in records}
    assert by_id["r0"] == first["r0"], "rows without errors are kept as they were"


def test_counting_done_rows_changes_no_file(tmp_path: Path) -> None:
    """`xprompt eval` counts pending rows (and --report-only checks outputs) with a dry run:
    same answer and same refusals as a real open, but nothing re-signed, repaired or deleted."""
    data = dataset(tmp_path, n=16)
    with pytest.raises(Crash):
        runner.execute(
            runner.prepare(config(tmp_path, data)), backend=CrashingBackend(crash_on_batch=2)
        )
    output = tmp_path / "out.jsonl"
    with output.open("a", encoding="utf-8") as handle:
        handle.write('{"index": 8, "id": "r')  # a kill's half line
    meta = resume.meta_path(output)
    meta.write_text(meta.read_text(encoding="utf-8").replace('"signature"', '"signature_"'))
    before = {p: p.read_bytes() for p in (output, meta)}
    # Row 5 has no text: its record is an error, which --retry-errors runs again.
    expected = [({}, set(range(8))), ({"retry_errors": True}, set(range(8)) - {5})]
    for extra, done in [*expected, ({"overwrite": True}, set())]:
        prepared = runner.prepare(config(tmp_path, data, **extra))
        assert runner.open_output(prepared, dry_run=True) == done, extra
        assert {p: p.read_bytes() for p in before} == before, extra
    changed = runner.prepare(config(tmp_path, data, sampling={"max_tokens": 5}))
    with pytest.raises(ResumeError, match="different run"):
        runner.open_output(changed, dry_run=True)
    assert runner.open_output(runner.prepare(config(tmp_path, data))) == set(range(8))
    assert output.read_bytes() != before[output], "a real open repairs the half line"
