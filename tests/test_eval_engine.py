"""Every suite end to end on the real engine: the tiny Llama on vLLM, the tiny MT model, fixture data.

The tiny models write gibberish, so these tests check the machinery: every
cell runs every row once, resumes per cell, records its cost, and the report
comes out in every format (JSON, Markdown, rich, PNG) with intervals that
contain their scores; the recommendation drives a real run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO, read_jsonl

from xprompt import data
from xprompt.evals import plots, recommend
from xprompt.evals.report import SuiteReport, build_report, markdown, rich_tables
from xprompt.evals.scoring import Bootstrap
from xprompt.evals.session import EvalOptions, Evaluation
from xprompt.evals.suite import load_suite
from xprompt.types import Completion, Request

pytestmark = pytest.mark.engine

FIXTURES = REPO / "tests" / "fixtures" / "evals"


class Counting:
    """The shared engine, counting the requests each evaluation sends."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.requests: list[Request] = []

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        self.requests.extend(requests)
        return self.inner.generate(requests)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    def close(self) -> None:
        """The session's engine stays open."""


def first_word_tagger(texts: list[str]) -> list[list[dict[str, Any]]]:
    """A stand-in English tagger (``module:function``): the first word of each text is a PER."""
    out = []
    for text in texts:
        words = text.split()
        out.append([{"start": 0, "end": len(words[0]), "label": "PER"}] if words else [])
    return out


def evaluate(
    name: str, langs: str, tmp_path: Path, backend: Any, **changes: Any
) -> tuple[Evaluation, SuiteReport]:
    suite = changes.pop("suite", None) or load_suite(name)
    options = EvalOptions(
        out_dir=str(tmp_path / name),
        data=str(FIXTURES / name),
        languages=langs.split(","),
        engine={"model": "tiny", "backend": "vllm"},
        vars={"mt_model": "tiny"} if suite.vars else {},
        limit=3,
        bootstrap=Bootstrap(200, 12345),
        **{"max_tokens": 8, **changes},
    )
    evaluation = Evaluation(suite, options)
    evaluation.prepare()
    evaluation.run(backend=backend)
    return evaluation, build_report(evaluation)


def check_report(evaluation: Evaluation, report: SuiteReport) -> dict[str, Any]:
    """Every cell done once per row, scores inside their intervals, all formats written."""
    from matplotlib import image
    from rich.console import Console

    for cell in evaluation.cells:
        records = data.read_records(cell.output)
        assert sorted(r["index"] for r in records) == list(range(cell.rows)), cell.key
        result = report.cell(cell.lang, cell.variant.name)
        assert result is not None and result.status == "done"
        assert result.metric.score is not None and 0.0 <= result.metric.score <= 100.0
        assert result.metric.low <= result.metric.score <= result.metric.high
        assert result.cost.timed_rows == cell.rows and result.cost.wall_s > 0
        assert result.signature
    out = evaluation.split_dir
    written = plots.write_plots(report, out)
    (out / "report.md").write_text(
        markdown(report, plots=[str(p) for p in written]), encoding="utf-8"
    )
    (out / "report.json").write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    for path in written:
        pixels = image.imread(str(path))
        assert pixels.ndim == 3 and pixels.shape[0] > 200 and pixels.shape[1] > 300
    console = Console(record=True, width=200)
    for table in rich_tables(report):
        console.print(table)
    text = console.export_text()
    assert all(lang in text for lang in report.languages)
    again = SuiteReport.load(out / "report.json")
    assert again.to_dict() == report.to_dict()
    return {c.variant + "/" + c.lang: c for c in report.cells}


def per_row(cells: dict[str, Any], key: str, measure: str) -> float:
    value = cells[key].cost.per_row(measure)
    assert value is not None
    return value


def test_sib200_suite_end_to_end_resume_and_recommendation(
    vllm_backend: Any, tmp_path: Path
) -> None:
    counting = Counting(vllm_backend)
    evaluation, report = evaluate("sib200", "hau_Latn,yor_Latn", tmp_path, counting, max_tokens=16)
    cells = check_report(evaluation, report)
    assert per_row(cells, "zero-shot.sib200-topic/hau_Latn", "llm_calls") == 1.0
    assert per_row(cells, "clp/hau_Latn", "llm_calls") == 2.0  # two turns
    assert per_row(cells, "translate-test/yor_Latn", "mt_calls") == 1.0
    assert per_row(cells, "few-shot/hau_Latn", "tokens") > per_row(
        cells, "zero-shot.sib200-topic/hau_Latn", "tokens"
    )  # five exemplars cost prompt tokens
    # Constrained decoding: every direct answer is a label (16 tokens hold the longest label).
    for key in ("zero-shot.sib200-topic/hau_Latn", "few-shot/yor_Latn"):
        assert cells[key].no_answer_rate == 0.0
    sent = len(counting.requests)
    assert sent == 2 * 3 * (1 + 1 + 1 + 1 + 2)

    # Resume: drop the last record of one cell; only that row is sent again.
    cell = next(c for c in evaluation.cells if c.key == "yor_Latn/clp")
    lines = cell.output.read_text(encoding="utf-8").splitlines(keepends=True)
    cell.output.write_text("".join(lines[:-1]), encoding="utf-8")
    evaluation.run(backend=counting)
    assert len(counting.requests) == sent + 2  # one row, two turns
    again = build_report(evaluation)
    assert [r["index"] for r in read_jsonl(cell.output)] == [0, 1, 2]
    assert again.cell("hau_Latn", "few-shot").metric == report.cell("hau_Latn", "few-shot").metric

    # Recommendation from the dev split, under a budget, then a real run with it.
    dev, dev_report = evaluate(
        "sib200", "hau_Latn,yor_Latn", tmp_path, counting, split="dev", max_tokens=16
    )
    rec, serve = recommend.write(dev_report, dev.split_dir, recommend.Budget.parse("llm_calls=1"))
    document = recommend.recommend(dev_report, recommend.Budget.parse("llm_calls=1"))
    assert serve.read_text(encoding="utf-8").startswith("# xprompt serve --config serve.yaml")
    for entry in document["languages"].values():
        assert entry["variant"] != "clp" and entry["cost_per_row"]["llm_calls"] <= 1
    from xprompt import runner
    from xprompt.config import load_run_config

    input_file = evaluation.data_file(evaluation.split, "hau_Latn")
    overrides = recommend.apply_recommendation(
        rec,
        "hau_Latn",
        {
            "data": {"input": str(input_file), "target_field": "label"},
            "output": str(tmp_path / "recommended.jsonl"),
            "engine": {"model": "tiny"},
        },
    )
    prepared = runner.prepare(load_run_config(None, overrides))
    summary = runner.execute(prepared, backend=vllm_backend)
    chosen = document["languages"]["hau_Latn"]["run"]
    assert prepared.config.strategy == chosen["strategy"]
    assert summary.total.rows == 3 and summary.total.calls >= 3


