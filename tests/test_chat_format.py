"""Chat-template probing and adaptation on the real family templates (no engine, no tokenizer).

The templates are the public text of each family's ``tokenizer_config.json``
(``xprompt/testing/chat_templates``), rendered the way Hugging Face renders
them. The same adaptation runs on the real engine in ``test_model_families.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xprompt import chat_format
from xprompt.chat_format import ChatTemplateError, probe, render_adapted, split_reasoning
from xprompt.testing.tiny_models import FAMILIES, read_chat_template
from xprompt.types import Message

SPECIAL = {
    "gemma2": {"bos_token": "<bos>", "eos_token": "<eos>"},
    "mistral": {"bos_token": "<s>", "eos_token": "</s>"},
    "llama3": {"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>"},
    "qwen2_5": {"eos_token": "<|im_end|>"},
    "qwen3": {"eos_token": "<|im_end|>"},
}

EXPECTED = {
    "gemma2": "fold-system+merge-same-role",
    "mistral": "fold-system+merge-same-role",
    "llama3": "native",
    "qwen2_5": "native",
    "qwen3": "native",
}

# What xprompt builds: a system instruction, few-shot exemplar turns, and the firm
# retry note as a second user turn.
CONVERSATION = (
    Message("system", "Always answer in Hausa."),
    Message("user", "Labari: Gwamnati ta sanar"),
    Message("assistant", "politics"),
    Message("user", "Labari: Kungiyar ta ci"),
    Message("user", "You must write your entire answer in Hausa only."),
)


def renderer(family: str, **kwargs):
    return chat_format.template_renderer(read_chat_template(family), SPECIAL[family], **kwargs)


def test_every_family_has_a_template_and_a_named_source() -> None:
    assert set(FAMILIES) == set(EXPECTED)
    for fam in FAMILIES.values():
        assert "/" in fam.source and fam.chat_template.strip()
        assert fam.turn_end in fam.eos


@pytest.mark.parametrize("family", sorted(EXPECTED))
def test_probe_finds_what_each_template_accepts(family: str) -> None:
    found = probe(renderer(family))
    assert found.label == EXPECTED[family]
    if family == "gemma2":
        assert found.refusals["system"] == "System role not supported"
        assert "Conversation roles must alternate" in found.refusals["consecutive"]
    if family == "mistral":
        assert not found.system and not found.consecutive and found.multi_turn


@pytest.mark.parametrize("family", sorted(EXPECTED))
def test_the_conversation_xprompt_builds_renders_on_every_family(family: str) -> None:
    render = renderer(family)
    if EXPECTED[family] != "native":
        with pytest.raises(Exception, match=r"System role|alternate"):
            render([m.to_dict() for m in CONVERSATION], True)
    text, adapted = render_adapted(render, probe(render), CONVERSATION)
    for turn in CONVERSATION:
        assert turn.content in text, "no text is lost"
    if family in ("gemma2", "mistral"):
        assert [m.role for m in adapted] == ["user", "assistant", "user"]
        assert adapted[0].content == "Always answer in Hausa.\n\nLabari: Gwamnati ta sanar"
        assert adapted[2].content.endswith("\n\nYou must write your entire answer in Hausa only.")
    else:
        assert adapted == CONVERSATION


def test_gemma2_renders_as_the_model_expects() -> None:
    render = renderer("gemma2")
    text, _ = render_adapted(render, probe(render), CONVERSATION[:4])
    assert text == (
        "<bos><start_of_turn>user\nAlways answer in Hausa.\n\nLabari: Gwamnati ta sanar<end_of_turn>\n"
        "<start_of_turn>model\npolitics<end_of_turn>\n"
        "<start_of_turn>user\nLabari: Kungiyar ta ci<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


def test_a_template_that_cannot_be_adapted_is_an_error_quoting_it() -> None:
    template = (
        "{% for m in messages %}{% if '\\n' in m['content'] %}"
        "{{ raise_exception('Newlines are not supported') }}{% endif %}"
        "{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    )
    render = chat_format.template_renderer(template)
    found = probe(render)
    assert found.label == "native"
    with pytest.raises(ChatTemplateError) as err:
        render_adapted(render, found, [Message("user", "two\nlines")])
    assert "'Newlines are not supported'" in err.value.message
    assert "adaptation tried: native" in err.value.message


def test_a_template_that_renders_nothing_is_refused_at_probe_time() -> None:
    render = chat_format.template_renderer("{{ raise_exception('no chat here') }}")
    with pytest.raises(ChatTemplateError, match="no chat here"):
        probe(render)


def test_one_turn_templates_get_one_block() -> None:
    template = (
        "{% if messages | length > 1 and messages[0]['role'] != 'system' %}"
        "{{ raise_exception('single turn only') }}{% endif %}"
        "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"
    )
    render = chat_format.template_renderer(template)
    found = probe(render)
    assert "one-block" in found.label
    text, adapted = render_adapted(render, found, CONVERSATION)
    assert [m.role for m in adapted] in (["system", "user"], ["user"])
    assert "Assistant: politics" in text


def test_qwen3_thinking_switch_is_a_template_kwarg() -> None:
    plain = renderer("qwen3")([{"role": "user", "content": "hi"}], True)
    off = renderer("qwen3", enable_thinking=False)([{"role": "user", "content": "hi"}], True)
    assert plain.endswith("<|im_start|>assistant\n")
    assert off.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")


@pytest.mark.parametrize(
    ("text", "thinking", "answer"),
    [
        ("<think>\nFikiria kwanza.\n</think>\n\nJibu: 13", "Fikiria kwanza.", "Jibu: 13"),
        ("Let me think. 18-5=13</think>Answer: 13", "Let me think. 18-5=13", "Answer: 13"),
        (
            "<think>still thinking when the tokens ran out",
            "still thinking when the tokens ran out",
            "",
        ),
        ("Answer: 13", None, "Answer: 13"),
    ],
)
def test_split_reasoning(text: str, thinking: str | None, answer: str) -> None:
    assert split_reasoning(text) == (thinking, answer)


# -- the OpenAI backend: a server whose template refuses, and a reasoning server ---------------


class TemplateServer:
    """An in-memory vLLM-like server that renders chat requests with a real family template."""

    def __init__(self, family: str, reply: str = "Jibu: 13", reasoning: str | None = None) -> None:
        self.render = renderer(family)
        self.reply, self.reasoning = reply, reasoning
        self.bodies: list[dict] = []

    def __call__(self, request):
        import json

        import httpx

        if request.url.path == "/version":
            return httpx.Response(200, json={"version": "0.32.0"})
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "m", "max_model_len": 4096}]})
        body = json.loads(request.content)
        self.bodies.append(body)
        try:
            self.render(body["messages"], True)
        except Exception as exc:  # what vLLM's server answers for a template's raise_exception
            return httpx.Response(
                400, json={"error": {"message": str(exc), "type": "BadRequestError"}}
            )
        message = {"role": "assistant", "content": self.reply}
        if self.reasoning is not None:
            message["reasoning"] = self.reasoning
        return httpx.Response(
            200,
            json={
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 3},
            },
        )


def openai_backend(server):
    import httpx

    from xprompt.backends.openai import OpenAIBackend

    return OpenAIBackend(
        "m", base_urls=["http://fake:1"], transport=httpx.MockTransport(server), backoff_s=0.001
    )


def test_openai_backend_adapts_when_the_servers_template_refuses() -> None:
    from xprompt.types import Request

    server = TemplateServer("gemma2")
    backend = openai_backend(server)
    try:
        assert backend.describe()["chat_format"] == "native"  # nothing to probe here
        done = backend.generate(
            [Request("a", messages=CONVERSATION), Request("b", messages=CONVERSATION[1:2])]
        )
        assert [d.error for d in done] == [None, None] and done[0].texts == ("Jibu: 13",)
        assert backend.describe()["chat_format"] == "fold-system+merge-same-role"
        assert "System role not supported" in backend.describe()["chat_format_source"]
        assert [m["role"] for m in server.bodies[-1]["messages"]] == ["user", "assistant", "user"]
        # A conversation no adaptation can fix: the row's error quotes the template.
        (bad,) = backend.generate(
            [Request("c", messages=(Message("assistant", "Sannu"), Message("user", "Labari")))]
        )
        assert "'Conversation roles must alternate" in bad.error
        assert "adaptation tried: fold-system+merge-same-role" in bad.error
    finally:
        backend.close()


def test_openai_backend_keeps_a_servers_reasoning_apart_and_splits_think_blocks() -> None:
    from xprompt.types import Request

    for server, thinking in (
        (TemplateServer("qwen3", reasoning="Fikiria kwanza."), "Fikiria kwanza."),
        (TemplateServer("qwen3", reply="<think>Let me see.</think>\n\nJibu: 13"), "Let me see."),
    ):
        backend = openai_backend(server)
        try:
            (done,) = backend.generate([Request("a", messages=CONVERSATION[1:2])])
        finally:
            backend.close()
        assert done.texts == ("Jibu: 13",) and done.reasoning == (thinking,)


def test_family_models_are_named_tiny_family_on_the_command_line(tmp_path) -> None:
    from typer.testing import CliRunner

    from xprompt.backends.factory import resolve_model
    from xprompt.cli import _register, app
    from xprompt.config import EngineConfig
    from xprompt.runner import chat_signature

    path = resolve_model(EngineConfig(model="tiny-gemma2"))
    assert Path(path).name.startswith("tiny-gemma2-v")
    generation = json.loads((Path(path) / "generation_config.json").read_text(encoding="utf-8"))
    assert len(generation["eos_token_id"]) == 2, "<eos> and <end_of_turn>"
    assert chat_signature(EngineConfig(model=path), path) == "fold-system+merge-same-role"
    kwargs = EngineConfig(model=path, chat_template_kwargs={"enable_thinking": False})
    assert chat_signature(kwargs, path).endswith(':{"enable_thinking":false}')
    assert chat_signature(EngineConfig(backend="openai", model="m"), "m") == "server"
    _register()
    result = CliRunner().invoke(app, ["models", "tiny", "--family", "mistral"])
    assert result.exit_code == 0 and "tiny-mistral-v" in result.output
    bad = CliRunner().invoke(app, ["models", "tiny", "--family", "gpt-9"])
    assert bad.exit_code != 0 and "unknown model family" in bad.output
