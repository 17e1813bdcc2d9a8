"""MT throughput: length-sorted batching under a token budget vs naive fixed-order batching.

Same model, same sentences, same decoding (greedy, per-sentence output limit),
same run. The baseline cuts the input into fixed batches of ``--batch-size`` in
file order; xprompt's default sorts the sentences by length and packs them
under a token budget with the same row cap, so short sentences neither carry
padding nor wait for long ones to finish decoding. The two are interleaved,
``--repeats`` times after a warm-up, and the medians compared. The translations
are checked to be the same.

Sentences: the demo set (12 languages) cut and joined into a realistic mix of
lengths (fragments, sentences, two- and three-sentence passages), seeded.

    .venv/bin/python benchmarks/mt_batching.py [--rows 256] [--batch-size 32] [--repeats 3] [--threads 1]
    .venv/bin/python benchmarks/mt_batching.py --model facebook/nllb-200-distilled-600M  # on a GPU
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import statistics
import time
from pathlib import Path

from xprompt.backends.seq2seq import Seq2SeqTranslator
from xprompt.mt.base import DecodingSettings, TranslationRequest
from xprompt.mt.factory import resolve_mt_model

print = functools.partial(print, flush=True)  # progress shows while it runs

DATA = Path(__file__).resolve().parent.parent / "examples" / "data" / "topics.jsonl"


def make_requests(n: int, seed: int, tgt: str) -> list[TranslationRequest]:
    """A seeded mix of lengths: 30% fragments, 40% sentences, 20% two, 10% three sentences."""
    by_lang: dict[str, list[str]] = {}
    for line in DATA.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["lang"] != tgt:
            by_lang.setdefault(row["lang"], []).append(row["text"])
    langs = sorted(by_lang)
    rng = random.Random(seed)
    out = []
    for i in range(n):
        lang = langs[i % len(langs)]
        kind = rng.random()
        if kind < 0.3:
            words = rng.choice(by_lang[lang]).split()
            text = " ".join(words[: rng.randint(2, max(2, len(words) // 3))])
        else:
            count = 1 if kind < 0.7 else 2 if kind < 0.9 else 3
            text = " ".join(rng.sample(by_lang[lang], count))
        out.append(TranslationRequest(text, lang, tgt))
    return out


def timed(translator: Seq2SeqTranslator, requests: list[TranslationRequest]) -> tuple[float, list]:
    start = time.perf_counter()
    results = translator.translate(requests)
    return time.perf_counter() - start, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny", help="MT model (default: the tiny test model)")
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument(
        "--batch-size", type=int, default=32, help="row cap of a batch (both sides)"
    )
    parser.add_argument(
        "--batch-tokens", type=int, default=16384, help="token budget (sorted side)"
    )
    parser.add_argument(
        "--max-new-tokens", type=int, default=DecodingSettings().max_new_tokens, help="output cap"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tgt", default="eng_Latn")
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)"
    )
    args = parser.parse_args()
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)

    model = resolve_mt_model(args.model)
    # max_input_tokens above every passage: both sides translate the same pieces, unsplit.
    decoding = DecodingSettings(max_new_tokens=args.max_new_tokens, max_input_tokens=1000)
    requests = make_requests(args.rows, args.seed, args.tgt)
    common = {"decoding": decoding, "device": args.device, "max_batch_size": args.batch_size}
    sides = {
        "naive fixed-order": Seq2SeqTranslator(model, sort_by_length=False, **common),
        "length-sorted + token budget": Seq2SeqTranslator(
            model, sort_by_length=True, batch_tokens=args.batch_tokens, **common
        ),
    }
    fast = sides["length-sorted + token budget"]
    lengths = [len(ids) for ids in fast.tokenize([r.text for r in requests])]
    print(
        f"model {fast.model_id} on {fast.device} ({fast.describe()['dtype']}); {len(requests)} sentences, "
        f"{len({r.src for r in requests})} languages, source tokens min/median/max "
        f"{min(lengths)}/{int(statistics.median(lengths))}/{max(lengths)}; greedy, "
        f"max_new_tokens={args.max_new_tokens}, batch rows <= {args.batch_size}"
    )
    for translator in sides.values():  # warm-up (also checks every sentence translates)
        _, results = timed(translator, requests[: args.batch_size * 2])
        assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]

    times: dict[str, list[float]] = {name: [] for name in sides}
    outputs: dict[str, list] = {}
    for _ in range(args.repeats):
        for name, translator in sides.items():
            translator.stats.__init__()  # type: ignore[misc]
            elapsed, outputs[name] = timed(translator, requests)
            times[name].append(elapsed)
    same = sum(
        a.text == b.text
        for a, b in zip(
            outputs["naive fixed-order"], outputs["length-sorted + token budget"], strict=True
        )
    )
    for name, translator in sides.items():
        stats = translator.stats
        median = statistics.median(times[name])
        print(
            f"{name:>30}: {len(requests) / median:8.1f} sentences/s  (median of {args.repeats}: "
            f"{median:.2f}s; {stats.batches} batches, padding {stats.padded_source_tokens / stats.source_tokens:.2f}x "
            f"source tokens, {stats.decode_steps} decode steps)"
        )
    ratio = statistics.median(times["naive fixed-order"]) / statistics.median(
        times["length-sorted + token budget"]
    )
    print(f"identical translations: {same}/{len(requests)}")
    print(f"speed-up of length-sorted batching over naive fixed-order batching: {ratio:.2f}x")


if __name__ == "__main__":
    main()
