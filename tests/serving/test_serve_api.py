"""The HTTP surface on a scripted engine: OpenAI-shaped errors, limits, keys, metrics, logs."""

from __future__ import annotations

import json
import logging

import pytest
from serve_helpers import ENGLISH, HAUSA

from serving.config import LimitsConfig, ServeConfig
from serving.testing import ScriptedChatEngine

URL = "/v1/chat/completions"


def chat(text: str = HAUSA, **extra) -> dict:
    return {"model": "scripted", "messages": [{"role": "user", "content": text}], **extra}


def hausa_engine(**kwargs) -> ScriptedChatEngine:
    return ScriptedChatEngine(lambda r: HAUSA, **kwargs)


def post_all(run_app, bodies, engine=None, **kwargs):
    async def body(http):
        out = []
        for item in bodies:
            if isinstance(item, dict) and "__raw__" in item:
                out.append(
                    await http.post(
                        URL, content=item["__raw__"], headers={"content-type": "application/json"}
                    )
                )
            else:
                out.append(await http.post(URL, json=item))
        return out

    return run_app(engine or hausa_engine(), body, **kwargs)


def error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def test_unknown_fields_are_accepted_ignored_and_reported(run_app):
    (r,) = post_all(run_app, [chat(user="u1", metadata={"a": 1}, store=False, frobnicate=3)])
    assert r.status_code == 200
    assert r.json()["xprompt"]["ignored_fields"] == ["frobnicate", "metadata", "store"]


def test_text_parts_and_developer_role_are_served(run_app):
    engine = hausa_engine()
    body = {
        "model": "scripted",
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": HAUSA[:30]},
                    {"type": "text", "text": HAUSA[30:]},
                ],
            },
        ],
    }
    (r,) = post_all(run_app, [body], engine=engine)
    assert r.status_code == 200
    sent = engine.requests[0].messages
    assert sent[0].role == "system" and sent[0].content.startswith("Be brief.")
    assert sent[1].content == HAUSA


@pytest.mark.parametrize(
    ("body", "status", "param", "words"),
    [
        (chat(temperature=5), 400, "temperature", "less than or equal to 2"),
        (chat(n=0), 400, "n", "greater than or equal to 1"),
        (chat(n=2, temperature=0), 400, "n", "temperature > 0"),
        (chat(n=99), 400, "n", "at most 8"),
        (chat(max_tokens=100_000), 400, "max_tokens", "at most 4096"),
        (chat(max_completion_tokens=100_000), 400, "max_completion_tokens", "at most 4096"),
        (chat(stop=[""]), 400, "stop", "must not be empty"),
        (
            chat(tools=[{"type": "function", "function": {"name": "f"}}]),
            400,
            "tools",
            "tool calling",
        ),
        (chat(logprobs=True), 400, "logprobs", "not returned"),
        (chat(presence_penalty=0.5), 400, "presence_penalty", "not supported"),
        (chat(response_format={"type": "json_object"}), 400, "response_format", "text only"),
        ({"model": "scripted"}, 400, "messages", "is required"),
        ({"model": "scripted", "messages": []}, 400, "messages", "at least 1"),
        ({"messages": [{"role": "system", "content": "x"}]}, 400, "messages", "no user message"),
        (
            {"messages": [{"role": "tool", "content": "x"}]},
            400,
            "messages[0].role",
            "does not call tools",
        ),
        (
            {"messages": [{"role": "robot", "content": "x"}]},
            400,
            "messages[0].role",
            "unknown role",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            400,
            "messages[0].content[0]",
            "text only",
        ),
        (
            {"messages": [{"role": "user", "content": 5}]},
            400,
            "messages[0].content",
            "valid string",
        ),
        (chat(model="gpt-9"), 404, "model", "not served here"),
        (chat(xprompt={"lang": "klingonish"}), 422, "xprompt.lang", "unknown language"),
        (chat(xprompt={"langue": "fr"}), 400, "xprompt.langue", "Extra inputs"),
        ({"__raw__": b'{"messages": [}'}, 400, None, "not valid JSON"),
    ],
)
def test_bad_requests_name_the_field(run_app, body, status, param, words):
    engine = hausa_engine()
    (r,) = post_all(run_app, [body], engine=engine)
    assert r.status_code == status, r.text
    err = error(r)
    assert err["param"] == param
    assert words in err["message"]
    assert engine.requests == []  # nothing reached the engine


