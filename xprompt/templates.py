"""YAML + Jinja prompt templates: load, validate the declared fields, render to chat messages.

A template file declares its input fields, the Jinja for the system prompt, the
user prompt and the target (the answer turn of an exemplar), an optional label
set (with optional display names per language), how answers are parsed, how
few-shot exemplars are laid out, and the source it reproduces.

Rendering is sandboxed (``ImmutableSandboxedEnvironment``) with
``StrictUndefined``: a missing field is an error, never empty text. Dataset
text is only ever passed in as a *value*, so ``{{ 7*7 }}`` inside a row prints
literally. Every Jinja variable a template uses must be a declared field or one
of the names in ``CONTEXT_NAMES``; this is checked when the file is loaded.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Literal

import jinja2
import jinja2.meta
import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from xprompt import languages
from xprompt.errors import TemplateError, UnknownLanguageError
from xprompt.types import Example, Message

#: Names every template may use besides its declared fields.
CONTEXT_NAMES: dict[str, str] = {
    "lang": "canonical code of the prompt language, e.g. hau_Latn",
    "lang_name": "English name of the prompt language, e.g. Hausa",
    "lang_native": "native name of the prompt language (English name when none is known)",
    "choices": "the label set as shown to the model (display names in the prompt language)",
    "answer": "the example's gold answer as shown to the model (exemplar target turns only)",
    "t": "the template's i18n strings for the instruction language",
}

# Rendered exemplars kept per template (see Template._render_shot).
SHOT_CACHE_SIZE = 4096
_MISSING = object()

ENV = ImmutableSandboxedEnvironment(
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,
)


class AnswerSpec(BaseModel):
    """How the model's text is turned into a canonical answer (see ``xprompt.answers``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    parser: Literal["choice", "number", "text", "regex"] = "text"
    pattern: str | None = Field(default=None, description="regex with one group, for parser=regex")
    constrain: bool = Field(
        default=True,
        description="force the output into the label set by constrained decoding (parser=choice)",
    )

    @model_validator(mode="after")
    def _pattern_needed(self) -> AnswerSpec:
        if self.parser == "regex" and not self.pattern:
            raise ValueError("answer.parser 'regex' needs answer.pattern")
        return self


