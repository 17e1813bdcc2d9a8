"""``xprompt score --format clp-authors | lm-eval``: others' recorded outputs, re-extracted and re-voted.

``fixtures/clp_authors/`` is in the CLP authors' published layout
(``mgsm/output/clp/<lang>.jsonl``, ``mgsm/output/clsp/<src>/<tgt>.jsonl``; every
row's ``id`` is 0, as their per-worker batch numbers are, so the line is the
item); the expected results are worked out by hand in the comments.
``fixtures/lm_eval/`` holds sample logs written by lm-eval itself (see its README).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import read_jsonl, write_jsonl

from xprompt import answers, importers
from xprompt.cli import main
from xprompt.rescore import ScoreSettings, score_file

FIXTURES = Path(__file__).parent / "fixtures"
AUTHORS = FIXTURES / "clp_authors" / "mgsm" / "output"
LM_EVAL = FIXTURES / "lm_eval"


def score(capsys, *args: str) -> dict:
    with pytest.raises(SystemExit) as exit_:
        main(["score", *args, "--json"])
    assert exit_.value.code in (0, None), capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def by_id(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in read_jsonl(path)}


# CLSP, source sw, paths en de es fr ja ru zh (the paper's order, also the tie order):
#   item 1 (gold 18): 18 18 17 17 18 - 17 -> 18:3 / 17:3, tie -> en's 18: right
#   item 2 (gold 3): no digits on any path -> the authors predict 0: wrong
#   item 3 (gold 70000): 70000 7 7 70000 7 70000 7 -> 7: wrong
def test_clsp_directory_votes_the_same_line_of_the_seven_files(capsys, tmp_path: Path) -> None:
    out = tmp_path / "clsp.jsonl"
    summary = score(capsys, "--format", "clp-authors", str(AUTHORS / "clsp"), "-o", str(out))
    assert summary["by_lang"]["swh_Latn"]["accuracy"] == pytest.approx(1 / 3)
    assert summary["signature"].startswith("score(clp-authors)|parser:mgsm-paper|")
    records = by_id(out)
    assert list(records) == ["sw:0", "sw:1", "sw:2"]
    first = records["sw:0"]
    assert [p["path"] for p in first["details"]["paths"]] == [
        "eng_Latn", "deu_Latn", "spa_Latn", "fra_Latn", "jpn_Jpan", "rus_Cyrl", "zho_Hans"
    ]  # fmt: skip
    assert [p["answer"] for p in first["details"]["paths"]] == [
        "18",
        "18",
        "17",
        "17",
        "18",
        None,
        "17",
    ]
    assert (first["prediction"], first["correct"], first["details"]["vote"]["tie"]) == (
        "18",
        True,
        True,
    )
    assert (records["sw:1"]["prediction"], records["sw:1"]["extraction"]) == ("0", "paper-fallback")
    assert (records["sw:2"]["prediction"], records["sw:2"]["correct"]) == ("7", False)
    # Every path is checked against its reasoning language.
    assert summary["paths_checked"] == 21
    # The robust parser predicts nothing where no path has a number.
    robust, _ = score_file(AUTHORS / "clsp", ScoreSettings(parser="number"), fmt="clp-authors")
    assert robust[1]["prediction"] is None


def authors_rule(paths: list[str], gold: str) -> bool:
    """The authors' CLSP scoring as their paper describes it, written for this test."""
    counts: dict[str, int] = {}
    for text in paths:
        found = re.findall(r"-?\d+\.?\d*", text.split("Answer:")[-1].replace(",", ""))
        if found:
            key = str(float(found[-1]))
            counts[key] = counts.get(key, 0) + 1
    pred = max(counts, key=lambda k: counts[k]) if counts else "0"  # first key wins ties
    return int(float(pred) * 100) == int(float(gold.replace(",", "")) * 100)


def test_clsp_rescoring_matches_the_authors_rule_item_by_item() -> None:
    records, _ = score_file(AUTHORS / "clsp", ScoreSettings(langid=False), fmt="clp-authors")
    files = [read_jsonl(AUTHORS / "clsp" / "sw" / f"{t}.jsonl") for t in ("en", "de", "es", "fr", "ja", "ru", "zh")]  # fmt: skip
    for item, record in enumerate(records):
        texts = [f[item]["message"][-1]["content"] for f in files]
        assert record["correct"] == authors_rule(texts, files[0][item]["origin"]["answer"])


