"""Engine options shared by ``xprompt run``, ``eval`` and ``serve``: one spelling, one help text.

Each alias is a complete Typer parameter type (``Annotated[...]``); a command
declares ``max_model_len: MaxModelLen = None``. All default to None, meaning
"the config file's value, else the engine's default".
"""

from __future__ import annotations

from typing import Annotated

import typer

ENGINE = "Engine"

Model = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="hub name, local directory, or 'tiny' (the built test model)",
        rich_help_panel=ENGINE,
    ),
]
Backend = Annotated[
    str | None, typer.Option(help="vllm | openai | ray | module:Class", rich_help_panel=ENGINE)
]
BaseUrl = Annotated[
    list[str] | None,
    typer.Option(
        "--base-url", help="OpenAI-compatible server URL (repeatable)", rich_help_panel=ENGINE
    ),
]
RayAddress = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="Ray cluster to join: auto, HOST:PORT or ray://HOST:PORT (default: a new local one; --backend ray)",
        rich_help_panel=ENGINE,
    ),
]
RayActors = Annotated[
    int | None,
    typer.Option(
        "--ray-actors",
        min=1,
        help="vLLM engines in Ray actors (default: GPUs / (tp * pp), 1 without GPUs; --backend ray)",
        rich_help_panel=ENGINE,
    ),
]
MaxModelLen = Annotated[
    int | None,
    typer.Option(help="context length in tokens (default: the model's)", rich_help_panel=ENGINE),
]
GpuMemoryUtilization = Annotated[
    float | None,
    typer.Option(
        help="share of accelerator memory for weights and KV cache (default: vLLM's; 0.3 on a CPU)",
        rich_help_panel=ENGINE,
    ),
]
TensorParallel = Annotated[
    int | None, typer.Option("--tp", help="tensor parallel size", rich_help_panel=ENGINE)
]
PipelineParallel = Annotated[
    int | None, typer.Option("--pp", help="pipeline parallel size", rich_help_panel=ENGINE)
]
DataParallel = Annotated[
    int | None, typer.Option("--dp", help="data parallel size", rich_help_panel=ENGINE)
]
PrefixCaching = Annotated[
    bool | None,
    typer.Option(
        "--prefix-caching/--no-prefix-caching",
        help="share the KV cache of common prompt prefixes (on by default)",
        rich_help_panel=ENGINE,
    ),
]
Dtype = Annotated[
    str | None,
    typer.Option(help="weights dtype: auto, bfloat16, float16, float32", rich_help_panel=ENGINE),
]
EnforceEager = Annotated[
    bool | None,
    typer.Option(
        "--enforce-eager/--no-enforce-eager",
        help="skip graph capture and compilation (faster start, slower steps)",
        rich_help_panel=ENGINE,
    ),
]
ChatTemplate = Annotated[
    str | None,
    typer.Option(help="chat template file overriding the model's", rich_help_panel=ENGINE),
]
ChatTemplateKwarg = Annotated[
    list[str] | None,
    typer.Option(
        "--chat-template-kwarg",
        help="chat-template keyword argument KEY=VALUE, e.g. enable_thinking=false (repeatable)",
        rich_help_panel=ENGINE,
    ),
]
#: ``--engine-opt`` is the older spelling of ``xprompt serve``; both are accepted everywhere.
EngineOption = Annotated[
    list[str] | None,
    typer.Option(
        "--engine-option",
        "--engine-opt",
        help="further vllm.EngineArgs KEY=VALUE (repeatable)",
        rich_help_panel=ENGINE,
    ),
]
