"""Run a strategy over a dataset: chunks, per-row errors, resume, progress, summary, signature.

The output is a JSONL file with one record per input row, appended and flushed
chunk by chunk. Next to it, ``<output>.meta.json`` records what run the file
belongs to. Start the same command again after an interruption and only the
rows without a record are run: nothing is duplicated or lost. A run whose
settings or input changed refuses to append to an old file (``--overwrite``
starts afresh); ``--retry-errors`` runs the rows that ended with an error again.

:func:`prepare` resolves everything that needs no engine (template, strategy,
rows, signature); :class:`RunJob` is the run as a :class:`xprompt.jobs.Job`
(a strategy over a chunk, one record per row, the run summary), and
:func:`xprompt.jobs.execute` does the bookkeeping shared with ``translate`` and
``project`` (lock, resume, engine lifetime, chunks in flight, writer, summary).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xprompt import answers, data, exemplars, jobs
from xprompt.backends import factory
from xprompt.backends.base import Backend, check_order
from xprompt.config import EngineConfig, RunConfig
from xprompt.errors import BackendError, ConfigError
from xprompt.exemplars import ExemplarSelector
from xprompt.guard import build_guard
from xprompt.isolation import fault, per_item
from xprompt.metrics import RunSummary, summarize
from xprompt.signatures import Signature, input_digest, model_identity, version_fields
from xprompt.strategies import StrategyParts, build_strategy, canonical_name
from xprompt.strategies.base import Strategy, failed
from xprompt.templates import Template, load_template
from xprompt.types import Example, Prediction

#: The run signature's fields that decide the records: an output resumes only when they match.
RESUME_FIELDS = ("model", "strategy", "input", "fields", "target", "limit", "guard")


def chat_signature(engine: EngineConfig, model: str) -> str:
    """The run signature's ``chat`` field: the adaptation (and the chat-template kwargs).

    The adaptation is probed from the model directory's template (or
    ``--chat-template``) without starting an engine, for every backend (the
    OpenAI backend adapts to a template it can read as in-process runs do);
    ``server`` when only a remote server has the template, ``unknown`` when an
    in-process model's template cannot be read here (a hub name).
    """
    from xprompt import chat_format

    template = engine.chat_template
    if template is not None and "{%" not in template and "{{" not in template:
        path = Path(template).expanduser()
        if not path.is_file():
            raise ConfigError(f"chat template file not found: {template}")
        template = path.read_text(encoding="utf-8")
    found = chat_format.probe_model_dir(
        engine.tokenizer or model, chat_template=template, kwargs=engine.chat_template_kwargs
    )
    if found is not None:
        # The OpenAI backend probes the same local template and adapts the same way, so an
        # output begun in-process and finished on servers carries one signature.
        label = found.label
    else:
        label = "server" if engine.backend == "openai" else "unknown"
    kwargs = engine.chat_template_kwargs
    if kwargs:
        label += ":" + json.dumps(kwargs, sort_keys=True, separators=(",", ":"))
    return label


@dataclass
class Prepared:
    """A run with everything resolved that does not need the engine."""

    config: RunConfig
    template: Template
    strategy: Strategy
    model: str
    rows: list[Example | data.RowError]
    signature: str
    resume_key: dict[str, Any]


def prepare(config: RunConfig) -> Prepared:
    """Load the template, exemplar pool, strategy and rows; compute the signature. No engine yet."""
    template = load_template(config.template)
    strategy_name = canonical_name(config.strategy)
    mapping = data.FieldMap(
        fields=config.data.fields,
        id=config.data.id_field,
        lang=config.data.lang_field,
        target=config.data.target_field,
        default_lang=config.data.lang,
        max_chars=config.data.max_chars,
    )
    pool: list[Example] = []
    if config.exemplars.pool and config.exemplars.shots > 0:
        pool = exemplars.read_exemplar_pool(config.exemplars.pool, template.fields, mapping)
    selector = ExemplarSelector(
        pool=pool,
        k=config.exemplars.shots,
        rule=config.exemplars.select,
        language=config.exemplars.lang,
        seed=config.seed,
        per_row=config.exemplars.per_row,
        labels=template.choices,
    )
    guard, langid_signature = build_guard(
        config.guard, enabled=config.langid, samples=config.sampling.n
    )
    parts = StrategyParts(
        template=template,
        selector=selector,
        sampling=config.sampling.to_sampling(),
        checker=guard.checker,
        guard=guard,
    )
    strategy = build_strategy(config, parts)
    if guard.policy != "flag" and getattr(strategy, "guard", None) is not guard:
        raise ConfigError(
            f"off-target policy '{guard.policy}' is not available for strategy "
            f"'{strategy_name}' (it records checks only); use the default policy 'flag'"
        )
    model = factory.resolve_model(config.engine)
    rows = list(
        data.read_examples(config.data.input, strategy.fields, mapping, fmt=config.data.format)
    )
    if config.data.limit is not None:
        rows = rows[: config.data.limit]
    identity = model_identity(model)
    signature = Signature(
        {
            "model": identity,
            "backend": config.engine.backend,
            "chat": chat_signature(config.engine, model),
            "strategy": strategy.signature(),
            "langid": langid_signature,
            "guard": guard.signature().removeprefix("guard:"),
            "input": input_digest(config.data.input),
            "fields": mapping.fields and dict(mapping.fields),
            "target": mapping.target,
            "limit": config.data.limit,
            **version_fields(),
        }
    )
    resume_key = signature.subset(RESUME_FIELDS)
    return Prepared(config, template, strategy, model, rows, signature.format(), resume_key)


def open_output(prepared: Prepared, *, dry_run: bool = False) -> set[int]:
    """Check an existing output belongs to this run; return the row indices already done (``dry_run``: change no file)."""
    return jobs.open_output(RunJob(prepared), dry_run=dry_run)


def make_record(
    row: Example | data.RowError, prediction: Prediction | None, template: Template
) -> dict[str, Any]:
    """The result record for one input row."""
    if isinstance(row, data.RowError):
        return {
            "index": row.index,
            "id": row.id,
            "lang": row.lang,
            "target": row.target,
            "prediction": None,
            "correct": None,
            "extraction": None,
            "error": row.error,
            "steps": [],
        }
    assert prediction is not None
    error = prediction.error
    if error is not None and not error.startswith("row "):
        error = f"row {row.index + 1} (id '{row.id}'): {error}"
    correct = None
    if row.target is not None and prediction.error is None:
        parser = prediction.parser or template.answer.parser
        try:
            correct = answers.is_correct(prediction.answer, row.target, parser)
        except Exception as exc:  # one row's scoring failure is that row's error
            error = f"row {row.index + 1} (id '{row.id}'): scoring failed: {fault(exc)}"
    elif row.target is not None:
        correct = False
    record: dict[str, Any] = {
        "index": row.index,
        "id": row.id,
        "lang": row.lang,
        "target": row.target,
        "prediction": prediction.answer,
        "correct": correct,
        "extraction": prediction.extraction,
        "error": error,
        "steps": [s.to_dict() for s in prediction.steps],
    }
    if prediction.details:
        record["details"] = dict(prediction.details)
    return record


def run_isolated(
    strategy: Strategy, examples: Sequence[Example], backend: Backend
) -> list[Prediction]:
    """``strategy.run`` on a chunk; when it raises, row by row, so only the rows that raise fail.

    An exception while rendering, digesting, extracting or checking one row
    becomes that row's error (type, message and where it was raised); the engine
    failing as a whole (``BackendError``, or anything ``backend.generate`` raised:
    the backend contract says it never raises for one request) stops the run.
    """
    try:
        return per_item(
            lambda chunk: strategy.run(chunk, backend),
            examples,
            failed,
            fatal=(_BackendRaised, BackendError),
        )
    except _BackendRaised as exc:
        raise exc.original from None


def _records(
    predictions: Mapping[int, Prediction], template: Template, rows: Sequence[Any]
) -> list[dict[str, Any]]:
    return [make_record(r, predictions.get(r.index), template) for r in rows]


def _record_failed(row: Example | data.RowError, error: str) -> dict[str, Any]:
    """The record of a row whose result record could not be built."""
    message = f"row {row.index + 1} (id '{row.id}'): the record could not be built: {error}"
    return make_record(data.RowError(row.index, row.id, message, lang=row.lang), None, None)  # type: ignore[arg-type]


class _BackendRaised(Exception):
    """Carries an exception the backend raised past the strategy, so it stops the run."""

    def __init__(self, original: Exception) -> None:
        super().__init__(str(original))
        self.original = original


class _CheckedBackend:
    """Wraps a backend to enforce the same-length, same-order contract.

    ``template_kwargs``: the run's chat-template keyword arguments, put on every
    chat request (so a shared engine, e.g. an eval's, serves each run with its own).
    ``gate``: orders the calls of the chunks in flight (:class:`xprompt.jobs.EngineGate`).
    """

    def __init__(
        self,
        inner: Backend,
        template_kwargs: Mapping[str, Any] | None = None,
        gate: jobs.EngineGate | None = None,
    ) -> None:
        self.inner = inner
        self.template_kwargs = tuple(sorted((template_kwargs or {}).items()))
        self.gate = gate or jobs.EngineGate()

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    def generate(self, requests):  # type: ignore[no-untyped-def]
        if self.template_kwargs:
            requests = [
                dataclasses.replace(r, chat_template_kwargs=self.template_kwargs)
                if r.messages is not None and not r.chat_template_kwargs
                else r
                for r in requests
            ]
        try:
            with self.gate.call():
                completions = self.inner.generate(requests)
        except Exception as exc:  # the backend failed as a whole: not one row's fault
            raise _BackendRaised(exc) from exc
        return check_order(requests, completions)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    def close(self) -> None:
        self.inner.close()


ProgressHook = Callable[[int], None]


class RunJob(jobs.Job):
    """``xprompt run`` as a :class:`~xprompt.jobs.Job`: a prepared strategy over its rows.

    ``backend``: an engine to use (tests and evals share one); otherwise one is
    started from the config, only if some row still needs the model.
    """

    kind = "run"

    def __init__(self, prepared: Prepared, *, backend: Backend | None = None) -> None:
        config = prepared.config
        self.prepared = prepared
        self.output = str(config.output)
        self.chunk_size = config.chunk_size
        self.overwrite = config.overwrite
        self.retry_errors = config.retry_errors
        self.backend = backend
        self._owned: Backend | None = None
        self._engine_s_counts = backend is None  # starting a shared engine is not this run's cost
        self._checked: _CheckedBackend | None = None

    def rows(self) -> Sequence[Example | data.RowError]:
        return self.prepared.rows

    def resume_key(self) -> Mapping[str, Any]:
        return self.prepared.resume_key

    def meta(self) -> Mapping[str, Any]:
        config = self.prepared.config
        return {"signature": self.prepared.signature, "config": config.model_dump(mode="json")}

    def needs_engine(self, row: Any) -> bool:
        return isinstance(row, Example)

    def depth(self) -> int:
        """``chunks_in_flight``; 1 for a strategy that says it cannot take concurrent chunks
        (``concurrent_chunks = False``: translate-test, whose MT model serves one caller)."""
        if not getattr(self.prepared.strategy, "concurrent_chunks", True):
            return 1
        return self.prepared.config.chunks_in_flight

    def concurrent_engine(self) -> bool:
        """Whether the backend batches calls in flight together (``concurrent_calls``)."""
        return bool(getattr(self.backend, "concurrent_calls", False))

    def start(self, gate: jobs.EngineGate) -> None:
        config = self.prepared.config
        if self.backend is None:
            self._owned = self.backend = factory.make_backend(config.engine, self.prepared.model)
            gate.concurrent = self.concurrent_engine()
        self._checked = _CheckedBackend(self.backend, config.engine.chat_template_kwargs, gate)

    def close(self) -> None:
        owned, self._owned = self._owned, None
        if owned is not None:
            owned.close()

    def process(self, chunk: Sequence[Any]) -> list[dict[str, Any]]:
        examples = [r for r in chunk if isinstance(r, Example)]
        predictions: Mapping[int, Prediction] = {}
        if examples:
            assert self._checked is not None
            results = run_isolated(self.prepared.strategy, examples, self._checked)  # type: ignore[arg-type]
            predictions = {e.index: p for e, p in zip(examples, results, strict=True)}
        return per_item(
            functools.partial(_records, predictions, self.prepared.template),
            chunk,
            _record_failed,
        )

    def failed(self, row: Any, error: str) -> dict[str, Any]:
        return _record_failed(row, error)

    def fatal(self) -> tuple[type[BaseException], ...]:
        """Everything: :meth:`process` isolates its rows itself (strategy, then record), so what
        escapes it is the backend failing as a whole (re-raised as the backend raised it)."""
        return (Exception,)

    def finish(self, records: Sequence[dict[str, Any]], session: jobs.Session) -> RunSummary:
        summary = summarize(records, signature=self.prepared.signature)
        summary.elapsed_s = session.elapsed_s
        summary.engine_start_s = session.engine_start_s if self._engine_s_counts else 0.0
        summary.rows_this_session = session.rows_this_session
        return summary

    def summary(self, result: RunSummary) -> Mapping[str, Any]:
        return result.to_dict()


def execute(
    prepared: Prepared,
    *,
    backend: Backend | None = None,
    on_rows: ProgressHook | None = None,
    on_start: Callable[[int, int], None] | None = None,
) -> RunSummary:
    """Run the pending rows and return the summary over the whole output file.

    ``backend``: an engine to use (tests share one); otherwise one is started
    from the config, only if some row still needs the model.
    ``on_start(total, done)`` and ``on_rows(n)`` report progress.
    """
    return jobs.execute(RunJob(prepared, backend=backend), on_start=on_start, on_rows=on_rows)
