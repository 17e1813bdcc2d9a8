"""The reply-language policy through the HTTP API, on a scripted engine with known outputs.

Retries, pivots, the streaming guard and the per-choice bookkeeping are logic;
the same paths run end to end on the real engine in ``test_serve_http.py``.
"""

from __future__ import annotations

import asyncio
import json

from serve_helpers import ENGLISH, HAUSA, HAUSA_2, firm, pivot, running_app

from serving.chat.orchestrator import DeltaEvent, ReplyRun
from serving.chat.protocol import ChatCompletionChunk
from serving.config import PolicyConfig, ServeConfig
from serving.policy import LanguagePolicy
from serving.testing import ScriptedChatEngine
from xprompt import langid
from xprompt.mt.base import Translation
from xprompt.types import Message, Sampling


def chat(text: str = HAUSA, **extra) -> dict:
    return {"model": "scripted", "messages": [{"role": "user", "content": text}], **extra}


def english_then_hausa(request):
    return HAUSA if firm(request) else ENGLISH


class DictTranslator:
    """A pivot translator with known outputs (logic double; the real MT model runs in the e2e test)."""

    def __init__(self, table: dict[str, str] | None = None, error: str | None = None) -> None:
        self.table = table or {ENGLISH: HAUSA_2}
        self.error = error
        self.calls: list[tuple[str, str, str]] = []

    def signature(self) -> str:
        return "dict"

    async def translate(self, text: str, src: str, tgt: str) -> Translation:
        self.calls.append((text, src, tgt))
        if self.error:
            return Translation(text, src, tgt, None, error=self.error)
        return Translation(text, src, tgt, self.table[text])

    async def aclose(self) -> None:
        return None


def weak_hausa(**policy) -> ServeConfig:
    return ServeConfig(policy=PolicyConfig(weak_langs=["hau_Latn"], **policy))


def sse_events(text: str) -> list[dict]:
    """The JSON events of a stream, each checked against the chunk model of the protocol."""
    out = []
    for block in text.split("\n\n"):
        if block.startswith("data: ") and block != "data: [DONE]":
            event = json.loads(block[6:])
            ChatCompletionChunk.model_validate(event)
            out.append(event)
    return out


def test_off_target_reply_is_retried_with_a_firmer_instruction(run_app):
    engine = ScriptedChatEngine(english_then_hausa)

    async def body(http):
        return await http.post("/v1/chat/completions", json=chat())

    r = run_app(engine, body)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["choices"][0]["message"]["content"] == HAUSA
    info = data["xprompt"]["choices"][0]
    assert [a["kind"] for a in info["attempts"]] == ["direct", "firm"]
    assert [a["verdict"] for a in info["attempts"]] == ["off", "on"]
    assert info["check"]["verdict"] == "on" and info["retries"] == 1 and not info["pivot"]
    assert r.headers["x-xprompt-check"] == "on" and r.headers["x-xprompt-retries"] == "1"
    assert r.headers["x-xprompt-lang"] == "hau_Latn"
    assert r.headers["x-xprompt-lang-source"] == "detected"
    # The system instruction asked for Hausa both times; the retry used another seed.
    first, retry = engine.requests
    assert "Hausa" in first.messages[0].content and first.messages[0].role == "system"
    assert retry.sampling.seed != first.sampling.seed and retry.sampling.n == 1
    # Usage counts both attempts (what the engine really did).
    assert data["usage"]["completion_tokens"] == len(ENGLISH) + len(HAUSA)


def test_still_off_after_retries_is_delivered_flagged_never_silently(run_app):
    engine = ScriptedChatEngine(lambda r: ENGLISH)

    async def body(http):
        return await http.post("/v1/chat/completions", json=chat())

    r = run_app(engine, body, config=ServeConfig(policy=PolicyConfig(retries=2)))
    data = r.json()
    info = data["xprompt"]["choices"][0]
    assert [a["kind"] for a in info["attempts"]] == ["direct", "firm", "firm"]
    assert info["check"]["verdict"] == "off" and data["choices"][0]["message"]["content"] == ENGLISH
    assert r.headers["x-xprompt-check"] == "off" and r.headers["x-xprompt-pivot"] == "0"


