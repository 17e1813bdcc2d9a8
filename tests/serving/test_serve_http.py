"""``xprompt serve`` end to end: the real server (tiny model on vLLM) on loopback, the official client.

One server for the whole module (about 30-90 s to start on a CPU): API keys on,
Amharic configured as weak with the tiny NLLB-shaped MT model as the pivot
translator. Outputs of the random model are gibberish, so the tests assert on
the protocol, the bookkeeping and determinism, and recompute every reported
language check themselves.
"""

from __future__ import annotations

import json
import shutil
import unicodedata

import httpx
import openai
import pytest
from serve_helpers import AMHARIC, HAUSA

from serving.testing import ServeProcess
from xprompt import langid

pytestmark = pytest.mark.slow

KEY = "sk-test-7f3a9c"
SECRET_TEXT = "Zanzibari mwambao wa pwani wenye siri kubwa sana leo."

SCRIPTS = {
    "ethiopic": AMHARIC,
    "devanagari": "सरकार ने आज राज्य के लिए नई स्वास्थ्य योजना की घोषणा की। क्षत्रिय",
    "cjk": "政府今天宣布了该地区新的卫生计划。答案是十二。",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "server.log"
    args = [
        "--model", "tiny", "--enforce-eager", "--max-model-len", "2048",
        "--engine-opt", f"kv_cache_memory_bytes={256 * 2**20}",
        "--api-key", KEY, "--weak-lang", "amh", "--translator", "tiny-nllb",
    ]  # fmt: skip
    proc = ServeProcess(args, log_path=log).start()
    try:
        proc.wait_ready(900)
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0, timeout=120)


