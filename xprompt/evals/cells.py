"""Cells of an evaluation: one (language, variant) each, built from the suite and run by existing jobs.

- ``run`` cells are :class:`xprompt.config.RunConfig` objects, prepared and
  executed by :mod:`xprompt.runner` (every strategy in ``xprompt strategies``);
- ``translate`` cells are :class:`xprompt.mt.job.TranslateJob` (e.g. self-translate
  with the run's LLM);
- ``project`` cells are translate-test :class:`xprompt.projection.job.ProjectJob`
  (marker-based or CODEC projection of English NER spans onto the original sentence).

Each cell has its own output file and is resumed by its own job. Building a
cell validates its settings (templates, options, exemplar files) without an engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from xprompt import runner
from xprompt.config import EngineConfig, RunConfig, format_validation_error, load_run_config
from xprompt.errors import ConfigError
from xprompt.evals.suite import Suite, Variant, substitute
from xprompt.mt.base import DecodingSettings
from xprompt.mt.factory import LDP, SELF, SelfTranslateSettings, TranslatorSettings
from xprompt.mt.job import TranslateJob

#: The gold column of each dataset's rows (see :mod:`xprompt.evals.datasets`).
TARGET_FIELD = {"sib200": "label", "mgsm": "answer", "flores200": "target"}


class TranslateOptions(BaseModel):
    """Options of a ``translate`` variant (a :class:`~xprompt.mt.job.TranslateJob` into English)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field("self", description="'self' (the run's LLM), 'ldp', or an MT model")
    shots: int = Field(4, ge=0, description="self-translate exemplars (the paper: 4)")
    max_tokens: int = Field(64, ge=1, description="self-translate new tokens (the paper: 64)")
    exemplar_lang: Literal["same", "any"] = "same"
    max_exemplar_chars: int = Field(100, ge=1, description="exemplar sources shorter than this")
    prompt_format: Literal["raw", "chat"] = "raw"
    beams: int = Field(1, ge=1)
    max_new_tokens: int = Field(256, ge=1)
    cache: str = Field(
        "none",
        description="translation cache; off by default so that the cost (prompt tokens) is measured",
    )


class ProjectOptions(BaseModel):
    """Options of a ``project`` variant (translate-test label projection)."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["codec", "markers"] = "codec"
    mt_model: str = "facebook/nllb-200-3.3B"
    beams: int = Field(5, ge=1, description="the paper: beam 5")
    max_new_tokens: int = Field(128, ge=1, description="the paper: max length 128")
    alpha: int | None = Field(
        5, ge=0, description="look-ahead (the paper: 5 for translate-test); null: exact"
    )
    n_best: int = Field(5, ge=1)
    prefilter: bool = True
    rerank: bool = True
    batch_rows: int = Field(16, ge=1)
    max_template_tokens: int = Field(256, ge=8)
    cache: str = "default"

    def translator(self) -> TranslatorSettings:
        """The MT settings of the projection (NLLB by default, beam 5)."""
        return TranslatorSettings(
            model=self.mt_model,
            decoding=DecodingSettings(num_beams=self.beams, max_new_tokens=self.max_new_tokens),
            cache=self.cache,
        )


@dataclass
class Cell:
    """One (language, variant) cell with the job that runs it."""

    lang: str
    variant: Variant
    output: Path
    rows: int
    prepared: runner.Prepared | None = None
    translate: TranslateJob | None = None
    project: Any = None  # xprompt.projection.job.ProjectJob
    project_options: ProjectOptions | None = None
    llm_translates: bool = False
    settings: dict[str, Any] = field(default_factory=dict)
    data_file: Path | None = None
    overwrite: bool = False
    chunk_size: int = 16

    @property
    def key(self) -> str:
        """``<lang>/<variant>``: the cell's name in progress lines and reports."""
        return f"{self.lang}/{self.variant.name}"

    @property
    def kind(self) -> str:
        """``run``, ``translate`` or ``project``."""
        return self.variant.kind

    @property
    def signature(self) -> str:
        """The signature of the job behind the cell (its settings, model, versions)."""
        if self.prepared is not None:
            return self.prepared.signature
        if self.translate is not None:
            return self.translate.signature()
        return self.project.signature() if self.project is not None else ""