def test_weak_language_pivots_through_english_and_the_translator(run_app):
    engine = ScriptedChatEngine(lambda r: ENGLISH)
    translator = DictTranslator()

    async def body(http):
        return await http.post("/v1/chat/completions", json=chat())

    r = run_app(engine, body, config=weak_hausa(), translator=translator)
    data = r.json()
    info = data["xprompt"]["choices"][0]
    assert [a["kind"] for a in info["attempts"]] == ["direct", "firm", "pivot"]
    assert info["pivot"] is True and info["check"]["verdict"] == "on"
    assert data["choices"][0]["message"]["content"] == HAUSA_2
    assert translator.calls == [(ENGLISH, "eng_Latn", "hau_Latn")]
    assert pivot(engine.requests[-1]) and r.headers["x-xprompt-pivot"] == "1"
    assert info["pivot_source"] == ENGLISH


def test_failed_translation_falls_back_to_the_last_direct_reply(run_app):
    engine = ScriptedChatEngine(lambda r: ENGLISH)

    async def body(http):
        return await http.post("/v1/chat/completions", json=chat())

    r = run_app(
        engine, body, config=weak_hausa(), translator=DictTranslator(error="no such language")
    )
    info = r.json()["xprompt"]["choices"][0]
    assert info["pivot"] is False and "no such language" in info["pivot_error"]
    assert info["check"]["verdict"] == "off"
    assert r.json()["choices"][0]["message"]["content"] == ENGLISH


def test_pivot_always_answers_through_english_from_the_start(run_app):
    engine = ScriptedChatEngine(lambda r: ENGLISH)

    async def body(http):
        return await http.post("/v1/chat/completions", json=chat(xprompt={"pivot": "always"}))

    r = run_app(engine, body, config=weak_hausa(), translator=DictTranslator())
    assert [pivot(req) for req in engine.requests] == [True]
    assert r.json()["choices"][0]["message"]["content"] == HAUSA_2


def test_only_the_off_target_choice_of_n_is_retried(run_app):
    def script(request):
        if firm(request):
            return HAUSA_2
        return [HAUSA, ENGLISH, HAUSA]

    engine = ScriptedChatEngine(script)

    async def body(http):
        return await http.post("/v1/chat/completions", json=chat(n=3, temperature=0.7))

    r = run_app(engine, body)
    data = r.json()
    assert [c["message"]["content"] for c in data["choices"]] == [HAUSA, HAUSA_2, HAUSA]
    assert [c["retries"] for c in data["xprompt"]["choices"]] == [0, 1, 0]
    assert r.headers["x-xprompt-retries"] == "0,1,0" and r.headers["x-xprompt-check"] == "on,on,on"
    assert [req.sampling.n for req in engine.requests] == [3, 1]


def test_client_sets_the_language_by_extension_or_header(run_app):
    engine = ScriptedChatEngine(lambda r: HAUSA)

    async def body(http):
        by_body = await http.post(
            "/v1/chat/completions", json=chat(ENGLISH, xprompt={"lang": "ha"})
        )
        by_header = await http.post(
            "/v1/chat/completions", json=chat(ENGLISH), headers={"X-Xprompt-Lang": "Hausa"}
        )
        return by_body, by_header

    for r in run_app(engine, body):
        assert r.headers["x-xprompt-lang"] == "hau_Latn"
        assert r.headers["x-xprompt-lang-source"] == "client"
        assert r.headers["x-xprompt-detected"].startswith("eng_Latn;")
        assert r.json()["xprompt"]["choices"][0]["check"]["verdict"] == "on"


def test_conversation_id_holds_the_language_for_short_turns(run_app):
    engine = ScriptedChatEngine(lambda r: HAUSA)

    async def body(http):
        ids = {"X-Xprompt-Conversation": "conv-7"}
        await http.post("/v1/chat/completions", json=chat(HAUSA), headers=ids)
        return await http.post("/v1/chat/completions", json=chat("ok!"), headers=ids)

    r = run_app(engine, body)
    assert r.headers["x-xprompt-lang"] == "hau_Latn"
    assert r.headers["x-xprompt-lang-source"] == "conversation"


def test_check_false_sends_the_conversation_untouched(run_app):
    engine = ScriptedChatEngine(lambda r: ENGLISH)

    async def body(http):
        return await http.post("/v1/chat/completions", json=chat(xprompt={"check": False}))

    r = run_app(engine, body)
    assert engine.requests[0].messages == (Message("user", HAUSA),)
    assert r.headers["x-xprompt-check"] == "unchecked"
    assert r.json()["xprompt"]["choices"][0]["check"] is None


