"""One evaluation: load the data, build every cell, run what is pending on shared engines, report.

Layout under the output directory (``runs/eval/<suite>`` by default)::

    data/<split>/<lang>.jsonl             the split in xprompt's row shape (CoNLL for NER)
    data/<pool split>/<lang>.jsonl        few-shot / translation exemplars (clean rows only)
    <split>/<variant>/<lang>.jsonl        one cell's records (+ .meta.json, .summary.json, .eval.json)
    <split>/english/<lang>.<key>.jsonl    NER: the tagged English shared by the projection methods
    <split>/report.{json,md}, scores.png, score_vs_cost.png

Running the same command again resumes every cell where it stopped; a finished
evaluation is re-scored from its files without starting a model.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xprompt import jobs, languages, runner, signatures
from xprompt.backends import factory
from xprompt.backends.base import Backend
from xprompt.config import EngineConfig
from xprompt.errors import ConfigError, ResumeError, UnknownLanguageError
from xprompt.evals import cells as cellmod
from xprompt.evals import datasets, english_side, measure
from xprompt.evals.cells import Cell
from xprompt.evals.engines import SharedBackend, TranslatorPool
from xprompt.evals.scoring import Bootstrap
from xprompt.evals.suite import Suite, expand

#: Fields a pool row must have to serve as an exemplar, per dataset.
POOL_FIELDS = {
    "sib200": ("text", "label"),
    "mgsm": ("question", "answer"),
    "flores200": ("text", "target"),
}

CellHook = Callable[[Cell, int, int], None]
RowHook = Callable[[int], None]


def slug(split: datasets.SplitSpec) -> str:
    """A directory name for a split: ``test``, ``test[:25]`` -> ``test.0-25``, ``test[25:]`` -> ``test.25-end``."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", split.name) or "split"
    if split.start is None and split.stop is None:
        return name
    stop = "end" if split.stop is None else str(split.stop)
    return f"{name}.{split.start or 0}-{stop}"


@dataclass
class EvalOptions:
    """How to run a suite (``xprompt eval`` flags).

    ``split``: a role in the suite's ``splits`` (``eval``, ``dev``) or a literal
    spec (``test[25:]``). ``data``: local data directory (overrides the suite's);
    ``hf``: read from Hugging Face (a dataset name, or ``""`` for the suite's).
    ``engine``: EngineConfig fields overriding the suite's (with ``model``: replacing
    them, since engine settings belong to a model); ``vars``: suite vars;
    ``max_tokens``: cap on every generation (quick runs, tests).
    """

    split: str = "eval"
    out_dir: str | None = None
    data: str | None = None
    hf: str | None = None
    languages: Sequence[str] | None = None
    variants: Sequence[str] | None = None
    limit: int | None = None
    engine: dict[str, Any] = field(default_factory=dict)
    vars: dict[str, str] = field(default_factory=dict)
    max_tokens: int | None = None
    bootstrap: Bootstrap = field(default_factory=Bootstrap)
    overwrite: bool = False