def _parse(model: type[BaseModel], options: dict[str, Any], where: str) -> Any:
    try:
        return model.model_validate(options)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, where)) from None


def cap_tokens(variant: Variant, options: dict[str, Any], cap: int | None) -> dict[str, Any]:
    """Options with every generation limit of the variant capped at ``cap`` (tests, dry runs)."""
    if cap is None:
        return options
    out = dict(options)
    strategy = variant.spec.strategy
    names: tuple[str, ...] = ()
    if strategy == "ldp":
        names = ("max_tokens",)
    elif strategy == "translate-test":
        names = ("mt_max_new_tokens",)
        if out.get("mt_model") in (SELF, LDP):
            names += ("self_translate_max_tokens",)
        inner = dict(out.get("inner_options") or {})
        if out.get("inner") == "ldp":
            inner["max_tokens"] = min(int(inner.get("max_tokens", cap)), cap)
            out["inner_options"] = inner
    elif variant.kind == "translate":
        names = ("max_tokens", "max_new_tokens")
    elif variant.kind == "project":
        names = ("max_new_tokens",)
    for name in names:
        out[name] = min(int(out.get(name, cap)), cap)
    return out


def run_cell(
    suite: Suite,
    variant: Variant,
    lang: str,
    *,
    data_file: Path,
    pool_file: Path | None,
    output: Path,
    rows: int,
    engine: EngineConfig,
    names: dict[str, str],
    max_tokens: int | None,
    overwrite: bool,
) -> Cell:
    """A runner cell: the RunConfig of the variant for one language, prepared (no engine)."""
    spec = variant.spec
    where = f"suite {suite.name}, variant {variant.name}"
    options = cap_tokens(
        variant, substitute(spec.options, {**names, "lang": lang}, where), max_tokens
    )
    sampling = dict(spec.sampling)
    if max_tokens is not None:
        sampling["max_tokens"] = min(int(sampling.get("max_tokens", max_tokens)), max_tokens)
    exemplars: dict[str, Any] = {}
    if spec.shots or spec.pool:
        if pool_file is None:
            raise ConfigError(f"{where}: uses exemplars but the suite has no pool split")
        exemplars = {"pool": str(pool_file), "shots": spec.shots, "select": spec.select}
    config: dict[str, Any] = {
        "data": {
            "input": str(data_file),
            "fields": dict(spec.fields),
            "target_field": TARGET_FIELD[suite.dataset],
        },
        "output": str(output),
        "template": variant.template,
        "strategy": spec.strategy,
        "options": options,
        "engine": {
            **engine.model_dump(exclude_unset=True),
            "chat_template_kwargs": {**engine.chat_template_kwargs, **spec.chat_template_kwargs},
        },
        "sampling": sampling,
        "exemplars": exemplars,
        "prompt_format": spec.prompt_format,
        "seed": suite.seed,
        "chunk_size": suite.chunk_size,
        "overwrite": overwrite,
    }
    if spec.constrained is not None:
        config["constrained"] = spec.constrained
    try:
        run_config: RunConfig = load_run_config(None, config)
        prepared = runner.prepare(run_config)
    except ConfigError as exc:
        raise ConfigError(f"{where} ({lang}): {exc.message}") from None
    mt_model = str(options.get("mt_model", "")) if spec.strategy == "translate-test" else ""
    settings = {k: v for k, v in config.items() if k in ("strategy", "template", "options")}
    settings.update(
        {
            "exemplars": exemplars,
            "sampling": sampling,
            "data": {"fields": dict(spec.fields)} if spec.fields else {},
        }
    )
    if spec.constrained is not None:
        settings["constrained"] = spec.constrained
    if spec.prompt_format != "chat":
        settings["prompt_format"] = spec.prompt_format
    return Cell(
        lang,
        variant,
        output,
        rows,
        prepared=prepared,
        llm_translates=mt_model in (SELF, LDP),
        settings=settings,
    )


