"""Stream chunks never split a character: byte-level tokens decoded one by one, combining marks."""

from __future__ import annotations

import unicodedata

import pytest

from serving.textstream import SafeSplitter, last_cluster_start, letter_count, safe_end

SAMPLES = {
    "ethiopic": "መንግሥት ዛሬ አዲስ የጤና ዕቅድ አስታውቋል። ይህ ዜና ስለ ጤና ነው።",
    "devanagari": "क्षत्रिय राज्य के लिए नई स्वास्थ्य योजना की घोषणा की।",
    "cjk": "政府今天宣布了该地区新的卫生计划。答案是十二。",
    "emoji": "family 👩‍👩‍👧 flag 🇰🇪 thumbs 👍🏽 done",
    "yoruba": "Ìjọba ti kéde ètò ìlera tuntun ní ìpínlẹ̀ Èkó lónìí.",
}


@pytest.fixture(scope="module")
def tokenizer(tiny_llama_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_llama_dir))


def _boundary_ok(text: str, cut: int) -> bool:
    """A cut is safe when the next character does not attach to the one before it."""
    if cut in (0, len(text)):
        return True
    nxt, prev = text[cut], text[cut - 1]
    if unicodedata.category(nxt).startswith("M") or nxt in "\u200d\u200c":
        return False
    if prev == "\u200d" or unicodedata.combining(prev) == 9:
        return False
    return not ("\U0001f3fb" <= nxt <= "\U0001f3ff" or "\ufe00" <= nxt <= "\ufe0f")


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_token_by_token_decoding_gives_whole_characters(tokenizer, name):
    text = SAMPLES[name]
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    snapshots = [tokenizer.decode(ids[:k]) for k in range(1, len(ids) + 1)]
    # The byte-level tokenizer really does produce partial characters mid-stream.
    assert any("\ufffd" in s for s in snapshots[:-1]) or name == "emoji"
    assert snapshots[-1] == text
    splitter = SafeSplitter()
    deltas = []
    for k, snapshot in enumerate(snapshots):
        finished = k == len(snapshots) - 1
        # vLLM never shrinks a snapshot; the byte tokenizer's U+FFFD tail may only grow.
        delta = splitter.feed(snapshot, finished)
        if delta:
            deltas.append(delta)
    assert "".join(deltas) == text
    assert all("\ufffd" not in d for d in deltas)
    cut = 0
    for delta in deltas[:-1]:
        cut += len(delta)
        assert _boundary_ok(text, cut), (name, cut, text[cut - 2 : cut + 2])
    for delta in deltas:
        # Every chunk is valid UTF-8 on its own (no lone surrogates, nothing half-encoded).
        assert delta.encode("utf-8").decode("utf-8") == delta


def test_held_back_until_finished():
    splitter = SafeSplitter()
    assert splitter.feed("ab", False) == "a"  # the last cluster may still grow
    assert splitter.feed("abc\u0301", False) == "b"  # c + combining acute stay together
    assert splitter.feed("abc\u0301d", False) == "c\u0301"
    assert splitter.feed("abc\u0301d", True) == "d"
    assert splitter.sent == "abc\u0301d"


def test_virama_and_zwj_keep_the_next_character():
    text = "क्ष"  # KA, VIRAMA, SSA: one conjunct
    assert last_cluster_start(text) == 0
    assert last_cluster_start("ab\u200dc") == 1  # ZWJ glues c to b
    assert last_cluster_start("x🇰🇪") == 1  # the two regional indicators are one flag


def test_replacement_tail_is_not_sent():
    assert safe_end("abc\ufffd\ufffd", False) == 2
    assert safe_end("abc\ufffd", True) == 4  # finished: what the model made is delivered as is


def test_a_snapshot_that_rewrites_sent_text_is_a_bug():
    splitter = SafeSplitter()
    splitter.feed("hello world", False)
    with pytest.raises(RuntimeError, match="changed after part of it was sent"):
        splitter.feed("help", True)


def test_letter_count_counts_letters_of_any_script():
    assert letter_count("ab 12 ሰላም 你好!") == 7
