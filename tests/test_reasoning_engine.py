"""CLP, CLSP and self-consistency end to end on the real vLLM engine (tiny random model).

The model's text is gibberish, so these tests check structure and bookkeeping:
one batched call per turn, every turn of every path in the record, language
checks for every text, votes that add up, seeded determinism, and that
``xprompt score`` re-derives the run's own answers from the saved records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import EXAMPLES, read_jsonl

from xprompt import runner
from xprompt.config import load_run_config
from xprompt.rescore import ScoreSettings, score_file
from xprompt.types import Message, Request, Sampling

pytestmark = pytest.mark.engine

MGSM = EXAMPLES / "mgsm" / "mgsm.mini.jsonl"
POOL = EXAMPLES / "mgsm" / "mgsm.cot-pool.jsonl"


class CountingBackend:
    """Passes every call through to the real engine and records the batch sizes."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.batches: list[int] = []

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    def close(self) -> None:
        pass

    def generate(self, requests):
        self.batches.append(len(requests))
        return self.inner.generate(requests)


def config(tmp_path: Path, model_dir: Path, strategy: str, name: str, **extra):
    overrides = {
        "data": {"input": str(MGSM), "target_field": "answer"},
        "output": str(tmp_path / f"{name}.jsonl"),
        "template": "clp-solve" if strategy in ("clp", "clsp") else "mgsm-cot",
        "strategy": strategy,
        "engine": {"model": str(model_dir)},
        "sampling": {"max_tokens": 12},
        "overwrite": True,
    }
    overrides.update(extra)
    return load_run_config(None, overrides)


def run(cfg, backend) -> tuple[Any, list[dict]]:
    counting = CountingBackend(backend)
    summary = runner.execute(runner.prepare(cfg), backend=counting)
    return (summary, counting.batches), read_jsonl(Path(cfg.output))


def test_seeded_sampling_over_a_batch_larger_than_the_token_budget(vllm_backend) -> None:
    # 60 seeded requests of ~200 prompt tokens exceed vLLM's per-step token budget on a CPU
    # (4096); with chunked prefill the CPU worker used to die on seeded requests.
    long_text = "Amina ana vikapu vitatu na maembe sita katika kila kikapu. " * 10
    requests = [
        Request(f"r{i}", messages=(Message("user", f"{i}: {long_text}"),),
                sampling=Sampling(temperature=1.0, max_tokens=4, seed=i))
        for i in range(60)
    ]  # fmt: skip
    first = vllm_backend.generate(requests)
    assert all(c.ok for c in first) and sum(c.prompt_tokens for c in first) > 4096
    assert [c.texts for c in vllm_backend.generate(requests)] == [c.texts for c in first]


def test_clp_end_to_end(vllm_backend, tiny_llama_dir: Path, tmp_path: Path) -> None:
    cfg = config(tmp_path, tiny_llama_dir, "clp", "clp")
    (summary, batches), records = run(cfg, vllm_backend)
    assert batches == [24, 24], "turn 1 for every row in one call, then turn 2"
    assert len(records) == 24 and summary.total.errors == 0
    for record in records:
        align, solve = record["steps"]
        assert (align["step"], solve["step"]) == ("align:eng_Latn", "solve:eng_Latn")
        assert len(align["texts"]) == len(solve["texts"]) == 1
        assert 1 <= solve["completion_tokens"] <= 12
        # Turn 2 carries the whole turn-1 conversation plus the model's reply.
        assert solve["prompt_tokens"] > align["prompt_tokens"] + align["completion_tokens"]
        assert [c["expected"] for c in align["checks"] + solve["checks"]] == ["eng_Latn"] * 2
        (path,) = record["details"]["paths"]
        assert path["path"] == "eng_Latn" and path["step"] == "solve:eng_Latn"
        assert record["extraction"] == path["rule"] and record["prediction"] == path["answer"]
        assert record["correct"] in (True, False)
    assert summary.total.paths == 24 and set(summary.by_path_lang) == {"eng_Latn"}
    assert summary.total.checked == 48 and summary.total.extraction_failure_rate is not None
    assert set(summary.by_lang) == {
        "eng_Latn", "swh_Latn", "hau_Latn", "amh_Ethi", "ben_Beng", "tha_Thai", "zho_Hans", "fra_Latn"
    }  # fmt: skip
    (_, _), again = run(cfg, vllm_backend)
    assert [r["steps"] for r in again] == [r["steps"] for r in records], "seeded: the same texts"