def translate_cell(
    suite: Suite,
    variant: Variant,
    lang: str,
    *,
    data_file: Path,
    pool_file: Path | None,
    output: Path,
    rows: int,
    names: dict[str, str],
    max_tokens: int | None,
    overwrite: bool,
) -> Cell:
    """A translation-job cell into English (self-translate with the run's LLM, or an MT model)."""
    where = f"suite {suite.name}, variant {variant.name}"
    raw = cap_tokens(
        variant, substitute(variant.spec.options, {**names, "lang": lang}, where), max_tokens
    )
    options: TranslateOptions = _parse(TranslateOptions, raw, where)
    if options.model == SELF and pool_file is None:
        raise ConfigError(f"{where}: self-translate needs exemplars: add splits.pool to the suite")
    settings = TranslatorSettings(
        model=options.model,
        decoding=DecodingSettings(num_beams=options.beams, max_new_tokens=options.max_new_tokens),
        cache=options.cache,
        self_translate=SelfTranslateSettings(
            exemplars=str(pool_file) if pool_file else None,
            shots=options.shots,
            max_tokens=options.max_tokens,
            exemplar_lang=options.exemplar_lang,
            prompt_format=options.prompt_format,
            max_exemplar_chars=options.max_exemplar_chars,
        ),
    )
    try:
        job = TranslateJob(
            input=str(data_file),
            output=str(output),
            translator=settings,
            tgt="eng_Latn",
            fields=("text",),
            ref_field="target",
            chunk_size=suite.chunk_size,
            overwrite=overwrite,
        )
    except ConfigError as exc:
        raise ConfigError(f"{where} ({lang}): {exc.message}") from None
    return Cell(
        lang,
        variant,
        output,
        rows,
        translate=job,
        llm_translates=options.model in (SELF, LDP),
        settings={"kind": "translate", "options": options.model_dump()},
    )


def project_cell(
    suite: Suite,
    variant: Variant,
    lang: str,
    *,
    data_file: Path,
    output: Path,
    rows: int,
    names: dict[str, str],
    max_tokens: int | None,
    overwrite: bool,
) -> Cell:
    """A translate-test projection cell; its English spans file is set by :func:`attach_english`."""
    where = f"suite {suite.name}, variant {variant.name}"
    raw = cap_tokens(
        variant, substitute(variant.spec.options, {**names, "lang": lang}, where), max_tokens
    )
    options: ProjectOptions = _parse(ProjectOptions, raw, where)
    return Cell(
        lang,
        variant,
        output,
        rows,
        project_options=options,
        settings={"kind": "project", "options": options.model_dump()},
        data_file=data_file,
        overwrite=overwrite,
        chunk_size=min(suite.chunk_size, 16),
    )


def attach_english(cell: Cell, english: Path) -> None:
    """Create the cell's projection job, reading the tagged English sentences from ``english``."""
    from xprompt.projection.codec import SearchSettings
    from xprompt.projection.job import ProjectJob
    from xprompt.projection.projector import CodecSettings

    options = cell.project_options
    assert options is not None
    codec = CodecSettings(
        search=SearchSettings(
            n_best=options.n_best, alpha=options.alpha, batch_rows=options.batch_rows
        ),
        prefilter=options.prefilter,
        rerank=options.rerank,
        max_template_tokens=options.max_template_tokens,
    )
    cell.project = ProjectJob(
        direction="test",
        input=str(cell.data_file),
        output=str(cell.output),
        translator=options.translator(),
        method=options.method,
        codec=codec,
        lang=cell.lang,
        english_spans=str(english),
        chunk_size=cell.chunk_size,
        overwrite=cell.overwrite,
    )
