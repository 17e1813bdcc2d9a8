"""Pick the best variant per language from a (development-split) report, under an optional cost budget.

The choice per language: among the variants whose cost per row is within the
budget, the highest score; ties go to the cheaper variant (model calls, LLM
and MT, then LLM tokens),
then to the earlier one in the suite. The file says how sure the choice is
(``clearly_better``: its 95% interval lies above the runner-up's score).

It is written as ``recommendation.yaml``: per language the variant, its score
and cost, and the settings ``xprompt run`` needs::

    xprompt run --recommendation recommendation.yaml --lang hau_Latn -i data.jsonl -o out.jsonl

and a ``serve.yaml`` for ``xprompt serve --config serve.yaml``: the languages where
translate-test won become the server's weak languages, always answered through
the pivot language with the suite's MT model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from xprompt import languages
from xprompt.errors import ConfigError, UnknownLanguageError
from xprompt.evals.measure import Cost
from xprompt.evals.report import CellResult, SuiteReport

KIND = "xprompt-recommendation"
#: Budget measures (per input row) and the Cost.per_row names they read.
MEASURES = {"calls": "calls", "llm_calls": "llm_calls", "tokens": "tokens", "seconds": "seconds"}


@dataclass(frozen=True)
class Budget:
    """Most a variant may cost per input row, on any of: calls, llm_calls, tokens, seconds."""

    limits: tuple[tuple[str, float], ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> Budget:
        """``"tokens=800,calls=3"`` -> a budget; a ConfigError names a bad part."""
        if not text:
            return cls()
        limits = []
        for part in text.split(","):
            name, sep, value = part.partition("=")
            name = name.strip()
            if not sep or name not in MEASURES:
                raise ConfigError(
                    f"--budget: '{part.strip()}' is not MEASURE=NUMBER (measures: {', '.join(MEASURES)})"
                )
            try:
                number = float(value)
            except ValueError:
                raise ConfigError(
                    f"--budget: '{value.strip()}' in '{part.strip()}' is not a number"
                ) from None
            if number < 0:
                raise ConfigError(f"--budget: {name} must be >= 0")
            limits.append((name, number))
        return cls(tuple(limits))

    def check(self, cost: Cost) -> str | None:
        """Why ``cost`` is over the budget (None when within it)."""
        for name, limit in self.limits:
            value = cost.per_row(MEASURES[name])
            if value is None:
                return f"{name} per row unknown"
            if value > limit:
                return f"{name}/row {value:.3g} > {limit:g}"
        return None

    def to_dict(self) -> dict[str, float]:
        """The limits by measure, for the recommendation file."""
        return dict(self.limits)


def _rank_key(cell: CellResult, order: dict[str, int]) -> tuple[float, float, float, int]:
    return (
        -(cell.score or 0.0),
        cell.cost.per_row("calls") or 0.0,
        cell.cost.per_row("tokens") or 0.0,
        order.get(cell.variant, len(order)),
    )


def choose(report: SuiteReport, lang: str, budget: Budget) -> dict[str, Any]:
    """The recommendation for one language (see the module docstring)."""
    order = {name: i for i, name in enumerate(report.variant_names())}
    scored = [c for c in report.cells if c.lang == lang and c.score is not None]
    over = {c.variant: reason for c in scored if (reason := budget.check(c.cost)) is not None}
    candidates = sorted(
        (c for c in scored if c.variant not in over), key=lambda c: _rank_key(c, order)
    )
    entry: dict[str, Any] = {}
    if not candidates:
        entry["variant"] = None
        entry["reason"] = (
            "no scored variant"
            if not scored
            else "no variant within the budget: " + "; ".join(f"{v} ({r})" for v, r in over.items())
        )
        return entry
    best = candidates[0]
    entry.update(
        variant=best.variant,
        what=best.label,
        kind=best.kind,
        score=round(best.score or 0.0, 2),
        ci95=None
        if best.metric.low is None
        else [round(best.metric.low, 2), round(float(best.metric.high or 0.0), 2)],
        n=best.metric.n,
        cost_per_row={k: v for k, v in best.cost.to_dict()["per_row"].items()},
    )
    if len(candidates) > 1:
        second = candidates[1]
        entry["runner_up"] = {"variant": second.variant, "score": round(second.score or 0.0, 2)}
        entry["clearly_better"] = bool(
            best.metric.low is not None
            and second.score is not None
            and best.metric.low > second.score
        )
    if over:
        entry["over_budget"] = over
    if best.kind == "run":
        entry["run"] = _run_settings(best.settings)
    else:
        entry["command"] = _command(best, lang)
    return entry


def _run_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The RunConfig fields of a runner cell's settings (empty sections left out)."""
    keys = (
        "strategy",
        "template",
        "options",
        "exemplars",
        "sampling",
        "data",
        "constrained",
        "prompt_format",
    )
    return {k: settings[k] for k in keys if k in settings and settings[k] not in ({}, None)}


