"""Translate-test: MT (real tiny seq2seq model) feeds the task step; fields, map-back, back-translation.

Logic tests answer the task step with a scripted backend; the end-to-end tests
run the real vLLM engine for the task and the real MT model for translation,
including a crash and a resume served from the translation cache.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from helpers import EXAMPLES, read_jsonl, write_jsonl

from xprompt import runner
from xprompt.config import load_run_config
from xprompt.errors import ConfigError, UnknownLanguageError
from xprompt.mt.base import Translation, TranslationRequest
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
TEST_SET = EXAMPLES / "data" / "topics.test.jsonl"


class Recorder:
    """Wraps a translator and records every batch it was given."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.calls: list[list[TranslationRequest]] = []

    model_id = property(lambda self: self.inner.model_id)

    def signature(self) -> str:
        return self.inner.signature()

    def describe(self) -> dict:
        return self.inner.describe()

    def close(self) -> None:
        self.inner.close()

    def translate(self, requests: Sequence[TranslationRequest]) -> list[Translation]:
        self.calls.append(list(requests))
        return self.inner.translate(requests)


def config(tmp_path: Path, data: Path, template: str = "sib200-topic", **options):
    opts = {
        "mt_model": "tiny",
        "mt_max_new_tokens": 10,
        "cache": str(tmp_path / "mt.sqlite"),
        **options,
    }
    return load_run_config(
        None,
        {
            "data": {
                "input": str(data),
                "target_field": "label" if template == "sib200-topic" else None,
            },
            "output": str(tmp_path / "out.jsonl"),
            "template": template,
            "strategy": "translate-test",
            "engine": {"model": "scripted-model"},
            "options": opts,
            "chunk_size": 16,
        },
    )


def sample(tmp_path: Path, n_per_lang: int = 3) -> Path:
    rows = [json.loads(line) for line in TEST_SET.read_text(encoding="utf-8").splitlines()]
    picked = [r for r in rows if int(r["id"][1:4]) in (3, 10, 17)[:n_per_lang]]
    return write_jsonl(tmp_path / "data.jsonl", picked)


def user_text(request: Request) -> str:
    assert request.messages is not None
    return request.messages[-1].content


def test_translations_feed_the_task_step(tmp_path: Path) -> None:
    prepared = runner.prepare(config(tmp_path, sample(tmp_path)))
    recorder = Recorder(prepared.strategy.translator_for(ScriptedBackend(str)))
    prepared.strategy.translator = recorder
    backend = ScriptedBackend(lambda r: "health")
    runner.execute(prepared, backend=backend)
    records = {r["id"]: r for r in read_jsonl(tmp_path / "out.jsonl")}
    assert len(records) == 36 and all(r["error"] is None for r in records.values())
    assert len(recorder.calls) == 3, "one MT call per chunk"
    assert [len(b) for b in backend.batches] == [16, 16, 4], "one task call per chunk"
    sent = {r.id.split("/")[0]: user_text(r) for batch in backend.batches for r in batch}
    originals = {
        json.loads(x)["id"]: json.loads(x)["text"]
        for x in TEST_SET.read_text(encoding="utf-8").splitlines()
    }
    for row_id, record in records.items():
        if record["lang"] == "eng_Latn":
            assert [s["step"] for s in record["steps"]] == ["answer"], (
                "pivot-language rows are not translated"
            )
            assert originals[row_id] in sent[row_id]
            continue
        mt_step, answer_step = record["steps"]
        assert mt_step["step"] == "mt:text" and mt_step["lang"] == "eng_Latn"
        assert mt_step["checks"][0]["expected"] == "eng_Latn", (
            "every translation is language-checked"
        )
        translation = mt_step["texts"][0]
        assert f"Text (English): {translation}" in sent[row_id], (
            "the task sees the translation, in English"
        )
        assert originals[row_id] not in sent[row_id]
        assert record["prediction"] == "health" and answer_step["step"] == "answer"
        assert record["details"]["pivot"] == "eng_Latn"
        assert set(record["details"]["mt"]["text"]) == {"copy", "cached", "score", "segments"}
    assert (
        "translate-test(mt=tiny-nllb-v1@" in prepared.signature
        and "inner=direct(" in prepared.signature
    )


