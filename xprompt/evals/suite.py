"""Evaluation suites: one YAML file per task, expanded in code into (language, variant) cells.

A suite names a dataset, its splits, the languages, the model, and the
strategy variants to compare. Each variant is an existing xprompt strategy
(run by :mod:`xprompt.runner`), or one of two file jobs that the runner does
not cover: ``translate`` (:mod:`xprompt.mt.job`, e.g. self-translate) and
``project`` (:mod:`xprompt.projection.job`, label projection for NER). A
variant with several ``templates`` becomes one variant per template. Every
variant runs once per language: that is a *cell*, with its own output file,
resumed on its own.

Strings in ``options`` may use ``{lang}`` (the cell's language) and any name
from ``vars`` (``{mt_model}``); ``xprompt eval --set NAME=VALUE`` overrides a var.

Example (``evals/sib200/suite.yaml``)::

    name: sib200
    dataset: sib200
    data: {root: data/sib200, hf: Davlan/sib200}
    splits: {eval: test, dev: dev, pool: train}
    languages: [hau_Latn, yor_Latn]
    engine: {model: meta-llama/Llama-2-7b-chat-hf}
    vars: {mt_model: facebook/nllb-200-3.3B}
    variants:
      - {name: zero-shot, strategy: direct, templates: [sib200-topic, sib200-topic-native]}
      - {name: translate-test, strategy: translate-test, template: sib200-topic,
         options: {mt_model: "{mt_model}"}}
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from xprompt import languages
from xprompt.config import EngineConfig, format_validation_error
from xprompt.errors import ConfigError, UnknownLanguageError
from xprompt.evals.datasets import DATASETS, SplitSpec

#: Cell kinds: a strategy through the runner, a translation job, a projection job.
Kind = Literal["run", "translate", "project"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_VAR = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class DataSource(BaseModel):
    """Where a suite's data comes from: a local checkout of the public files, or Hugging Face."""

    model_config = ConfigDict(extra="forbid")

    root: str | None = Field(None, description="local directory in the dataset's public layout")
    hf: str | None = Field(None, description="Hugging Face dataset name ({config} is replaced)")


