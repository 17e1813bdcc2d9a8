"""Structured signatures: fields, text forms, parsing back, diffs, and resume keys as a subset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import write_jsonl

from xprompt import resume, runner
from xprompt.config import load_run_config
from xprompt.errors import ResumeError
from xprompt.signatures import Signature, describe_changes, leaves
from xprompt.testing.scripted import ScriptedBackend

STRATEGY = 'direct(k=3,select=first,seed=0,sampling=t=0,p=1,max=8,n=1,seed=0,stop=["\\n","a|b"])'


def make(**changes: object) -> Signature:
    fields: dict[str, object] = {
        "model": "tiny@0123abcd",
        "backend": "vllm",
        "strategy": STRATEGY,
        "guard": "flag",
        "fields": {"text": "sentence"},
        "limit": None,
        "xprompt": "0.1.0",
    }
    fields.update(changes)
    return Signature(fields)


def test_text_forms_and_parse_back() -> None:
    sig = make()
    text = sig.format()
    assert text == (
        f"model:tiny@0123abcd|backend:vllm|strategy:{STRATEGY}|guard:flag|"
        'fields:{"text":"sentence"}|xprompt:0.1.0'
    ), "None fields are left out; mappings are compact JSON"
    assert (
        sig.format(short=True)
        == 'm:tiny@0123abcd|b:vllm|s:direct|g:flag|f:{"text":"sentence"}|xprompt:0.1.0'
    )
    parsed = Signature.parse(text)
    assert parsed == sig and parsed["strategy"] == STRATEGY, (
        "a '|' inside a quoted stop string stays"
    )
    assert list(parsed.fields) == ["model", "backend", "strategy", "guard", "fields", "xprompt"]


def test_a_value_with_bars_of_its_own_stays_one_field() -> None:
    sig = Signature({"codec": "codec|bnb:exact,n=5|max:256", "pivot": "eng_Latn"})
    assert sig.format() == "codec:(codec|bnb:exact,n=5|max:256)|pivot:eng_Latn"
    assert Signature.parse(sig.format())["codec"] == "codec|bnb:exact,n=5|max:256"


def test_parse_names_a_malformed_part() -> None:
    with pytest.raises(ValueError, match="'nocolon' is not 'key:value'"):
        Signature.parse("model:x|nocolon")
    with pytest.raises(ValueError, match=r"without ':' or '\|'"):
        Signature({"a:b": 1})


def test_diff_names_settings_inside_values() -> None:
    old = make()
    new = make(strategy=STRATEGY.replace("k=3", "k=5").replace("t=0", "t=0.7"), limit=50)
    changes = old.diff(new)
    assert [c.field for c in changes] == ["strategy", "limit"]
    assert (
        describe_changes(changes)
        == "strategy.k 3 -> 5, strategy.sampling.t 0 -> 0.7, limit (none) -> 50"
    )
    assert old.diff(old) == []
    assert describe_changes(make(guard="flag").diff(make(guard="retry(k=2)"))) == (
        "guard flag -> retry, guard.k (none) -> 2"
    )


def test_leaves_of_nested_calls() -> None:
    value = "translate-test(mt=m@1:greedy,pivot=eng_Latn,inner=direct(k=3,sampling=t=0))"
    assert leaves(value) == [
        ("", "translate-test"),
        ("mt", "m@1:greedy"),
        ("pivot", "eng_Latn"),
        ("inner.k", "3"),
        ("inner.sampling.t", "0"),
    ]
    assert leaves("flag") == [("", "flag")]


def test_subset_is_the_resume_key() -> None:
    assert make().subset(["model", "limit"]) == {"model": "tiny@0123abcd", "limit": None}


# -- the run's signature and resume key ---------------------------------------------


def run_config(tmp_path: Path, data: Path, **extra: object):
    overrides = {
        "data": {"input": str(data), "target_field": "label"},
        "output": str(tmp_path / "out.jsonl"),
        "template": "sib200-topic",
        "engine": {"model": "scripted-model"},
        **extra,
    }
    return load_run_config(None, overrides)


def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    write_jsonl(
        path,
        [{"id": f"r{i}", "lang": "hau", "text": f"t {i}", "label": "travel"} for i in range(4)],
    )
    return path


def test_run_signature_parses_and_holds_its_resume_key(tmp_path: Path) -> None:
    prepared = runner.prepare(run_config(tmp_path, data_file(tmp_path)))
    sig = Signature.parse(prepared.signature)
    assert sig.format() == prepared.signature
    assert set(runner.RESUME_FIELDS) - {"fields", "limit"} <= set(sig.fields)
    assert sig["strategy"].startswith("direct(") and sig["guard"] == "flag"
    rendered = Signature(prepared.resume_key).rendered()
    assert all(sig[k] == v for k, v in rendered.items()), (
        "the resume key is a subset of the signature"
    )


def test_refused_resume_names_each_changed_setting(tmp_path: Path) -> None:
    data = data_file(tmp_path)
    backend = ScriptedBackend(lambda request: "travel")
    runner.execute(runner.prepare(run_config(tmp_path, data)), backend=backend)
    changed = run_config(tmp_path, data, sampling={"temperature": 0.7, "max_tokens": 5})
    with pytest.raises(ResumeError) as err:
        runner.execute(runner.prepare(changed), backend=backend)
    assert "was written by a different run: strategy.sampling.t 0 -> 0.7, strategy.max " in str(
        err.value
    )
    assert str(err.value).endswith("or --overwrite to start again.")


def test_meta_files_from_before_structured_signatures_still_resume(tmp_path: Path) -> None:
    """Older meta files stored the guard as 'guard:flag' and no structured signature."""
    data = data_file(tmp_path)
    backend = ScriptedBackend(lambda request: "travel")
    prepared = runner.prepare(run_config(tmp_path, data))
    runner.execute(prepared, backend=backend)
    meta = resume.meta_path(tmp_path / "out.jsonl")
    stored = json.loads(meta.read_text(encoding="utf-8"))
    stored["resume_key"]["guard"] = "guard:flag"
    stored["signature"] = "model:x|backend:vllm|strategy:direct:direct(k=0)|guard:flag"
    meta.write_text(json.dumps(stored), encoding="utf-8")
    summary = runner.execute(runner.prepare(run_config(tmp_path, data)), backend=backend)
    assert summary.rows_this_session == 0 and summary.total.rows == 4
