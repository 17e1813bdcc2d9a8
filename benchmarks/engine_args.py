"""The engine flags the vLLM benchmarks share (``--model``, ``--load-format``, ``--no-eager``, ``--memory``)."""

from __future__ import annotations

import argparse
from typing import Any


def add_engine_args(parser: argparse.ArgumentParser, *, memory: float | None = None) -> None:
    """Add the shared engine flags; ``memory`` is the default ``gpu_memory_utilization``."""
    parser.add_argument("--model", default=None, help="model directory or hub name (default: tiny)")
    parser.add_argument(
        "--load-format", default=None, help="vLLM load_format ('dummy': random weights)"
    )
    parser.add_argument(
        "--no-eager", action="store_true", help="let vLLM compile and use CUDA graphs"
    )
    parser.add_argument(
        "--memory",
        type=float,
        default=memory,
        help="gpu_memory_utilization (on a CPU: KV cache share)",
    )


def make_backend(args: argparse.Namespace) -> tuple[Any, str]:
    """The in-process vLLM backend the flags describe (tiny model by default), and its model path."""
    from xprompt.backends.vllm import VLLMBackend
    from xprompt.testing.tiny_models import ensure_tiny_llama

    model = args.model or str(ensure_tiny_llama())
    backend = VLLMBackend(
        model,
        enforce_eager=not args.no_eager,
        max_model_len=4096,
        seed=0,
        gpu_memory_utilization=args.memory,
        engine_options={"load_format": args.load_format} if args.load_format else None,
    )
    return backend, model
