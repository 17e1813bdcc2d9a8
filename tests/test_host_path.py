"""The host path's shortcuts change no record: runs with them equal runs with the plain code.

The shortcuts (``benchmarks/host_path.py`` measures them): Jinja parts rendered
without re-reading the globals per call, the language-only context, a
field-free system prompt and a prompt's exemplar turns kept, request digests
written without ``json.dumps``, the exemplar head kept per key, label
extractions of short texts kept, and the summary counting each record once.
Each test runs the same configuration twice, once with every shortcut
replaced by the plain code it stands for, and compares records and summaries.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest
from helpers import EXAMPLES

from xprompt import answers, data, exemplars, metrics, runner, templates, types
from xprompt.config import load_run_config
from xprompt.testing.scripted import ScriptedBackend
from xprompt.types import Example, Message, Request

TOPICS = EXAMPLES / "data" / "topics.jsonl"
POOL = EXAMPLES / "data" / "topics.pool.jsonl"
MGSM = EXAMPLES / "mgsm" / "mgsm.mini.jsonl"

REPLIES = (
    "First we read the question carefully. Then we add the numbers. Answer: 12",
    "Gwamnati ta sanar da sabon shirin kiwon lafiya a jihar Kano ranar Talata. Answer: 7",
    "Sure! Here is the answer:\nỌjọ́ dára gan an ni, a ó rí ara wa lọ́la. Answer: 3",
    "travel",
    "",
)


def script(request: Request) -> list[str]:
    """A label of the request's constraint, else one of :data:`REPLIES` (seeded by the id)."""
    seed = int(hashlib.sha1(request.id.encode()).hexdigest(), 16)
    if request.constraint is not None and request.constraint.choices:
        choices = request.constraint.choices
        return [choices[(seed + k) % len(choices)] for k in range(request.sampling.n)]
    return [REPLIES[(seed + 3 * k) % len(REPLIES)] for k in range(request.sampling.n)]


def plain_messages_json(messages: tuple[Message, ...]) -> str:
    return json.dumps([m.to_dict() for m in messages], ensure_ascii=False, sort_keys=True)


_SELECT = exemplars.ExemplarSelector.select


def plain_select(self: exemplars.ExemplarSelector, query: Example) -> tuple[Example, ...]:
    """``ExemplarSelector.select`` without the kept head (it is only kept when first ordered)."""
    self._heads.clear()
    return _SELECT(self, query)


