"""``xprompt serve`` on a Gemma-2-format model over real HTTP, with the official ``openai`` client.

Gemma-2's real chat template refuses a system turn and two user turns in a
row; the chat endpoint adds the reply-language instruction as a system turn,
so before conversations were adapted every request in a detected language
answered HTTP 500. The model is the Gemma-2 "says" variant: whatever the
prompt, it writes "The committee met on Tuesday" and then ``<end_of_turn>``,
the *second* id of its ``generation_config.json`` eos list, so the replies
also show that the endpoint stops at every declared eos. English text in a
Hausa conversation is off target: the firm retry runs; Amharic is configured
weak, so the pivot through the tiny MT model runs too.

One server for this module. The other families' templates go through the same
adaptation code (``render_chat`` of the engine both the server and batch runs
use), which ``test_model_families.py`` runs on the real engine per family.
"""

from __future__ import annotations

import openai
import pytest
from serve_helpers import AMHARIC, HAUSA

from serving.testing import ServeProcess
from xprompt.testing.tiny_models import SAYS, ensure_tiny_family

pytestmark = pytest.mark.slow

NAME = "gemma2"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("serve-gemma2") / "server.log"
    args = [
        "--model", str(ensure_tiny_family("gemma2", says=SAYS)), "--served-model-name", NAME,
        "--enforce-eager", "--max-model-len", "2048",
        "--engine-opt", f"kv_cache_memory_bytes={256 * 2**20}",
        "--weak-lang", "amh", "--translator", "tiny-nllb",
    ]  # fmt: skip
    proc = ServeProcess(args, log_path=log).start()
    try:
        proc.wait_ready(900)
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0, timeout=120)


def test_a_detected_language_answers_200_and_the_adaptation_is_reported(client) -> None:
    completion = client.chat.completions.create(
        model=NAME,
        messages=[
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": HAUSA},
            {"role": "user", "content": "Ka amsa a takaice."},
        ],
        max_tokens=40,
        temperature=0,
    )
    (choice,) = completion.choices
    assert choice.message.content == SAYS and choice.finish_reason == "stop"
    info = completion.model_extra["xprompt"]
    assert info["lang"] == "hau_Latn" and info["lang_source"] == "detected"
    assert info["chat_format"] == "fold-system+merge-same-role"
    assert "chat=fold-system+merge-same-role" in info["signature"]
    report = info["choices"][0]
    assert report["retries"] >= 1, "English for a Hausa question: the firm retry ran"
    assert [a["kind"] for a in report["attempts"]][:2] == ["direct", "firm"]


def test_streaming_stops_at_end_of_turn(client) -> None:
    stream = client.chat.completions.create(
        model=NAME, messages=[{"role": "user", "content": HAUSA}], max_tokens=40, stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert text == SAYS and finishes == ["stop"]
    assert chunks[-1].usage.completion_tokens >= len(SAYS.split()) + 1


def test_weak_language_pivots(client) -> None:
    completion = client.chat.completions.create(
        model=NAME, messages=[{"role": "user", "content": AMHARIC}], max_tokens=24, temperature=0,
        extra_body={"xprompt": {"pivot": "always"}},
    )  # fmt: skip
    info = completion.model_extra["xprompt"]
    assert info["lang"] == "amh_Ethi" and info["pivoted"] is True
    assert info["choices"][0]["attempts"][0]["kind"] == "pivot"


def test_a_conversation_the_template_cannot_take_is_a_400_quoting_it(client) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(
            model=NAME,
            # Too short to detect a language: no instruction to fold, and Gemma-2 wants a
            # user turn first.
            messages=[{"role": "assistant", "content": "Hi!"}, {"role": "user", "content": "ok"}],
            max_tokens=8,
        )
    message = bad.value.body["message"]
    assert "Conversation roles must alternate" in message
    assert "adaptation tried: fold-system+merge-same-role" in message


def test_the_openai_backend_stops_at_every_eos_through_the_server(server) -> None:
    from xprompt.backends.openai import OpenAIBackend
    from xprompt.types import Message, Request, Sampling

    backend = OpenAIBackend(NAME, base_urls=[server.base_url], api_key="none")
    try:
        request = Request(
            "r",
            messages=(Message("system", "Be brief."), Message("user", "Hello, how are you today?")),
            sampling=Sampling(max_tokens=40),
        )
        (done,) = backend.generate([request])
    finally:
        backend.close()
    assert done.error is None
    assert done.texts == (SAYS,) and done.finish_reasons == ("stop",)
