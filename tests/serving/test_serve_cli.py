"""``xprompt serve`` on the command line: help, settings, and one clear message per user error."""

from __future__ import annotations

import pytest

from serving.config import load_serve_config
from xprompt.cli import main
from xprompt.errors import ConfigError


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_help_lists_the_serve_options(capsys):
    code, out, _ = run_cli(["serve", "--help"], capsys)
    assert code == 0
    for option in ("--model", "--api-key", "--weak-lang", "--translator", "--hold-letters"):
        assert option in out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--model", "tiny", "--pivot", "sideways"], "policy.pivot: Input should be"),
        (["--model", "tiny", "--default-lang", "klingonish"], "unknown language 'klingonish'"),
        (["--model", "tiny", "--retries", "9"], "policy.retries"),
        (
            ["--model", "/nonexistent/model-dir"],
            "model directory '/nonexistent/model-dir' does not exist",
        ),
        ([], "no model given"),
    ],
)
def test_user_errors_are_one_message_without_traceback(capsys, args, words):
    code, _, err = run_cli(["serve", "--port", "8999", *args], capsys)
    assert code == 2
    assert words in err and "Traceback" not in err


def test_config_file_with_flags_on_top(tmp_path):
    path = tmp_path / "serve.yaml"
    path.write_text(
        "engine: {model: tiny, max_model_len: 1024}\n"
        "policy: {weak_langs: [amh, ti], retries: 2, translator: tiny-nllb}\n"
        "guard: {hold_letters: 40}\n"
        "limits: {max_request_bytes: 4096}\n",
        encoding="utf-8",
    )
    config = load_serve_config(path, {"policy": {"retries": 0}, "port": 9001})
    assert config.engine.model == "tiny" and config.engine.max_model_len == 1024
    assert config.policy.weak_langs == ["amh_Ethi", "tir_Ethi"] and config.policy.retries == 0
    assert config.guard.hold_letters == 40 and config.port == 9001
    bad = tmp_path / "bad.yaml"
    bad.write_text("policy: {wek_langs: [amh]}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"policy\.wek_langs: Extra inputs"):
        load_serve_config(bad, {})
    with pytest.raises(ConfigError, match="config file not found"):
        load_serve_config(tmp_path / "missing.yaml", {})