# CLP: sw: 18 (gold 18) right, 4 (gold 3) wrong; bn: 27 right, then a row without
# 'message' (its gold is read: wrong) and a line that is not JSON (no gold: not scored): each
# that item's error, naming file, line and field.
def test_clp_directory_one_item_per_line_bad_lines_are_their_items_errors(capsys, tmp_path) -> None:
    out = tmp_path / "clp.jsonl"
    summary = score(capsys, "--format", "clp-authors", str(AUTHORS / "clp"), "-o", str(out))
    accuracy = {lang: s["accuracy"] for lang, s in summary["by_lang"].items()}
    assert accuracy == {"ben_Beng": 0.5, "swh_Latn": 0.5}
    records = by_id(out)
    assert (
        records["bn:0"]["correct"] is True
        and records["bn:0"]["details"]["paths"][0]["path"] == "eng_Latn"
    )
    assert records["bn:1"]["error"].endswith(
        "clp/bn.jsonl line 2: field 'message' must be a non-empty list of chat turns"
    )
    assert "clp/bn.jsonl line 3: not valid JSON" in records["bn:2"]["error"]
    assert (records["sw:1"]["prediction"], records["sw:1"]["correct"]) == ("4", False)


def test_clp_authors_layout_problems(tmp_path: Path) -> None:
    from xprompt.errors import DataError

    short = tmp_path / "clsp" / "sw"
    short.mkdir(parents=True)
    for tgt in ("en", "de"):
        lines = (AUTHORS / "clsp" / "sw" / f"{tgt}.jsonl").read_text(encoding="utf-8").splitlines()
        (short / f"{tgt}.jsonl").write_text(
            "\n".join(lines[: 3 if tgt == "en" else 2]) + "\n", encoding="utf-8"
        )
    records, _ = score_file(tmp_path / "clsp", ScoreSettings(langid=False), fmt="clp-authors")
    assert [r["error"] is None for r in records] == [True, True, False]
    assert "sw/de.jsonl: has 2 lines, no item 3" in records[2]["error"]
    with pytest.raises(DataError, match=r"no <lang>\.jsonl files"):
        score_file(tmp_path, ScoreSettings(), fmt="clp-authors")


# -- lm-eval --------------------------------------------------------------------------


def samples(task: str) -> Path:
    return next(LM_EVAL.glob(f"samples_{task}_*.jsonl"))


def test_lm_eval_task_and_language_from_the_file_name() -> None:
    assert importers.task_of(samples("tiny_mgsm_sw")) == "tiny_mgsm_sw"
    assert importers.task_lang("mgsm_direct_sw") == "swh_Latn"
    assert importers.task_lang("mgsm_native_cot_bn") == "ben_Beng"
    assert importers.task_lang("flores_hau_Latn") == "hau_Latn"
    assert importers.task_lang("gsm8k") is None


@pytest.mark.parametrize(("task", "repeats"), [("tiny_mgsm_sw", 1), ("tiny_mgsm_maj_sw", 3)])
def test_lm_eval_samples_rescored_with_every_response_checked(
    capsys, tmp_path: Path, task: str, repeats: int
) -> None:
    path = samples(task)
    raw = read_jsonl(path)
    out = tmp_path / "scored.jsonl"
    summary = score(capsys, "--format", "lm-eval", str(path), "-o", str(out))
    assert summary["rows"] == len(raw) == 4 and summary["errors"] == 0
    assert summary["checked_texts"] == 4 * repeats  # the off-target guard saw every response
    records = read_jsonl(out)
    for sample, record in zip(raw, records, strict=True):
        texts = sample["resps"][0]
        assert record["id"] == f"{task}:{sample['doc_id']}" and record["lang"] == "swh_Latn"
        assert record["target"] == sample["target"] == sample["doc"]["answer"]
        assert [s["texts"][0] for s in record["steps"]] == texts
        assert all(s["checks"][0]["expected"] == "swh_Latn" for s in record["steps"])
        expected = [answers.extract_number(t, "swh_Latn").value for t in texts]
        assert [p["answer"] for p in record["details"]["paths"]] == expected
        winner, _ = answers.majority_vote(expected)
        assert record["prediction"] == winner
        assert record["details"]["imported"]["filtered_resps"] == sample["filtered_resps"]
        if repeats > 1:
            assert record["details"]["first_answer"] == expected[0]