def test_context_limits_name_the_field(run_app):
    engine = ScriptedChatEngine(lambda r: HAUSA, max_model_len=300)
    long_turn = "a " * 400
    rs = post_all(run_app, [chat(max_tokens=250), chat(long_turn)], engine=engine)
    too_many, too_long = (error(r) for r in rs)
    assert too_many["param"] == "max_tokens" and too_many["code"] == "context_length_exceeded"
    assert "at most" in too_many["message"] and "got 250" in too_many["message"]
    assert too_long["param"] == "messages" and "context is 300 tokens" in too_long["message"]


def test_default_max_tokens_fits_the_context(run_app):
    engine = ScriptedChatEngine(lambda r: "x" * 1000, max_model_len=300)
    (r,) = post_all(run_app, [chat(xprompt={"check": False})], engine=engine)
    assert r.status_code == 200
    assert engine.requests[0].sampling.max_tokens == 300 - len(HAUSA)
    assert r.json()["choices"][0]["finish_reason"] == "length"


def test_engine_refusal_is_400_and_engine_failure_is_502(run_app):
    def refuse(request):
        raise ValueError("the grammar cannot be compiled")

    def broken(request):
        raise RuntimeError("engine core died")

    (refused,) = post_all(run_app, [chat()], engine=ScriptedChatEngine(refuse))
    assert refused.status_code == 400 and "grammar" in error(refused)["message"]
    (failed,) = post_all(run_app, [chat()], engine=ScriptedChatEngine(broken))
    assert failed.status_code == 502 and error(failed)["code"] == "engine_error"


def test_timeouts_answer_504_or_end_the_stream_with_an_error(run_app):
    config = ServeConfig(limits=LimitsConfig(request_timeout_s=0.3))
    slow = ScriptedChatEngine(lambda r: HAUSA * 3, chunk_chars=2, delay_s=0.5)
    plain, streamed = post_all(
        run_app,
        [chat(), chat(stream=True, xprompt={"hold_letters": 0})],
        engine=slow,
        config=config,
    )
    assert plain.status_code == 504 and error(plain)["code"] == "timeout"
    assert streamed.status_code == 200  # the stream had started: the error comes as an event
    events = [json.loads(b[6:]) for b in streamed.text.split("\n\n") if b.startswith("data: {")]
    assert events[-1]["error"]["code"] == "timeout"
    assert "[DONE]" not in streamed.text
    assert slow.running == 0  # aborted, not left generating


def test_request_body_size_limit(run_app):
    config = ServeConfig(limits=LimitsConfig(max_request_bytes=2048))

    async def body(http):
        declared = await http.post(URL, json=chat("x" * 5000))

        async def chunks():
            yield b'{"messages": [{"role": "user", "content": "'
            for _ in range(10):
                yield b"y" * 1000
            yield b'"}]}'

        chunked = await http.post(
            URL, content=chunks(), headers={"content-type": "application/json"}
        )
        fine = await http.post(URL, json=chat())
        return declared, chunked, fine

    declared, chunked, fine = run_app(hausa_engine(), body, config=config)
    for r in (declared, chunked):
        assert r.status_code == 413
        err = error(r)
        assert err["code"] == "request_too_large" and "at most 2048 bytes" in err["message"]
    assert fine.status_code == 200


