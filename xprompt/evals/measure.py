"""What a cell's saved records say: the score, the off-target and no-answer rates, and the cost.

Cost is read from what the runner, the translation job and the projection job
record (so a finished evaluation is re-scored without a model):

- **LLM calls**: one per recorded step that the LLM answered, plus one per
  retry of the off-target guard (``steps[].guard.attempts``). Self-consistency
  is one call with ``n`` samples, as vLLM serves it. The steps of
  translate-test's MT (``mt:*``) count as LLM calls when the translator is the
  LLM itself (``self``, ``ldp``), else as MT calls.
- **prompt / generated tokens** of the LLM, from the steps (retries included).
- **MT calls and MT tokens**: translation requests to a seq2seq MT model and the
  tokens it generated; for CODEC, the forced-decoding calls of its search; for
  marker-based projection, the marked sentence and each English entity alone.
- **wall time**: measured around each cell by ``xprompt eval`` and kept next to
  its output (``<output>.eval.json``), summed over the sessions that ran rows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from xprompt.evals.scoring import Bootstrap, MetricResult, accuracy, chrf_pp, span_f1
from xprompt.metrics import language_ok, summarize


@dataclass
class Cost:
    """What a cell (or a shared step) cost, in total over its rows."""

    rows: int = 0
    llm_calls: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    mt_calls: int = 0
    mt_tokens: int = 0
    wall_s: float = 0.0
    timed_rows: int = 0

    def add(self, other: Cost) -> None:
        """Add another cost in place (a shared step's cost into a cell's)."""
        for f in fields(self):
            if f.name != "rows":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def per_row(self, name: str) -> float | None:
        """A cost per input row: ``llm_calls``, ``tokens`` (prompt + generated), ``mt_calls``, ``seconds``."""
        if name == "seconds":
            return self.wall_s / self.timed_rows if self.timed_rows else None
        if not self.rows:
            return None
        if name == "tokens":
            return (self.prompt_tokens + self.generated_tokens) / self.rows
        if name == "calls":
            return (self.llm_calls + self.mt_calls) / self.rows
        return getattr(self, name) / self.rows

    def to_dict(self) -> dict[str, Any]:
        """The totals and the per-row values, JSON-ready."""
        out: dict[str, Any] = asdict(self)
        out["per_row"] = {
            k: None if (v := self.per_row(k)) is None else round(v, 4)
            for k in ("llm_calls", "tokens", "mt_calls", "seconds")
        }
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cost:
        """A cost from :meth:`to_dict` output (per-row values are recomputed)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class Measured:
    """One cell's numbers: score, row counts, rates beside the score, and cost."""

    metric: MetricResult
    rows: int
    errors: int
    off_target_rate: float | None
    checked: int
    no_answer_rate: float | None
    cost: Cost
    line_pass_rate: float | None = None
    #: chrF++ with every output whose language check failed (off or mixed) scoring 0 (no
    #: n-gram matches), as EuroEval scores wrong-language generations; beside the plain score.
    language_aware: MetricResult | None = None


# -- timing state kept next to each cell's output ------------------------------------------


def state_path(output: str | Path) -> Path:
    """The cell's timing record, next to its output."""
    return Path(str(output) + ".eval.json")


def read_timing(output: str | Path) -> Cost:
    """The wall time and timed rows recorded for a cell (zero when none)."""
    path = state_path(output)
    if not path.is_file():
        return Cost()
    data = json.loads(path.read_text(encoding="utf-8"))
    return Cost(wall_s=float(data.get("wall_s", 0.0)), timed_rows=int(data.get("timed_rows", 0)))


def add_timing(output: str | Path, seconds: float, rows: int) -> None:
    """Add one session's measured seconds and rows to a cell's timing record."""
    before = read_timing(output)
    path = state_path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"wall_s": before.wall_s + seconds, "timed_rows": before.timed_rows + rows}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload), encoding="utf-8")
    tmp.replace(path)


def reset_timing(output: str | Path) -> None:
    """Forget a cell's timing (its output is being started again)."""
    state_path(output).unlink(missing_ok=True)


# -- run records (xprompt.runner) ----------------------------------------------------------


def run_cost(records: Sequence[Mapping[str, Any]], *, llm_translates: bool) -> Cost:
    """Cost of runner records, from the run summary's counts (see the module docstring)."""
    total = summarize(records).total
    mt_calls, mt_tokens = (0, 0) if llm_translates else (total.mt_calls, total.mt_tokens)
    return Cost(
        rows=len(records),
        llm_calls=total.calls - mt_calls,
        prompt_tokens=total.prompt_tokens,
        generated_tokens=total.completion_tokens - mt_tokens,
        mt_calls=mt_calls,
        mt_tokens=mt_tokens,
    )


