"""The fault catalogue: bad input and faults across run, translate, project, synth, langid, serve.

Each case asserts the exact behaviour the README's "Faults and bad input" table
promises: a bad row is that row's error (row, field, what was wrong) and its
chunk goes on; a fault of the whole job stops it with its own exit code and
keeps what was written; a bad request body is an OpenAI-shaped 4xx naming the
field, and the server stays healthy. Logic runs on scripted backends; the
``slow`` tests at the end SIGKILL a real ``xprompt run`` and ``xprompt serve``
on the tiny vLLM model and look for surviving engine processes.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import read_jsonl, write_jsonl

from xprompt import answers, data, resume, runner
from xprompt.config import load_run_config
from xprompt.errors import (
    EngineDiedError,
    OutputError,
    OutputLockedError,
)
from xprompt.testing.scripted import ScriptedBackend
from xprompt.types import Request

LABELS = ["science/technology", "travel", "politics", "sports", "health", "entertainment"]
SURROGATE_ROW = '{"id": "bad", "lang": "hau", "text": "abc \\ud800 def", "label": "travel"}'


def rows(n: int = 10) -> list[dict[str, Any]]:
    return [
        {"id": f"r{i}", "lang": "hau", "text": f"text {i}", "label": LABELS[i % 6]}
        for i in range(n)
    ]


def jsonl_with(tmp_path: Path, lines: list[str], name: str = "data.jsonl") -> Path:
    """``rows()`` as JSONL with raw ``lines`` inserted after row 2 (for text json.dumps cannot write)."""
    good = [json.dumps(r) for r in rows()]
    path = tmp_path / name
    path.write_text("\n".join(good[:3] + lines + good[3:]) + "\n", encoding="utf-8")
    return path


def config(tmp_path: Path, source: Path, **extra: Any):  # type: ignore[no-untyped-def]
    overrides = {
        "data": {"input": str(source), "target_field": "label"},
        "output": str(tmp_path / "out.jsonl"),
        "template": "sib200-topic",
        "engine": {"model": "scripted-model"},
        "chunk_size": 4,
    }
    overrides.update(extra)
    return load_run_config(None, overrides)


def answer(request: Request) -> str:
    return "travel"


def run(tmp_path: Path, source: Path, backend: ScriptedBackend | None = None, **extra: Any):  # type: ignore[no-untyped-def]
    backend = backend or ScriptedBackend(answer)
    summary = runner.execute(runner.prepare(config(tmp_path, source, **extra)), backend=backend)
    return summary, read_jsonl(tmp_path / "out.jsonl"), backend


def by_id(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in records}


# -- readers: every format, the same per-row verdicts ---------------------------------------------


def test_jsonl_lone_surrogate_is_that_rows_error_and_the_chunk_goes_on(tmp_path: Path) -> None:
    summary, records, backend = run(tmp_path, jsonl_with(tmp_path, [SURROGATE_ROW]))
    assert [r["index"] for r in records] == list(range(11))
    bad = records[3]
    assert bad["id"] == "bad" or bad["id"] == "row4"
    assert bad["error"] == (
        "row 4 (line 4) of data.jsonl: field 'text' has a lone surrogate U+D800 at character 5: "
        "not valid Unicode text (fix or drop the row)"
    )
    assert all(r["error"] is None for r in records if r is not bad)
    assert sum(len(b) for b in backend.batches) == 10, "the bad row never reaches the model"
    assert summary.total.errors == 1


def test_surrogate_in_an_unused_column_is_refused_too(tmp_path: Path) -> None:
    line = '{"id": "x", "lang": "hau", "text": "fine", "label": "travel", "note": "\\udfff"}'
    _, records, _ = run(tmp_path, jsonl_with(tmp_path, [line]))
    assert "field 'note' has a lone surrogate U+DFFF at character 1" in records[3]["error"]


def test_json_nested_thousands_deep_is_a_row_error(tmp_path: Path) -> None:
    deep = '{"id": "deep", "text": ' + "[" * 100_000 + "]" * 100_000 + "}"
    _, records, _ = run(tmp_path, jsonl_with(tmp_path, [deep]))
    assert records[3]["error"] == "row 4 (line 4) of data.jsonl: not valid JSON (nested too deeply)"
    assert len(records) == 11


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_delimited_invalid_utf8_names_the_column(tmp_path: Path, suffix: str) -> None:
    sep = b"," if suffix == ".csv" else b"\t"
    lines = [sep.join([b"id", b"lang", b"text", b"label"])]
    for r in rows(5):
        lines.append(sep.join(v.encode() for v in r.values()))
    lines.insert(
        3, sep.join([b"bad", b"hau", b"abc \xed\xa0\x80 def", b"travel"])
    )  # CESU surrogate
    source = tmp_path / f"data{suffix}"
    source.write_bytes(b"\n".join(lines) + b"\n")
    _, records, _ = run(tmp_path, source)
    assert len(records) == 6
    assert records[2]["error"].endswith("invalid UTF-8 in column 'text'")
    assert sum(r["error"] is not None for r in records) == 1


def test_txt_invalid_utf8_line_is_a_row_error(tmp_path: Path) -> None:
    source = tmp_path / "data.txt"
    source.write_bytes(b"one line\nabc \xed\xa0\x80 def\nthird line\n")
    _, records, _ = run(tmp_path, source, data={"input": str(source), "lang": "hau"})
    assert [r["error"] is None for r in records] == [True, False, True]
    assert records[1]["error"] == "row 2 (line 2) of data.txt: invalid UTF-8 at byte 4 of the line"


def test_hf_rows_get_the_same_check() -> None:
    assert data.surrogate_problem({"text": "ok", "meta": {"src": ["a", "\ud800"]}}) == (
        "field 'meta.src[1]' has a lone surrogate U+D800 at character 1: not valid Unicode text "
        "(fix or drop the row)"
    )
    assert data.surrogate_problem({"text": "ẹ̀ ok ሰላም"}) is None


def test_request_digest_never_raises() -> None:
    digest = Request("x/answer", prompt="abc \ud800 def").digest()
    assert len(digest) == 16 and digest != Request("x/answer", prompt="abc  def").digest()


# -- per-row isolation: a row that raises in any stage is that row's error -------------------------


def test_reading_a_row_that_raises_unexpectedly(tmp_path: Path, monkeypatch) -> None:
    real = data.languages.resolve

    def resolve(code: str):  # type: ignore[no-untyped-def]
        if code == "yor":
            raise RuntimeError("resolver broke")
        return real(code)

    source = write_jsonl(
        tmp_path / "data.jsonl", [*rows(3), {**rows(1)[0], "id": "y", "lang": "yor"}]
    )
    monkeypatch.setattr(data.languages, "resolve", resolve)
    _, records, _ = run(tmp_path, source)
    assert records[3]["error"] == "row 4 (line 4) of data.jsonl: RuntimeError: resolver broke"
    assert [r["error"] for r in records[:3]] == [None, None, None]


@pytest.mark.parametrize("stage", ["render", "digest", "extract", "score", "write"])
def test_a_row_that_raises_in_one_stage_is_that_rows_error(
    tmp_path: Path, monkeypatch, stage: str
) -> None:
    """Row r5 raises in ``stage``; the other nine rows of its chunks get their results."""
    from xprompt.strategies.direct import Direct
    from xprompt.types import Request as RequestType

    def boom(name: str) -> None:
        raise RuntimeError(f"{stage} broke on {name}")

    if stage == "render":
        real_request = Direct.request
        monkeypatch.setattr(
            Direct,
            "request",
            lambda self, ex: boom(ex.id) if ex.id == "r5" else real_request(self, ex),
        )
    elif stage == "digest":
        real_digest = RequestType.digest
        monkeypatch.setattr(
            RequestType,
            "digest",
            lambda self: boom(self.id) if self.id.startswith("r5/") else real_digest(self),
        )
    elif stage == "extract":
        real_extract = Direct.extract
        monkeypatch.setattr(
            Direct,
            "extract",
            lambda self, text, ex: boom(ex.id) if ex.id == "r5" else real_extract(self, text, ex),
        )
    elif stage == "score":
        real_correct = answers.is_correct
        monkeypatch.setattr(
            answers,
            "is_correct",
            lambda pred, gold, parser: (
                boom("r5") if gold == LABELS[5] else real_correct(pred, gold, parser)
            ),
        )
    else:
        real_record = runner.make_record

        def record(row, prediction, template):  # type: ignore[no-untyped-def]
            out = real_record(row, prediction, template)
            if row.id == "r5":
                out["prediction"] = "\udc80 cannot be UTF-8"
            return out

        monkeypatch.setattr(runner, "make_record", record)
    source = write_jsonl(tmp_path / "data.jsonl", rows())
    _, records, _ = run(tmp_path, source)
    assert [r["index"] for r in records] == list(range(10))
    errors = {r["id"]: r["error"] for r in records if r["error"]}
    assert list(errors) == ["r5"], errors
    message = errors["r5"]
    assert message.startswith("row 6 (id 'r5'): ")
    if stage == "write":
        assert "the result could not be written (UnicodeEncodeError" in message
    elif stage == "score":
        assert message == (
            "row 6 (id 'r5'): scoring failed: RuntimeError: score broke on r5 "
            "(in xprompt/runner.py:make_record)"
        )
    else:
        assert f"RuntimeError: {stage} broke on r5" in message
    assert all(r["prediction"] == "travel" for r in records if r["id"] != "r5")


def test_generation_error_for_one_request_is_that_rows_error(tmp_path: Path) -> None:
    def script(request: Request) -> str:
        if request.id.startswith("r2/"):
            raise ValueError("prompt is 9000 tokens; it exceeds the model's context")
        return "travel"

    _, records, _ = run(
        tmp_path, write_jsonl(tmp_path / "data.jsonl", rows()), ScriptedBackend(script)
    )
    assert records[2]["error"] == (
        "row 3 (id 'r2'): prompt is 9000 tokens; it exceeds the model's context"
    )
    assert sum(r["error"] is not None for r in records) == 1


# -- the engine failing as a whole ------------------------------------------------------------------


class DyingBackend(ScriptedBackend):
    """Serves ``alive`` batches, then dies as a killed vLLM engine does."""

    def __init__(self, alive: int) -> None:
        super().__init__(answer)
        self.alive = alive

    def generate(self, requests):  # type: ignore[no-untyped-def]
        if len(self.batches) >= self.alive:
            raise EngineDiedError("the vLLM engine died while generating")
        return super().generate(requests)


def test_engine_death_stops_the_run_with_its_exit_code_and_resumes(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "data.jsonl", rows())
    with pytest.raises(EngineDiedError) as caught:
        run(tmp_path, source, DyingBackend(alive=2))
    assert caught.value.exit_code == 4
    assert str(caught.value) == (
        "the vLLM engine died while generating. 8 of 10 rows are saved in "
        f"{tmp_path / 'out.jsonl'}; run the same command again to resume"
    )
    assert [r["index"] for r in read_jsonl(tmp_path / "out.jsonl")] == list(range(8))
    _, records, backend = run(tmp_path, source)
    assert [r["index"] for r in records] == list(range(10))
    assert sum(len(b) for b in backend.batches) == 2


# -- output trouble ---------------------------------------------------------------------------------


def test_second_process_on_the_same_output_refuses(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "data.jsonl", rows())
    out = tmp_path / "out.jsonl"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(resume.lock_path(out))], stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"locked"
        backend = ScriptedBackend(answer)
        with pytest.raises(OutputLockedError) as caught:
            run(tmp_path, source, backend)
        assert str(caught.value) == (
            f"{out} is being written by another xprompt process (pid {holder.pid}, lock "
            "out.jsonl.lock); wait for it to finish or choose another --output"
        )
        assert caught.value.exit_code == 6 and backend.batches == [] and not out.exists()
    finally:
        holder.kill()  # SIGKILL releases the lock with the process's descriptors
        holder.wait()
    _, records, _ = run(tmp_path, source)
    assert len(records) == 10


HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.pwrite(fd, f"{os.getpid()}\\n".encode(), 0)
print("locked", flush=True)
time.sleep(600)
"""


