"""Suites as data: loading, expansion into cells, bad suites; the report, the recommendation and the CLI
surface without an engine (strategy logic answered by the scripted backend)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from helpers import REPO

from xprompt.cli import main
from xprompt.errors import ConfigError
from xprompt.evals import recommend
from xprompt.evals.measure import Cost
from xprompt.evals.report import CellResult, SuiteReport, markdown
from xprompt.evals.scoring import Bootstrap, MetricResult
from xprompt.evals.session import EvalOptions, Evaluation
from xprompt.evals.suite import expand, load_suite
from xprompt.testing.scripted import ScriptedBackend

FIXTURES = REPO / "tests" / "fixtures" / "evals"
SUITES = ("sib200", "mgsm", "flores200", "masakhaner")
LANGS = {
    "sib200": "hau_Latn,yor_Latn",
    "mgsm": "swh_Latn,fra_Latn",
    "flores200": "hau_Latn,yor_Latn",
    "masakhaner": "hau_Latn,yor_Latn",
}


def tiny_options(suite: str, out: Path, **changes) -> EvalOptions:  # type: ignore[no-untyped-def]
    values = {
        "out_dir": str(out),
        "data": str(FIXTURES / suite),
        "languages": LANGS[suite].split(","),
        "engine": {"model": "tiny", "backend": "vllm"},
        "vars": {"mt_model": "tiny"} if suite != "flores200" else {},
        "max_tokens": 8,
        "limit": 3,
        "bootstrap": Bootstrap(200, 12345),
    }
    values.update(changes)
    return EvalOptions(**values)


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("name", SUITES)
def test_every_shipped_suite_expands_into_valid_cells_without_an_engine(
    name: str, tmp_path: Path
) -> None:
    suite = load_suite(name)
    evaluation = Evaluation(suite, tiny_options(name, tmp_path))
    cells = evaluation.prepare()
    variants = [v.name for v in expand(suite)]
    assert [c.key for c in cells] == [
        f"{lang}/{v}" for lang in LANGS[name].split(",") for v in variants
    ]
    assert all(c.rows == 3 for c in cells)
    assert len({c.output for c in cells}) == len(cells)  # one output per cell: resumed per cell
    for cell in cells:
        assert cell.signature  # every cell is signed before it runs
    assert (REPO / "evals" / name / "README.md").is_file()


def test_published_variants_are_present() -> None:
    names = {s: [v.name for v in expand(load_suite(s))] for s in SUITES}
    assert names["sib200"] == [
        "zero-shot.sib200-topic",
        "zero-shot.sib200-topic-native",
        "few-shot",
        "translate-test",
        "clp",
    ]
    assert names["mgsm"] == [
        "native-cot",
        "english-cot",
        "translate-test",
        "clp",
        "clsp",
        "self-consistency",
    ]
    assert names["flores200"] == ["zero-shot", "supervised", "self-translate", "ldp"]
    assert names["masakhaner"] == ["markers", "codec"]


def write_suite(tmp_path: Path, **changes) -> Path:  # type: ignore[no-untyped-def]
    document = yaml.safe_load(
        (REPO / "evals" / "sib200" / "suite.yaml").read_text(encoding="utf-8")
    )
    document.update(changes)
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"dataset": "xnli"}, "unknown dataset 'xnli'"),
        ({"languages": ["hau_Latn", "klingon"]}, "languages: "),
        ({"splits": {"dev": "dev"}}, "splits needs 'eval'"),
        ({"splits": {"eval": "test"}}, "add splits.pool"),
        (
            {"variants": [{"name": "a", "strategy": "direct", "template": "sib200-topic"}] * 2},
            "a named more than once",
        ),
        ({"variants": [{"name": "a", "strategy": "direct"}]}, "needs strategy and template"),
        (
            {"variants": [{"name": "Bad Name", "strategy": "direct", "template": "x"}]},
            "variant name",
        ),
    ],
)
def test_bad_suites_are_refused_with_the_field_named(tmp_path: Path, changes, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=message):
        load_suite(write_suite(tmp_path, **changes))


def test_bad_cell_settings_name_the_variant_and_language(tmp_path: Path) -> None:
    bad_var = [
        {
            "name": "tt",
            "strategy": "translate-test",
            "template": "sib200-topic",
            "options": {"mt_model": "{nllb}"},
        }
    ]
    with pytest.raises(ConfigError, match=r"variant tt: '\{nllb\}' is not a suite var"):
        Evaluation(
            load_suite(write_suite(tmp_path, variants=bad_var)), tiny_options("sib200", tmp_path)
        ).prepare()
    bad_option = [
        {
            "name": "clp",
            "strategy": "clp",
            "template": "sib200-clp-solve",
            "options": {"reasoning_lang": "xx-nope"},
        }
    ]
    with pytest.raises(ConfigError, match=r"(?s)variant clp \(hau_Latn\): .*reasoning_lang"):
        Evaluation(
            load_suite(write_suite(tmp_path, variants=bad_option)), tiny_options("sib200", tmp_path)
        ).prepare()
    with pytest.raises(ConfigError, match="not vars of suite"):
        Evaluation(load_suite("sib200"), tiny_options("sib200", tmp_path, vars={"nope": "1"}))
    with pytest.raises(ConfigError, match="ibo_Latn is not in suite mgsm"):
        Evaluation(load_suite("mgsm"), tiny_options("mgsm", tmp_path, languages=["ibo_Latn"]))
    with pytest.raises(ConfigError, match="unknown suite 'nope'"):
        load_suite("nope")


# -- report and recommendation from known cells ------------------------------------------------


def cell(
    lang: str, variant: str, score: float, tokens: int, low: float | None = None
) -> CellResult:
    return CellResult(
        lang=lang,
        variant=variant,
        label=variant,
        kind="run",
        status="done",
        rows=10,
        metric=MetricResult(
            "accuracy", score, 10, low if low is not None else score - 5, score + 5, "sig"
        ),
        cost=Cost(rows=10, llm_calls=10, prompt_tokens=tokens * 10, wall_s=1.0, timed_rows=10),
        settings={
            "strategy": "translate-test" if variant == "tt" else "direct",
            "template": "sib200-topic",
            "options": {"mt_model": "tiny"} if variant == "tt" else {},
            "exemplars": {},
            "sampling": {"max_tokens": 8},
        },
    )


def known_report() -> SuiteReport:
    return SuiteReport(
        suite="sib200",
        dataset="sib200",
        split="dev",
        metric="accuracy",
        signature="suite:sib200",
        languages=["hau_Latn", "yor_Latn"],
        variants=[{"name": "zero", "label": "direct"}, {"name": "tt", "label": "translate-test"}],
        cells=[
            cell("hau_Latn", "zero", 50.0, 100),
            cell("hau_Latn", "tt", 70.0, 300, low=60.0),
            cell("yor_Latn", "zero", 65.0, 100),
            cell("yor_Latn", "tt", 65.0, 300),
        ],
        bootstrap=Bootstrap(1000, 12345),
    )


def test_recommendation_picks_the_best_within_budget(tmp_path: Path) -> None:
    report = known_report()
    document = recommend.recommend(report)
    hau, yor = document["languages"]["hau_Latn"], document["languages"]["yor_Latn"]
    assert hau["variant"] == "tt" and hau["clearly_better"] is True  # 60 > 50
    assert yor["variant"] == "zero"  # a tie goes to the cheaper variant
    assert document["serve"]["policy"]["weak_langs"] == ["hau_Latn"]
    budgeted = recommend.recommend(report, recommend.Budget.parse("tokens=200"))
    assert budgeted["languages"]["hau_Latn"]["variant"] == "zero"
    assert budgeted["languages"]["hau_Latn"]["over_budget"] == {"tt": "tokens/row 300 > 200"}
    nothing = recommend.recommend(report, recommend.Budget.parse("tokens=10"))
    assert nothing["languages"]["hau_Latn"]["variant"] is None
    assert "no variant within the budget" in nothing["languages"]["hau_Latn"]["reason"]
    with pytest.raises(ConfigError, match="not MEASURE=NUMBER"):
        recommend.Budget.parse("dollars=3")


def test_recommendation_files_feed_run_and_serve(tmp_path: Path) -> None:
    from serving.config import load_serve_config
    from xprompt.config import load_run_config

    rec, serve = recommend.write(known_report(), tmp_path)
    settings = load_serve_config(serve, {})
    assert settings.policy.weak_langs == ["hau_Latn"] and settings.policy.pivot == "always"
    assert settings.policy.translator == "tiny"
    overrides = recommend.apply_recommendation(
        rec, "hau", {"data": {"input": "x.jsonl", "lang": "hau"}, "output": "o.jsonl"}
    )
    config = load_run_config(None, overrides)
    assert config.strategy == "translate-test" and config.options == {"mt_model": "tiny"}
    assert config.sampling.max_tokens == 8
    with pytest.raises(ConfigError, match="pass --lang CODE"):
        recommend.run_settings(rec, None)
    with pytest.raises(ConfigError, match="no recommendation for ibo_Latn"):
        recommend.run_settings(rec, "ibo")
    with pytest.raises(ConfigError, match="not an xprompt recommendation"):
        recommend.run_settings(serve, "hau")


def test_report_round_trips_and_renders(tmp_path: Path) -> None:
    report = known_report()
    again = SuiteReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again.to_dict() == report.to_dict()
    text = markdown(report, plots=["scores.png"])
    assert "| hau_Latn | 50.0 | **70.0** |" in text
    assert "| average | 57.5 | 67.5 |" in text
    assert (
        "| hau_Latn | tt | 70.0 [60.0, 75.0] | - | - | 0 | 1.00 | 300 | 0.00 | 0.100 | done |"
        in text
    )
    assert "![scores](scores.png)" in text


# -- the CLI without an engine: errors, and --report-only over outputs run by a scripted backend --


def test_eval_cli_errors_are_one_clear_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli(["eval", "nope"], capsys)
    assert code == 2 and "unknown suite 'nope'" in err
    code, _, err = run_cli(["eval", "sib200", "--data", str(tmp_path / "none")], capsys)
    assert code == 2 and "data directory not found" in err
    code, _, err = run_cli(
        ["eval", "sib200", "--data", str(FIXTURES / "sib200"), "--budget", "x=1"], capsys
    )
    assert code == 2 and "--budget" in err
    code, _, err = run_cli(
        [
            "eval",
            "mgsm",
            "--data",
            str(FIXTURES / "mgsm"),
            "--split",
            "dev[:2]",
            "--languages",
            "sw",
        ],
        capsys,
    )
    assert code == 2 and "one split, 'test'" in err


def test_report_only_scores_saved_outputs_in_every_format(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from matplotlib import image

    # Logic run: the scripted backend answers every prompt the same way.
    evaluation = Evaluation(
        load_suite("sib200"), tiny_options("sib200", tmp_path, variants=["zero-shot", "clp"])
    )
    evaluation.prepare()
    evaluation.run(backend=ScriptedBackend(lambda r: "Answer: sports"))
    code, out, err = run_cli(
        [
            "eval",
            "sib200",
            "--data",
            str(FIXTURES / "sib200"),
            "--out",
            str(tmp_path),
            "--languages",
            "hau_Latn,yor_Latn",
            "--variants",
            "zero-shot,clp",
            "-m",
            "tiny",
            "--set",
            "mt_model=tiny",
            "--max-tokens",
            "8",
            "--limit",
            "3",
            "--report-only",
            "--bootstrap",
            "200",
            "--recommend",
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    report = json.loads(out)
    assert [c["status"] for c in report["cells"]] == ["done"] * 6
    # Test rows 201-203 are science/technology, entertainment, geography: "sports" is never right.
    assert all(c["metric"]["score"] == 0.0 for c in report["cells"])
    split_dir = tmp_path / "test"
    for name in (
        "report.json",
        "report.md",
        "scores.png",
        "score_vs_cost.png",
        "recommendation.yaml",
        "serve.yaml",
    ):
        assert (split_dir / name).is_file(), name
    assert image.imread(str(split_dir / "scores.png")).shape[2] in (3, 4)
    # Other settings than the saved outputs': refused, naming the cell, instead of a mixed report.
    code, _, err = run_cli(
        ["eval", "sib200", "--data", str(FIXTURES / "sib200"), "--out", str(tmp_path),
         "--languages", "hau_Latn", "--variants", "zero-shot", "-m", "tiny", "--max-tokens", "9",
         "--limit", "3", "--report-only"],
        capsys,
    )  # fmt: skip
    assert code == 2 and "cell hau_Latn/zero-shot.sib200-topic:" in err and "different run" in err


def test_an_evaluation_reads_the_hugging_face_copy(tmp_path: Path) -> None:
    datasets_lib = pytest.importorskip("datasets")
    from xprompt.evals.datasets import SplitSpec, load_local

    for lang in ("hau_Latn", "yor_Latn"):
        splits = {}
        for split in ("train", "dev", "test"):
            local = load_local("sib200", FIXTURES / "sib200", lang, SplitSpec(split))
            rows = [
                {"index_id": int(r["id"]), "category": r["label"], "text": r["text"]}
                for r in local.rows
            ]
            splits["validation" if split == "dev" else split] = datasets_lib.Dataset.from_list(rows)
        datasets_lib.DatasetDict(splits).save_to_disk(str(tmp_path / "hf" / f"sib-{lang}"))
    options = tiny_options(
        "sib200", tmp_path / "out", data=None, hf=str(tmp_path / "hf" / "sib-{config}")
    )
    from_hf = Evaluation(load_suite("sib200"), options)
    from_hf.prepare()
    local = Evaluation(load_suite("sib200"), tiny_options("sib200", tmp_path / "local"))
    local.prepare()
    for lang in ("hau_Latn", "yor_Latn"):
        hf_rows = [
            json.loads(x) for x in from_hf.data_file(from_hf.split, lang).read_text().splitlines()
        ]
        local_rows = [
            json.loads(x) for x in local.data_file(local.split, lang).read_text().splitlines()
        ]
        assert [(r["id"], r["text"], r["label"]) for r in hf_rows] == [
            (r["id"], r["text"], r["label"]) for r in local_rows
        ]
        assert from_hf.sources[lang].startswith("hf:")


def test_run_with_a_recommendation_needs_the_language(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    rec, _ = recommend.write(known_report(), tmp_path)
    args = ["run", "--recommendation", str(rec), "-i", "x.jsonl", "-o", str(tmp_path / "o.jsonl")]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "pass --lang CODE (the file has: hau_Latn, yor_Latn)" in err
    code, _, err = run_cli([*args, "--lang", "ibo"], capsys)
    assert code == 2 and "no recommendation for ibo_Latn" in err


def test_pool_rows_left_out_are_reported(tmp_path: Path) -> None:
    import shutil

    data = tmp_path / "sib200"
    shutil.copytree(FIXTURES / "sib200", data)
    train = data / "data" / "annotated" / "hau_Latn" / "train.tsv"
    train.write_text(train.read_text(encoding="utf-8") + "99\thealth\n", encoding="utf-8")
    options = tiny_options("sib200", tmp_path / "out", data=str(data), variants=["few-shot"])
    evaluation = Evaluation(load_suite("sib200"), options)
    evaluation.prepare()
    assert evaluation.problems["hau_Latn"] == [
        "exemplar pool (train): train.tsv line 9: 2 columns, the header has 3 (index_id, category, text)",
        "exemplar pool (train): train.tsv line 9: left out (no text)",
    ]
    assert evaluation.problems["yor_Latn"] == []