def test_lm_eval_language_from_lang_option_or_doc_field(tmp_path: Path) -> None:
    raw = read_jsonl(samples("tiny_mgsm_sw"))
    renamed = write_jsonl(tmp_path / "samples_gsm8k_2024-01-01T00-00-00.000000.jsonl", raw)
    records, _ = score_file(renamed, ScoreSettings(langid=False), fmt="lm-eval")
    assert {r["lang"] for r in records} == {"swh_Latn"}  # doc field 'lang': "sw"
    records, _ = score_file(renamed, ScoreSettings(langid=False), fmt="lm-eval", lang="hau")
    assert {r["lang"] for r in records} == {"hau_Latn"}
    no_lang = [{**r, "doc": {k: v for k, v in r["doc"].items() if k != "lang"}} for r in raw]
    bare = write_jsonl(tmp_path / "samples_gsm8k_2024-01-02T00-00-00.000000.jsonl", no_lang)
    records, _ = score_file(bare, ScoreSettings(langid=False), fmt="lm-eval")
    assert all("no language" in r["error"] and "pass --lang" in r["error"] for r in records)
    loglik = [{**raw[0], "resps": [[[-1.5, False]]]}]
    ll = write_jsonl(tmp_path / "samples_x_sw_2024-01-03T00-00-00.000000.jsonl", loglik)
    records, _ = score_file(ll, ScoreSettings(langid=False), fmt="lm-eval")
    assert "holds no generated text" in records[0]["error"]


def task_yaml(directory: Path, name: str, docs: Path, *, repeats: int, sample: bool) -> Path:
    """A local lm-eval task (``dataset_path: json``, no hub) over ``docs``."""
    decoding = "  do_sample: true\n  temperature: 1.0\n" if sample else "  do_sample: false\n"
    path = directory / f"{name}.yaml"
    path.write_text(
        f"task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {docs}\n"
        "test_split: test\noutput_type: generate_until\n"
        'doc_to_text: "Swali: {{question}}\\nJibu:"\ndoc_to_target: "{{answer}}"\n'
        'generation_kwargs:\n  until: ["\\n\\n"]\n  max_gen_toks: 16\n'
        f"{decoding}repeats: {repeats}\nmetric_list:\n  - metric: exact_match\n"
        "    aggregation: mean\n    higher_is_better: true\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.slow
def test_lm_eval_run_on_the_tiny_model_then_score(
    tiny_llama_dir: Path, tmp_path: Path, capsys
) -> None:
    """lm-eval's own HF backend on the tiny model writes the sample log that xprompt then scores."""
    pytest.importorskip("lm_eval")
    docs = tmp_path / "docs.jsonl"
    docs.write_bytes((LM_EVAL / "docs.jsonl").read_bytes())
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    task_yaml(tasks, "tiny_mgsm_maj_sw", docs, repeats=2, sample=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "lm_eval", "run", "--model", "hf", "--model_args",
         f"pretrained={tiny_llama_dir},dtype=float32", "--tasks", "tiny_mgsm_maj_sw",
         "--include_path", str(tasks), "--limit", "4", "--log_samples", "--output_path",
         str(tmp_path / "out"), "--device", "cpu", "--batch_size", "4", "--seed", "0"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    written = next((tmp_path / "out").rglob("samples_tiny_mgsm_maj_sw_*.jsonl"))
    summary = score(capsys, "--format", "lm-eval", str(written))
    assert summary["rows"] == 4 and summary["errors"] == 0 and summary["checked_texts"] == 8
    assert summary["by_lang"]["swh_Latn"]["rows"] == 4
