"""Retry, load-balancing and health logic of the endpoint pool and the OpenAI backend's wire format.

These are logic tests over httpx's in-memory ``MockTransport`` (servers that
fail in scripted ways on purpose); the same backend runs against real vLLM
servers in ``test_openai_backend.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from typing import Any

import httpx
import pytest

from xprompt.backends.endpoints import (
    EndpointPool,
    Failure,
    Job,
    Reply,
    RetryPolicy,
    normalize_base_url,
)
from xprompt.backends.openai import OpenAIBackend
from xprompt.errors import BackendError, ConfigError
from xprompt.types import Constraint, Message, Request, Sampling

FAST = RetryPolicy(max_retries=2, backoff_s=0.001, max_backoff_s=0.01)
MODEL = "tiny-model"


def listing(model: str = MODEL) -> httpx.Response:
    return httpx.Response(200, json={"data": [{"id": model, "max_model_len": 256}]})


def pool(urls: list[str], handler: Any, **kwargs: Any) -> EndpointPool:
    options: dict[str, Any] = {"concurrency": 4, "timeout_s": 5.0, "retry": FAST}
    options.update(kwargs)
    return EndpointPool(urls, transport=httpx.MockTransport(handler), **options)


def run(p: EndpointPool, jobs: list[Job]) -> list[Reply | Failure]:
    async def go() -> list[Reply | Failure]:
        try:
            await p.connect()
            return await p.run(jobs)
        finally:
            await p.aclose()

    return asyncio.run(go())


def jobs(n: int) -> list[Job]:
    return [Job("/completions", {"job": i}) for i in range(n)]


def job_of(request: httpx.Request) -> int:
    return json.loads(request.content)["job"]


def test_base_urls_are_normalized_and_checked() -> None:
    assert normalize_base_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000/v1"
    assert normalize_base_url("http://127.0.0.1:8000/v1/") == "http://127.0.0.1:8000/v1"
    assert normalize_base_url("https://gw.example/openai/v1") == "https://gw.example/openai/v1"
    with pytest.raises(ConfigError, match="not an http"):
        normalize_base_url("127.0.0.1:8000")
    with pytest.raises(ConfigError, match="given twice"):
        pool(["http://a:1", "http://a:1/v1"], lambda r: listing())
    with pytest.raises(ConfigError, match="at least one server"):
        pool([], lambda r: listing())


def test_retry_delays_double_up_to_the_cap_and_honour_retry_after() -> None:
    policy = RetryPolicy(max_retries=5, backoff_s=1.0, max_backoff_s=30.0)
    assert [policy.delay(k) for k in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert policy.delay(0, retry_after=7.0) == 7.0
    assert policy.delay(3, retry_after=1.0) == 8.0
    assert policy.delay(0, retry_after=999.0) == 30.0


def test_5xx_and_429_are_retried_until_they_succeed() -> None:
    calls: Counter[int] = Counter()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return listing()
        job = job_of(request)
        calls[job] += 1
        if calls[job] == 1:
            return httpx.Response(503, json={"error": {"message": "overloaded"}})
        if calls[job] == 2 and job % 2:
            return httpx.Response(429, headers={"Retry-After": "0"}, json={"error": {}})
        return httpx.Response(200, json={"ok": job})

    outcomes = run(pool(["http://a:1"], handler), jobs(10))
    assert [o.body["ok"] for o in outcomes if isinstance(o, Reply)] == list(range(10))
    assert [calls[i] for i in range(10)] == [2, 3] * 5


def test_a_request_that_keeps_failing_becomes_a_failure_with_its_reason() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return listing()
        if job_of(request) == 1:
            return httpx.Response(500, json={"error": {"message": "engine exploded"}})
        return httpx.Response(200, json={"ok": True})

    first, second, third = run(pool(["http://a:1"], handler), jobs(3))
    assert isinstance(first, Reply) and isinstance(third, Reply)
    assert isinstance(second, Failure)
    assert second.attempts == 3 and second.status == 500
    assert second.message == (
        "request failed after 3 attempts: HTTP 500: engine exploded (last server: http://a:1/v1)"
    )


def test_client_errors_are_final_at_once_and_keep_the_servers_message() -> None:
    calls = Counter()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return listing()
        calls["post"] += 1
        return httpx.Response(400, json={"error": {"message": "invalid regex", "code": 400}})

    (outcome,) = run(pool(["http://a:1"], handler), jobs(1))
    assert calls["post"] == 1
    assert isinstance(outcome, Failure)
    assert outcome.message == "server http://a:1/v1 rejected the request (HTTP 400): invalid regex"


def test_work_is_spread_over_replicas_and_each_is_kept_full_but_not_overfilled() -> None:
    in_flight: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    served: Counter[str] = Counter()

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return listing()
        host = request.url.host
        in_flight[host] += 1
        peak[host] = max(peak[host], in_flight[host])
        await asyncio.sleep(0.005)
        in_flight[host] -= 1
        served[host] += 1
        return httpx.Response(200, json={"ok": job_of(request)})

    outcomes = run(pool(["http://a:1", "http://b:1"], handler, concurrency=4), jobs(200))
    assert [o.body["ok"] for o in outcomes if isinstance(o, Reply)] == list(range(200))
    assert peak == {"a": 4, "b": 4}, "each server gets exactly `concurrency` requests at a time"
    assert served["a"] + served["b"] == 200 and min(served.values()) >= 50


def test_an_unreachable_replica_is_skipped_and_the_others_do_the_work() -> None:
    served: Counter[str] = Counter()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "down":
            raise httpx.ConnectError("connection refused", request=request)
        if request.method == "GET":
            return listing()
        served[request.url.host] += 1
        return httpx.Response(200, json={"ok": job_of(request)})

    p = pool(["http://down:1", "http://up:1"], handler)
    outcomes = run(p, jobs(20))
    assert all(isinstance(o, Reply) for o in outcomes)
    assert served == {"up": 20}
    status = {s["url"]: s for s in p.status()}
    assert status["http://down:1/v1"]["up"] is False
    assert "connection refused" in status["http://down:1/v1"]["problem"]


def test_no_reachable_server_is_a_clear_failure_naming_every_url() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(BackendError) as caught:
        run(pool(["http://a:1", "http://b:2"], handler), jobs(3))
    message = str(caught.value)
    assert message.startswith("no server is reachable after 2 retries")
    assert "http://a:1/v1 (cannot connect: ConnectError: connection refused)" in message
    assert "http://b:2/v1" in message and "resumes the run" in message


def test_a_fleet_that_goes_down_mid_batch_stops_the_batch_instead_of_failing_rows() -> None:
    state = {"posts": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if state["posts"] >= 5:  # the server died after five answers
            raise httpx.ConnectError("connection refused", request=request)
        if request.method == "GET":
            return listing()
        state["posts"] += 1
        return httpx.Response(200, json={"ok": True})

    with pytest.raises(BackendError, match="every server is unreachable after 2 retries"):
        run(pool(["http://a:1"], handler, concurrency=1), jobs(20))


def test_a_server_that_comes_back_gets_the_remaining_work_and_nothing_is_lost_or_repeated() -> None:
    state = {"down": False, "back": False, "refused": 0}
    served: Counter[int] = Counter()

    def handler(request: httpx.Request) -> httpx.Response:
        # A restart: after the first answer the server is gone for three probes, then back.
        if request.method == "POST" and served and not state["back"]:
            state["down"] = True
            state["refused"] += 1
            raise httpx.ConnectError("connection refused", request=request)
        if request.method == "GET":
            if state["down"] and state["refused"] < 4:
                state["refused"] += 1
                raise httpx.ConnectError("connection refused", request=request)
            state["down"], state["back"] = False, state["down"] or state["back"]
            return listing()
        served[job_of(request)] += 1
        return httpx.Response(200, json={"ok": job_of(request)})

    patient = RetryPolicy(max_retries=4, backoff_s=0.001, max_backoff_s=0.01)
    outcomes = run(pool(["http://a:1"], handler, concurrency=2, retry=patient), jobs(12))
    assert [o.body["ok"] for o in outcomes if isinstance(o, Reply)] == list(range(12))
    assert state["back"] and state["refused"] == 4
    assert served == dict.fromkeys(range(12), 1), "every request was served exactly once"


# -- the OpenAI backend's requests and answers -------------------------------------------------


class FakeServer:
    """An in-memory OpenAI-compatible server that records request bodies and echoes them."""

    def __init__(
        self, *, vllm: bool = True, model: str = MODEL, n_choices: int | None = None
    ) -> None:
        self.vllm = vllm
        self.model = model
        self.n_choices = n_choices
        self.bodies: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/version":
            return (
                httpx.Response(200, json={"version": "0.32.0"})
                if self.vllm
                else httpx.Response(404)
            )
        if path == "/v1/models":
            return listing(self.model)
        body = json.loads(request.content)
        self.bodies[path].append(body)
        n = self.n_choices if self.n_choices is not None else body["n"]
        if path == "/v1/chat/completions":
            choices = [
                {
                    "index": i,
                    "message": {"content": f"{body['messages'][-1]['content']}#{i}"},
                    "finish_reason": "stop",
                }
                for i in reversed(range(n))
            ]
        else:
            choices = [
                {"index": i, "text": f"{body['prompt']}#{i}", "finish_reason": "length"}
                for i in range(n)
            ]
        return httpx.Response(
            200,
            json={"choices": choices, "usage": {"prompt_tokens": 5, "completion_tokens": 3 * n}},
        )


def backend(server: FakeServer, **kwargs: Any) -> OpenAIBackend:
    return OpenAIBackend(
        MODEL,
        base_urls=["http://fake:1"],
        transport=httpx.MockTransport(server),
        backoff_s=0.001,
        **kwargs,
    )


def test_requests_map_to_the_openai_wire_format_with_vllm_structured_outputs() -> None:
    server = FakeServer()
    b = backend(server)
    try:
        assert b.is_vllm and b.max_model_len == 256
        requests = [
            Request(
                "a",
                messages=(Message("system", "s"), Message("user", "hi")),
                constraint=Constraint(choices=("x", "y")),
            ),
            Request(
                "b",
                prompt="raw text",
                sampling=Sampling(max_tokens=9, stop=("\n",), seed=None),
                constraint=Constraint(regex="[0-9]+"),
            ),
            Request(
                "c",
                messages=(Message("user", "vote"),),
                sampling=Sampling(temperature=0.7, n=3, seed=11),
            ),
        ]
        a, b_, c = b.generate(requests)
    finally:
        b.close()
    chat_a, chat_c = server.bodies["/v1/chat/completions"]
    (completion_b,) = server.bodies["/v1/completions"]
    assert chat_a["messages"] == [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "hi"},
    ]
    assert chat_a["structured_outputs"] == {"choice": ["x", "y"]}
    assert chat_a["model"] == MODEL and chat_a["temperature"] == 0.0 and chat_a["seed"] == 0
    assert chat_a["top_k"] == 0 and chat_a["repetition_penalty"] == 1.0, (
        "pinned, not the model's generation_config"
    )
    assert completion_b["prompt"] == "raw text" and completion_b["stop"] == ["\n"]
    assert completion_b["structured_outputs"] == {"regex": "[0-9]+"} and "seed" not in completion_b
    assert chat_c["n"] == 3 and chat_c["seed"] == 11 and chat_c["temperature"] == 0.7
    assert a.texts == ("hi#0",) and b_.texts == ("raw text#0",) and b_.finish_reasons == ("length",)
    assert c.texts == ("vote#0", "vote#1", "vote#2"), "choices are put back in index order"
    assert (c.prompt_tokens, c.completion_tokens) == (5, 9)


def test_non_vllm_servers_get_only_standard_fields_and_wrong_answers_are_row_errors() -> None:
    server = FakeServer(vllm=False, n_choices=1)
    b = backend(server)
    try:
        assert not b.is_vllm and b.describe()["server"] == "unknown"
        ok, short = b.generate(
            [
                Request("ok", prompt="p"),
                Request("short", prompt="q", sampling=Sampling(temperature=1, n=2)),
            ]
        )
    finally:
        b.close()
    assert "top_k" not in server.bodies["/v1/completions"][0]
    assert ok.ok and short.error == "server http://fake:1/v1 returned 1 choices for n=2"


def test_a_prompt_with_no_room_for_max_tokens_is_an_error_as_in_process() -> None:
    b = backend(FakeServer())
    try:
        (completion,) = b.generate([Request("x", prompt="p", sampling=Sampling(max_tokens=252))])
    finally:
        b.close()
    assert completion.prompt_tokens == 5 and completion.texts == ()
    assert completion.error == (
        "prompt is 5 tokens; with max_tokens=252 it exceeds the model's context of 256 tokens "
        "(shorten the input, use fewer exemplars or lower max_tokens)"
    )


def test_a_model_the_servers_do_not_serve_is_a_config_error_naming_what_they_serve() -> None:
    with pytest.raises(ConfigError, match=r"serves other-model, not 'tiny-model' \(pass --model"):
        backend(FakeServer(model="other-model"))


def test_max_model_len_that_differs_from_the_servers_is_a_config_error() -> None:
    from xprompt.config import EngineConfig

    engine = EngineConfig(backend="openai", base_urls=["http://fake:1"], max_model_len=128)
    with pytest.raises(ConfigError, match="context of 256 tokens"):
        OpenAIBackend(MODEL, engine=engine, transport=httpx.MockTransport(FakeServer()))


def test_api_key_from_the_configured_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from xprompt.config import EngineConfig

    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return FakeServer()(request)

    monkeypatch.setenv("MY_KEY", "s3cret")
    engine = EngineConfig(backend="openai", base_urls=["http://fake:1"], api_key_env="MY_KEY")
    b = OpenAIBackend(MODEL, engine=engine, transport=httpx.MockTransport(handler))
    b.generate([Request("x", prompt="p", sampling=Sampling(max_tokens=4))])
    b.close()
    assert seen and set(seen) == {"Bearer s3cret"}
    with pytest.raises(BackendError, match="closed"):
        b.generate([Request("x", prompt="p")])


def test_data_parallel_in_process_points_to_the_server() -> None:
    from xprompt.config import EngineConfig

    with pytest.raises(ValueError, match=r"needs vLLM.s server.*--data-parallel-size 2"):
        EngineConfig(data_parallel_size=2)
    assert EngineConfig(backend="openai", data_parallel_size=2).data_parallel_size == 2
