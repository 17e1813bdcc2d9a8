"""The seq2seq MT backend on a real (tiny, random) M2M-100-architecture model through transformers.

Outputs are gibberish; these tests check language tokens, batching and
ordering, per-request errors, output limits, sentence splitting and
re-assembly, determinism across batch compositions, and forced decoding.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import EXAMPLES

from xprompt.backends.seq2seq import Seq2SeqTranslator, plan_batches
from xprompt.errors import ConfigError
from xprompt.mt.base import DecodingSettings, TranslationRequest
from xprompt.testing.tiny_models import ensure_tiny_m2m100


def topic_rows(n: int | None = None) -> list[dict]:
    lines = (EXAMPLES / "data" / "topics.test.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    return rows[:n] if n else rows


def requests(rows: list[dict], tgt: str = "eng_Latn") -> list[TranslationRequest]:
    return [TranslationRequest(r["text"], r["lang"], tgt) for r in rows if r["lang"] != tgt]


@pytest.fixture(scope="module")
def translator(tiny_mt_dir: Path) -> Seq2SeqTranslator:
    return Seq2SeqTranslator(str(tiny_mt_dir), decoding=DecodingSettings(max_new_tokens=12))


def test_loads_on_the_right_device_and_detects_nllb_tokens(translator: Seq2SeqTranslator) -> None:
    import torch

    assert translator.device == ("cuda" if torch.cuda.is_available() else "cpu")
    assert translator.family == "nllb"
    vocab = translator.tokenizer.get_vocab()
    assert translator.lang_id("hau") == vocab["hau_Latn"]
    assert translator.lang_id("sat_Olck") == vocab["sat_Beng"]
    ids = translator.tokenize(["Sannu"])[0]
    assert translator.source_ids(ids, "hau_Latn", "eng_Latn") == [
        vocab["hau_Latn"],
        *ids,
        translator.eos_id,
    ]
    assert translator.decoder_prefix("yor_Latn") == [translator.start_id, vocab["yor_Latn"]]
    described = translator.describe()
    assert described["engine"] == "transformers" and described["family"] == "nllb"
    assert translator.signature().startswith("seq2seq:tiny-nllb-v1@")


def test_m2m100_style_model_uses_its_own_codes() -> None:
    m2m = Seq2SeqTranslator(
        str(ensure_tiny_m2m100(style="m2m100")), decoding=DecodingSettings(max_new_tokens=6)
    )
    vocab = m2m.tokenizer.get_vocab()
    assert m2m.family == "m2m100"
    assert m2m.lang_id("hau_Latn") == vocab["__ha__"] and m2m.lang_id("nob_Latn") == vocab["__no__"]
    out = m2m.translate([TranslationRequest("Sannu da zuwa.", "hau_Latn", "eng_Latn"),
                         TranslationRequest("Sannu da zuwa.", "tha_Thai", "quy_Latn")])  # fmt: skip
    assert out[0].ok and out[0].tokens >= 1
    assert not out[1].ok and "no language token for quy_Latn (looked for __qu__)" in out[1].error


def test_every_request_gets_one_result_in_order_and_errors_stay_per_request(translator) -> None:
    batch = requests(topic_rows(60))
    batch.insert(
        5, TranslationRequest("Marhaban", "arb_Latn", "eng_Latn")
    )  # NLLB has no arb_Latn token
    batch.insert(9, TranslationRequest("   ", "hau_Latn", "eng_Latn"))
    out = translator.translate(batch)
    assert len(out) == len(batch)
    assert [t.source for t in out] == [r.text for r in batch]
    assert [(t.src, t.tgt) for t in out] == [(r.src, r.tgt) for r in batch]
    assert "no language token for arb_Latn" in out[5].error and out[5].text is None
    assert out[9].error == "source text is empty"
    good = [t for i, t in enumerate(out) if i not in (5, 9)]
    assert all(t.ok and t.logprob < 0 and 1 <= t.tokens <= 12 for t in good)


def test_translation_does_not_depend_on_batch_composition_or_order(tiny_mt_dir: Path) -> None:
    batch = requests(topic_rows(200))[::3]
    settings = DecodingSettings(max_new_tokens=10)
    sorted_run = Seq2SeqTranslator(str(tiny_mt_dir), decoding=settings).translate(batch)
    naive = Seq2SeqTranslator(
        str(tiny_mt_dir), decoding=settings, sort_by_length=False, max_batch_size=7
    )
    naive_run = naive.translate(batch)
    reversed_run = naive.translate(batch[::-1])[::-1]
    one_by_one = [naive.translate([r])[0] for r in batch[:10]]
    assert (
        [t.text for t in sorted_run]
        == [t.text for t in naive_run]
        == [t.text for t in reversed_run]
    )
    assert [t.text for t in one_by_one] == [t.text for t in sorted_run[:10]]
    for a, b in zip(sorted_run, naive_run, strict=True):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-3)


def test_plan_batches_sorts_by_length_under_a_token_budget() -> None:
    costs = [5, 50, 7, 48, 6, 52, 49, 8]
    batches = plan_batches(costs, batch_tokens=160, max_batch_size=4, sort=True)
    assert sorted(i for b in batches for i in b) == list(range(8)), "every item exactly once"
    assert batches == [[5, 1, 6], [3, 7, 2], [4, 0]], "longest first; the widest item sets the cost"
    for batch in batches:
        assert len(batch) * max(costs[i] for i in batch) <= 160 and len(batch) <= 4
    assert plan_batches(costs, batch_tokens=160, max_batch_size=3, sort=False) == [
        [0, 1, 2],
        [3, 4, 5],
        [6, 7],
    ]
    assert plan_batches([500], batch_tokens=10, max_batch_size=4, sort=True) == [[0]], (
        "an oversized item runs alone"
    )


def test_length_sorted_batching_spends_less_on_padding(tiny_mt_dir: Path) -> None:
    batch = requests(topic_rows())
    settings = DecodingSettings(max_new_tokens=4)
    fast = Seq2SeqTranslator(str(tiny_mt_dir), decoding=settings, max_batch_size=32)
    slow = Seq2SeqTranslator(
        str(tiny_mt_dir), decoding=settings, max_batch_size=32, sort_by_length=False
    )
    assert [t.text for t in fast.translate(batch)] == [t.text for t in slow.translate(batch)]
    assert fast.stats.pieces == slow.stats.pieces == len(batch)
    waste = lambda s: s.padded_source_tokens / s.source_tokens  # noqa: E731
    assert waste(fast.stats) < waste(slow.stats)
    assert waste(fast.stats) < 1.1, "length-sorted batches are nearly padding-free"


def test_each_piece_gets_its_own_output_limit(tiny_mt_dir: Path) -> None:
    settings = DecodingSettings(max_new_tokens=40, length_ratio=1.0, length_extra=2)
    translator = Seq2SeqTranslator(str(tiny_mt_dir), decoding=settings)
    short, long = (
        "Sannu",
        "Gwamnati ta sanar da sabon shirin kiwon lafiya a jihar Kano ranar Talata.",
    )
    out = translator.translate(
        [TranslationRequest(t, "hau_Latn", "eng_Latn") for t in (short, long)]
    )
    for text, result in zip((short, long), out, strict=True):
        source_tokens = len(translator.tokenize([text])[0])
        assert result.tokens <= settings.output_limit(source_tokens)
    assert settings.output_limit(1000) == 40, "the hard cap wins"


def test_identical_pieces_are_translated_once(tiny_mt_dir: Path) -> None:
    translator = Seq2SeqTranslator(str(tiny_mt_dir), decoding=DecodingSettings(max_new_tokens=5))
    batch = [TranslationRequest("Sannu da zuwa.", "hau_Latn", "eng_Latn")] * 6
    batch.append(TranslationRequest("Sannu da zuwa.", "hau_Latn", "fra_Latn"))
    out = translator.translate(batch)
    assert translator.stats.pieces == 2, "one per distinct (text, source, target)"
    assert len({t.text for t in out[:6]}) == 1


def test_long_input_is_split_into_sentences_and_reassembled(tiny_mt_dir: Path) -> None:
    sentences = [
        "Gwamnati ta sanar da sabon shirin kiwon lafiya a jihar Kano ranar Talata.",
        "Ma'aikatan asibiti sun yi maraba da shirin.",
        "Za a fara aiki a watan gobe.",
    ]
    paragraph = " ".join(sentences) + "\n" + sentences[0]
    settings = DecodingSettings(max_new_tokens=6, max_input_tokens=60)
    translator = Seq2SeqTranslator(str(tiny_mt_dir), decoding=settings)
    assert len(translator.tokenize([paragraph])[0]) > 58, "the paragraph is over the limit"
    (whole,) = translator.translate([TranslationRequest(paragraph, "hau_Latn", "eng_Latn")])
    pieces = translator.translate(
        [TranslationRequest(s, "hau_Latn", "eng_Latn") for s in sentences]
    )
    assert whole.ok and whole.segments == 4
    expected = f"{pieces[0].text} {pieces[1].text} {pieces[2].text}\n{pieces[0].text}"
    assert whole.text == expected, (
        "pieces are the sentence translations, joined with the source's breaks"
    )
    assert whole.logprob == pytest.approx(
        2 * pieces[0].logprob + pieces[1].logprob + pieces[2].logprob, abs=1e-3
    )

    always = Seq2SeqTranslator(
        str(tiny_mt_dir), decoding=DecodingSettings(max_new_tokens=6, split="always")
    )
    (split_short,) = always.translate(
        [TranslationRequest(" ".join(sentences), "hau_Latn", "eng_Latn")]
    )
    assert split_short.segments == 3

    never = Seq2SeqTranslator(
        str(tiny_mt_dir), decoding=DecodingSettings(max_input_tokens=60, split="never")
    )
    (refused,) = never.translate([TranslationRequest(paragraph, "hau_Latn", "eng_Latn")])
    assert (
        not refused.ok and "over the limit of 58" in refused.error and "split=long" in refused.error
    )


def test_unsplittable_long_sentence_is_cut_to_fit(tiny_mt_dir: Path) -> None:
    settings = DecodingSettings(max_new_tokens=4, max_input_tokens=20)
    translator = Seq2SeqTranslator(str(tiny_mt_dir), decoding=settings)
    text = "政府今天宣布了该地区新的卫生计划" * 3
    (result,) = translator.translate([TranslationRequest(text, "zho_Hans", "eng_Latn")])
    assert result.ok and result.segments > 1


def test_beam_search_is_deterministic_and_scored(tiny_mt_dir: Path) -> None:
    settings = DecodingSettings(num_beams=3, max_new_tokens=6)
    batch = requests(topic_rows(30))
    first = Seq2SeqTranslator(str(tiny_mt_dir), decoding=settings).translate(batch)
    again = Seq2SeqTranslator(str(tiny_mt_dir), decoding=settings).translate(batch)
    assert [t.text for t in first] == [t.text for t in again]
    assert all(t.ok and t.logprob is not None and t.logprob <= 0 for t in first)
    assert "beam3" in Seq2SeqTranslator(str(tiny_mt_dir), decoding=settings).signature()


def test_forced_decoding_reuses_the_encoder_and_matches_greedy_scores(translator) -> None:
    sources = ["Gwamnati ta sanar da sabon shirin kiwon lafiya.", "Sannu da zuwa", "Ina kwana?"]
    calls = []
    hook = translator.model.get_encoder().register_forward_hook(lambda *a: calls.append(1))
    try:
        encoded = translator.encode(sources, "hau_Latn")
        assert len(calls) == 1
        greedy: list[list[int]] = []
        for i in range(len(sources)):
            ids: list[int] = []
            for _ in range(12):
                step = translator.next_token_logprobs(encoded, [(i, ids)], "eng_Latn")
                assert step.shape == (1, len(translator.tokenizer))
                ids.append(int(step[0].argmax()))
                if ids[-1] == translator.eos_id:
                    break
            greedy.append(ids)
        scores = translator.forced_logprobs(encoded, list(enumerate(greedy)), "eng_Latn")
        assert len(calls) == 1, "scoring targets never runs the encoder again"
    finally:
        hook.remove()
    results = translator.translate([TranslationRequest(s, "hau_Latn", "eng_Latn") for s in sources])
    for ids, token_scores, result in zip(greedy, scores, results, strict=True):
        assert len(token_scores) == len(ids) == result.tokens
        assert all(s <= 0 for s in token_scores)
        assert sum(token_scores) == pytest.approx(result.logprob, abs=1e-3)
        decoded = translator.tokenizer.decode(
            [t for t in ids if t != translator.eos_id], skip_special_tokens=True
        )
        assert decoded.strip() == result.text
    assert translator.target_ids("abc")[-1] == translator.eos_id


def test_bad_model_directory_and_settings_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Seq2SeqTranslator(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="num_beams"):
        DecodingSettings(num_beams=0)
    with pytest.raises(ValueError, match="split"):
        DecodingSettings(split="sometimes")  # type: ignore[arg-type]


def test_madlad_style_model_puts_the_target_tag_on_the_source() -> None:
    from xprompt.testing.tiny_models import ensure_tiny_madlad

    t5 = Seq2SeqTranslator(str(ensure_tiny_madlad()), decoding=DecodingSettings(max_new_tokens=8))
    vocab = t5.tokenizer.get_vocab()
    assert t5.family == "madlad" and t5.start_id == t5.pad_id
    ids = t5.tokenize(["Sannu"])[0]
    assert t5.source_ids(ids, "hau_Latn", "eng_Latn") == [vocab["<2en>"], *ids, t5.eos_id]
    assert t5.decoder_prefix("eng_Latn") == [t5.pad_id], "no target tag on the output side"
    batch = requests(topic_rows(80))[::4]
    english = t5.translate(batch)
    french = t5.translate([TranslationRequest(r.text, r.src, "fra_Latn") for r in batch])
    assert all(t.ok for t in english + french)
    assert [t.text for t in english] != [t.text for t in french], "the tag steers the output"
    naive = Seq2SeqTranslator(
        str(ensure_tiny_madlad()),
        decoding=DecodingSettings(max_new_tokens=8),
        sort_by_length=False,
        max_batch_size=3,
    )
    assert [t.text for t in naive.translate(batch)] == [t.text for t in english]
    with pytest.raises(ConfigError, match="need the target language"):
        t5.encode(["Sannu"], "hau_Latn")
    encoded = t5.encode(["Sannu"], "hau_Latn", "eng_Latn")
    (only,) = t5.translate([TranslationRequest("Sannu", "hau_Latn", "eng_Latn")])
    ids: list[int] = []
    while len(ids) < 8 and (not ids or ids[-1] != t5.eos_id):
        ids.append(int(t5.next_token_logprobs(encoded, [(0, ids)], "eng_Latn")[0].argmax()))
    (scores,) = t5.forced_logprobs(encoded, [(0, ids)], "eng_Latn")
    assert sum(scores) == pytest.approx(only.logprob, abs=1e-3) and len(ids) == only.tokens
