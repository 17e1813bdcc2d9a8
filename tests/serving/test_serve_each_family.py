"""``xprompt serve`` answers 200 in a detected language on every model family's real template.

``test_serve_families.py`` covers Gemma-2 (the strictest template) in depth:
stream, firm retry, pivot, a 400 quoting the template. This module starts
one server per other family (Mistral-Instruct, Llama-3, Qwen2.5, Qwen3),
one after the other, and sends each the conversation that used to fail:
a system turn, then two user turns, in a language the endpoint detects (so it
adds its reply-language instruction as another system turn). Each answers
200, reports the adaptation it applied and ends its plain and streamed replies
at the family's end-of-turn token (the "says" variants write a fixed English
sentence and then that token).
"""

from __future__ import annotations

import openai
import pytest
from serve_helpers import HAUSA

from serving.testing import ServeProcess
from xprompt.testing.tiny_models import SAYS, ensure_tiny_family

pytestmark = pytest.mark.slow

#: Family -> the adaptation its template needs (probed by the engine at start).
ADAPTATION = {
    "mistral": "fold-system+merge-same-role",
    "llama3": "native",
    "qwen2_5": "native",
    "qwen3": "native",
}


@pytest.mark.parametrize("family", sorted(ADAPTATION))
def test_a_detected_language_answers_200_on_each_family(family: str, tmp_path) -> None:
    args = [
        "--model", str(ensure_tiny_family(family, says=SAYS)), "--served-model-name", family,
        "--enforce-eager", "--max-model-len", "2048",
        "--engine-opt", f"kv_cache_memory_bytes={256 * 2**20}",
    ]  # fmt: skip
    proc = ServeProcess(args, log_path=tmp_path / "server.log").start()
    try:
        proc.wait_ready(900)
        client = openai.OpenAI(base_url=proc.base_url, api_key="none", max_retries=0, timeout=120)
        completion = client.chat.completions.create(
            model=family,
            messages=[
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": HAUSA},
                {"role": "user", "content": "Ka amsa a takaice."},
            ],
            max_tokens=40,
            temperature=0,
        )
        (choice,) = completion.choices
        info = completion.model_extra["xprompt"]
        assert info["lang"] == "hau_Latn" and info["lang_source"] == "detected"
        assert info["chat_format"] == ADAPTATION[family]
        assert f"chat={ADAPTATION[family]}" in info["signature"]
        assert choice.finish_reason == "stop", "ended at the family's end-of-turn token"
        assert SAYS in (choice.message.content or "")

        stream = client.chat.completions.create(
            model=family, messages=[{"role": "user", "content": HAUSA}], max_tokens=40,
            stream=True, temperature=0,
        )  # fmt: skip
        chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finishes = [
            c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
        ]
        assert SAYS in text and finishes == ["stop"]
    finally:
        proc.stop()