def messages(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def recheck(text: str, lang: str) -> str:
    return langid.check(text, lang).verdict


def assert_bookkeeping(info: dict, content: str) -> None:
    """The reported attempts, verdicts and final check are consistent with the delivered text."""
    attempts = info["attempts"]
    assert all(a["verdict"] == "off" for a in attempts[:-1] if a["verdict"] != "error")
    assert info["retries"] == sum(a["kind"] == "firm" for a in attempts)
    assert info["pivot"] == any(a["kind"] == "pivot" and a["verdict"] != "error" for a in attempts)
    assert info["check"]["verdict"] == recheck(content, info["check"]["expected"])


def test_plain_completion(client):
    raw = client.chat.completions.with_raw_response.create(
        model="tiny", messages=messages(HAUSA), max_tokens=24, temperature=0
    )
    completion = raw.parse()
    assert completion.object == "chat.completion" and completion.model == "tiny"
    assert completion.id.startswith("chatcmpl-")
    (choice,) = completion.choices
    assert isinstance(choice.message.content, str) and choice.message.role == "assistant"
    assert choice.finish_reason in ("stop", "length")
    usage = completion.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.completion_tokens >= 1
    info = completion.model_extra["xprompt"]
    assert info["lang"] == "hau_Latn" and info["lang_source"] == "detected"
    assert raw.headers["x-xprompt-lang"] == "hau_Latn"
    assert raw.headers["x-xprompt-check"] == info["choices"][0]["check"]["verdict"]
    assert_bookkeeping(info["choices"][0], choice.message.content)
    assert "model=" in info["signature"] and "langid(" in info["signature"]
    again = client.chat.completions.create(
        model="tiny", messages=messages(HAUSA), max_tokens=24, temperature=0
    )
    assert again.choices[0].message.content == choice.message.content  # deterministic


def test_default_seed_makes_sampling_reproducible(client):
    args = {"model": "tiny", "messages": messages(HAUSA), "max_tokens": 16, "temperature": 1.0}
    first = client.chat.completions.create(**args).choices[0].message.content
    assert client.chat.completions.create(**args).choices[0].message.content == first
    other = client.chat.completions.create(**args, seed=1234).choices[0].message.content
    assert isinstance(other, str)


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_streaming_matches_the_plain_answer_and_never_splits_a_character(server, client, script):
    text = SCRIPTS[script]
    # No language policy here: both answers are the model's first attempt, so they must be equal.
    args = {
        "model": "tiny",
        "messages": messages(text),
        "max_tokens": 48,
        "temperature": 0,
        "xprompt": {"check": False},
    }
    plain = client.chat.completions.create(
        **{k: v for k, v in args.items() if k != "xprompt"}, extra_body={"xprompt": args["xprompt"]}
    )
    with httpx.stream(
        "POST",
        server.base_url + "/chat/completions",
        json={**args, "stream": True, "stream_options": {"include_usage": True}},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=120,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.read()
    blocks = raw.decode("utf-8").split("\n\n")  # the whole body is valid UTF-8
    assert blocks[-2] == "data: [DONE]"
    chunks = [json.loads(b[6:]) for b in blocks if b.startswith("data: {")]
    deltas = [c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]]
    streamed = "".join(deltas)
    assert streamed == plain.choices[0].message.content
    cut = 0
    for delta in deltas[:-1]:
        cut += len(delta)
        if 0 < cut < len(streamed):
            nxt = streamed[cut]
            assert not unicodedata.category(nxt).startswith("M"), (script, cut)
            assert unicodedata.combining(streamed[cut - 1]) != 9, (script, cut)
    assert len(deltas) > 3  # streamed in pieces, not held back
    final = next(c for c in chunks if c.get("xprompt"))
    assert final["choices"][0]["finish_reason"] == plain.choices[0].finish_reason
    assert chunks[-1]["usage"]["completion_tokens"] == plain.usage.completion_tokens


def test_streaming_with_the_official_client(client):
    stream = client.chat.completions.create(
        model="tiny", messages=messages(HAUSA), max_tokens=24, stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finishes) == 1
    info = finishes[0].model_extra["xprompt"]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert_bookkeeping(info["choices"][0], text)
    assert chunks[-1].usage is not None and chunks[-1].choices == []


def test_n_choices_plain_and_streamed(client):
    completion = client.chat.completions.create(
        model="tiny", messages=messages(HAUSA), max_tokens=16, n=3, temperature=0.9
    )
    assert [c.index for c in completion.choices] == [0, 1, 2]
    info = completion.model_extra["xprompt"]["choices"]
    for choice, report in zip(completion.choices, info, strict=True):
        assert choice.finish_reason in ("stop", "length")
        assert_bookkeeping(report, choice.message.content)
    stream = client.chat.completions.create(
        model="tiny", messages=messages(HAUSA), max_tokens=16, n=2, temperature=0.9, stream=True
    )
    texts, reasons = ["", ""], [None, None]
    for chunk in stream:
        for c in chunk.choices:
            texts[c.index] += c.delta.content or ""
            reasons[c.index] = c.finish_reason or reasons[c.index]
    assert all(r in ("stop", "length") for r in reasons)


def test_bad_requests(server, client):
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="tiny", messages=messages("hi"), temperature=5)
    assert bad.value.body["param"] == "temperature"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=messages("hi"))
    with pytest.raises(openai.UnprocessableEntityError) as unknown:
        client.chat.completions.create(
            model="tiny", messages=messages("hi"), extra_body={"xprompt": {"lang": "xx-nope"}}
        )
    assert unknown.value.body["param"] == "xprompt.lang"
    with pytest.raises(openai.APIStatusError) as big:
        client.chat.completions.create(model="tiny", messages=messages("a" * 1_100_000))
    assert big.value.status_code == 413
    with pytest.raises(openai.BadRequestError) as long:
        client.chat.completions.create(model="tiny", messages=messages("hello " * 3000))
    assert long.value.body["code"] == "context_length_exceeded"
    # Unknown fields are ignored, as OpenAI clients expect.
    ok = client.chat.completions.create(
        model="tiny", messages=messages("hi"), max_tokens=4, extra_body={"top_k": 5, "foo": "bar"}
    )
    assert ok.model_extra["xprompt"]["ignored_fields"] == ["foo", "top_k"]


