"""Start the backend a run's engine settings name: resolve the model, then build the backend.

Batch commands, evaluations and the chat server all start engines through
:func:`make_backend` and :func:`resolve_model`, which live here (low in the
house, next to the backends) so none of them imports the runner to get one.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from xprompt.backends.base import Backend, backend_class
from xprompt.errors import ConfigError

if TYPE_CHECKING:
    from xprompt.config import EngineConfig

#: ``--model tiny`` means the tiny random test model, built locally on first use.
TINY_MODEL_NAME = "tiny"


def resolve_model(engine: EngineConfig) -> str:
    """The model to load: the configured one, or the built tiny test model for ``tiny``."""
    if engine.model is None:
        raise ConfigError(
            "no model given: pass --model NAME_OR_PATH (or --model tiny for the tiny test model)"
        )
    if engine.model == TINY_MODEL_NAME:
        from xprompt.testing.tiny_models import ensure_tiny_llama

        return str(ensure_tiny_llama())
    if engine.model.startswith(f"{TINY_MODEL_NAME}-"):
        from xprompt.testing.tiny_models import FAMILIES, ensure_tiny_family

        name = engine.model.removeprefix(f"{TINY_MODEL_NAME}-")
        if name in FAMILIES and not Path(engine.model).exists():
            return str(ensure_tiny_family(name))
    return engine.model


def make_backend(engine: EngineConfig, model: str) -> Backend:
    """Instantiate the configured backend (this is where an engine starts)."""
    cls = backend_class(engine.backend)
    if engine.backend == "vllm":
        return cls(model, **engine.vllm_options())
    return cls(model, engine=engine)