def test_clsp_end_to_end_and_rescoring(vllm_backend, tiny_llama_dir: Path, tmp_path: Path) -> None:
    cfg = config(tmp_path, tiny_llama_dir, "clsp", "clsp")
    (summary, batches), records = run(cfg, vllm_backend)
    assert batches == [24 * 7, 24 * 7], "all paths of all rows: one call per turn"
    langs = ["eng_Latn", "deu_Latn", "spa_Latn", "fra_Latn", "jpn_Jpan", "rus_Cyrl", "zho_Hans"]
    for record in records:
        assert [s["step"] for s in record["steps"]] == [
            f"{t}:{lang}" for lang in langs for t in ("align", "solve")
        ]
        assert all(c["expected"] == s["lang"] for s in record["steps"] for c in s["checks"])
        details = record["details"]
        assert [p["path"] for p in details["paths"]] == langs == details["vote"]["order"]
        voters = [p for p in details["paths"] if p["voted"]]
        assert sum(details["vote"]["counts"].values()) == len(voters) == details["vote"]["voters"]
        assert all(p["answer"] is not None for p in voters)
        if voters:
            top = max(details["vote"]["counts"].values())
            first_top = next(
                p["answer"] for p in voters if details["vote"]["counts"][p["answer"]] == top
            )
            assert record["prediction"] == first_top, "ties go to the earliest language"
        for p in details["paths"]:
            path_checks = [
                c["verdict"] for s in record["steps"] if s["lang"] == p["path"] for c in s["checks"]
            ]
            assert p["verdict"] == (
                "off"
                if "off" in path_checks
                else "on"
                if set(path_checks) == {"on"}
                else "uncertain"
            )
    assert set(summary.by_path_lang) == set(langs)
    assert all(stats.paths == 24 for stats in summary.by_path_lang.values())
    assert summary.total.paths_checked == 24 * 7
    assert summary.total.off_target == sum(s.off_target for s in summary.by_lang.values())
    # Re-scoring the saved records without a model gives back the run's own answers.
    rescored, again = score_file(cfg.output, ScoreSettings())
    assert [r["prediction"] for r in rescored] == [r["prediction"] for r in records]
    assert [r["correct"] for r in rescored] == [r["correct"] for r in records]
    assert again.to_dict()["by_lang"] == summary.to_dict()["by_lang"]


def test_self_consistency_end_to_end(vllm_backend, tiny_llama_dir: Path, tmp_path: Path) -> None:
    cfg = config(
        tmp_path, tiny_llama_dir, "self-consistency", "sc",
        sampling={"max_tokens": 12, "n": 4, "temperature": 0.8},
        exemplars={"shots": 2, "pool": str(POOL), "lang": "eng_Latn"},
    )  # fmt: skip
    (summary, batches), records = run(cfg, vllm_backend)
    assert batches == [24], "one request per row (n=4 samples each), one call"
    for record in records:
        (step,) = record["steps"]
        assert len(step["texts"]) == 4 and len(step["checks"]) == 4
        assert [p["sample"] for p in record["details"]["paths"]] == [0, 1, 2, 3]
        assert record["details"]["first_answer"] == record["details"]["paths"][0]["answer"]
        assert record["details"]["exemplar_ids"] == ["c1-eng_Latn", "c2-eng_Latn"]
    assert len({tuple(r["steps"][0]["texts"]) for r in records}) > 1
    assert summary.total.first_scored == 24 and summary.total.paths == 96
    assert summary.to_dict()["first_sample_accuracy"] is not None
    rescored, _ = score_file(cfg.output, ScoreSettings())
    assert [r["prediction"] for r in rescored] == [r["prediction"] for r in records]
