"""A tiny MT model *trained* (locally, in a few CPU minutes) to translate a toy language and carry markers.

The random tiny MT model (:func:`~xprompt.testing.tiny_models.build_tiny_m2m100`)
is right for testing structure, but nothing about it is confident: once a marker
is inserted its continuations are as unlikely as any, so no bound can prune a
search over marker placements. Label projection is about a model that *does*
know where markers go (CODEC used an NLLB fine-tuned on marked text). This
builder trains the same tiny architecture, with the same tokenizer, on a toy
translation task:

- the toy language has 68 words (each one token) in a fixed cycle; a sentence is
  1-40 consecutive words of the cycle, starting anywhere (so a decoder can be
  confident from its own prefix, as a trained MT model is);
- toy English (``eng_Latn``) is those stretches; the other toy languages
  (``hau_Latn``, ``yor_Latn``, ``swh_Latn``) write every word as its partner in a
  fixed pairing (an involution), so translating there and back round-trips;
  training goes both ways between English and the others;
- half the training sources carry one EasyProject-marked span ``[ w ... ]``; their
  targets are the translated tokens with the ``[`` and ``]`` tokens inserted around
  the span (exactly the output CODEC constrains decoding to).

Deterministic for a given seed (single-threaded training; a rebuild is bit-identical);
built once into the cache directory like the other test models. Its
translations are right far more often than not, so tests can check that a
projection lands on the expected words, and the benchmark can show what the
search saves on a model with real preferences.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

#: Bump when the builder's output changes, so caches are rebuilt.
TINY_MARKER_MT_VERSION = 1

#: The toy languages: English first; the model translates between English and each other one.
LANGUAGES = ("eng_Latn", "hau_Latn", "yor_Latn", "swh_Latn")


def toy_words(tokenizer) -> list[str]:  # type: ignore[no-untyped-def]
    """The toy vocabulary: lowercase words that are a single ``Ġword`` token (an even count)."""
    vocab = tokenizer.get_vocab()
    words = sorted(
        t[1:]
        for t in vocab
        if t.startswith("Ġ")
        and t[1:].isascii()
        and t[1:].isalpha()
        and t[1:].islower()
        and len(t) >= 3
    )
    return words[: len(words) // 2 * 2]


def toy_pairs(words: list[str], seed: int = 0) -> dict[str, str]:
    """The translation: words swapped in fixed random pairs (an involution)."""
    shuffled = list(words)
    random.Random(seed).shuffle(shuffled)
    out: dict[str, str] = {}
    for a, b in zip(shuffled[::2], shuffled[1::2], strict=True):
        out[a], out[b] = b, a
    return out


def toy_cycle(words: list[str], seed: int = 0) -> list[str]:
    """The order in which toy words follow each other (a sentence is a stretch of it)."""
    order = list(words)
    random.Random(seed + 1).shuffle(order)
    return order


def toy_sentence(rng: random.Random, cycle: list[str], length: int) -> list[str]:
    """``length`` consecutive words of the cycle from a random start."""
    start = rng.randrange(len(cycle))
    return [cycle[(start + k) % len(cycle)] for k in range(length)]


def toy_translate(text: str, pairs: dict[str, str]) -> str:
    """The reference translation of a toy sentence (word by word; unknown words kept)."""
    return " ".join(pairs.get(w, w) for w in text.split(" "))


def build_tiny_marker_mt(
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    steps: int = 1500,
    batch: int = 48,
    log=None,  # type: ignore[no-untyped-def]
) -> Path:
    """Train the toy marker-aware MT model and write it (with the tiny tokenizer) to ``out_dir``."""
    import torch
    import transformers
    from transformers import AutoTokenizer, M2M100Config, M2M100ForConditionalGeneration

    from xprompt.testing.tiny_models import ensure_tiny_m2m100

    transformers.utils.logging.disable_progress_bar()
    base = ensure_tiny_m2m100(style="nllb")
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out)
    config = M2M100Config.from_pretrained(str(base))
    config.init_std = 0.02
    config.encoder_attention_heads = config.decoder_attention_heads = 4
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        model = M2M100ForConditionalGeneration(config)
        _train(model, tokenizer, seed=seed, steps=steps, batch=batch, log=log)
        model.eval().save_pretrained(out, safe_serialization=True)
    finally:
        torch.set_num_threads(threads)
    return out


def _example(
    rng: random.Random, cycle: list[str], pairs: dict[str, str], tokenizer, *, to_english: bool
):  # type: ignore[no-untyped-def]
    """One training pair as token ids: (source ids, target ids) without language tags."""
    length = rng.randint(1, 40)
    sentence = toy_sentence(rng, cycle, length)
    translated = [pairs[w] for w in sentence]
    if to_english:
        sentence, translated = translated, sentence
    open_id = tokenizer.convert_tokens_to_ids("[")
    close_id = tokenizer.convert_tokens_to_ids("]")

    def ids(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    if rng.random() < 0.5:
        return ids(" ".join(sentence)), ids(" ".join(translated))
    start = rng.randrange(length)
    end = min(length, start + rng.randint(1, 4))
    marked = [*sentence[:start], "[", *sentence[start:end], "]", *sentence[end:]]
    # The translation's tokens with the marker tokens inserted at the span's word edges
    # (words after the first are one token each, so a prefix tokenizes the same alone).
    whole = ids(" ".join(translated))
    span_start = len(ids(" ".join(translated[:start]))) if start else 0
    span_end = len(ids(" ".join(translated[:end])))
    target = [
        *whole[:span_start],
        open_id,
        *whole[span_start:span_end],
        close_id,
        *whole[span_end:],
    ]
    return ids(" ".join(marked)), target


def _train(model, tokenizer, *, seed: int, steps: int, batch: int, log=None) -> None:  # type: ignore[no-untyped-def]
    import torch

    rng = random.Random(seed)
    words = toy_words(tokenizer)
    pairs = toy_pairs(words, seed)
    cycle = toy_cycle(words, seed)
    english = tokenizer.convert_tokens_to_ids(LANGUAGES[0])
    others = [tokenizer.convert_tokens_to_ids(code) for code in LANGUAGES[1:]]
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=5e-3, total_steps=steps, pct_start=0.05
    )
    model.train()
    for step in range(steps):
        sources, inputs, labels = [], [], []
        for _ in range(batch):
            to_english = rng.random() < 0.5
            src, tgt = _example(rng, cycle, pairs, tokenizer, to_english=to_english)
            other = rng.choice(others)
            a, b = (other, english) if to_english else (english, other)
            sources.append([a, *src, eos])
            inputs.append([eos, b, *tgt])
            labels.append([-100, *tgt, eos])
        enc = _pad(sources, pad)
        dec = _pad(inputs, pad)
        lab = _pad(labels, -100)
        logits = model(
            input_ids=enc, attention_mask=(enc != pad).long(), decoder_input_ids=dec
        ).logits
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), lab.reshape(-1), ignore_index=-100
        )
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if log is not None and step % 100 == 0:
            log(step, float(loss.detach()))


def _pad(rows: list[list[int]], value: int):  # type: ignore[no-untyped-def]
    import torch

    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), value, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row)
    return out


def ensure_tiny_marker_mt(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Path of the cached toy marker-aware MT model, training it first if needed (race-safe)."""
    from xprompt.testing.tiny_models import ensure_built

    return ensure_built(
        f"tiny-marker-mt-v{TINY_MARKER_MT_VERSION}", build_tiny_marker_mt, cache_dir
    )