class Template(BaseModel):
    """A validated prompt template. Load with :func:`load_template`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    task: str
    description: str = ""
    source: str = Field(default="", description="paper and section the prompt reproduces")
    fields: list[str] = Field(min_length=1, description="input fields the prompt reads")
    choices: list[str] | None = Field(default=None, description="canonical label set")
    system: str | None = None
    user: str
    target: str = "{{ answer }}"
    layout: Literal["chat", "block"] = "chat"
    separator: str = "\n\n"
    instruction_language: Literal["english", "prompt"] = Field(
        default="english",
        description="'prompt': the i18n strings (and label names) of the query's language are used",
    )
    i18n: dict[str, dict[str, Any]] = Field(default_factory=dict)
    answer: AnswerSpec = Field(default_factory=AnswerSpec)
    output_language: Literal["prompt", "english", "none"] | None = Field(
        default=None,
        description=(
            "language the model's answer is asked to be in, checked by the off-target guard; "
            "default: 'prompt' for parser=text, 'none' (not checked) for labels and numbers"
        ),
    )
    path: str | None = Field(default=None, exclude=True)
    digest: str = Field(default="", exclude=True)

    @field_validator("fields")
    @classmethod
    def _field_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name.isidentifier():
                raise ValueError(f"field name {name!r} is not a valid identifier")
            if name in CONTEXT_NAMES:
                raise ValueError(f"field name {name!r} is reserved (built-in template name)")
        if len(set(value)) != len(value):
            raise ValueError("field names must be unique")
        return value

    @field_validator("i18n")
    @classmethod
    def _i18n_codes(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for key, strings in value.items():
            try:
                code = languages.resolve(key).code
            except UnknownLanguageError as exc:
                raise ValueError(f"i18n: {exc}") from None
            out[code] = strings
        return out

    @model_validator(mode="after")
    def _consistent(self) -> Template:
        if self.answer.parser == "choice" and not self.choices:
            raise ValueError("answer.parser 'choice' needs a 'choices' label set")
        if self.choices is not None and len(set(self.choices)) != len(self.choices):
            raise ValueError("choices must be unique")
        for code, strings in self.i18n.items():
            names = strings.get("choices")
            if names is None:
                continue
            if not self.choices:
                raise ValueError(f"i18n.{code}.choices given but the template has no 'choices'")
            if not isinstance(names, dict) or set(names) != set(self.choices):
                raise ValueError(
                    f"i18n.{code}.choices must map every label in 'choices' to a display name"
                )
            shown = [str(v).strip() for v in names.values()]
            if len({s.casefold() for s in shown}) != len(shown) or not all(shown):
                raise ValueError(
                    f"i18n.{code}.choices display names must be non-empty and distinct"
                )
        if self.instruction_language == "prompt" and not self.i18n:
            raise ValueError("instruction_language 'prompt' needs i18n strings")
        self._check_variables()
        return self

    # -- validation of Jinja sources ------------------------------------------------

    def _sources(self) -> dict[str, str]:
        sources = {"user": self.user, "target": self.target}
        if self.system is not None:
            sources["system"] = self.system
        return sources

    def _check_variables(self) -> None:
        allowed = set(self.fields) | set(CONTEXT_NAMES)
        for part, source in self._sources().items():
            try:
                ast = ENV.parse(source)
            except jinja2.TemplateSyntaxError as exc:
                raise ValueError(
                    f"{part}: Jinja syntax error on line {exc.lineno}: {exc.message}"
                ) from None
            unknown = jinja2.meta.find_undeclared_variables(ast) - allowed
            if unknown:
                raise ValueError(
                    f"{part} uses undeclared variable(s) {sorted(unknown)}; declare them in "
                    f"'fields' (declared: {self.fields}) or use a built-in ({sorted(CONTEXT_NAMES)})"
                )

    @cached_property
    def _compiled(self) -> dict[str, jinja2.Template]:
        return {part: ENV.from_string(src) for part, src in self._sources().items()}

    @cached_property
    def _globals(self) -> dict[str, dict[str, Any]]:
        """Each compiled part's Jinja globals as one plain dict (see :func:`_render_compiled`)."""
        return {part: dict(compiled.globals) for part, compiled in self._compiled.items()}

    @cached_property
    def _shot_cache(self) -> dict[tuple[Any, ...], tuple[str, str]]:
        return {}

    @cached_property
    def _lang_cache(self) -> dict[str, dict[str, Any]]:
        return {}

    @cached_property
    def _turns_cache(self) -> dict[tuple[str, int], tuple[tuple[Example, ...], tuple[Any, ...]]]:
        return {}

    @cached_property
    def _system_cache(self) -> dict[str, str] | None:
        """Rendered system prompts by query language, when the system prompt reads no field.

        Such a prompt is a function of the query's language alone (its context
        is :meth:`_lang_context`); None when there is none or it reads a field.
        """
        if self.system is None:
            return None
        used = jinja2.meta.find_undeclared_variables(ENV.parse(self.system))
        return None if used & set(self.fields) else {}

    # -- languages and labels ---------------------------------------------------------

    def expected_output_lang(self, query_lang: str) -> str | None:
        """The language the answer to a query in ``query_lang`` should be in, None when not checked."""
        mode = self.output_language or ("prompt" if self.answer.parser == "text" else "none")
        if mode == "none":
            return None
        return query_lang if mode == "prompt" else "eng_Latn"

    def instruction_lang(self, query_lang: str) -> str:
        """The language whose i18n strings and label names a prompt for ``query_lang`` uses."""
        return query_lang if self.instruction_language == "prompt" else "eng_Latn"

    def strings(self, lang: str) -> dict[str, Any]:
        """The i18n strings for ``lang``; an error naming the languages that have them if none."""
        if not self.i18n:
            return {}
        if lang not in self.i18n:
            raise TemplateError(
                f"template '{self.name}' has no i18n strings for {lang} "
                f"(it has: {', '.join(sorted(self.i18n))}); add them to {self.path or 'the template'} "
                "or use an English-instruction template"
            )
        return self.i18n[lang]

    def choice_names(self, query_lang: str) -> list[str]:
        """The label set as the model sees it for a query in ``query_lang`` (same order as ``choices``)."""
        if not self.choices:
            return []
        names = (
            self.strings(self.instruction_lang(query_lang)).get("choices") if self.i18n else None
        )
        if names is None:
            return list(self.choices)
        return [str(names[c]).strip() for c in self.choices]

    def canonical_choice(self, shown: str, query_lang: str) -> str | None:
        """Map a display name (as generated) back to its canonical label, or None."""
        if not self.choices:
            return None
        key = shown.strip().casefold()
        for canonical, name in zip(self.choices, self.choice_names(query_lang), strict=True):
            if key in (name.casefold(), canonical.casefold()):
                return canonical
        return None

    def shown_answer(self, example: Example, query_lang: str) -> str:
        """The gold answer of an exemplar as the model should see it."""
        if example.target is None:
            raise TemplateError(
                f"exemplar '{example.id}' has no target, so it cannot show an answer"
            )
        if not self.choices:
            return example.target
        if example.target not in self.choices:
            raise TemplateError(
                f"exemplar '{example.id}': target {example.target!r} is not in the label set {self.choices}"
            )
        return self.choice_names(query_lang)[self.choices.index(example.target)]

    # -- rendering ----------------------------------------------------------------

    def _lang_context(self, query_lang: str) -> dict[str, Any]:
        """The context names that depend on the prompt language only (kept per language).

        The sandbox is immutable, so renders can share the ``choices`` list and
        the ``t`` mapping; a language without i18n strings raises each time.
        """
        cached = self._lang_cache.get(query_lang)
        if cached is None:
            info = languages.resolve(query_lang)
            cached = {
                "lang": info.code,
                "lang_name": info.name,
                "lang_native": info.native_name or info.name,
                "choices": self.choice_names(query_lang),
                "t": self.strings(self.instruction_lang(query_lang)),
            }
            if len(self._lang_cache) < SHOT_CACHE_SIZE:
                self._lang_cache[query_lang] = cached
        return cached

    def _context(self, example: Example, query_lang: str) -> dict[str, Any]:
        missing = [f for f in self.fields if f not in example.fields]
        if missing:
            raise TemplateError(
                f"example '{example.id}': field(s) {missing} missing for template '{self.name}' "
                f"(fields present: {', '.join(sorted(example.fields)) or 'none'})"
            )
        context: dict[str, Any] = {name: example.fields[name] for name in self.fields}
        context.update(self._lang_context(query_lang))
        return context

    def _render_part(self, part: str, context: Mapping[str, Any]) -> str:
        try:
            return _render_compiled(self._compiled[part], self._globals[part], context)
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"template '{self.name}' ({part}): {exc.message}") from None
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateError(
                f"template '{self.name}' ({part}): unsafe operation: {exc}"
            ) from None
        except (TypeError, ValueError, jinja2.TemplateError) as exc:
            raise TemplateError(f"template '{self.name}' ({part}): {exc}") from None

    def shot_lang(self, shot: Example, query_lang: str) -> str:
        """The language an exemplar is rendered in: its own (``lang``, ``lang_name``, label names).

        An English exemplar in a Hausa prompt reads ``Text (English): ...`` (the
        cross-lingual few-shot setup, Toukmaji 2024). When the template has
        i18n strings but none for the exemplar's language, its instruction
        strings and label names fall back to the query's.
        """
        if self.i18n and self.instruction_lang(shot.lang) not in self.i18n:
            return query_lang
        return shot.lang

    def _render_shot(self, shot: Example, query_lang: str) -> tuple[str, str]:
        """An exemplar's (question, answer) text, rendered in the exemplar's own language.

        A run shows the same few exemplars to thousands of queries, so their
        renders are kept (keyed on everything the render reads: the exemplar's
        language and fields and the query's language, which the i18n fallback
        reads; the cache is bounded). Exemplars whose field values are
        unhashable are rendered each time.
        """
        try:
            key = (
                query_lang,
                shot.lang,
                shot.target,
                *(shot.fields.get(f, _MISSING) for f in self.fields),
            )
            hit = self._shot_cache.get(key)
        except TypeError:
            key, hit = None, None
        if hit is None:
            labels_lang = self.shot_lang(shot, query_lang)
            context = self._context(shot, labels_lang)
            info = languages.resolve(shot.lang)
            context.update(
                lang=info.code, lang_name=info.name, lang_native=info.native_name or info.name
            )
            context["answer"] = self.shown_answer(shot, labels_lang)
            hit = (self._render_part("user", context), self._render_part("target", context))
            if key is not None and len(self._shot_cache) < SHOT_CACHE_SIZE:
                self._shot_cache[key] = hit
        return hit

    def _render_system(self, query_lang: str, context: Mapping[str, Any]) -> str:
        """The system prompt of a query (kept per language when it reads no field)."""
        cache = self._system_cache
        hit = cache.get(query_lang) if cache is not None else None
        if hit is None:
            hit = self._render_part("system", context)
            if cache is not None and len(cache) < SHOT_CACHE_SIZE:
                cache[query_lang] = hit
        return hit

    def render(self, example: Example, exemplars: Sequence[Example] = ()) -> tuple[Message, ...]:
        """Render a query (and its few-shot exemplars, in order) to chat messages.

        Exemplars come first and the query last, so prompts of one language that
        share exemplars share a prefix (vLLM prefix caching). With layout
        ``chat`` every exemplar is a user turn and an assistant turn; with
        ``block`` everything is one user message, parts joined by ``separator``.
        """
        query_lang = example.lang
        messages: list[Message] = []
        query_context = self._context(example, query_lang)
        if self.system is not None:
            system_text = self._render_system(query_lang, query_context)
            if system_text.strip():
                messages.append(Message("system", system_text))
        shots = self._shot_turns(exemplars, query_lang) if exemplars else ()
        query = self._render_part("user", query_context)
        if self.layout == "block":
            if shots:
                query = self.separator.join([*shots, query])  # type: ignore[list-item]
        else:
            messages += shots  # type: ignore[arg-type]
        messages.append(Message("user", query))
        return tuple(messages)

    def _shot_turns(
        self, exemplars: Sequence[Example], query_lang: str
    ) -> tuple[Message, ...] | tuple[str, ...]:
        """The exemplars' turns of a prompt in ``query_lang``: user and assistant messages
        (layout ``chat``) or one block of text each (``block``).

        A selector hands every query of a language the same tuple of exemplars,
        so the turns are kept per (language, tuple) too, holding the tuple (so
        its ``id`` stays its own; the cache is bounded).
        """
        key = (query_lang, id(exemplars))
        kept = self._turns_cache.get(key)
        if kept is not None and kept[0] is exemplars:
            return kept[1]
        turns: list[Any] = []
        for shot in exemplars:
            question, answer = self._render_shot(shot, query_lang)
            if self.layout == "chat":
                turns += [Message("user", question), Message("assistant", answer)]
            else:
                turns.append(question + answer)
        out = tuple(turns)
        if isinstance(exemplars, tuple) and len(self._turns_cache) < SHOT_CACHE_SIZE:
            self._turns_cache[key] = (exemplars, out)
        return out


