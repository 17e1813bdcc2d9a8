"""MT metrics through sacrebleu's own objects, beside the off-target and copy-of-source rates."""

from __future__ import annotations

from pathlib import Path

import pytest
from sacrebleu.metrics import BLEU, CHRF

from xprompt.errors import ConfigError
from xprompt.mt.metrics import MTRow, corpus_scores, grouped_report, is_copy, report

HYPS = [
    "The government announced a new health plan today.",
    "Scientists built a solar panel that works better.",
    "The team won the match on Sunday evening.",
]
REFS = [
    "The government announced a new health plan for the region today.",
    "Scientists have developed a new solar panel that converts more sunlight.",
    "The national team won the final match on Sunday.",
]


def test_scores_and_signatures_are_sacrebleus_own() -> None:
    scores = {m.name: m for m in corpus_scores(HYPS, REFS)}
    assert list(scores) == ["BLEU", "chrF", "chrF++"]
    chrfpp = CHRF(word_order=2)
    assert scores["chrF++"].score == chrfpp.corpus_score(HYPS, [REFS]).score
    assert scores["chrF++"].signature == chrfpp.get_signature().format(short=True)
    assert "nw:2" in scores["chrF++"].signature and "nw:0" in scores["chrF"].signature
    chrf = CHRF()
    assert scores["chrF"].score == chrf.corpus_score(HYPS, [REFS]).score
    bleu = BLEU()
    assert scores["BLEU"].score == bleu.corpus_score(HYPS, [REFS]).score
    assert scores["BLEU"].signature == bleu.get_signature().format(short=True)
    assert scores["chrF"].score != scores["chrF++"].score, "plain chrF is labelled chrF, not chrF++"


def test_bootstrap_gives_ci_and_says_so_in_the_signature() -> None:
    first = {m.name: m for m in corpus_scores(HYPS * 4, REFS * 4, bootstrap=200)}
    again = {m.name: m for m in corpus_scores(HYPS * 4, REFS * 4, bootstrap=200)}
    for name, metric in first.items():
        assert metric.ci is not None and metric.ci > 0 and metric.mean is not None
        assert "bs:200" in metric.signature and "rs:12345" in metric.signature
        assert metric.ci == again[name].ci, "seeded resampling is reproducible"
    assert corpus_scores(HYPS, REFS)[0].ci is None


def train_spm(tmp_path: Path) -> Path:
    import sentencepiece

    from xprompt.testing.tiny_models import CORPUS

    text = tmp_path / "corpus.txt"
    text.write_text("\n".join(CORPUS * 3 + HYPS + REFS), encoding="utf-8")
    prefix = tmp_path / "flores-like"
    sentencepiece.SentencePieceTrainer.train(
        input=str(text), model_prefix=str(prefix), vocab_size=500, character_coverage=1.0,
        minloglevel=2,
    )  # fmt: skip
    return Path(f"{prefix}.model")


def test_spbleu_uses_a_local_sentencepiece_model(tmp_path: Path) -> None:
    import sentencepiece

    model = train_spm(tmp_path)
    scores = {m.name: m for m in corpus_scores(HYPS, REFS, spm_model=str(model))}
    processor = sentencepiece.SentencePieceProcessor(model_file=str(model))
    pieces = lambda t: " ".join(processor.encode(t, out_type=str))  # noqa: E731
    expected = BLEU(tokenize="none").corpus_score(
        [pieces(h) for h in HYPS], [[pieces(r) for r in REFS]]
    )
    assert scores["spBLEU"].score == pytest.approx(expected.score)
    assert "tok:spm[flores-like.model@" in scores["spBLEU"].signature
    with pytest.raises(ConfigError, match="SentencePiece model not found"):
        corpus_scores(HYPS, REFS, spm_model=str(tmp_path / "missing.model"))


def test_report_counts_off_target_copies_and_errors_beside_metrics() -> None:
    rows = [
        MTRow(
            "Gwamnati ta sanar da sabon shirin kiwon lafiya.",
            HYPS[0],
            "eng_Latn",
            "hau_Latn",
            REFS[0],
        ),
        MTRow(
            "Masana kimiyya sun kera sabon faifan hasken rana.",
            "Masana kimiyya sun kera sabon faifan hasken rana.",  # an untranslated copy
            "eng_Latn",
            "hau_Latn",
            REFS[1],
        ),
        MTRow(
            "Ƙungiyar ta ci wasan ranar Lahadi.", None, "eng_Latn", "hau_Latn", REFS[2]
        ),  # failed
        MTRow(
            "ሰላም",
            "Le gouvernement a annoncé un nouveau plan de santé aujourd'hui.",
            "eng_Latn",
            "amh_Ethi",
        ),
    ]
    result = report(rows)
    assert (result.rows, result.errors, result.scored) == (4, 1, 3)
    assert result.copies == 1 and result.copy_rate == pytest.approx(1 / 3)
    assert result.checked == 3 and result.off_target >= 1, "the Hausa copy is not English"
    scored_hyps = [HYPS[0], rows[1].hypothesis, ""]
    assert result.metrics[2].score == CHRF(word_order=2).corpus_score(scored_hyps, [REFS]).score, (
        "a failed row is scored as an empty output, never dropped"
    )
    as_dict = result.to_dict()
    assert as_dict["chrF++"]["signature"].startswith("#:1|") and "off_target_rate" in as_dict
    groups = grouped_report(rows)
    assert list(groups) == ["all", "amh_Ethi-eng_Latn", "hau_Latn-eng_Latn"]
    assert groups["amh_Ethi-eng_Latn"].metrics == [] and groups["amh_Ethi-eng_Latn"].checked == 1


def test_copy_detection() -> None:
    assert is_copy("Sannu da zuwa.", "sannu  da zuwa.")
    assert is_copy("Sannu da zuwa Kano.", "Sannu da zuwa Kano!")
    assert not is_copy("Welcome to Kano.", "Sannu da zuwa Kano.")
    assert not is_copy("", "Sannu")