class Evaluation:
    """A suite with its options: data, cells, execution and report."""

    def __init__(self, suite: Suite, options: EvalOptions) -> None:
        self.suite = suite
        self.options = options
        self.split = suite.split(options.split)
        self.out_dir = Path(options.out_dir or f"runs/eval/{suite.name}")
        self.split_dir = self.out_dir / slug(self.split)
        # Another model takes its own engine settings: the suite's (tensor parallel size, server
        # URLs) belong to the published model, so --model starts from the defaults.
        base = {} if "model" in options.engine else suite.engine.model_dump(exclude_unset=True)
        self.engine = EngineConfig.model_validate({**base, **options.engine})
        unknown = sorted(set(options.vars) - set(suite.vars))
        if unknown:
            raise ConfigError(
                f"--set {', '.join(unknown)}: not vars of suite {suite.name} "
                f"(its vars: {', '.join(sorted(suite.vars)) or 'none'})"
            )
        self.vars = {**suite.vars, **options.vars}
        self.languages = self._languages(options.languages)
        self.variants = [v for v in expand(suite) if self._wanted(v.name)]
        if not self.variants:
            names = ", ".join(v.name for v in expand(suite))
            raise ConfigError(
                f"--variants: none of {list(options.variants or [])} is a variant ({names})"
            )
        self.cells: list[Cell] = []
        self.problems: dict[str, list[str]] = {}
        self.sources: dict[str, str] = {}
        self.engine_start_s = 0.0

    # -- selection -------------------------------------------------------------------------

    def _languages(self, wanted: Sequence[str] | None) -> list[str]:
        if not wanted:
            return list(self.suite.languages)
        codes = []
        for item in wanted:
            try:
                code = languages.resolve(item).code
            except UnknownLanguageError as exc:
                raise ConfigError(f"--languages: {exc}") from None
            if code not in self.suite.languages:
                raise ConfigError(
                    f"--languages: {code} is not in suite {self.suite.name} "
                    f"({', '.join(self.suite.languages)})"
                )
            codes.append(code)
        return codes

    def _wanted(self, name: str) -> bool:
        wanted = self.options.variants
        return not wanted or name in wanted or name.split(".", 1)[0] in wanted

    # -- data ------------------------------------------------------------------------------

    def _load(
        self, lang: str, split: datasets.SplitSpec, *, limited: bool = True
    ) -> datasets.LoadedSplit:
        """One language's split: ``--data``, else ``--hf``, else the suite's root, else its hf name.

        ``--limit`` applies to the evaluated split (``limited``), never to the exemplar pool.
        """
        dataset, options = self.suite.dataset, self.options
        root = options.data or (self.suite.data.root if options.hf is None else None)
        if root is not None:
            loaded = datasets.load_local(dataset, root, lang, split)
        else:
            name = options.hf or self.suite.data.hf or datasets.HF_NAMES[dataset]
            loaded = datasets.load_hf(dataset, name, lang, split)
        if limited and options.limit is not None:
            loaded.rows = loaded.rows[: options.limit]
            loaded.sentences = loaded.sentences[: options.limit]
        return loaded

    def data_file(self, split: datasets.SplitSpec, lang: str) -> Path:
        """Where one language's split is written in xprompt's row shape."""
        suffix = ".conll" if self.suite.dataset == "masakhaner" else ".jsonl"
        return self.out_dir / "data" / slug(split) / f"{lang}{suffix}"

    def _pool(self, lang: str) -> Path | None:
        """The exemplar file of a language: the pool split's complete rows (the others reported)."""
        if "pool" not in self.suite.splits:
            return None
        pool_split = self.suite.split("pool")
        loaded = self._load(lang, pool_split, limited=False)
        needed = POOL_FIELDS.get(self.suite.dataset, ())
        complete = [r for r in loaded.rows if all(r.get(f) for f in needed)]
        where = f"exemplar pool ({pool_split})"
        self.problems[lang] += [f"{where}: {p}" for p in loaded.problems]
        for row in loaded.rows:
            if row not in complete:
                missing = ", ".join(f for f in needed if not row.get(f))
                self.problems[lang].append(
                    f"{where}: {row.get('source', row.get('id'))}: left out (no {missing})"
                )
        loaded.rows = complete
        return datasets.write_split(
            loaded, self.data_file(pool_split, lang).with_suffix(".pool.jsonl")
        )

    # -- cells -----------------------------------------------------------------------------

    def prepare(self) -> list[Cell]:
        """Load and write the data, build and validate every cell (no engine starts)."""
        needs_pool = any(
            v.spec.shots or v.spec.pool or v.kind == "translate" for v in self.variants
        )
        self.cells = []
        for lang in self.languages:
            loaded = self._load(lang, self.split)
            self.sources[lang] = loaded.source
            self.problems[lang] = list(loaded.problems)
            data_file = datasets.write_split(loaded, self.data_file(self.split, lang))
            pool = self._pool(lang) if needs_pool else None
            for variant in self.variants:
                cell = self._cell(variant, lang, data_file, pool, len(loaded))
                if cell.kind == "project":
                    english = self.english_path(cell)
                    cell.settings["english"] = str(english)
                    cellmod.attach_english(cell, english)
                self.cells.append(cell)
        return self.cells

    def _cell(self, variant: Any, lang: str, data_file: Path, pool: Path | None, rows: int) -> Cell:
        output = self.split_dir / variant.name / f"{lang}.jsonl"
        common = {
            "output": output,
            "rows": rows,
            "names": self.vars,
            "max_tokens": self.options.max_tokens,
            "overwrite": self.options.overwrite,
        }
        if variant.kind == "run":
            return cellmod.run_cell(
                self.suite,
                variant,
                lang,
                data_file=data_file,
                pool_file=pool,
                engine=self.engine,
                **common,
            )
        if variant.kind == "translate":
            return cellmod.translate_cell(
                self.suite, variant, lang, data_file=data_file, pool_file=pool, **common
            )
        if self.suite.dataset != "masakhaner":
            raise ConfigError(
                f"variant '{variant.name}': projection needs a NER dataset (masakhaner)"
            )
        return cellmod.project_cell(self.suite, variant, lang, data_file=data_file, **common)

    # -- running ---------------------------------------------------------------------------

    def job(
        self,
        cell: Cell,
        shared: SharedBackend | None = None,
        pool: TranslatorPool | None = None,
    ) -> jobs.Job:
        """The cell as a :class:`~xprompt.jobs.Job` (with the eval's shared engine and MT models)."""
        if cell.prepared is not None:
            return runner.RunJob(cell.prepared, backend=shared)
        if cell.translate is not None:
            from xprompt.mt import job as mt_job

            translator = None
            if pool is not None and not cell.llm_translates:
                translator = pool.get(cell.translate.translator)
            if shared is not None:
                cell.translate.llm = shared
            return mt_job.TranslationRun(cell.translate, translator=translator)
        from xprompt.projection import job as project_job

        return project_job.ProjectionRun(cell.project)

    def pending(self, cell: Cell) -> int:
        """Rows of a cell without a record yet (checks that the existing output belongs to it; writes nothing)."""
        return jobs.pending(self.job(cell))

    def check_outputs(self) -> None:
        """Check that every existing cell output belongs to its cell (a ResumeError names it).

        ``--report-only`` calls this, so a report never mixes outputs of other settings.
        """
        for cell in self.cells:
            if not cell.output.exists():
                continue
            if cell.kind == "project" and not Path(cell.settings["english"]).is_file():
                continue  # written before its English side was kept: nothing to compare with
            try:
                self.pending(cell)
            except ResumeError as exc:
                raise ResumeError(f"cell {cell.key}: {exc.message}") from None

    def run(
        self,
        *,
        backend: Backend | None = None,
        on_cell: CellHook | None = None,
        on_rows: RowHook | None = None,
    ) -> None:
        """Run every pending row of every cell; one LLM (``backend`` or started on first use)."""
        if not self.cells:
            self.prepare()
        model = factory.resolve_model(self.engine) if backend is None else ""
        shared = (
            SharedBackend(backend=backend)
            if backend is not None
            else SharedBackend(lambda: factory.make_backend(self.engine, model), model_id=model)
        )
        pool = TranslatorPool()
        try:
            for cell in self.cells:
                if cell.kind == "project":
                    self._english(cell, shared, pool)
                if self.options.overwrite:
                    measure.reset_timing(cell.output)
                try:
                    todo = self.pending(cell)
                except ResumeError as exc:
                    raise ResumeError(f"cell {cell.key}: {exc.message}") from None
                if on_cell is not None:
                    on_cell(cell, cell.rows, cell.rows - todo)
                if todo:
                    self._execute(cell, shared, pool, on_rows)
        finally:
            pool.close()
            shared.close()
            self.engine_start_s = shared.start_s

    def _execute(
        self, cell: Cell, shared: SharedBackend, pool: TranslatorPool, on_rows: RowHook | None
    ) -> None:
        last = time.perf_counter()
        loaded = pool.load_s

        def hook(n: int) -> None:
            nonlocal last, loaded
            now = time.perf_counter()
            seconds = now - last - shared.claim_start_seconds() - (pool.load_s - loaded)
            last, loaded = now, pool.load_s
            measure.add_timing(cell.output, max(seconds, 0.0), n)
            if on_rows is not None:
                on_rows(n)

        if cell.prepared is not None:
            self._share_translator(cell, pool)
        job = self.job(cell, shared, pool)  # loads the cell's MT model, if any: not its time
        last, loaded = time.perf_counter(), pool.load_s
        jobs.execute(job, on_rows=hook)

    @staticmethod
    def _share_translator(cell: Cell, pool: TranslatorPool) -> None:
        """Hand a translate-test cell the pool's MT model (loaded once for all its languages)."""
        from xprompt.strategies.translate_test import TranslateTest

        strategy = cell.prepared.strategy if cell.prepared is not None else None
        if isinstance(strategy, TranslateTest) and not cell.llm_translates:
            strategy.translator = pool.get(strategy.settings)

    # -- NER: the English side ---------------------------------------------------------------

    def _tagger_cap(self) -> int:
        cap = self.options.max_tokens
        return min(64, cap) if cap else 64

    def tagger_id(self) -> str:
        """What the English tags depend on: the LLM tagger's model, template and decoding, or the function."""
        if self.suite.tagger != "llm":
            return self.suite.tagger
        from xprompt.evals.ner_tagger import TEMPLATE
        from xprompt.templates import load_template

        template = load_template(TEMPLATE)
        model = signatures.model_identity(factory.resolve_model(self.engine))
        return f"llm-tagger({model},{template.name}@{template.digest},max={self._tagger_cap()})"

    def english_path(self, cell: Cell) -> Path:
        """Where a projection cell's tagged English lives (shared by the methods of its language)."""
        assert cell.project_options is not None and cell.data_file is not None
        return english_side.english_path(
            self.split_dir / "english",
            cell.lang,
            cell.data_file,
            cell.project_options.translator().identity(),
            self.tagger_id(),
        )

    def _english(self, cell: Cell, shared: SharedBackend, pool: TranslatorPool) -> None:
        """Build the tagged English a projection cell projects, unless it is there already."""
        from xprompt.evals.ner_tagger import LLMTagger
        from xprompt.projection.pipeline import load_tagger

        path = Path(cell.settings["english"])
        if path.is_file() and english_side.cost_path(path).is_file():
            return
        assert cell.project_options is not None and cell.data_file is not None
        llm_tagger: LLMTagger | None = None
        if self.suite.tagger == "llm":
            llm_tagger = LLMTagger(shared, max_tokens=self._tagger_cap())
            tagger: Any = llm_tagger
        else:
            tagger = load_tagger(self.suite.tagger)

        def tagger_cost() -> measure.Cost:
            if llm_tagger is None:
                return measure.Cost()
            return measure.Cost(
                llm_calls=llm_tagger.calls,
                prompt_tokens=llm_tagger.prompt_tokens,
                generated_tokens=llm_tagger.generated_tokens,
            )

        translator = pool.get(cell.project_options.translator())
        loaded = pool.load_s
        english_side.build_english(
            path,
            cell.data_file,
            cell.lang,
            translator,
            tagger,
            tagger_cost=tagger_cost,
            exclude_seconds=lambda: shared.claim_start_seconds() + (pool.load_s - loaded),
        )
