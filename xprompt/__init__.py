"""xprompt: prompt large language models in low-resource languages, on vLLM, with an off-target guard."""

import os as _os

__version__ = "0.1.0"

if _os.environ.get("XPROMPT_ENGINE_OWNER"):
    # A multiprocessing child spawned by an engine re-imports xprompt: tie it to its parent's
    # life (see xprompt.backends.lifetime), so that no engine outlives a killed xprompt.
    from xprompt.backends.lifetime import bind_spawned_child

    bind_spawned_child()