class VariantSpec(BaseModel):
    """One strategy variant of a suite (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: Kind = "run"
    strategy: str | None = Field(None, description="xprompt strategy (kind run)")
    template: str | None = None
    templates: list[str] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)
    fields: dict[str, str] = Field(default_factory=dict, description="template field -> column")
    shots: int = Field(0, ge=0, description="few-shot exemplars from the pool split")
    select: Literal["first", "random", "balanced"] = "first"
    pool: bool = Field(False, description="pass the pool split as the exemplar file (LDP)")
    sampling: dict[str, Any] = Field(default_factory=dict, description="sampling settings")
    constrained: bool | None = None
    prompt_format: Literal["chat", "raw"] = "chat"
    chat_template_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="chat-template keyword arguments of this variant's runs"
    )
    description: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"variant name {value!r}: use lower-case letters, digits, '.', '_' and '-'"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> VariantSpec:
        if self.template and self.templates:
            raise ValueError(f"variant '{self.name}': give template or templates, not both")
        if self.kind == "run" and not (self.strategy and (self.template or self.templates)):
            raise ValueError(f"variant '{self.name}': a run variant needs strategy and template")
        if self.kind != "run" and self.strategy:
            raise ValueError(f"variant '{self.name}': strategy is for kind 'run' only")
        return self


class Suite(BaseModel):
    """A validated suite. Load with :func:`load_suite`."""

    model_config = ConfigDict(extra="forbid")

    name: str
    dataset: str
    description: str = ""
    source: str = ""
    data: DataSource = Field(default_factory=DataSource)
    splits: dict[str, str] = Field(default_factory=lambda: {"eval": "test"})
    languages: list[str] = Field(min_length=1)
    groups: dict[str, list[str]] = Field(
        default_factory=dict, description="named language groups averaged in the report"
    )
    engine: EngineConfig = Field(default_factory=EngineConfig)
    vars: dict[str, str] = Field(default_factory=dict)
    metric: str = Field("", description="filled from the dataset when empty")
    tagger: str = Field("llm", description="masakhaner: English tagger, 'llm' or module:function")
    seed: int = 0
    chunk_size: int = Field(64, ge=1)
    variants: list[VariantSpec] = Field(min_length=1)
    path: str | None = Field(None, exclude=True)
    digest: str = Field("", exclude=True)

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, value: str) -> str:
        if value not in DATASETS:
            raise ValueError(f"unknown dataset '{value}' (known: {', '.join(DATASETS)})")
        return value

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        codes = []
        for item in value:
            try:
                codes.append(languages.resolve(item).code)
            except UnknownLanguageError as exc:
                raise ValueError(f"languages: {exc}") from None
        repeated = sorted({c for c in codes if codes.count(c) > 1})
        if repeated:
            raise ValueError(f"languages: {', '.join(repeated)} listed more than once")
        return codes

    @field_validator("groups")
    @classmethod
    def _groups(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        out = {}
        for name, codes in value.items():
            try:
                out[name] = [languages.resolve(c).code for c in codes]
            except UnknownLanguageError as exc:
                raise ValueError(f"groups.{name}: {exc}") from None
        return out

    @field_validator("splits")
    @classmethod
    def _splits(cls, value: dict[str, str]) -> dict[str, str]:
        if "eval" not in value:
            raise ValueError("splits needs 'eval' (the split scores are reported on)")
        for name, spec in value.items():
            try:
                SplitSpec.parse(spec)
            except ConfigError as exc:
                raise ValueError(f"splits.{name}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _unique(self) -> Suite:
        names = [v for spec in self.variants for v in variant_names(spec)]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"variants: {', '.join(repeated)} named more than once")
        for name, codes in self.groups.items():
            outside = [c for c in codes if c not in self.languages]
            if outside:
                raise ValueError(f"groups.{name}: {', '.join(outside)} not in languages")
        if not self.metric:
            self.metric = METRICS[self.dataset]
        if any(v.pool or v.shots for v in self.variants) and "pool" not in self.splits:
            raise ValueError("a variant uses exemplars (shots or pool): add splits.pool")
        return self

    def split(self, which: str) -> SplitSpec:
        """A split by its role (``eval``, ``dev``, ``pool``) or a literal spec (``test[:25]``)."""
        return SplitSpec.parse(self.splits.get(which, which))


#: The metric each dataset is scored with.
METRICS = {
    "sib200": "accuracy",
    "mgsm": "accuracy",
    "flores200": "chrF++",
    "masakhaner": "span-F1",
}


def variant_names(spec: VariantSpec) -> list[str]:
    """The variant names a spec expands to (one per template when it lists several)."""
    if len(spec.templates) > 1:
        return [f"{spec.name}.{t}" for t in spec.templates]
    return [spec.name]


@dataclass(frozen=True)
class Variant:
    """One expanded variant: a name, its spec and its single template (None for project jobs)."""

    name: str
    spec: VariantSpec
    template: str | None

    @property
    def kind(self) -> str:
        """``run``, ``translate`` or ``project``."""
        return self.spec.kind

    @property
    def label(self) -> str:
        """What the variant is, for reports: ``direct:sib200-topic k=5``."""
        what = self.spec.strategy or self.spec.kind
        if self.spec.kind == "project":
            what = f"project:{self.spec.options.get('method', 'codec')}"
        parts = [what]
        if self.template:
            parts[0] += f":{self.template}"
        if self.spec.shots:
            parts.append(f"k={self.spec.shots}")
        return " ".join(parts)


def expand(suite: Suite) -> list[Variant]:
    """Every variant of the suite, in file order, one per template."""
    out: list[Variant] = []
    for spec in suite.variants:
        templates = spec.templates or [spec.template]
        for name, template in zip(variant_names(spec), templates, strict=True):
            out.append(Variant(name, spec, template))
    return out


def substitute(value: Any, names: dict[str, str], where: str) -> Any:
    """Replace ``{name}`` in every string of ``value`` (recursively); unknown names are errors."""
    if isinstance(value, str):

        def repl(match: re.Match[str]) -> str:
            key = match.group(1)
            if key not in names:
                raise ConfigError(
                    f"{where}: '{{{key}}}' is not a suite var (known: {', '.join(sorted(names))})"
                )
            return names[key]

        return _VAR.sub(repl, value)
    if isinstance(value, dict):
        return {k: substitute(v, names, where) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, names, where) for v in value]
    return value


# -- loading ---------------------------------------------------------------------------


def suite_dirs() -> list[Path]:
    """Where suites are looked up by name: ``$XPROMPT_EVALS`` (os.pathsep-separated), then ``evals/``."""
    dirs = [Path(p) for p in os.environ.get("XPROMPT_EVALS", "").split(os.pathsep) if p]
    repo = Path(__file__).resolve().parent.parent.parent / "evals"
    if repo.is_dir():
        dirs.append(repo)
    return dirs


def available_suites() -> dict[str, Path]:
    """Suite name -> its ``suite.yaml`` (``evals/<name>/suite.yaml``), first directory wins."""
    found: dict[str, Path] = {}
    for directory in suite_dirs():
        for path in sorted(directory.glob("*/suite.yaml")):
            found.setdefault(path.parent.name, path)
    return found


def load_suite(name_or_path: str | os.PathLike[str]) -> Suite:
    """Load a suite by name (``sib200``) or by path to its YAML file."""
    text = str(name_or_path)
    path = Path(text)
    if path.is_dir() and (path / "suite.yaml").is_file():
        path = path / "suite.yaml"
    elif not path.is_file():
        known = available_suites()
        if text not in known:
            raise ConfigError(
                f"unknown suite '{text}' (known: {', '.join(sorted(known)) or 'none'}); "
                "pass a suite name or a path to a suite YAML file"
            )
        path = known[text]
    raw = path.read_bytes()
    try:
        loaded = yaml.safe_load(raw.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: a suite must be a YAML mapping")
    try:
        suite = Suite.model_validate(loaded)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path))) from None
    suite.path = str(path)
    suite.digest = hashlib.sha256(raw).hexdigest()[:12]
    return suite