def test_missing_or_wrong_key(server):
    missing = httpx.post(server.base_url + "/chat/completions", json={"messages": messages("hi")})
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "invalid_api_key"
    wrong = openai.OpenAI(base_url=server.base_url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.chat.completions.create(model="tiny", messages=messages("hi"))
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()
    assert httpx.get(server.root + "/health").json()["status"] == "ok"


def test_reply_language_override_by_extension_and_header(client):
    raw = client.chat.completions.with_raw_response.create(
        model="tiny", messages=messages(HAUSA), max_tokens=24, temperature=0,
        extra_body={"xprompt": {"lang": "yo"}},
    )  # fmt: skip
    assert raw.headers["x-xprompt-lang"] == "yor_Latn"
    assert raw.headers["x-xprompt-lang-source"] == "client"
    assert raw.headers["x-xprompt-detected"].startswith("hau_Latn;")
    completion = raw.parse()
    assert_bookkeeping(
        completion.model_extra["xprompt"]["choices"][0], completion.choices[0].message.content
    )
    by_header = client.chat.completions.with_raw_response.create(
        model="tiny",
        messages=messages(HAUSA),
        max_tokens=8,
        extra_headers={"X-Xprompt-Lang": "Swahili"},
    )
    assert by_header.headers["x-xprompt-lang"] == "swh_Latn"


def test_weak_language_pivots_through_the_real_mt_model(client):
    completion = client.chat.completions.create(
        model="tiny", messages=messages(AMHARIC), max_tokens=24, temperature=0,
        extra_body={"xprompt": {"pivot": "always"}},
    )  # fmt: skip
    info = completion.model_extra["xprompt"]
    assert info["lang"] == "amh_Ethi" and info["pivoted"] is True
    report = info["choices"][0]
    assert report["attempts"][0]["kind"] == "pivot" and report["pivot"] is True
    assert_bookkeeping(report, completion.choices[0].message.content)
    # The delivered text is the tiny MT model's translation of the English answer.
    from xprompt.backends.seq2seq import Seq2SeqTranslator
    from xprompt.mt.base import TranslationRequest
    from xprompt.testing.tiny_models import ensure_tiny_m2m100

    mt = Seq2SeqTranslator(str(ensure_tiny_m2m100(style="nllb")))
    (expected,) = mt.translate([TranslationRequest(report["pivot_source"], "eng_Latn", "amh_Ethi")])
    assert completion.choices[0].message.content == expected.text


def test_off_target_replies_are_retried_and_reported(client):
    """Amharic replies from the random model are mostly in other scripts: the policy acts on them."""
    completion = client.chat.completions.create(
        model="tiny", messages=messages(AMHARIC), max_tokens=24, n=4, temperature=1.0
    )
    reports = completion.model_extra["xprompt"]["choices"]
    for choice, report in zip(completion.choices, reports, strict=True):
        assert_bookkeeping(report, choice.message.content)
        first = report["attempts"][0]
        if first["verdict"] == "off":
            assert len(report["attempts"]) > 1  # an off-target first reply was never just passed on
    assert any(r["attempts"][0]["verdict"] == "off" for r in reports)


def test_models_health_and_metrics(server, client):
    (model,) = client.models.list().data
    assert model.id == "tiny" and model.model_extra["xprompt"]["weak_langs"] == ["amh_Ethi"]
    assert "tiny-nllb" in model.model_extra["xprompt"]["translator"]
    health = httpx.get(server.root + "/health")
    assert health.status_code == 200 and health.json()["model"] == "tiny"
    metrics = httpx.get(server.root + "/metrics").text
    assert 'xprompt_replies_total{lang="hau_Latn"' in metrics
    assert "xprompt_off_target_rate{" in metrics
    assert 'path="/v1/chat/completions",status="200"' in metrics


def test_access_log_has_no_bodies_and_no_keys(server, client):
    client.chat.completions.create(model="tiny", messages=messages(SECRET_TEXT), max_tokens=4)
    log = server.log_path.read_text(errors="replace")
    lines = [json.loads(line) for line in log.splitlines() if line.startswith('{"ts"')]
    assert any(line["path"] == "/v1/chat/completions" and line["status"] == 200 for line in lines)
    assert any(line["status"] == 401 for line in lines)
    assert SECRET_TEXT[:20] not in log and KEY not in log


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (scripts/setup.sh installs it)"
)
def test_browser_page_chats_through_the_api(server):
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    args = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ]  # fmt: skip
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            page = browser.new_page()
            page.goto(server.root + "/")
            page.fill("#key", KEY)
            page.dispatch_event("#key", "change")
            page.wait_for_function("document.querySelector('#model').options.length > 0")
            for done, streamed in enumerate((True, False), start=1):
                page.set_checked("#stream", streamed)
                page.fill("#max-tokens", "16")
                page.fill("#input", HAUSA)
                page.click("#send")
                page.wait_for_function(
                    f"document.querySelectorAll(\".msg.assistant[data-state='done']\").length >= {done}"
                )
            replies = page.locator(".msg.assistant")
            assert replies.count() == 2
            for i in range(2):
                assert replies.nth(i).get_attribute("data-lang") == "hau_Latn"
                assert "reply language: hau_Latn" in replies.nth(i).locator(".meta").inner_text()
            # A wrong key shows the server's error message in the page.
            page.fill("#key", "sk-wrong")
            page.fill("#input", "hello")
            page.click("#send")
            page.wait_for_selector(".msg.error[data-state='error']")
            assert "invalid API key" in page.locator(".msg.error").last.inner_text()
        finally:
            browser.close()
