"""Option helpers shared by the reasoning strategies (CLP, CLSP, self-consistency).

A published method comes with its own decoding settings (CLP: temperature 1
for turn 1, 0.2 for turn 2; self-consistency: several samples at a
temperature above 0). ``preset_sampling`` applies such a preset to every
sampling setting the user did not give explicitly, and keeps every one the
user did give, so a flag is never silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from xprompt import answers, languages
from xprompt.errors import ConfigError, UnknownLanguageError
from xprompt.types import Sampling

if TYPE_CHECKING:
    from xprompt.config import RunConfig
    from xprompt.templates import Template

#: Sampling settings a preset may fill (the names of ``SamplingConfig`` fields).
SAMPLING_FIELDS = ("temperature", "top_p", "max_tokens", "n", "seed", "stop")


def explicit_sampling(config: RunConfig) -> dict[str, Any]:
    """The sampling settings the user gave explicitly (flags or config file), by name."""
    given = config.sampling.model_fields_set
    return {name: getattr(config.sampling, name) for name in SAMPLING_FIELDS if name in given}


def preset_sampling(
    config: RunConfig,
    strategy: str,
    *,
    fixed: Iterable[str] = (),
    hint: str = "",
    **preset: Any,
) -> Sampling:
    """``Sampling`` from the strategy's preset, overridden by what the user set explicitly.

    ``fixed`` names settings the strategy owns (CLP's two temperatures): setting
    them with a flag is an error that says which option to use instead (``hint``).
    """
    given = explicit_sampling(config)
    clash = sorted(set(fixed) & set(given))
    if clash:
        flags = ", ".join("--" + name.replace("_", "-") for name in clash)
        raise ConfigError(
            f"strategy '{strategy}' sets {', '.join(clash)} itself; drop {flags}{hint}"
        )
    values = {**preset, **given}
    values["stop"] = tuple(values.get("stop") or ())
    try:
        return Sampling(**values)
    except ValueError as exc:
        raise ConfigError(f"strategy '{strategy}': {exc}") from None


def answer_parser(option: str | None, template: Template, strategy: str) -> str:
    """The answer parser: the ``parser`` option, else the template's; checked against ``PARSERS``."""
    parser = option or template.answer.parser
    if parser not in answers.PARSERS:
        raise ConfigError(
            f"strategy '{strategy}': unknown parser '{parser}' (known: {', '.join(answers.PARSERS)})"
        )
    if parser == "choice" and not template.choices:
        raise ConfigError(
            f"strategy '{strategy}': parser 'choice' needs a template with a label set "
            f"('{template.name}' has none)"
        )
    if parser == "regex" and not template.answer.pattern:
        raise ConfigError(
            f"strategy '{strategy}': parser 'regex' needs answer.pattern in template '{template.name}'"
        )
    return parser


def language_code(value: str, what: str) -> str:
    """A canonical language code for an option value, or a ConfigError naming the option."""
    try:
        return languages.resolve(value).code
    except UnknownLanguageError as exc:
        raise ValueError(f"{what}: {exc}") from None


def language_list(value: Any, what: str) -> list[str]:
    """Canonical codes from a list or a comma-separated string; non-empty, no repeats."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError(f"{what} must be a list of language codes, got {type(value).__name__}")
    codes = [language_code(str(item).strip(), what) for item in items if str(item).strip()]
    if not codes:
        raise ValueError(f"{what} must name at least one language")
    repeated = sorted({c for c in codes if codes.count(c) > 1})
    if repeated:
        raise ValueError(f"{what} names {', '.join(repeated)} more than once")
    return codes


def prompt_language_name(code: str) -> str:
    """A language's English name as a prompt writes it: ``Chinese`` rather than ``Chinese (Simplified)``."""
    return languages.prompt_name(code)
