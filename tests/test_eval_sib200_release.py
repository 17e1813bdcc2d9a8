"""``xprompt eval sib200 --data DIR --split dev`` on the SIB-200 release layout, on the real engine.

The release (``../shared/data/sib200``: ``README.md``, ``data/annotated/<lang>/{train,dev}.tsv``
with ``index_id``, ``category``, ``text``; quotes are part of the sentences, and there is no
test split) is copied in miniature into a temporary directory: the first rows of the real
files when the release is beside the clone, else rows written here in the same format.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from xprompt import data
from xprompt.evals.datasets import SIB200_LABELS
from xprompt.evals.scoring import Bootstrap
from xprompt.evals.session import EvalOptions, Evaluation
from xprompt.evals.suite import load_suite

pytestmark = pytest.mark.engine

LANGS = ("hau_Latn", "amh_Ethi")
RELEASE = Path(
    os.environ.get(
        "XPROMPT_SIB200", Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sib200"
    )
)
WRITTEN = {
    "hau_Latn": 'Ƙungiyar ta ci wasan "ƙarshe" a ranar Asabar',
    "amh_Ethi": "ቡድኑ የመጨረሻውን ጨዋታ አሸነፈ",
}


def release_copy(root: Path, rows_per_split: dict[str, int]) -> str:
    """A miniature of the release: real first rows when it is there, else written ones."""
    root.mkdir(parents=True)
    (root / "README.md").write_text("# SIB-200 (miniature copy for a test)\n", encoding="utf-8")
    for lang in LANGS:
        where = root / "data" / "annotated" / lang
        where.mkdir(parents=True)
        for split, n in rows_per_split.items():
            real = RELEASE / "data" / "annotated" / lang / f"{split}.tsv"
            if real.is_file():
                lines = real.read_text(encoding="utf-8").splitlines()[: n + 1]
            else:
                lines = ["index_id\tcategory\ttext"] + [
                    f"{100 + k}\t{SIB200_LABELS[k % 7]}\t{WRITTEN[lang]} {k}" for k in range(n)
                ]
            (where / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return "real" if (RELEASE / "data" / "annotated").is_dir() else "written"


def test_sib200_dev_split_on_the_release_layout(vllm_backend: Any, tmp_path: Path) -> None:
    # train: enough rows for 5 label-balanced exemplars; dev: 2 rows per language.
    source = release_copy(tmp_path / "sib200", {"train": 40, "dev": 2})
    options = EvalOptions(
        split="dev",
        out_dir=str(tmp_path / "out"),
        data=str(tmp_path / "sib200"),
        languages=list(LANGS),
        variants=["zero-shot", "few-shot"],
        engine={"model": "tiny", "backend": "vllm"},
        limit=2,
        max_tokens=4,
        bootstrap=Bootstrap(100, 1),
    )
    evaluation = Evaluation(load_suite("sib200"), options)
    evaluation.prepare()
    evaluation.run(backend=vllm_backend)
    assert {c.lang for c in evaluation.cells} == set(LANGS), source
    for cell in evaluation.cells:
        records = data.read_records(cell.output)
        assert sorted(r["index"] for r in records) == [0, 1], cell.key
        assert all(r["error"] is None for r in records), cell.key
        assert all(r["target"] in SIB200_LABELS for r in records)
        if cell.variant.name == "few-shot":
            assert all(len(r["details"]["exemplar_ids"]) == 5 for r in records)