def _render_compiled(
    compiled: jinja2.Template, globals_: dict[str, Any], context: Mapping[str, Any]
) -> str:
    """``compiled.render(context)``, without re-reading the globals' ChainMap on every call.

    ``Template.render`` copies the template's globals (a ``ChainMap`` over the
    environment's) into every new context; here they come from ``globals_``,
    the same names and values copied once (nothing changes a template's globals
    after it is compiled). The context and the output are those of ``render``.
    """
    ctx = ENV.context_class(
        ENV, {**globals_, **context}, compiled.name, compiled.blocks, globals=globals_
    )
    try:
        return ENV.concat(compiled.root_render_func(ctx))  # type: ignore[attr-defined]
    except Exception:
        ENV.handle_exception()
        raise  # handle_exception always raises; for the type checker


def render_as_prompt(messages: Sequence[Message]) -> str:
    """Flatten chat messages into one raw prompt, for base models without a chat template."""
    parts: list[str] = []
    for message in messages:
        parts.append(message.content)
    return "\n\n".join(parts)


# -- loading ---------------------------------------------------------------------


def template_dirs() -> list[Path]:
    """Where templates are looked up by name: ``$XPROMPT_TEMPLATES`` (os.pathsep-separated), then the built-ins."""
    dirs = [Path(p) for p in os.environ.get("XPROMPT_TEMPLATES", "").split(os.pathsep) if p]
    here = Path(__file__).resolve().parent
    for candidate in (here / "builtin_templates", here.parent / "templates"):
        if candidate.is_dir():
            dirs.append(candidate)
            break
    return dirs


