"""One registry for backends, strategies, translators and projection methods: lazy, with clear errors."""

from __future__ import annotations

import json
import sys

import pytest

from xprompt.backends.base import BACKENDS
from xprompt.errors import ConfigError
from xprompt.mt.factory import TRANSLATORS, translator_kind
from xprompt.projection.job import PROJECTION_METHODS
from xprompt.registry import Registry
from xprompt.strategies import STRATEGIES


def test_lookup_by_name_and_alias_imports_lazily() -> None:
    registry = Registry(
        "codec",
        {"json": "json:dumps", "lazy": "xprompt_no_such_module:thing"},
        aliases={"j": "json"},
    )
    assert registry.load("j") is json.dumps and registry.canonical("j") == "json"
    assert "xprompt_no_such_module" not in sys.modules, "nothing is imported until a name is used"
    with pytest.raises(ConfigError, match=r"codec 'lazy': cannot import xprompt_no_such_module"):
        registry.load("lazy")
    assert sorted(registry) == ["json", "lazy"] and registry.known() == ["j", "json", "lazy"]


def test_unknown_name_lists_known_names_and_suggests() -> None:
    with pytest.raises(ConfigError) as err:
        STRATEGIES.canonical("dirct")
    message = str(err.value)
    assert message.startswith("unknown strategy 'dirct'; did you mean 'direct'?")
    assert "(known: clp, clsp, direct, few-shot" in message
    with pytest.raises(
        ConfigError, match=r"unknown projection method 'marker'; did you mean 'markers'"
    ):
        PROJECTION_METHODS.canonical("marker")
    with pytest.raises(ConfigError, match=r"^unknown strategy 'zzz' \(known: "):
        STRATEGIES.canonical("zzz")


def test_paths_are_accepted_where_the_registry_allows_them() -> None:
    assert BACKENDS.load("json:JSONDecoder") is json.JSONDecoder
    with pytest.raises(ConfigError, match=r"or 'package.module:Name'"):
        BACKENDS.canonical("vlm")
    with pytest.raises(ConfigError, match="json has no NoSuchClass"):
        BACKENDS.load("json:NoSuchClass")
    with pytest.raises(ConfigError, match="unknown strategy 'json:dumps'"):
        STRATEGIES.canonical("json:dumps")


def test_targets_are_checked_when_registered() -> None:
    with pytest.raises(ValueError, match="target must be 'module:attr'"):
        Registry("thing", {"x": "no_colon"})
    with pytest.raises(ValueError, match="alias 'y' points to unknown 'z'"):
        Registry("thing", {"x": "a:b"}, aliases={"y": "z"})


@pytest.mark.parametrize(
    "registry, names",
    [
        (STRATEGIES, list(STRATEGIES)),
        (TRANSLATORS, list(TRANSLATORS)),
        (PROJECTION_METHODS, list(PROJECTION_METHODS)),
        (
            BACKENDS,
            ["openai"],
        ),  # vllm imports the engine: its import is covered by the engine tests
    ],
)
def test_every_builtin_entry_loads(registry: Registry, names: list[str]) -> None:
    for name in names:
        assert callable(registry.load(name)), name


def test_translator_kind_of_model_names() -> None:
    assert [
        translator_kind(m) for m in ("self", "ldp", "tiny", "facebook/nllb-200-distilled-600M")
    ] == [
        "self",
        "ldp",
        "seq2seq",
        "seq2seq",
    ]