def _command(cell: CellResult, lang: str) -> str:
    options = (cell.settings or {}).get("options") or {}
    if cell.kind == "translate":
        return (
            f"xprompt translate -m {options.get('model', 'self')} --llm MODEL --src {lang} --tgt eng_Latn "
            f"--shots {options.get('shots', 4)} --exemplars PAIRS.jsonl -i INPUT -o OUTPUT"
        )
    return (
        f"xprompt project test -m {options.get('mt_model', 'MT_MODEL')} --method "
        f"{options.get('method', 'codec')} --lang {lang} -i INPUT.conll --tagger MODULE:FUNCTION -o OUTPUT"
    )


def recommend(report: SuiteReport, budget: Budget | None = None) -> dict[str, Any]:
    """The recommendation document for every language of the report."""
    budget = budget or Budget()
    chosen = {lang: choose(report, lang, budget) for lang in report.languages}
    return {
        "kind": KIND,
        "version": 1,
        "suite": report.suite,
        "split": report.split,
        "metric": report.metric,
        "signature": report.signature,
        "budget": budget.to_dict(),
        "languages": chosen,
        "serve": serve_settings(report, chosen),
    }


def serve_settings(report: SuiteReport, chosen: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``xprompt serve`` policy: translate-test winners pivot through English with the suite's MT model."""
    weak = []
    translator = None
    for lang, entry in chosen.items():
        run = entry.get("run") or {}
        if run.get("strategy") == "translate-test":
            weak.append(lang)
            translator = translator or (run.get("options") or {}).get("mt_model")
    policy: dict[str, Any] = {"languages": list(report.languages), "weak_langs": weak}
    if weak:
        policy["pivot"] = "always"
        policy["translator"] = translator or "facebook/nllb-200-distilled-600M"
    return {"policy": policy}


def write(
    report: SuiteReport, out_dir: str | Path, budget: Budget | None = None
) -> tuple[Path, Path]:
    """Write ``recommendation.yaml`` and ``serve.yaml`` into ``out_dir``; return both paths."""
    document = recommend(report, budget)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rec = out / "recommendation.yaml"
    rec.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
    serve = out / "serve.yaml"
    header = (
        f"# xprompt serve --config {serve.name} --model MODEL: from suite {report.suite} "
        f"({report.split}); weak_langs are the languages where translate-test scored best.\n"
    )
    serve.write_text(
        header + yaml.safe_dump(document["serve"], sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    return rec, serve


def run_settings(path: str | Path, lang: str | None) -> dict[str, Any]:
    """The run settings a recommendation file gives for ``lang`` (for ``xprompt run --recommendation``)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"recommendation file not found: {p}")
    try:
        document = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from None
    if not isinstance(document, dict) or document.get("kind") != KIND:
        raise ConfigError(
            f"{p}: not an xprompt recommendation (written by 'xprompt eval --recommend')"
        )
    entries = document.get("languages") or {}
    if not lang:
        raise ConfigError(
            f"--recommendation needs the language of the input: pass --lang CODE "
            f"(the file has: {', '.join(entries)})"
        )
    try:
        code = languages.resolve(lang).code
    except UnknownLanguageError as exc:
        raise ConfigError(f"--lang: {exc}") from None
    entry = entries.get(code)
    if entry is None:
        raise ConfigError(f"{p}: no recommendation for {code} (it has: {', '.join(entries)})")
    if entry.get("variant") is None:
        raise ConfigError(f"{p}: no variant recommended for {code}: {entry.get('reason')}")
    if "run" not in entry:
        raise ConfigError(
            f"{p}: the recommendation for {code} is '{entry['variant']}', which 'xprompt run' does "
            f"not run; use: {entry.get('command')}"
        )
    return dict(entry["run"])


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def apply_recommendation(
    path: str | Path, lang: str | None, overrides: dict[str, Any]
) -> dict[str, Any]:
    """Run settings of the recommendation for ``lang`` with command-line ``overrides`` on top.

    The recommendation replaces the strategy settings of a ``--config`` file; flags win over both.
    """
    return _merge(run_settings(path, lang), overrides)