def test_api_keys(run_app, monkeypatch, caplog):
    monkeypatch.setenv("XPROMPT_API_KEYS", "sk-env-key")
    config = ServeConfig(api_keys=["sk-conf-key"])

    async def body(http):
        out = {}
        out["missing"] = await http.post(URL, json=chat())
        out["wrong"] = await http.post(URL, json=chat(), headers={"Authorization": "Bearer nope"})
        out["scheme"] = await http.post(URL, json=chat(), headers={"Authorization": "Basic abc"})
        out["models"] = await http.get("/v1/models")
        out["conf"] = await http.post(
            URL, json=chat(), headers={"Authorization": "Bearer sk-conf-key"}
        )
        out["env"] = await http.get("/v1/models", headers={"Authorization": "Bearer sk-env-key"})
        out["health"] = await http.get("/health")
        return out

    with caplog.at_level(logging.INFO, logger="xprompt.access"):
        out = run_app(hausa_engine(), body, config=config)
    for name in ("missing", "wrong", "scheme", "models"):
        assert out[name].status_code == 401, name
        assert error(out[name])["code"] == "invalid_api_key"
        assert out[name].headers["www-authenticate"] == "Bearer"
    assert "missing API key" in error(out["missing"])["message"]
    assert out["conf"].status_code == 200 and out["env"].status_code == 200
    assert out["health"].status_code == 200  # health checks need no key
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "sk-conf-key" not in logged and "sk-env-key" not in logged and "nope" not in logged


def test_access_log_is_json_without_message_bodies(run_app, caplog):
    with caplog.at_level(logging.INFO, logger="xprompt.access"):
        post_all(run_app, [chat(HAUSA, stream=True), chat(ENGLISH, temperature=-1)])
    records = [json.loads(r.getMessage()) for r in caplog.records if r.name == "xprompt.access"]
    assert [r["status"] for r in records] == [200, 400]
    first = records[0]
    assert first["path"] == URL and first["stream"] is True and first["lang"] == "hau_Latn"
    assert first["verdicts"] == ["on"] and first["retries"] == 0 and first["duration_ms"] >= 0
    assert first["request_id"].startswith("chatcmpl-") and first["completion_tokens"] == len(HAUSA)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert HAUSA[:20] not in text and ENGLISH[:20] not in text


def test_models_health_metrics_page_and_unknown_routes(run_app):
    def script(request):
        return HAUSA if any("entire answer" in m.content for m in request.messages) else ENGLISH

    async def body(http):
        out = {}
        out["models"] = await http.get("/v1/models")
        for _ in range(2):
            await http.post(URL, json=chat())
        await http.post(URL, json=chat(xprompt={"retries": 0}))
        out["metrics"] = await http.get("/metrics")
        out["page"] = await http.get("/")
        out["missing"] = await http.get("/v1/nothing")
        out["method"] = await http.get(URL)
        return out

    out = run_app(ScriptedChatEngine(script, model_id="scripted"), body)
    card = out["models"].json()["data"][0]
    assert card["id"] == "scripted" and card["object"] == "model"
    assert card["xprompt"]["policy"].startswith("policy(retries=1")
    metrics = out["metrics"].text
    assert 'xprompt_replies_total{lang="hau_Latn",verdict="on"} 2.0' in metrics
    assert 'xprompt_replies_total{lang="hau_Latn",verdict="off"} 1.0' in metrics
    assert 'xprompt_reply_retries_total{lang="hau_Latn"} 2.0' in metrics
    assert 'xprompt_off_target_rate{lang="hau_Latn"} 0.333' in metrics
    assert (
        'xprompt_http_requests_total{method="POST",path="/v1/chat/completions",status="200"} 3.0'
        in metrics
    )
    assert "xprompt_http_request_duration_seconds_bucket" in metrics
    assert "xprompt_engine_requests 0.0" in metrics
    assert out["page"].status_code == 200 and 'id="send"' in out["page"].text
    assert out["missing"].status_code == 404 and "no route" in error(out["missing"])["message"]
    assert out["method"].status_code == 405


def test_health_is_503_when_the_engine_is_down(run_app):
    engine = hausa_engine()

    async def body(http):
        engine.close()
        return await http.get("/health")

    r = run_app(engine, body)
    assert r.status_code == 503 and r.json()["status"] == "unavailable"
