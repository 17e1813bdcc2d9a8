"""xprompt: prompt large language models in low-resource languages, on vLLM, with an off-target guard."""

__version__ = "0.1.0"
