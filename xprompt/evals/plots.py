"""PNG plots of a report (matplotlib, Agg backend): where each variant wins, and at what cost.

- ``scores.png``: grouped bars, one group per language, one bar per variant,
  with the 95% bootstrap interval as an error bar.
- ``score_vs_cost.png``: each variant's average score against its cost per row,
  in LLM tokens (prompt + generated) and in model calls (LLM + MT), one small
  point per language behind the average.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xprompt.errors import DependencyMissingError
from xprompt.evals.report import SuiteReport


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise DependencyMissingError(
            "plots need matplotlib: pip install 'xprompt[eval]' (or pass --no-plots)"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def score_bars(report: SuiteReport, path: str | Path) -> Path:
    """Grouped bars of score by language and variant, with 95% intervals."""
    plt = _pyplot()
    names = report.variant_names()
    langs = report.languages
    width = 0.8 / max(len(names), 1)
    width_in = min(14.0, max(6.5, 2.5 + len(langs) * (0.35 + 0.18 * len(names))))
    fig, ax = plt.subplots(figsize=(width_in, 4.8))
    colors = plt.get_cmap("tab10")
    for k, name in enumerate(names):
        xs, ys, lows, highs = [], [], [], []
        for i, lang in enumerate(langs):
            cell = report.cell(lang, name)
            if cell is None or cell.score is None:
                continue
            xs.append(i - 0.4 + width * (k + 0.5))
            ys.append(cell.score)
            low = cell.metric.low if cell.metric.low is not None else cell.score
            high = cell.metric.high if cell.metric.high is not None else cell.score
            lows.append(max(cell.score - low, 0.0))
            highs.append(max(high - cell.score, 0.0))
        ax.bar(xs, ys, width=width * 0.95, label=name, color=colors(k % 10))
        if xs:
            ax.errorbar(xs, ys, yerr=[lows, highs], fmt="none", ecolor="black", capsize=2, lw=0.8)
        if len(langs) * len(names) <= 40:  # few bars: print each score above its interval
            for x, y, up in zip(xs, ys, highs, strict=True):
                ax.annotate(
                    f"{y:.0f}" if y >= 10 else f"{y:.1f}",
                    (x, y + up),
                    textcoords="offset points",
                    xytext=(0, 3),
                    ha="center",
                    fontsize=7,
                )
    ax.set_xticks(range(len(langs)))
    ax.set_xticklabels(
        langs, rotation=30 if len(langs) > 4 else 0, ha="right" if len(langs) > 4 else "center"
    )
    ax.set_ylabel(f"{report.metric} (95% CI)")
    ax.set_ylim(0, 100)
    ax.set_title(f"{report.suite}: {report.metric} by language and variant ({report.split})")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, plt, path)


def score_vs_cost(report: SuiteReport, path: str | Path) -> Path:
    """Average score against cost per row, one point per variant (small points: languages).

    Two panels: LLM tokens per row (prompt + generated) and model calls per row (LLM + MT).
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11.0, 4.6), sharey=True)
    colors = plt.get_cmap("tab10")
    panels = (
        ("tokens", "LLM tokens per row (prompt + generated)"),
        ("calls", "model calls per row (LLM + MT)"),
    )
    for ax, (measure, label) in zip(axes, panels, strict=True):
        for k, name in enumerate(report.variant_names()):
            color = colors(k % 10)
            for c in report.cells:
                x = c.cost.per_row(measure)
                if c.variant == name and c.score is not None and x is not None:
                    ax.scatter(x, c.score, s=14, color=color, alpha=0.35)
            x, y = report.total_cost(name).per_row(measure), report.average(name)
            if x is None or y is None:
                continue
            ax.scatter(x, y, s=70, color=color, edgecolor="black", label=name, zorder=3)
            ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
        xs = [
            x for x in (report.total_cost(n).per_row(measure) for n in report.variant_names()) if x
        ]
        if xs and max(xs) / min(xs) > 8:
            from matplotlib.ticker import FuncFormatter, NullFormatter

            ax.set_xscale("log")  # a wide range of cost (CLSP against direct) stays readable
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
            label += ", log scale"
        ax.set_xlabel(label)
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"{report.metric} (large: average over languages)")
    fig.suptitle(f"{report.suite}: score against cost ({report.split})")
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        axes[1].legend(handles, labels, fontsize=8, frameon=False, loc="best")
    return _save(fig, plt, path)


def _save(fig: Any, plt: Any, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return out


def write_plots(report: SuiteReport, out_dir: str | Path) -> list[Path]:
    """Both plots into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    return [
        score_bars(report, out / "scores.png"),
        score_vs_cost(report, out / "score_vs_cost.png"),
    ]
