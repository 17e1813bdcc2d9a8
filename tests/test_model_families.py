"""Every strategy end to end on tiny models of real chat-model families (real vLLM engine).

One engine per family, shared by this module's tests and closed before the
next family's starts (a module-scoped parametrized fixture). Each family's
tiny model carries the family's real chat template and special tokens
(``xprompt/testing/chat_templates``) and its ``generation_config.json`` eos
list. Gemma-2 refuses system turns and demands alternation, Mistral demands
alternation: before xprompt adapted conversations, every run below died on
them with ``TemplateError``.

Gemma-2 and Llama-3 use the "says" variant: whatever the prompt it writes
"The committee met on Tuesday" and then the family's end-of-turn token, which
is the *second* id of the eos list (``<end_of_turn>``, ``<|eot_id|>``), so
these runs also check that generation stops at every declared eos.

Inputs are 2-3 rows; the model's text is nonsense, so the tests check that
every command ends with 0 error rows, and what was adapted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import EXAMPLES, REPO, read_jsonl, write_jsonl

from xprompt import runner
from xprompt.config import load_run_config
from xprompt.evals.scoring import Bootstrap
from xprompt.evals.session import EvalOptions, Evaluation
from xprompt.evals.suite import load_suite
from xprompt.ldp.exemplar_set import default_diverse_set
from xprompt.ldp.filters import FilterSettings
from xprompt.ldp.synth import SynthJob, synthesize_pairs
from xprompt.ldp.translator import LDPTranslator
from xprompt.testing.tiny_models import SAYS, THINKS, ensure_tiny_family
from xprompt.types import Message, Request, Sampling

pytestmark = pytest.mark.engine

#: family -> (what the probe finds, what its "says" variant writes; None: random weights)
FAMILIES = {
    "gemma2": ("fold-system+merge-same-role", SAYS),
    "mistral": ("fold-system+merge-same-role", None),
    "llama3": ("native", SAYS),
    "qwen2_5": ("native", None),
    "qwen3": ("native", THINKS),
}
THINKING, ANSWER = THINKS.removeprefix("<think>").split("</think>")

TOPICS = EXAMPLES / "data"
MGSM = EXAMPLES / "mgsm"


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request) -> Any:
    """(name, model directory, backend): one engine per family, closed before the next starts."""
    from xprompt.backends.vllm import VLLMBackend

    name = request.param
    model_dir = ensure_tiny_family(name, says=FAMILIES[name][1])
    backend = VLLMBackend(
        str(model_dir),
        enforce_eager=True,
        max_model_len=2048,
        seed=0,
        engine_options={"kv_cache_memory_bytes": 256 * 2**20},  # a small KV cache starts faster
    )
    yield name, model_dir, backend
    backend.close()


def rows(path: Path, n: int, out: Path, **where: str) -> Path:
    kept = [
        r
        for r in (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines())
        if all(r.get(k) == v for k, v in where.items())
    ]
    return write_jsonl(out, kept[:n])


def run(tmp_path: Path, model_dir: Path, backend: Any, name: str, **overrides: Any) -> tuple:
    config = {
        "output": str(tmp_path / f"{name}.jsonl"),
        "engine": {"model": str(model_dir)},
        "sampling": {"max_tokens": 12},
        "overwrite": True,
        **overrides,
    }
    prepared = runner.prepare(load_run_config(None, config))
    summary = runner.execute(prepared, backend=backend)
    records = read_jsonl(Path(config["output"]))
    errors = [r["error"] for r in records if r["error"]]
    assert not errors, errors
    assert summary.total.errors == 0 and records
    return prepared, records


def test_the_backend_probes_and_reports_the_adaptation(family) -> None:
    name, _, backend = family
    assert backend.describe()["chat_format"] == FAMILIES[name][0]
    conversation = (
        Message("system", "Always answer in Hausa."),
        Message("user", "Sannu"),
        Message("user", "You must write your entire answer in Hausa only."),
    )
    sampling = Sampling(max_tokens=8)
    # Gemma-2 and Mistral want a user turn first: no adaptation makes this one render.
    refused = (Message("assistant", "Sannu!"), Message("user", "ok"))
    done, other = backend.generate(
        [
            Request("r", messages=conversation, sampling=sampling),
            Request("x", messages=refused, sampling=sampling),
        ]
    )
    assert done.error is None and done.completion_tokens >= 1
    if FAMILIES[name][0] == "native":
        assert other.error is None
    else:  # that request's error quotes the template; the batch's other request is served
        assert (
            "'Conversation roles must alternate user/assistant/user/assistant/...'" in other.error
        )
        assert "adaptation tried: fold-system+merge-same-role" in other.error


def test_generation_stops_at_every_declared_eos(family) -> None:
    name, model_dir, backend = family
    if FAMILIES[name][1] != SAYS:
        pytest.skip("not a model that ends on its second eos id")
    generation = json.loads((model_dir / "generation_config.json").read_text(encoding="utf-8"))
    assert isinstance(generation["eos_token_id"], list) and len(generation["eos_token_id"]) == 2
    assert backend.tokenizer.eos_token_id == generation["eos_token_id"][0]
    request = Request("r", messages=(Message("user", "Sannu"),), sampling=Sampling(max_tokens=40))
    (done,) = backend.generate([request])
    # The model writes SAYS, then its end-of-turn token (the list's second id): it stops there.
    assert done.texts == (SAYS,) and done.finish_reasons == ("stop",)
    assert (
        done.completion_tokens == len(backend.tokenizer.encode(SAYS, add_special_tokens=False)) + 1
    )


def test_direct_zero_and_few_shot(family, tmp_path: Path) -> None:
    name, model_dir, backend = family
    data = rows(TOPICS / "topics.test.jsonl", 3, tmp_path / "in.jsonl", lang="hau_Latn")
    prepared, records = run(
        tmp_path,
        model_dir,
        backend,
        "zero",
        template="chat",
        data={"input": str(data), "fields": {"prompt": "text"}},
    )
    assert f"chat:{FAMILIES[name][0]}" in prepared.signature
    _, records = run(
        tmp_path, model_dir, backend, "few",
        template="sib200-topic",
        data={"input": str(data), "target_field": "label"},
        exemplars={"shots": 3, "pool": str(TOPICS / "topics.pool.jsonl")},
        sampling={"max_tokens": 24},  # room for the longest label, a byte or two per token
    )  # fmt: skip
    assert all(r["prediction"] is not None for r in records), "constrained to a label"


def test_clp_clsp_and_self_consistency(family, tmp_path: Path) -> None:
    _, model_dir, backend = family
    data = rows(MGSM / "mgsm.mini.jsonl", 2, tmp_path / "in.jsonl", lang="swh_Latn")
    mgsm = {"input": str(data), "target_field": "answer"}
    for strategy in ("clp", "clsp"):
        _, records = run(
            tmp_path,
            model_dir,
            backend,
            strategy,
            strategy=strategy,
            template="clp-solve",
            data=mgsm,
        )
        assert all(len(r["steps"]) >= 2 for r in records)
    _, records = run(
        tmp_path, model_dir, backend, "sc",
        strategy="self-consistency", template="mgsm-cot", data=mgsm,
        sampling={"max_tokens": 12, "n": 2, "temperature": 0.8},
        exemplars={"shots": 2, "pool": str(MGSM / "mgsm.cot-pool.jsonl"), "lang": "eng_Latn"},
    )  # fmt: skip
    assert all(len(r["steps"][0]["texts"]) == 2 for r in records)


def test_translate_test_with_self_translate(family, tmp_path: Path) -> None:
    _, model_dir, backend = family
    data = rows(TOPICS / "topics.test.jsonl", 2, tmp_path / "in.jsonl", lang="hau_Latn")
    for fmt in ("chat", "raw"):
        _, records = run(
            tmp_path, model_dir, backend, f"tt-{fmt}",
            strategy="translate-test", template="sib200-topic",
            data={"input": str(data), "target_field": "label"},
            options={
                "mt_model": "self", "self_translate_shots": 1, "self_translate_format": fmt,
                "self_translate_exemplars": str(EXAMPLES / "mt" / "topics.pairs.jsonl"),
                "self_translate_max_tokens": 12, "cache": str(tmp_path / f"mt-{fmt}.sqlite"),
            },
        )  # fmt: skip
        assert all(r["steps"][0]["step"].startswith("mt") for r in records)


def test_synth_pairs_in_the_chat_format(family, tmp_path: Path) -> None:
    _, _, backend = family
    sentences = tmp_path / "hau.txt"
    sentences.write_text(
        "Gwamnati ta sanar da sabon shirin kiwon lafiya.\nKungiyar ta ci wasan jiya.\n",
        encoding="utf-8",
    )
    job = SynthJob(str(sentences), str(tmp_path / "hau.set.jsonl"), "hau", filters=FilterSettings())
    translator = LDPTranslator(backend, default_diverse_set(), prompt_format="chat")
    result = synthesize_pairs(job, translator)
    assert result.inputs == 2 and len(result.accepted) + len(result.rejected) == 2
    # Random text may fail the filters, but every sentence was translated (no failed call).
    assert all(r.get("candidate") for r in result.rejected), result.rejected


def test_reasoning_is_kept_apart_and_its_language_recorded(family, tmp_path: Path) -> None:
    name, model_dir, backend = family
    if name != "qwen3":
        pytest.skip("the reasoning family")
    data = rows(TOPICS / "topics.test.jsonl", 2, tmp_path / "in.jsonl", lang="hau_Latn")
    common = {"template": "chat", "sampling": {"max_tokens": 40}}
    common["data"] = {"input": str(data), "fields": {"prompt": "text"}}
    _, records = run(tmp_path, model_dir, backend, "think", **common)
    for record in records:
        (step,) = record["steps"]
        assert step["texts"] == [ANSWER] and step["reasoning"] == [THINKING]
        assert step["checks"][0]["expected"] == "hau_Latn"  # the answer is checked ...
        assert step["reasoning_checks"][0]["detected"] == "eng_Latn"  # ... and the thinking apart
    # enable_thinking=false: the template pre-fills an empty think block (more prompt tokens).
    prepared, quiet = run(
        tmp_path, model_dir, backend, "quiet",
        engine={"model": str(model_dir), "chat_template_kwargs": {"enable_thinking": False}},
        **common,
    )  # fmt: skip
    assert 'chat:native:{"enable_thinking":false}' in prepared.signature
    grown = [
        q["steps"][0]["prompt_tokens"] - r["steps"][0]["prompt_tokens"]
        for q, r in zip(quiet, records, strict=True)
    ]
    assert grown == [len(backend.tokenizer.encode("<think>\n\n</think>\n\n"))] * 2


def test_one_eval_cell(family, tmp_path: Path) -> None:
    _, model_dir, backend = family
    options = EvalOptions(
        out_dir=str(tmp_path / "eval"),
        data=str(REPO / "tests" / "fixtures" / "evals" / "sib200"),
        languages=["hau_Latn"],
        variants=["few-shot"],
        engine={"model": str(model_dir), "backend": "vllm"},
        limit=2,
        bootstrap=Bootstrap(50, 1),
        max_tokens=8,
    )
    evaluation = Evaluation(load_suite("sib200"), options)
    evaluation.prepare()
    evaluation.run(backend=backend)
    (cell,) = evaluation.cells
    records = read_jsonl(cell.output)
    assert len(records) == 2 and not [r for r in records if r["error"]]
