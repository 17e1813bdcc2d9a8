"""Dependencies point one way: low modules never import the ones built on them.

Every import in ``xprompt/`` and ``serving/`` is read with ``ast`` (function-local imports too,
since a lazy import is still a dependency), and each rule below names a group of
modules and the modules it must not reach. A failure names the file, the line
and the import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (ROOT / "xprompt", ROOT / "serving")

#: (modules the rule is about, modules they must not import, why).
RULES: list[tuple[tuple[str, ...], tuple[str, ...], str]] = [
    (
        ("xprompt",),
        ("serving",),
        "serving/ is built on xprompt/, never the other way (only the serve command loads it)",
    ),
    (
        (
            "xprompt.types",
            "xprompt.errors",
            "xprompt.languages",
            "xprompt.signatures",
            "xprompt.registry",
            "xprompt.data",
            "xprompt.resume",
            "xprompt.jobs",
            "xprompt.templates",
            "xprompt.backends",
            "xprompt.langid",
        ),
        ("xprompt.runner", "xprompt.cli", "xprompt.strategies", "xprompt.evals"),
        "records, data, templates, backends and language ID sit below the runner and the strategies",
    ),
    (
        ("xprompt.ldp", "xprompt.mt", "xprompt.projection", "xprompt.strategies"),
        ("xprompt.runner", "xprompt.cli", "xprompt.evals"),
        "jobs and strategies get digests and versions from xprompt.signatures, not the runner",
    ),
    (
        ("serving",),
        ("xprompt.runner", "xprompt.cli", "xprompt.evals"),
        "the chat server starts its engine through xprompt.backends.factory, not the batch runner",
    ),
    (
        ("xprompt.data", "xprompt.types", "xprompt.signatures", "xprompt.registry"),
        ("xprompt.ldp",),
        "data readers know nothing of LDP sets (xprompt.exemplars reads those)",
    ),
]

#: The one sanctioned crossing: the serve command starts the server, lazily.
ALLOWED = {("xprompt/cli/serve_cmd.py", "serving")}


def module_name(path: Path) -> str:
    """``xprompt/backends/vllm.py`` -> ``xprompt.backends.vllm`` (a package's ``__init__`` is the package)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports, with its line (``from x import y`` counts ``x.y`` too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return found


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations() -> list[str]:
    out: list[str] = []
    for path in sorted(p for package in PACKAGES for p in package.rglob("*.py")):
        name, rel = module_name(path), str(path.relative_to(ROOT))
        for lineno, target in imports(path):
            for subjects, forbidden, why in RULES:
                if not within(name, subjects) or not within(target, forbidden):
                    continue
                if any(rel == f and within(target, (t,)) for f, t in ALLOWED):
                    continue
                out.append(f"{rel}:{lineno} imports {target} ({why})")
    return sorted(set(out))


def test_dependencies_point_one_way() -> None:
    found = violations()
    assert not found, "upward imports:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source, expected",
    [
        (
            "from xprompt.runner import input_digest\n",
            ["xprompt.runner", "xprompt.runner.input_digest"],
        ),
        ("def f():\n    import serving.engine\n", ["serving.engine"]),
        ("from . import sibling\n", []),
    ],
)
def test_imports_are_all_found(tmp_path: Path, source: str, expected: list[str]) -> None:
    """The reader sees top-level and function-local imports; relative ones are not package paths."""
    path = tmp_path / "m.py"
    path.write_text(source, encoding="utf-8")
    assert [name for _, name in imports(path)] == expected
