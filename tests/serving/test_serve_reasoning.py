"""The chat endpoint and a reasoning model: thinking apart from the answer, checked on its own.

A scripted reasoning engine (``thinks=True``) thinks in English and answers in
Hausa; the real Qwen3-format model does the same in batch runs
(``tests/test_model_families.py``).
"""

from __future__ import annotations

import json

from serve_helpers import HAUSA

from serving.testing import ScriptedChatEngine

THINKING = "Let me think about the new health plan in Kano first."
ANSWER = "Gwamnati ta sanar da sabon shirin kiwon lafiya a jihar Kano."


def engine() -> ScriptedChatEngine:
    return ScriptedChatEngine(lambda r: f"<think>{THINKING}</think>{ANSWER}", thinks=True)


def body(**extra):
    return {"messages": [{"role": "user", "content": HAUSA}], "max_tokens": 400, **extra}


def test_reply_carries_reasoning_apart_and_both_are_checked(run_app) -> None:
    scripted = engine()

    async def go(http):
        return await http.post(
            "/v1/chat/completions",
            json=body(chat_template_kwargs={"enable_thinking": True}),
        )

    response = run_app(scripted, go)
    assert response.status_code == 200
    out = response.json()
    message = out["choices"][0]["message"]
    assert message["content"] == ANSWER and message["reasoning"] == THINKING
    report = out["xprompt"]["choices"][0]
    assert report["check"]["verdict"] == "on", "the answer is checked, not the thinking"
    assert report["retries"] == 0
    assert report["reasoning_check"]["detected"] == "eng_Latn"
    assert scripted.requests[0].chat_template_kwargs == (("enable_thinking", True),)
    assert "chat_template_kwargs" not in out["xprompt"]["ignored_fields"]


def test_streamed_reply_sends_the_reasoning_with_the_finish(run_app) -> None:
    async def go(http):
        async with http.stream("POST", "/v1/chat/completions", json=body(stream=True)) as r:
            return [line async for line in r.aiter_lines()]

    lines = run_app(engine(), go)
    chunks = [json.loads(x[6:]) for x in lines if x.startswith("data: {")]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    reasoning = [c["choices"][0]["delta"].get("reasoning") for c in chunks if c["choices"]]
    assert text == ANSWER and [r for r in reasoning if r] == [THINKING]