def _format_validation(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(file)"
        lines.append(f"  {where}: {err['msg']}")
    return "\n".join(lines)


def parse_template(text: str, *, origin: str = "<string>") -> Template:
    """Parse and validate template YAML text. ``origin`` names it in error messages."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TemplateError(f"{origin}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise TemplateError(f"{origin}: a template file must be a YAML mapping")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    try:
        return Template(**data, path=origin, digest=digest)
    except ValidationError as exc:
        raise TemplateError(f"{origin}: invalid template:\n{_format_validation(exc)}") from None
    except TypeError as exc:
        raise TemplateError(f"{origin}: invalid template: {exc}") from None


@lru_cache(maxsize=256)
def _load_path(path: Path, mtime_ns: int) -> Template:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TemplateError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    return parse_template(text, origin=str(path))


def available_templates() -> dict[str, Path]:
    """Template name (file stem) -> path, first directory wins."""
    found: dict[str, Path] = {}
    for directory in template_dirs():
        for path in sorted(directory.glob("*.yaml")):
            found.setdefault(path.stem, path)
    return found


def load_template(name_or_path: str | os.PathLike[str]) -> Template:
    """Load a template by name (``sib200-topic``) or by path to a YAML file."""
    text = str(name_or_path)
    path = Path(text)
    if not (text.endswith((".yaml", ".yml")) or path.is_file()):
        known = available_templates()
        if text not in known:
            import difflib

            close = difflib.get_close_matches(text, list(known), n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise TemplateError(
                f"unknown template '{text}'.{hint} Known: {', '.join(sorted(known))}. "
                "Pass a name or a path to a .yaml file."
            )
        path = known[text]
    if not path.is_file():
        raise TemplateError(f"template file not found: {path}")
    template = _load_path(path.resolve(), path.stat().st_mtime_ns)
    if template.name != path.stem and str(path).startswith(tuple(str(d) for d in template_dirs())):
        raise TemplateError(
            f"{path}: template name '{template.name}' must match the file name '{path.stem}'"
        )
    return template
