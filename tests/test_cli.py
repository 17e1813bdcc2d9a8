"""CLI behaviour that needs no engine: help, templates, and one clear message (no traceback) per user error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import write_jsonl

from xprompt.cli import main


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """Invoke the CLI in-process as the console script does; return (exit code, stdout, stderr)."""
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_help_lists_commands(capsys) -> None:
    code, out, _ = run_cli(["--help"], capsys)
    assert code == 0
    for command in ("run", "templates", "models"):
        assert command in out


def test_templates_list_show_render(capsys) -> None:
    code, _, err = run_cli(["templates", "list"], capsys)
    assert code == 0 and "sib200-topic" in err and "chat" in err
    code, out, _ = run_cli(["templates", "show", "sib200-topic"], capsys)
    assert code == 0 and out.startswith("name: sib200-topic")
    code, out, _ = run_cli(
        [
            "templates", "render", "sib200-topic-native", "--lang", "hau",
            "--field", "text=Kungiyar ta ci wasan {{ 7*7 }}",
            "--shot", '{"text": "Shugaban kasa ya yi jawabi", "target": "politics"}',
        ],
        capsys,
    )  # fmt: skip
    assert code == 0
    messages = json.loads(out)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[2]["content"] == "siyasa"
    assert messages[-1]["content"].endswith("Kungiyar ta ci wasan {{ 7*7 }}")


# fmt: off
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "-i", "{data}", "-o", "{out}", "-t", "no-such-template", "-m", "tiny"], "unknown template 'no-such-template'"),
        (["run", "-i", "{data}", "-o", "{out}", "-t", "sib200-topic"], "no model given"),
        (["run", "-i", "{missing}", "-o", "{out}", "-t", "sib200-topic", "-m", "tiny"], "input file not found"),
        (["run", "-i", "{data}", "-o", "{out}", "-t", "sib200-topic", "-m", "tiny", "--field", "text"], "--field takes NAME=COLUMN"),
        (["run", "-i", "{data}", "-o", "{out}", "-t", "sib200-topic", "-m", "tiny", "-s", "magic"], "unknown strategy 'magic'"),
        (["run", "-i", "{data}", "-o", "{out}", "-t", "sib200-topic", "-m", "tiny", "--n", "3"], "n > 1 needs temperature > 0"),
        (["run", "-i", "{data}", "-o", "{out}", "-t", "sib200-topic", "-m", "tiny", "-k", "2"], "needs an exemplar pool"),
        (["run", "-i", "{data}", "-o", "{out}", "-t", "sib200-topic", "-m", "tiny", "--opt", "x=1"], "invalid options"),
        (["run", "-c", "{badconfig}"], "invalid configuration"),
        (["run", "-i", "{data}", "-o", "{out}", "-t", "sib200-topic", "-m", "tiny", "--lang", "husa"], "did you mean hau_Latn"),
        # One engine flag, two spellings (serve's older --engine-opt), the same check.
        (["run", "-i", "{data}", "-o", "{out}", "-t", "sib200-topic", "-m", "tiny", "--engine-option", "eager"], "--engine-option takes KEY=VALUE"),
        (["run", "-i", "{data}", "-o", "{out}", "-t", "sib200-topic", "-m", "tiny", "--engine-opt", "eager"], "--engine-option takes KEY=VALUE"),
        (["serve", "-m", "tiny", "--engine-opt", "eager"], "--engine-option takes KEY=VALUE"),
    ],
)
def test_user_errors_print_one_message_and_exit_2(tmp_path: Path, capsys, args: list[str], message: str) -> None:
    data = write_jsonl(tmp_path / "data.jsonl", [{"id": "a", "lang": "hau", "text": "Sannu"}])
    bad_config = tmp_path / "bad.yaml"
    bad_config.write_text("data: {input: x.jsonl}\noutput: o.jsonl\ntemplate: t\nsampling: {temperature: -1}\n", encoding="utf-8")
    paths = {"data": data, "out": tmp_path / "out.jsonl", "missing": tmp_path / "nope.jsonl", "badconfig": bad_config}
    code, _, err = run_cli([a.format(**paths) for a in args], capsys)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


# fmt: on
def test_a_real_process_reports_errors_without_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "xprompt", "run", "-i", str(tmp_path / "none.jsonl"), "-o", str(tmp_path / "o.jsonl"),
         "-t", "sib200-topic", "-m", "tiny"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "error: input file not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_strategies_lists_names_and_options(capsys) -> None:
    code, _, err = run_cli(["strategies"], capsys)
    assert code == 0 and "direct" in err and "fewshot" in err


def test_run_help_states_the_defaults_the_config_really_has() -> None:
    """`[default: X]` in `xprompt run --help` is written by hand; it must not drift from RunConfig."""
    import re
    import typing

    from xprompt.cli.run_cmd import run_command
    from xprompt.config import DataConfig, ExemplarConfig, RunConfig, SamplingConfig
    from xprompt.guard import GuardConfig

    def default(model, name):  # type: ignore[no-untyped-def]
        return model.model_fields[name].get_default(call_default_factory=True)

    expected = {
        "id_field": default(DataConfig, "id_field"),
        "lang_field": default(DataConfig, "lang_field"),
        "max_chars": default(DataConfig, "max_chars"),
        "shots": default(ExemplarConfig, "shots"),
        "select": default(ExemplarConfig, "select"),
        "max_tokens": default(SamplingConfig, "max_tokens"),
        "temperature": default(SamplingConfig, "temperature"),
        "seed": default(RunConfig, "seed"),
        "retries": default(GuardConfig, "retries"),
        "mixed": default(GuardConfig, "mixed"),
        "chunk_size": default(RunConfig, "chunk_size"),
    }
    hints = typing.get_type_hints(run_command, include_extras=True)
    for name, value in expected.items():
        help_text = next(m.help for m in hints[name].__metadata__ if hasattr(m, "help"))
        stated = re.search(r"\[default: ([^,\]]+)", help_text)
        assert stated is not None, name
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        assert (float(stated.group(1)) == value) if number else stated.group(1) == str(value), name
