"""``xprompt serve``: the OpenAI-compatible multilingual chat endpoint (package ``serving``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from xprompt.cli import app
from xprompt.cli.common import parse_pairs, quiet_engine_logs, set_path
from xprompt.cli.engine_options import (
    ENGINE,
    ChatTemplate,
    ChatTemplateKwarg,
    Dtype,
    EnforceEager,
    EngineOption,
    GpuMemoryUtilization,
    MaxModelLen,
    Model,
    TensorParallel,
)

POLICY = "Reply language"
OPS = "Operations"


@app.command("serve")
def serve_command(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML serve config; flags override it")
    ] = None,
    model: Model = None,
    served_model_name: Annotated[
        str | None,
        typer.Option(help="model name clients send (default: --model)", rich_help_panel=ENGINE),
    ] = None,
    max_model_len: MaxModelLen = None,
    gpu_memory_utilization: GpuMemoryUtilization = None,
    tensor_parallel_size: TensorParallel = None,
    dtype: Dtype = None,
    enforce_eager: EnforceEager = None,
    chat_template: ChatTemplate = None,
    chat_template_kwarg: ChatTemplateKwarg = None,
    engine_option: EngineOption = None,
    host: Annotated[str | None, typer.Option(help="address to bind (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default 8000)")] = None,
    api_key: Annotated[
        list[str] | None,
        typer.Option(
            help="accepted Bearer key (repeatable; or $XPROMPT_API_KEYS)", rich_help_panel=OPS
        ),
    ] = None,
    default_lang: Annotated[
        str | None,
        typer.Option(help="reply language when none can be determined", rich_help_panel=POLICY),
    ] = None,
    languages: Annotated[
        list[str] | None,
        typer.Option(
            "--lang", help="a language this deployment serves (repeatable)", rich_help_panel=POLICY
        ),
    ] = None,
    weak_lang: Annotated[
        list[str] | None,
        typer.Option(
            help="a language the model is weak in: may pivot (repeatable)", rich_help_panel=POLICY
        ),
    ] = None,
    pivot: Annotated[
        str | None,
        typer.Option(help="fallback | always | off (weak languages)", rich_help_panel=POLICY),
    ] = None,
    translator: Annotated[
        str | None,
        typer.Option(
            help="pivot translator: MT model (NLLB, M2M-100, MADLAD), 'tiny-nllb' or 'self'",
            rich_help_panel=POLICY,
        ),
    ] = None,
    retries: Annotated[
        int | None, typer.Option(help="retries with a firmer instruction", rich_help_panel=POLICY)
    ] = None,
    hold_letters: Annotated[
        int | None,
        typer.Option(
            help="streaming: letters held back before the language check", rich_help_panel=POLICY
        ),
    ] = None,
    max_request_bytes: Annotated[int | None, typer.Option(rich_help_panel=OPS)] = None,
    max_tokens_limit: Annotated[int | None, typer.Option(rich_help_panel=OPS)] = None,
    request_timeout: Annotated[
        float | None, typer.Option(help="seconds before a request is aborted", rich_help_panel=OPS)
    ] = None,
    shutdown_timeout: Annotated[
        float | None,
        typer.Option(help="seconds requests may finish after SIGTERM", rich_help_panel=OPS),
    ] = None,
    page: Annotated[
        bool | None,
        typer.Option("--page/--no-page", help="the chat page at /", rich_help_panel=OPS),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="default sampling seed")] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="engine and server logs")
    ] = False,
) -> None:
    """Serve OpenAI-compatible chat completions that answer in the user's language."""
    quiet_engine_logs(verbose)
    from serving.config import load_serve_config
    from serving.server import run

    overrides: dict[str, Any] = {}
    for dotted, value in (
        ("engine.model", model),
        ("served_model_name", served_model_name),
        ("engine.max_model_len", max_model_len),
        ("engine.gpu_memory_utilization", gpu_memory_utilization),
        ("engine.tensor_parallel_size", tensor_parallel_size),
        ("engine.dtype", dtype),
        ("engine.enforce_eager", enforce_eager),
        ("engine.chat_template", chat_template),
        (
            "engine.chat_template_kwargs",
            parse_pairs(chat_template_kwarg, "--chat-template-kwarg") or None,
        ),
        ("engine.engine_options", parse_pairs(engine_option, "--engine-option") or None),
        ("host", host),
        ("port", port),
        ("api_keys", api_key),
        ("policy.default_lang", default_lang),
        ("policy.languages", languages),
        ("policy.weak_langs", weak_lang),
        ("policy.pivot", pivot),
        ("policy.translator", translator),
        ("policy.retries", retries),
        ("guard.hold_letters", hold_letters),
        ("limits.max_request_bytes", max_request_bytes),
        ("limits.max_tokens_limit", max_tokens_limit),
        ("limits.request_timeout_s", request_timeout),
        ("limits.shutdown_timeout_s", shutdown_timeout),
        ("page", page),
        ("seed", seed),
    ):
        set_path(overrides, dotted, value)
    settings = load_serve_config(config, overrides)
    try:
        run(settings, verbose=verbose)
    except KeyboardInterrupt:  # while the model was still loading
        raise typer.Exit(130) from None