def test_output_path_that_is_a_directory_fails_before_the_model(tmp_path: Path) -> None:
    (tmp_path / "out.jsonl").mkdir()
    backend = ScriptedBackend(answer)
    with pytest.raises(OutputError) as caught:
        run(tmp_path, write_jsonl(tmp_path / "data.jsonl", rows()), backend)
    assert str(caught.value).startswith(f"--output {tmp_path / 'out.jsonl'} is a directory")
    assert backend.batches == [] and caught.value.exit_code == 5


def test_unwritable_output_directory_fails_before_the_model(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    backend = ScriptedBackend(answer)
    with pytest.raises(OutputError, match="cannot create the output directory"):
        run(
            tmp_path,
            write_jsonl(tmp_path / "data.jsonl", rows()),
            backend,
            output=str(tmp_path / "file" / "out.jsonl"),
        )
    assert backend.batches == []


def test_disk_full_keeps_what_was_written_and_resumes(tmp_path: Path, monkeypatch) -> None:
    source = write_jsonl(tmp_path / "data.jsonl", rows())
    real_write = os.write
    calls = {"n": 0}

    def write(fd: int, blob) -> int:  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:  # the second chunk: half of it reaches the disk, then ENOSPC
            real_write(fd, bytes(blob)[: len(blob) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, blob)

    monkeypatch.setattr(data.os, "write", write)
    with pytest.raises(OutputError) as caught:
        run(tmp_path, source)
    assert "No space left on device" in str(caught.value)
    monkeypatch.setattr(data.os, "write", real_write)
    _, records, _ = run(tmp_path, source)
    assert [r["index"] for r in records] == list(range(10)), "no row lost or duplicated"
    assert all(r["error"] is None for r in records)


# -- translate, project, synth, langid --------------------------------------------------------------


class EchoTranslator:
    """Translates by upper-casing: enough to check the job's bookkeeping."""

    model_id = "echo"

    def signature(self) -> str:
        return "echo"

    def describe(self) -> dict[str, Any]:
        return {"engine": "echo"}

    def close(self) -> None:
        pass

    def translate(self, requests):  # type: ignore[no-untyped-def]
        from xprompt.mt.base import Translation

        return [Translation(r.text, r.src, r.tgt, r.text.upper()) for r in requests]


def translate_job(tmp_path: Path, source: Path):  # type: ignore[no-untyped-def]
    from xprompt.mt.factory import TranslatorSettings
    from xprompt.mt.job import TranslateJob

    return TranslateJob(
        input=str(source),
        output=str(tmp_path / "mt.jsonl"),
        tgt="eng",
        fields=("text",),
        translator=TranslatorSettings(model="echo"),
        chunk_size=4,
    )


def test_translate_surrogate_row_and_a_row_whose_check_raises(tmp_path: Path, monkeypatch) -> None:
    from xprompt.mt import job as mt_job

    real_check = mt_job.langid.check

    def check(text: str, lang: str):  # type: ignore[no-untyped-def]
        if text == "TEXT 5":
            raise RuntimeError("detector broke")
        return real_check(text, lang)

    monkeypatch.setattr(mt_job.langid, "check", check)
    source = jsonl_with(tmp_path, [SURROGATE_ROW])
    mt_job.execute(translate_job(tmp_path, source), translator=EchoTranslator())
    records = read_jsonl(tmp_path / "mt.jsonl")
    assert [r["index"] for r in records] == list(range(11))
    assert "field 'text' has a lone surrogate U+D800" in records[3]["error"]
    assert records[6]["error"].startswith("row 7 (id 'r5'): RuntimeError: detector broke")
    assert [r["translation"]["text"] for r in records if not r["error"]][:2] == ["TEXT 0", "TEXT 1"]


def test_translate_refuses_a_locked_output(tmp_path: Path) -> None:
    from xprompt.mt import job as mt_job

    job = translate_job(tmp_path, write_jsonl(tmp_path / "data.jsonl", rows()))
    with resume.lock_output(job.output), pytest.raises(OutputLockedError):
        mt_job.execute(job, translator=EchoTranslator())


def test_project_surrogate_sentence_is_a_failed_record(tmp_path: Path) -> None:
    from xprompt.projection.spans import SentenceError, read_span_file

    source = tmp_path / "spans.jsonl"
    source.write_text(
        '{"id": "a", "lang": "eng", "text": "Kano is big", "spans": []}\n'
        '{"id": "b", "lang": "eng", "text": "\\ud83d Lagos", "spans": []}\n',
        encoding="utf-8",
    )
    first, second = read_span_file(source)
    assert not isinstance(first, SentenceError) and isinstance(second, SentenceError)
    assert "field 'text' has a lone surrogate U+D83D at character 1" in second.error


def test_synth_rejects_a_surrogate_row_and_refuses_a_directory_output(tmp_path: Path) -> None:
    from xprompt.ldp.synth import SynthJob, read_sources

    source = tmp_path / "hau.jsonl"
    source.write_text(
        '{"id": "a", "text": "Gwamnati ta sanar da sabon shirin kiwon lafiya a jihar Kano."}\n'
        '{"id": "b", "text": "Ma\'aikatar \\udc00 lafiya"}\n',
        encoding="utf-8",
    )
    job = SynthJob(input=str(source), output=str(tmp_path / "set.jsonl"), lang="hau")
    sources, rejected, inputs = read_sources(job)
    assert inputs == 2 and [s.id for s in sources] == ["a"]
    assert rejected[0]["id"] == "row2", "the row cannot be trusted for its id either"
    assert "field 'text' has a lone surrogate U+DC00" in json.dumps(rejected[0])
    (tmp_path / "dir.jsonl").mkdir()
    with pytest.raises(OutputError, match="is a directory"):
        SynthJob(
            input=str(source), output=str(tmp_path / "dir.jsonl"), lang="hau"
        ).check_output_free()


def test_langid_check_names_the_bad_lines(tmp_path: Path, capsys) -> None:
    from xprompt.cli import main

    source = tmp_path / "texts.jsonl"
    source.write_text(
        '{"text": "Gwamnati ta sanar da sabon shirin kiwon lafiya a jihar Kano."}\n'
        '{"text": "abc \\ud800 def"}\n' + '{"text": ' + "[" * 100_000 + "]" * 100_000 + "}\n",
        encoding="utf-8",
    )
    try:
        main(["langid", "check", str(source), "--lang", "hau"])
    except SystemExit as exc:
        assert not exc.code
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["line"] for x in lines] == [1, 2, 3]
    assert "check" in lines[0]
    assert lines[1]["error"] == (
        f"{source} line 2: field 'text' has a lone surrogate U+D800 at character 5: "
        "not valid Unicode text (fix or drop the row)"
    )
    assert lines[2]["error"] == f"{source} line 3: not valid JSON (nested too deeply)"


# -- serve: every bad body on one server, which stays healthy ---------------------------------------

HAUSA = "Gwamnati ta sanar da sabon shirin kiwon lafiya a jihar Kano ranar Talata."


def _user(content: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": content}]}


#: (kind, raw body, content type, status, param, words in the message)
BAD_BODIES: list[tuple[str, bytes, str, int, str | None, str]] = [
    ("invalid JSON", b'{"messages": [', "application/json", 400, None, "not valid JSON"),
    (
        "non-object body",
        b"[1, 2]",
        "application/json",
        400,
        "body",
        "must be a JSON object, got an array",
    ),
    (
        "wrong content type",
        json.dumps(_user(HAUSA)).encode(),
        "text/plain",
        400,
        "content-type",
        "Content-Type: application/json",
    ),
    (
        "lone surrogate",
        b'{"messages": [{"role": "user", "content": "abc \\ud800 def"}]}',
        "application/json",
        400,
        "messages[0].content",
        "lone surrogate U+D800 at character 5",
    ),
    (
        "lone surrogate in an unknown field",
        b'{"messages": [{"role": "user", "content": "hi"}], "meta": "\\udc80"}',
        "application/json",
        400,
        "body",
        "field 'meta' has a lone surrogate",
    ),
    (
        "nested 5000 deep",
        b'{"messages": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        "application/json",
        400,
        None,
        "nested too deeply",
    ),
    (
        "unknown content part",
        json.dumps(_user([{"type": "image_url", "image_url": {"url": "x"}}])).encode(),
        "application/json",
        400,
        "messages[0].content[0]",
        "content part type 'image_url' is not supported",
    ),
    (
        "n of 10000",
        json.dumps({**_user(HAUSA), "n": 10000}).encode(),
        "application/json",
        400,
        "n",
        "at most",
    ),
    (
        "messages not a list",
        json.dumps({"messages": "hello"}).encode(),
        "application/json",
        400,
        "messages",
        "valid list",
    ),
    (
        "null user content",
        json.dumps(_user(None)).encode(),
        "application/json",
        400,
        "messages[0]",
        "content is required for a user message",
    ),
    (
        "string for a number",
        json.dumps({**_user(HAUSA), "temperature": "hot"}).encode(),
        "application/json",
        400,
        "temperature",
        "valid number",
    ),
    (
        "stop list of 1000",
        json.dumps({**_user(HAUSA), "stop": [f"s{i}" for i in range(1000)]}).encode(),
        "application/json",
        400,
        "stop",
        "at most 16 stop sequences, got 1000",
    ),
    (
        "unknown language",
        json.dumps({**_user(HAUSA), "xprompt": {"lang": "klingonish"}}).encode(),
        "application/json",
        422,
        "xprompt.lang",
        "unknown language 'klingonish'",
    ),
]


def test_serve_bad_bodies_are_openai_shaped_4xx_and_the_server_stays_healthy() -> None:
    sys.path.insert(0, str(Path(__file__).parent / "serving"))
    from serve_helpers import running_app

    from serving.testing import ScriptedChatEngine

    engine = ScriptedChatEngine(lambda r: HAUSA)

    async def go() -> list[tuple[str, Any, Any]]:
        out = []
        async with running_app(engine) as http:
            for kind, body, ctype, *_ in BAD_BODIES:
                r = await http.post(
                    "/v1/chat/completions", content=body, headers={"content-type": ctype}
                )
                out.append((kind, r.status_code, r.json()))
            good = await http.post("/v1/chat/completions", json=_user(HAUSA))
            health = await http.get("/health")
            out.append(("after", good.status_code, health.status_code))
        return out

    results = asyncio.run(go())
    for (kind, _, _, status, param, words), (_, got, body) in zip(
        BAD_BODIES, results, strict=False
    ):
        assert got == status, (kind, body)
        assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
        assert body["error"]["type"] == "invalid_request_error", kind
        assert body["error"]["param"] == param, (kind, body)
        assert words in body["error"]["message"], (kind, body)
    assert results[-1] == ("after", 200, 200)
    assert engine.requests and all(
        HAUSA in m.content for r in engine.requests for m in r.messages if m.role == "user"
    )


def test_serve_dead_engine_turns_health_503_and_fails_requests_fast() -> None:
    sys.path.insert(0, str(Path(__file__).parent / "serving"))
    import httpx

    from serving.app import create_app
    from serving.config import ServeConfig
    from serving.testing import ScriptedChatEngine

    engine = ScriptedChatEngine(lambda r: HAUSA)
    deaths: list[str] = []
    app = create_app(ServeConfig(), engine=engine, on_engine_death=deaths.append)

    async def go() -> tuple[int, int, dict, int, dict]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                before = (await http.get("/health")).status_code
                engine.die()
                during = await http.post("/v1/chat/completions", json=_user(HAUSA))
                health = await http.get("/health")
                again = await http.post("/v1/chat/completions", json=_user(HAUSA))
                return before, during.status_code, during.json(), health.status_code, again.json()

    before, during, body, health, again = asyncio.run(go())
    assert (before, during, health) == (200, 503, 503)
    assert body["error"]["code"] == "engine_dead" and body["error"]["type"] == "service_unavailable"
    assert "exits so that its supervisor restarts it" in body["error"]["message"]
    assert again["error"]["code"] == "engine_dead"
    assert deaths == ["the scripted engine died"], "the death is reported once"


# -- real processes: SIGKILL leaves no engine behind; engine death stops and resumes ----------------


def _descendants(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def _wait_gone(pids: set[int], timeout_s: float = 15.0) -> set[int]:
    deadline = time.monotonic() + timeout_s
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return _alive(pids)


def _engine_core(pid: int, timeout_s: float = 180.0) -> set[int]:
    """The descendants of ``pid`` once its engine core process exists."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = _descendants(pid)
        if any("EngineCore" in _cmdline(p) or "VLLM" in _comm(p) for p in found):
            return found
        time.sleep(0.5)
    raise AssertionError("the engine core process never started")


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "xprompt", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}


def _wait_records(
    path: Path, at_least: int, proc: subprocess.Popen, timeout_s: float = 300
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= at_least:
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early with code {proc.returncode}")
        time.sleep(0.2)
    raise AssertionError("no records appeared")


@pytest.mark.slow
def test_sigkilled_run_leaves_no_engine_and_engine_death_resumes(tmp_path: Path) -> None:
    source = write_jsonl(
        tmp_path / "data.jsonl",
        [
            {
                "id": f"r{i}",
                "lang": "hau",
                "text": f"Labari na {i} game da lafiya.",
                "label": "health",
            }
            for i in range(120)
        ],
    )
    out = tmp_path / "out.jsonl"
    args = _cli(
        "run",
        "--template",
        "sib200-topic",
        "--model",
        "tiny",
        "--input",
        str(source),
        "--target-field",
        "label",
        "--output",
        str(out),
        "--chunk-size",
        "4",
        "--max-tokens",
        "24",
        "--enforce-eager",
        "-q",
    )
    # 1. SIGKILL mid-run: the engine core it started dies with it.
    proc = subprocess.Popen(args, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    tree = _engine_core(proc.pid)
    _wait_records(out, 4, proc)
    tree |= _descendants(proc.pid)
    proc.kill()
    proc.wait()
    assert _wait_gone(tree) == set(), "engine processes outlived the killed run"
    # 2. Kill the engine core mid-run: the run stops with code 4 and its message; rows are kept.
    proc = subprocess.Popen(args, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    tree = _engine_core(proc.pid)
    done = out.read_bytes().count(b"\n")
    _wait_records(out, done + 4, proc)
    for pid in tree:
        if "EngineCore" in _cmdline(pid) or "EngineCore" in _comm(pid):
            os.kill(pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 4, err.decode()[-2000:]
    assert b"engine died" in err and b"run the same command again to resume" in err
    assert _wait_gone(tree) == set()
    # 3. The same command finishes the file: every row once.
    subprocess.run(args, env=_env(), check=True, capture_output=True, timeout=600)
    records = read_jsonl(out)
    assert sorted(r["index"] for r in records) == list(range(120))


@pytest.mark.slow
def test_serve_engine_death_exits_4_and_sigkill_leaves_nothing(tmp_path: Path) -> None:
    from xprompt.testing.vllm_server import free_port

    def start() -> tuple[subprocess.Popen, str]:
        port = free_port()
        proc = subprocess.Popen(
            _cli("serve", "--model", "tiny", "--port", str(port), "--enforce-eager"),
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        return proc, f"http://127.0.0.1:{port}"

    def healthy(root: str, proc: subprocess.Popen) -> None:
        import urllib.request

        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            try:
                with urllib.request.urlopen(root + "/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise AssertionError("the server never became healthy")

    proc, root = start()
    healthy(root, proc)
    tree = _descendants(proc.pid)
    for pid in tree:
        if "EngineCore" in _cmdline(pid) or "EngineCore" in _comm(pid):
            os.kill(pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 4, err.decode()[-2000:]
    assert b"the server stopped so that its supervisor can restart it" in err
    assert _wait_gone(tree) == set()
    proc, root = start()
    healthy(root, proc)
    tree = _descendants(proc.pid)
    proc.kill()
    proc.wait()
    assert tree and _wait_gone(tree) == set(), "engine processes outlived the killed server"


def test_lock_file_records_the_holder_and_fcntl_is_released_on_close(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    with resume.lock_output(out) as lock:
        assert lock.read_text().strip() == str(os.getpid())
        fd = os.open(lock, os.O_RDWR)
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(fd)
    fd = os.open(resume.lock_path(out), os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(fd)


def test_synth_output_whose_check_raises_is_rejected_alone(tmp_path: Path, monkeypatch) -> None:
    from test_ldp_synth import HAU_EN, fake_llm

    from xprompt.ldp import filters as F
    from xprompt.ldp import synth
    from xprompt.ldp.exemplar_set import default_diverse_set
    from xprompt.ldp.translator import LDPTranslator

    texts = list(HAU_EN)
    source = write_jsonl(
        tmp_path / "hau.jsonl", [{"id": f"s{i}", "text": t} for i, t in enumerate(texts)]
    )
    real = F.check_output

    def check(source_text: str, *args: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
        if source_text == texts[0]:
            raise RuntimeError("filter broke")
        return real(source_text, *args, **kwargs)

    monkeypatch.setattr(F, "check_output", check)
    job = synth.SynthJob(input=str(source), output=str(tmp_path / "set.jsonl"), lang="hau")
    job.filters = F.FilterSettings(roundtrip_chrf=None)
    translator = LDPTranslator(fake_llm(HAU_EN), default_diverse_set(), shots=2)
    result = synth.synthesize_pairs(job, translator)
    broken = [r for r in result.rejected if r["id"] == "s0"]
    assert broken and "RuntimeError: filter broke" in json.dumps(broken[0])
    assert len(result.accepted) + len(result.rejected) == len(texts)
    assert len(result.accepted) >= 1, "the other rows go on"


OWNER = """
import multiprocessing, subprocess, sys, time
from xprompt.backends.lifetime import bind_engine_children
bind_engine_children()
exec_child = subprocess.Popen(["sleep", "600"])
fork_child = multiprocessing.get_context("fork").Process(target=time.sleep, args=(600,))
fork_child.start()
print(exec_child.pid, fork_child.pid, flush=True)
time.sleep(600)
"""


def test_reaper_kills_the_children_of_a_sigkilled_owner() -> None:
    """Without an engine: an exec'd and a forked child of a bound process die when it is SIGKILLed."""
    owner = subprocess.Popen([sys.executable, "-c", OWNER], env=_env(), stdout=subprocess.PIPE)
    assert owner.stdout is not None
    children = {int(x) for x in owner.stdout.readline().split()}
    assert len(children) == 2
    deadline = time.monotonic() + 30
    while not children <= set(_descendants(owner.pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # one reaper scan after both exist
    owner.kill()
    owner.wait()
    assert _wait_gone(children) == set()
