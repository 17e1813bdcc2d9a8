"""Self-consistency logic with a scripted backend: one n=k request per row, maj@k and first sample."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import EXAMPLES, read_jsonl, write_jsonl

from xprompt import runner
from xprompt.config import load_run_config
from xprompt.errors import ConfigError
from xprompt.testing.scripted import ScriptedBackend
from xprompt.types import Request

ROWS = [
    {"id": "a", "lang": "swh_Latn", "question": "Amina ana maembe 18, anatoa 5. Yamebaki mangapi?", "answer": "13"},
    {"id": "b", "lang": "swh_Latn", "question": "Basi lina abiria 42; 15 wanashuka, 8 wanapanda. Wangapi?", "answer": "35"},
    {"id": "c", "lang": "amh_Ethi", "question": "አንድ ገበሬ 12 እንቁላሎችን በ4 ብር ሸጠ። ስንት ብር አገኘ?", "answer": "48"},
]  # fmt: skip

SAMPLES = {
    # a: the vote is right, the first sample is wrong.
    "a": ["Jibu: 12", "Maembe 18 - 5 = 13. Jibu: 13", "Jibu ni 13.", "sijui", "Jibu: 12"],
    # b: the first sample is right, and so is the vote.
    "b": ["Jibu: 35", "Jibu: 34", "Jibu: 35", "Jibu: 35", "Jibu: 50"],
    # c: Ethiopic numerals; one sample has no number at all.
    "c": ["መልሱ ፵፰ ነው።", "መልስ: 48", "አላውቅም", "መልስ: ፵፰", "መልስ: 36"],
}


def config(tmp_path: Path, **extra):
    overrides = {
        "data": {"input": str(write_jsonl(tmp_path / "in.jsonl", ROWS)), "target_field": "answer"},
        "output": str(tmp_path / "out.jsonl"),
        "template": "mgsm-cot",
        "strategy": "self-consistency",
        "engine": {"model": "scripted-model"},
    }
    overrides.update(extra)
    return load_run_config(None, overrides)


def script(request: Request) -> list[str]:
    return SAMPLES[request.id.split("/")[0]][: request.sampling.n]


def test_one_request_with_n_k_per_row_and_maj_at_k_next_to_the_first_sample(tmp_path: Path) -> None:
    backend = ScriptedBackend(script)
    summary = runner.execute(runner.prepare(config(tmp_path)), backend=backend)
    assert len(backend.batches) == 1 and len(backend.batches[0]) == 3, (
        "one call, one request per row"
    )
    request = backend.batches[0][0]
    assert (request.sampling.n, request.sampling.temperature, request.sampling.max_tokens) == (
        5,
        0.7,
        512,
    )
    assert request.messages[-1].content.endswith(
        "Finally, you should format your answer as 'Answer: [num]'."
    )
    records = {r["id"]: r for r in read_jsonl(tmp_path / "out.jsonl")}
    a = records["a"]
    assert a["details"]["vote"]["counts"] == {"12": 2, "13": 2}
    assert (a["prediction"], a["correct"]) == ("12", False), "tie -> the earliest sample"
    assert (a["details"]["first_answer"], a["details"]["first_correct"]) == ("12", False)
    assert len(a["steps"]) == 1 and len(a["steps"][0]["texts"]) == 5
    assert [p["sample"] for p in a["details"]["paths"]] == [0, 1, 2, 3, 4]
    assert a["details"]["paths"][3]["rule"] == "no-number"
    assert records["b"]["prediction"] == "35" and records["b"]["details"]["first_correct"] is True
    c = records["c"]
    assert (c["prediction"], c["correct"]) == ("48", True)
    assert [p["matched"] for p in c["details"]["paths"]][:2] == ["፵፰", "48"]
    # The samples were checked against the question's language (the template asks for it).
    assert {ch["expected"] for ch in c["steps"][0]["checks"]} == {"amh_Ethi"}
    assert summary.total.accuracy == 2 / 3 and summary.total.first_sample_accuracy == 2 / 3
    assert summary.total.paths == 15 and summary.total.path_failures == 2


def test_vote_changes_the_result_where_the_first_sample_is_wrong(tmp_path: Path) -> None:
    samples = {
        "a": ["Jibu: 12", "Jibu: 13", "Jibu: 13"],
        "b": ["Jibu: 35"] * 3,
        "c": ["መልስ: 36", "መልስ: 48", "መልስ: 48"],
    }
    backend = ScriptedBackend(lambda r: samples[r.id.split("/")[0]][: r.sampling.n])
    summary = runner.execute(
        runner.prepare(config(tmp_path, sampling={"n": 3, "temperature": 0.5})), backend=backend
    )
    assert (
        backend.batches[0][0].sampling.n == 3 and backend.batches[0][0].sampling.temperature == 0.5
    )
    assert summary.total.accuracy == 1.0 and summary.total.first_sample_accuracy == 1 / 3


def test_few_shot_chain_of_thought_exemplars_show_worked_solutions(tmp_path: Path) -> None:
    backend = ScriptedBackend(script)
    pool = EXAMPLES / "mgsm" / "mgsm.cot-pool.jsonl"
    cfg = config(tmp_path, exemplars={"shots": 2, "pool": str(pool), "lang": "eng_Latn"})
    runner.execute(runner.prepare(cfg), backend=backend)
    messages = backend.batches[0][0].messages
    assert [m.role for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    assert messages[1].content.endswith("Answer: 17") and "4 × 5 = 20" in messages[1].content
    assert read_jsonl(tmp_path / "out.jsonl")[0]["details"]["exemplar_ids"] == [
        "c1-eng_Latn",
        "c2-eng_Latn",
    ]


def test_reasoning_language_option_and_exclusion_of_off_target_samples(tmp_path: Path) -> None:
    english = "The total is 13 mangoes because eighteen minus five is thirteen. Answer: 13"
    samples = {
        k: [english, "Jibu: 12", "Jibu: 12 kwa sababu maembe kumi na nane ukitoa matano"]
        for k in "abc"
    }
    backend = ScriptedBackend(lambda r: samples[r.id.split("/")[0]][: r.sampling.n])
    cfg = config(
        tmp_path,
        sampling={"n": 3, "temperature": 0.7},
        options={"reasoning_lang": "swh", "exclude_off_target": True},
    )
    runner.execute(runner.prepare(cfg), backend=backend)
    a = read_jsonl(tmp_path / "out.jsonl")[0]
    assert a["details"]["paths"][0]["verdict"] == "off"
    assert a["details"]["vote"]["excluded_off_target"] == ["sample 0"]
    assert a["prediction"] == "12"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"sampling": {"n": 1}}, "use --n K with K >= 2"),
        ({"sampling": {"n": 4, "temperature": 0}}, "n > 1 needs temperature > 0"),
        ({"options": {"parser": "words"}}, "unknown parser 'words'"),
        ({"options": {"reasoning_lang": "klingonish"}}, "reasoning_lang"),
    ],
)
def test_bad_settings_are_clear_errors(tmp_path: Path, extra: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        runner.prepare(config(tmp_path, **extra))


def test_aliases(tmp_path: Path) -> None:
    assert runner.prepare(config(tmp_path, strategy="sc")).strategy.name == "self-consistency"


def test_rerank_policy_puts_on_target_samples_first_so_ties_prefer_them(tmp_path: Path) -> None:
    english = "The answer is 12, I am sure about this count of the mangoes."
    swahili = "Jibu ni 13 kwa sababu maembe kumi na nane ukitoa matano ni kumi na tatu."
    backend = ScriptedBackend(lambda r: [english, swahili][: r.sampling.n])
    sampling = {"n": 2, "temperature": 0.7}
    flagged = config(tmp_path, sampling=sampling)
    runner.execute(runner.prepare(flagged), backend=backend)
    assert read_jsonl(tmp_path / "out.jsonl")[0]["prediction"] == "12", "tie -> first sample"
    reranked = tmp_path / "rerank"
    reranked.mkdir()
    cfg = config(reranked, sampling=sampling, guard={"policy": "rerank"})
    runner.execute(runner.prepare(cfg), backend=backend)
    record = read_jsonl(reranked / "out.jsonl")[0]
    assert record["steps"][0]["guard"] == {"policy": "rerank", "order": [1, 0]}
    assert [p["verdict"] for p in record["details"]["paths"]] == ["on", "off"]
    assert record["prediction"] == "13"