NLI = """
name: tiny-nli
task: nli
fields: [premise, hypothesis]
choices: [entailment, neutral, contradiction]
answer: {parser: choice, constrain: true}
user: "Premise: {{ premise }}\\nHypothesis: {{ hypothesis }}\\nAnswer with {{ choices | join(', ') }}."
"""

CHOICE = """
name: tiny-choice
task: multiple-choice
fields: [question, choice1, choice2]
answer: {parser: text}
output_language: english
user: "{{ question }}\\nA: {{ choice1 }}\\nB: {{ choice2 }}\\nAnswer with the text of A or B."
"""

GENERATE = """
name: tiny-answer
task: generation
fields: [text]
answer: {parser: text}
user: "Answer briefly: {{ text }}"
"""


def template_file(tmp_path: Path, text: str, name: str) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return str(path)


def test_each_field_is_translated_separately_in_one_call(tmp_path: Path) -> None:
    rows = [
        {"id": "n1", "lang": "hau_Latn", "premise": "Yaro yana wasa a waje.", "hypothesis": "Yaro yana barci.", "label": "contradiction"},
        {"id": "n2", "lang": "swh_Latn", "premise": "Mtoto anacheza nje.", "hypothesis": "Mtoto yuko nje.", "label": "entailment"},
    ]  # fmt: skip
    data = write_jsonl(tmp_path / "nli.jsonl", rows)
    cfg = config(tmp_path, data, template_file(tmp_path, NLI, "tiny-nli"))
    prepared = runner.prepare(cfg)
    recorder = Recorder(prepared.strategy.translator_for(ScriptedBackend(str)))
    prepared.strategy.translator = recorder
    runner.execute(prepared, backend=ScriptedBackend(lambda r: "neutral"))
    (call,) = recorder.calls
    assert [(r.text, r.src, r.tgt) for r in call] == [
        ("Yaro yana wasa a waje.", "hau_Latn", "eng_Latn"),
        ("Yaro yana barci.", "hau_Latn", "eng_Latn"),
        ("Mtoto anacheza nje.", "swh_Latn", "eng_Latn"),
        ("Mtoto yuko nje.", "swh_Latn", "eng_Latn"),
    ]
    records = read_jsonl(tmp_path / "out.jsonl")
    assert [[s["step"] for s in r["steps"]] for r in records] == [
        ["mt:premise", "mt:hypothesis", "answer"]
    ] * 2
    assert all(r["prediction"] == "neutral" for r in records), (
        "labels are canonical: nothing to map back"
    )


def test_a_text_answer_naming_a_translated_choice_maps_back_to_the_original(tmp_path: Path) -> None:
    rows = [
        {
            "id": "c1",
            "lang": "hau_Latn",
            "question": "Me yaro ya ci?",
            "choice1": "Shinkafa.",
            "choice2": "Dankali.",
        }
    ]
    data = write_jsonl(tmp_path / "choice.jsonl", rows)
    prepared = runner.prepare(
        config(tmp_path, data, template_file(tmp_path, CHOICE, "tiny-choice"))
    )

    def pick_b(request: Request) -> str:
        return re.search(r"\nB: (.*)\nAnswer", user_text(request), re.S).group(1)

    runner.execute(prepared, backend=ScriptedBackend(pick_b))
    (record,) = read_jsonl(tmp_path / "out.jsonl")
    translated_b = record["steps"][2]["texts"][0]
    assert record["prediction"] == "Dankali.", "the original choice text, not its translation"
    assert record["details"]["mapped_from_field"] == "choice2"
    assert record["details"]["pivot_answer"] == translated_b.strip()
    assert [s["step"] for s in record["steps"]][-1] == "answer", (
        "a choice answer is not back-translated"
    )