def plain_code(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace every host-path shortcut by the plain code it stands for."""
    monkeypatch.setattr(templates, "SHOT_CACHE_SIZE", 0)
    monkeypatch.setattr(
        templates, "_render_compiled", lambda compiled, _, ctx: compiled.render(ctx)
    )
    monkeypatch.setattr(types, "_messages_json", plain_messages_json)
    monkeypatch.setattr(exemplars.ExemplarSelector, "select", plain_select)
    monkeypatch.setattr(answers, "CHOICE_CACHE_CHARS", -1)


def run(overrides: dict[str, Any], out: Path) -> tuple[bytes, dict[str, Any]]:
    """Records (the file's bytes) and summary (without timings) of one fresh run."""
    templates._load_path.cache_clear()  # fresh Template objects: nothing kept from other runs
    answers._extract_choice_kept.cache_clear()
    prepared = runner.prepare(
        load_run_config(None, {**overrides, "output": str(out), "engine": {"model": "scripted"}})
    )
    summary = runner.execute(prepared, backend=ScriptedBackend(script))
    records = data.read_records(out)
    total = metrics.GroupStats()
    for record in records:  # the total as the summary counted it before: every record added
        total.add(record)
    assert total == summary.total
    result = summary.to_dict()
    for key in ("elapsed_s", "engine_start_s"):
        result.pop(key)
    return out.read_bytes(), result


def topics(**extra: Any) -> dict[str, Any]:
    return {
        "data": {"input": str(TOPICS), "target_field": "label", "limit": 120},
        "template": "sib200-topic",
        "chunk_size": 32,
        **extra,
    }


SHOTS = {"shots": 3, "pool": str(POOL), "select": "balanced"}
CONFIGS = {
    "direct-0-shot": topics(),
    "direct-3-shot": topics(exemplars=SHOTS),
    "direct-3-shot-native": topics(template="sib200-topic-native", exemplars=SHOTS),
    "direct-3-shot-per-row": topics(
        exemplars={**SHOTS, "select": "random", "lang": "any", "per_row": True}
    ),
    "direct-3-shot-raw-unconstrained": topics(
        exemplars=SHOTS, prompt_format="raw", constrained=False
    ),
    "direct-3-shot-n3": topics(exemplars=SHOTS, sampling={"n": 3, "temperature": 0.7}),
    "chat-retry": {
        "data": {"input": str(TOPICS), "fields": {"prompt": "text"}, "limit": 60},
        "template": "chat",
        "guard": {"policy": "retry", "retries": 2},
    },
    "clp": {
        "data": {"input": str(MGSM), "target_field": "answer"},
        "template": "clp-solve",
        "strategy": "clp",
    },
    "self-consistency": {
        "data": {"input": str(MGSM), "target_field": "answer"},
        "template": "mgsm-cot",
        "strategy": "self-consistency",
        "sampling": {"n": 3, "temperature": 0.7},
    },
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_records_are_those_of_the_plain_code(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = run(CONFIGS[name], tmp_path / "fast.jsonl")
    with monkeypatch.context() as patch:
        plain_code(patch)
        plain = run(CONFIGS[name], tmp_path / "plain.jsonl")
    assert fast[0] == plain[0]
    assert fast[1] == plain[1]
    assert fast[0].count(b"\n") == fast[1]["rows"] > 0


def test_messages_json_is_json_dumps() -> None:
    rng = random.Random(0)
    alphabet = [
        "a",
        '"',
        "\\",
        "\n",
        "\t",
        "\x00",
        "\x1f",
        "\x7f",
        "é",
        "ሳ",
        "\u2028",
        "\ud800",
        "😀",
    ]
    for _ in range(2000):
        messages = tuple(
            Message(
                rng.choice(["system", "user", "assistant"]), "".join(rng.choices(alphabet, k=8))
            )
            for _ in range(rng.randint(0, 4))
        )
        assert types._messages_json(messages) == plain_messages_json(messages)
    odd = (Message("user", None), Message(3, "x"))  # type: ignore[arg-type]
    assert types._messages_json(odd) == plain_messages_json(odd)


@pytest.mark.parametrize("name", sorted(templates.available_templates()))
def test_parts_render_as_jinja_renders_them(name: str) -> None:
    template = templates.load_template(name)
    fields = {f: f"value of {f} {{{{ 7*7 }}}}" for f in template.fields}
    query = Example("q", "hau_Latn", fields)
    try:
        context = template._context(query, "hau_Latn")
    except templates.TemplateError:  # a template with i18n strings for other languages only
        context = template._context(Example("q", "eng_Latn", fields), "eng_Latn")
    context["answer"] = "the answer"
    for part, compiled in template._compiled.items():
        assert template._render_part(part, context) == compiled.render(context)


def test_a_query_in_the_kept_head_is_not_its_own_exemplar() -> None:
    pool = [Example(f"p{i}", "hau_Latn", {"text": f"t{i}"}, "travel") for i in range(5)]
    selector = exemplars.ExemplarSelector(pool, k=3)
    outsider = Example("q", "hau_Latn", {"text": "q"})
    assert [e.id for e in selector.select(outsider)] == ["p0", "p1", "p2"]
    assert [e.id for e in selector.select(pool[1])] == ["p0", "p2", "p3"]
    assert selector.select(outsider) is selector.select(outsider)