def measure_run(
    records: Sequence[Mapping[str, Any]],
    metric: str,
    bootstrap: Bootstrap,
    *,
    llm_translates: bool,
) -> Measured:
    """Score runner records: accuracy (labels, numbers) or chrF++ (translations)."""
    summary = summarize(records).total
    aware = None
    if metric == "chrF++":
        scored = [r for r in records if r.get("target") is not None]
        refs = [str(r["target"]) for r in scored]
        hyps = [str(r.get("prediction") or "") for r in scored]
        result = chrf_pp(hyps, refs, bootstrap)
        aware = chrf_pp(hyps, refs, bootstrap, failed=[not language_ok(r) for r in scored])
        no_answer = None
    else:
        result = accuracy(
            [bool(r["correct"]) for r in records if r.get("correct") is not None], bootstrap
        )
        no_answer = summary.extraction_failure_rate
    return Measured(
        result,
        rows=len(records),
        errors=summary.errors,
        off_target_rate=summary.off_target_rate,
        checked=summary.checked,
        no_answer_rate=no_answer,
        cost=run_cost(records, llm_translates=llm_translates),
        line_pass_rate=summary.line_pass_rate,
        language_aware=aware,
    )


# -- translation records (xprompt.mt.job) --------------------------------------------------


def measure_translate(
    records: Sequence[Mapping[str, Any]], bootstrap: Bootstrap, *, llm_translates: bool
) -> Measured:
    """Score translation-job records: chrF++ against the references, off-target from their checks."""
    hyps: list[str] = []
    failed: list[bool] = []
    refs: list[str] = []
    cost = Cost(rows=len(records))
    errors = checked = off = passed = 0
    for record in records:
        translation = (record.get("translation") or {}).get("text")
        if record.get("error"):
            errors += 1
        if record.get("reference") is not None:
            hyps.append(translation or "")
            failed.append(not language_ok(record))
            refs.append(str(record["reference"]))
        for check in (record.get("checks") or {}).values():
            checked += 1
            off += check.get("verdict") == "off"
            passed += check.get("verdict") not in ("off", "mixed")
        for info in (record.get("mt") or {}).values():
            tokens = int(info.get("tokens") or 0)
            if llm_translates:
                cost.llm_calls += 1
                cost.prompt_tokens += int(info.get("prompt_tokens") or 0)
                cost.generated_tokens += tokens
            else:
                cost.mt_calls += 1
                cost.mt_tokens += tokens
    return Measured(
        chrf_pp(hyps, refs, bootstrap),
        rows=len(records),
        errors=errors,
        off_target_rate=off / checked if checked else None,
        checked=checked,
        no_answer_rate=None,
        cost=cost,
        line_pass_rate=passed / checked if checked else None,
        language_aware=chrf_pp(hyps, refs, bootstrap, failed=failed),
    )


# -- projection records (xprompt.projection.job) -------------------------------------------


def measure_project(records: Sequence[Mapping[str, Any]], bootstrap: Bootstrap) -> Measured:
    """Span F1 of projected spans against the gold spans; no answer = sentences that failed."""
    from xprompt.projection.spans import parse_span_list

    sentences = []
    cost = Cost(rows=len(records))
    failed = errors = 0
    for record in records:
        gold_text = record.get("original") or ""
        try:
            gold = parse_span_list(record.get("gold") or [], gold_text)
            predicted = parse_span_list(record.get("spans") or [], record.get("text") or "")
        except ValueError:
            gold, predicted = (), ()
        sentences.append((gold, predicted))
        status = record.get("status")
        failed += status == "failed"
        if str(record.get("reason") or "").startswith("input:"):
            errors += 1
        stats = record.get("stats") or {}
        if "calls" in stats:
            cost.mt_calls += int(stats["calls"])
        elif record.get("method") == "markers" and record.get("english"):
            # The marked English sentence, and each entity alone (to match the pairs that come back).
            cost.mt_calls += 1 + len((record.get("english") or {}).get("spans") or ())
    return Measured(
        span_f1(sentences, bootstrap),
        rows=len(records),
        errors=errors,
        off_target_rate=None,
        checked=0,
        no_answer_rate=failed / len(records) if records else None,
        cost=cost,
    )