def test_generation_answers_are_translated_back_and_checked(tmp_path: Path) -> None:
    rows = [
        {"id": "g1", "lang": "hau_Latn", "text": "Menene babban birnin Najeriya?"},
        {"id": "g2", "lang": "eng_Latn", "text": "What is the capital of Nigeria?"},
        {
            "id": "g3",
            "lang": "arb_Latn",
            "text": "ma hiya asimat nayjirya?",
        },  # NLLB has no arb_Latn token
    ]
    data = write_jsonl(tmp_path / "gen.jsonl", rows)
    prepared = runner.prepare(
        config(tmp_path, data, template_file(tmp_path, GENERATE, "tiny-answer"))
    )
    runner.execute(prepared, backend=ScriptedBackend(lambda r: "Abuja is the capital."))
    g1, g2, g3 = read_jsonl(tmp_path / "out.jsonl")
    assert [s["step"] for s in g1["steps"]] == ["mt:text", "answer", "mt:back"]
    back = g1["steps"][-1]
    assert back["lang"] == "hau_Latn" and back["checks"][0]["expected"] == "hau_Latn"
    assert (
        g1["prediction"] == back["texts"][0]
        and g1["details"]["pivot_answer"] == "Abuja is the capital."
    )
    assert g1["steps"][1]["checks"][0]["expected"] == "eng_Latn", (
        "the pivot answer is checked against the pivot"
    )
    assert g2["prediction"] == "Abuja is the capital." and len(g2["steps"]) == 1, (
        "pivot rows: no MT either way"
    )
    assert g3["prediction"] is None
    assert g3["error"].startswith(
        "row 3 (id 'g3'): translating field 'text' from arb_Latn to eng_Latn: "
    )
    assert "no language token for arb_Latn" in g3["error"] and g3["steps"][0]["step"] == "mt:text"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mt_modle": "tiny"}, r"invalid options:\n  mt_modle: Extra inputs are not permitted"),
        ({"inner": "translate_test"}, "cannot run itself"),
        (
            {"fields": ["premise"]},
            r"fields \['premise'\] are not fields of template 'sib200-topic'",
        ),
        ({"mt_model": "self"}, "needs --opt self_translate_exemplars=FILE"),
        (
            {"mt_model": "self", "self_translate_exemplars": "/nope/pairs.jsonl"},
            "exemplar file /nope/pairs.jsonl",
        ),
        ({"inner": "no-such"}, "unknown strategy 'no-such'"),
    ],
)
def test_bad_options_are_clear_errors_before_any_engine(
    tmp_path: Path, options: dict, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        runner.prepare(config(tmp_path, sample(tmp_path, 1), **options))


def test_unknown_pivot_is_an_error(tmp_path: Path) -> None:
    with pytest.raises((ConfigError, UnknownLanguageError), match="klingonese"):
        runner.prepare(config(tmp_path, sample(tmp_path, 1), pivot="klingonese"))


# -- end to end on the real engine ------------------------------------------------------


class Crash(Exception):
    pass


class CrashOnCall:
    """The real engine, dying (like a killed process) on its n-th generate call."""

    def __init__(self, inner, crash_on: int) -> None:
        self.inner, self.crash_on, self.calls = inner, crash_on, 0

    model_id = property(lambda self: self.inner.model_id)

    def describe(self):
        return self.inner.describe()

    def close(self) -> None:
        pass

    def generate(self, requests):
        self.calls += 1
        if self.calls == self.crash_on:
            raise Crash("engine died")
        return self.inner.generate(requests)


@pytest.mark.engine
def test_translate_test_end_to_end_with_crash_and_resume(tmp_path: Path, vllm_backend) -> None:
    lines = TEST_SET.read_text(encoding="utf-8").splitlines()
    lines.insert(40, json.dumps({"id": "bad-missing", "lang": "hau_Latn", "label": "travel"}))
    lines.insert(
        100, json.dumps({"id": "bad-mt", "lang": "arb_Latn", "text": "marhaban", "label": "travel"})
    )
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    total = len(lines)
    cfg = config(tmp_path, data).model_copy(update={"chunk_size": 64})
    with pytest.raises(Crash):
        runner.execute(runner.prepare(cfg), backend=CrashOnCall(vllm_backend, crash_on=3))
    done_before = len(read_jsonl(tmp_path / "out.jsonl"))
    assert done_before == 128, "two chunks finished before the crash"

    prepared = runner.prepare(cfg)
    summary = runner.execute(prepared, backend=vllm_backend)
    records = read_jsonl(tmp_path / "out.jsonl")
    assert sorted(r["index"] for r in records) == list(range(total)), "every row exactly once"
    assert summary.total.rows == total and summary.rows_this_session == total - 128
    by_id = {r["id"]: r for r in records}
    assert "field 'text' is missing" in by_id["bad-missing"]["error"]
    assert "no language token for arb_Latn" in by_id["bad-mt"]["error"]
    good = [r for r in records if not r["id"].startswith("bad-")]
    assert all(r["error"] is None and r["prediction"] in LABELS for r in good)
    translated = [r for r in good if r["lang"] != "eng_Latn"]
    assert len(translated) == 11 * 28
    assert all(r["steps"][0]["step"] == "mt:text" and r["steps"][0]["checks"] for r in translated)
    third_chunk = [
        r for r in records if 128 <= r["index"] < 192 and r["lang"] != "eng_Latn" and not r["error"]
    ]
    assert third_chunk and all(r["details"]["mt"]["text"]["cached"] for r in third_chunk), (
        "the chunk in flight at the crash was translated before it: the resume takes it from the cache"
    )
    later = [r for r in translated if r["index"] >= 192]
    assert not any(r["details"]["mt"]["text"]["cached"] for r in later)
    assert len({r["steps"][0]["texts"][0] for r in translated}) > 50, (
        "translations differ per sentence"
    )


@pytest.mark.engine
def test_self_translate_mode_uses_the_runs_own_llm(tmp_path: Path, vllm_backend) -> None:
    class Recording:
        def __init__(self, inner) -> None:
            self.inner, self.batches = inner, []

        model_id = property(lambda self: self.inner.model_id)

        def describe(self):
            return self.inner.describe()

        def close(self) -> None:
            pass

        def generate(self, requests):
            self.batches.append(list(requests))
            return self.inner.generate(requests)

    cfg = config(
        tmp_path,
        sample(tmp_path, 2),
        mt_model="self",
        self_translate_exemplars=str(EXAMPLES / "mt" / "topics.pairs.jsonl"),
        self_translate_shots=1,
        self_translate_max_chars=200,
        self_translate_max_tokens=24,
    )
    prepared = runner.prepare(cfg)
    assert "mt=self-translate(k=1," in prepared.signature
    backend = Recording(vllm_backend)
    runner.execute(prepared, backend=backend)
    records = read_jsonl(tmp_path / "out.jsonl")
    assert len(records) == 24 and all(r["error"] is None for r in records)
    mt_batches = [b for b in backend.batches if b[0].prompt is not None]
    task_batches = [b for b in backend.batches if b[0].messages is not None]
    assert len(backend.batches) == 4, "per chunk: one MT call, then one task call"
    assert [len(b) for b in mt_batches] == [14, 8] and [len(b) for b in task_batches] == [16, 8]
    assert all(r.prompt.endswith("\nEnglish:") for b in mt_batches for r in b)
    hausa = next(r for r in records if r["lang"] == "hau_Latn")
    assert hausa["steps"][0]["step"] == "mt:text" and "\n" not in hausa["steps"][0]["texts"][0]