def test_stream_holds_back_the_start_and_never_leaks_an_off_target_reply(run_app):
    # A long English first attempt: still generating when the retry passes the guard.
    engine = ScriptedChatEngine(
        lambda r: HAUSA if firm(r) else ENGLISH * 4, chunk_chars=3, delay_s=0.002
    )

    async def body(http):
        return await http.post("/v1/chat/completions", json=chat(stream=True))

    r = run_app(engine, body)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["x-xprompt-check"] == "on" and r.headers["x-xprompt-retries"] == "1"
    events = sse_events(r.text)
    text = "".join(c["delta"].get("content") or "" for e in events for c in e["choices"])
    assert text == HAUSA  # not one character of the English attempt reached the client
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    last = events[-1]
    assert last["choices"][0]["finish_reason"] == "stop"
    assert last["xprompt"]["choices"][0]["guard"]["verdict"] == "on"
    assert r.text.rstrip().endswith("data: [DONE]")
    # The English attempt was aborted in the engine once the retry had passed the guard.
    assert engine.requests[0].id in engine.cancelled


def test_stream_holds_the_whole_first_line_so_a_preamble_never_streams(run_app):
    # At 10 letters the start is too short to judge (uncertain); the guard waits for the line break.
    preamble = "Ok so the answer you asked for, in Hausa, follows below:\n"

    def script(request):
        return HAUSA if firm(request) else preamble + HAUSA_2

    engine = ScriptedChatEngine(script, chunk_chars=3, delay_s=0.001)

    async def body(http):
        return await http.post(
            "/v1/chat/completions", json=chat(stream=True, xprompt={"hold_letters": 10})
        )

    r = run_app(engine, body)
    assert r.headers["x-xprompt-check"] == "on" and r.headers["x-xprompt-retries"] == "1"
    events = sse_events(r.text)
    text = "".join(c["delta"].get("content") or "" for e in events for c in e["choices"])
    assert text == HAUSA  # nothing of the preamble (or the answer after it) reached the client


def test_stream_without_hold_streams_at_once_and_checks_at_the_end(run_app):
    engine = ScriptedChatEngine(lambda r: ENGLISH, chunk_chars=5)

    async def body(http):
        return await http.post(
            "/v1/chat/completions",
            json=chat(
                stream=True, stream_options={"include_usage": True}, xprompt={"hold_letters": 0}
            ),
        )

    r = run_app(engine, body)
    events = sse_events(r.text)
    assert "".join(c["delta"].get("content") or "" for e in events for c in e["choices"]) == ENGLISH
    finish = next(e for e in events if e["choices"] and e["choices"][0].get("finish_reason"))
    assert finish["xprompt"]["choices"][0]["check"]["verdict"] == "off"  # flagged, not hidden
    assert events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] == len(ENGLISH)
    assert len(engine.requests) == 1  # no retry is possible once text has been sent


def test_stream_n_choices_are_guarded_independently(run_app):
    def script(request):
        return HAUSA_2 if firm(request) else [ENGLISH, HAUSA]

    engine = ScriptedChatEngine(script, chunk_chars=4, delay_s=0.001)

    async def body(http):
        return await http.post("/v1/chat/completions", json=chat(stream=True, n=2, temperature=1))

    events = sse_events(run_app(engine, body).text)
    texts = ["", ""]
    for e in events:
        for c in e["choices"]:
            texts[c["index"]] += c["delta"].get("content") or ""
    assert texts == [HAUSA_2, HAUSA]


def test_closing_a_stream_aborts_its_engine_requests():
    engine = ScriptedChatEngine(lambda r: ENGLISH * 20, chunk_chars=2, delay_s=0.001)

    async def go():
        run = ReplyRun(
            engine=engine,
            policy=LanguagePolicy(PolicyConfig()),
            checker=langid.check,
            translator=None,
            conversation=(Message("user", ENGLISH),),
            plan=LanguagePolicy(PolicyConfig()).plan("eng_Latn"),
            sampling=Sampling(max_tokens=2000),
            request_id="r1",
            stream=True,
            hold_letters=10,
        )
        events = run.events()
        seen = 0
        async for event in events:
            seen += isinstance(event, DeltaEvent)
            if seen == 3:
                break
        await events.aclose()
        await asyncio.sleep(0.01)
        return engine.running

    assert asyncio.run(go()) == 0
    assert engine.cancelled == ["r1-0"]


def test_ready_headers_come_with_the_first_byte():
    """The response starts only after the guard decided: headers carry its verdict."""
    engine = ScriptedChatEngine(english_then_hausa, chunk_chars=2, delay_s=0.001)

    async def go():
        async with running_app(engine) as http:
            async with http.stream("POST", "/v1/chat/completions", json=chat(stream=True)) as r:
                headers = dict(r.headers)
                body = (await r.aread()).decode()
        return headers, body

    headers, body = asyncio.run(go())
    assert headers["x-xprompt-check"] == "on" and headers["x-xprompt-retries"] == "1"
    assert ENGLISH[:10] not in body