def test_mgsm_suite_end_to_end(vllm_backend: Any, tmp_path: Path) -> None:
    counting = Counting(vllm_backend)
    evaluation, report = evaluate("mgsm", "swh_Latn,fra_Latn", tmp_path, counting)
    cells = check_report(evaluation, report)
    assert per_row(cells, "native-cot/swh_Latn", "llm_calls") == 1.0
    assert per_row(cells, "clp/swh_Latn", "llm_calls") == 2.0
    assert per_row(cells, "clsp/swh_Latn", "llm_calls") == 14.0  # 7 reasoning languages x 2 turns
    assert per_row(cells, "self-consistency/fra_Latn", "llm_calls") == 1.0  # one request, n=7
    assert per_row(cells, "translate-test/fra_Latn", "mt_calls") == 1.0
    samples = [r for r in counting.requests if r.sampling.n == 7]
    assert len(samples) == 2 * 3
    # Reasoning texts are checked against the language they were asked to be in.
    assert cells["native-cot/swh_Latn"].checked == 3
    assert cells["clsp/swh_Latn"].off_target_rate is not None
    assert "| average |" in markdown(report)


def test_flores200_suite_end_to_end(vllm_backend: Any, tmp_path: Path) -> None:
    from sacrebleu.metrics import CHRF

    evaluation, report = evaluate(
        "flores200", "hau_Latn,yor_Latn", tmp_path, Counting(vllm_backend)
    )
    cells = check_report(evaluation, report)
    for variant in ("zero-shot", "supervised", "self-translate", "ldp"):
        assert per_row(cells, f"{variant}/hau_Latn", "llm_calls") == 1.0
        assert per_row(cells, f"{variant}/hau_Latn", "tokens") > 0
    # Self-translate's prompt is counted too (its translations are not served from a cache).
    assert cells["self-translate/hau_Latn"].cost.prompt_tokens > 0
    # More exemplars, longer prompts: zero-shot < self-translate (4) < supervised/LDP (8).
    assert per_row(cells, "zero-shot/yor_Latn", "tokens") < per_row(
        cells, "self-translate/yor_Latn", "tokens"
    )
    assert per_row(cells, "self-translate/yor_Latn", "tokens") < per_row(
        cells, "ldp/yor_Latn", "tokens"
    )
    # The chrF++ of a cell is sacrebleu's over its outputs and the English references.
    cell = next(c for c in evaluation.cells if c.key == "hau_Latn/ldp")
    records = data.read_records(cell.output)
    expected = CHRF(word_order=2).corpus_score(
        [r["prediction"] or "" for r in records], [[r["target"] for r in records]]
    )
    assert cells["ldp/hau_Latn"].metric.score == pytest.approx(expected.score)
    assert cells["ldp/hau_Latn"].metric.signature.startswith("nrefs:1|case:mixed|eff:yes|nc:6|nw:2")
    assert set(report.to_dict()["group_averages"]) == {"African", "Indic"}


def test_masakhaner_suite_end_to_end_with_the_llm_tagger_and_a_function_tagger(
    vllm_backend: Any, tmp_path: Path
) -> None:
    evaluation, report = evaluate(
        "masakhaner", "hau_Latn,yor_Latn", tmp_path, Counting(vllm_backend)
    )
    cells = check_report(evaluation, report)
    for variant in ("markers", "codec"):
        # The English side (one MT call and one tagger call per sentence) is in both costs.
        assert per_row(cells, f"{variant}/hau_Latn", "llm_calls") == 1.0
        assert per_row(cells, f"{variant}/hau_Latn", "mt_calls") >= 1.0
    english = sorted((evaluation.split_dir / "english").glob("*.jsonl"))
    assert len(english) == 2  # one per language, shared by both methods

    # With a tagger that always finds an entity, both methods project spans onto the originals.
    suite = load_suite("masakhaner").model_copy(
        update={"tagger": "test_eval_engine:first_word_tagger"}
    )
    tagged, tagged_report = evaluate(
        "masakhaner", "hau_Latn", tmp_path / "fn", vllm_backend, suite=suite
    )
    check_report(tagged, tagged_report)
    for cell in tagged.cells:
        records = data.read_records(cell.output)
        assert all(r["original"] for r in records)
        assert any(r["spans"] for r in records) or any(r["status"] != "projected" for r in records)
        result = tagged_report.cell(cell.lang, cell.variant.name)
        assert result is not None and result.cost.mt_calls > result.rows  # projection calls
