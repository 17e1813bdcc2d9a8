"""CODEC search cost: branch-and-bound vs scoring every placement, with the position pre-filter on and off.

Two models, in the same run:

- ``tiny``: the tiny *random* MT model. English sentences with one entity
  marked; the template is the model's own greedy output of exactly 10, 20 or 40
  tokens. A random decoder is lost after any inserted marker, so partial scores
  are loose bounds: this is the worst case for branch-and-bound.
- ``tiny-marker``: the same architecture *trained* on a toy language to carry
  markers (:mod:`xprompt.testing.tiny_marker_mt`, built once, cached), i.e. a
  model with real preferences, as CODEC's NLLB was; the template is the
  reference translation of a toy sentence, and the right placement is known.

Each sentence's marker pair is placed with ``brute`` (every placement
force-decoded: the baseline), exact ``bnb`` and the approximate ``heuristic``
(look-ahead 1 and 5), each with the pre-filter off (every opening position) and
on. Reported per sentence: sequences force-decoded, forward passes (model
calls), wall time, ratios against brute force with the same filter, how often
the best placement equals brute force's (exact search always must), and for the
toy model how often it is the right one.

Run: ``.venv/bin/python benchmarks/codec_search.py`` (``--models DIR`` for
another seq2seq MT model, ``--json`` for machine-readable output). Timings are
of this machine in this run; compare the ratios.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SENTENCES = [
    ("Barack Obama visited Kano on Tuesday with officials of the World Bank .", "Kano"),
    ("The United Nations opened an office in Lagos in 2019 .", "United Nations"),
    ("Aliko Dangote met officials of the World Bank in Abuja .", "Aliko Dangote"),
    ("Kenya Airways will fly to Accra from next Monday .", "Accra"),
    ("Ngozi Okonjo-Iweala leads the World Trade Organization .", "World Trade Organization"),
    ("Heavy rain fell in Dodoma last week and the roads closed .", "Dodoma"),
    ("The match between Nigeria and Ghana ended in a draw in Kumasi .", "Ghana"),
    ("Eliud Kipchoge won the race in Berlin on Sunday morning .", "Eliud Kipchoge"),
]


@dataclass
class Tally:
    """Per-sentence costs of one search mode at one template length."""

    sequences: list[int] = field(default_factory=list)
    calls: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    agree: int = 0
    truth: list[bool] = field(default_factory=list)

    def row(self) -> dict[str, float]:
        out = {
            "sequences": statistics.mean(self.sequences),
            "calls": statistics.mean(self.calls),
            "ms": 1000 * statistics.mean(self.seconds),
            "agree": self.agree / len(self.sequences),
        }
        if self.truth:
            out["truth"] = sum(self.truth) / len(self.truth)
        return out


def greedy_template(translator, encoded, length: int, tgt: str) -> list[int]:  # type: ignore[no-untyped-def]
    """The model's greedy continuation of source 0 for exactly ``length`` tokens (no special tokens)."""
    special = list(translator.tokenizer.all_special_ids)
    ids: list[int] = []
    for _ in range(length):
        logprobs = translator.next_token_logprobs(encoded, [(0, ids)], tgt)[0]
        logprobs[special] = -1e9
        ids.append(int(logprobs.argmax()))
    return ids


@dataclass
class Case:
    """One sentence: encoded plain and marked sources, the template ids, the true span if known."""

    encoded: object
    template: list[int]
    truth: tuple[int, int] | None


def random_model_cases(translator, length: int, count: int, tgt: str) -> list[Case]:  # type: ignore[no-untyped-def]
    """English sentences; the template is the model's own greedy output of ``length`` tokens."""
    from xprompt.projection.projector import mark_one
    from xprompt.projection.spans import Span

    cases = []
    for source, entity in SENTENCES[:count]:
        start = source.index(entity)
        marked = mark_one(source, Span(start, start + len(entity), "X"))
        encoded = translator.encode([source, marked], "eng_Latn", tgt)
        cases.append(Case(encoded, greedy_template(translator, encoded, length, tgt), None))
    return cases


def toy_model_cases(translator, length: int, count: int, tgt: str) -> list[Case]:  # type: ignore[no-untyped-def]
    """Toy-language sentences whose reference translation has ``length`` tokens; a known span."""
    from xprompt.projection.projector import mark_one
    from xprompt.projection.spans import Span
    from xprompt.testing.tiny_marker_mt import toy_cycle, toy_pairs, toy_sentence, toy_words

    words = toy_words(translator.tokenizer)
    pairs, cycle = toy_pairs(words), toy_cycle(words)
    rng = random.Random(length)
    cases = []
    while len(cases) < count:
        sentence = toy_sentence(rng, cycle, length)
        translated = [pairs[w] for w in sentence]
        extra = len(translator.tokenize([translated[0]])[0]) - 1
        sentence, translated = sentence[: length - extra], translated[: length - extra]
        first = rng.randrange(1, len(sentence) - 1)
        last = min(len(sentence), first + rng.randint(1, 3))
        source = " ".join(sentence)
        start = len(" ".join(sentence[:first])) + 1
        span = Span(start, start + len(" ".join(sentence[first:last])), "X")
        template = translator.tokenize([" ".join(translated)])[0]
        if len(template) != length:
            continue
        truth = (len(translator.tokenize([" ".join(translated[:first])])[0]),
                 len(translator.tokenize([" ".join(translated[:last])])[0]))  # fmt: skip
        encoded = translator.encode([source, mark_one(source, span)], "eng_Latn", tgt)
        cases.append(Case(encoded, template, truth))
    return cases


def measure(translator, make_cases, args: argparse.Namespace) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """Every search mode, filter off and on, over the cases of every template length."""
    from xprompt.projection.codec import (
        PairProblem,
        SearchSettings,
        branch_and_bound,
        brute_force,
        candidate_openings,
    )
    from xprompt.projection.scoring import CallCounter, MTScorer

    open_ids = tuple(translator.tokenize(["["])[0])
    close_ids = tuple(translator.tokenize(["]"])[0])
    results: dict = {}  # type: ignore[type-arg]
    for length in [int(x) for x in args.lengths.split(",")]:
        tallies = {(m, f): Tally() for m in MODES for f in ("off", "on")}
        kept: list[int] = []
        for case in make_cases(translator, length, args.sentences, args.tgt):
            plain = [*case.template, translator.eos_id]
            both = translator.forced_scores(
                case.encoded, [(0, plain), (1, plain)], args.tgt, watch=[open_ids[0]]
            )
            filtered = candidate_openings(both[0][0], both[1][0])
            for flag, openings in (("off", None), ("on", filtered)):
                problem = PairProblem(tuple(case.template), translator.eos_id, open_ids,
                                      close_ids, openings=openings)  # fmt: skip
                if flag == "on":
                    kept.append(len(problem.opening_positions()))
                reference = None
                for mode in MODES:
                    counter = CallCounter()
                    scorer = MTScorer(translator, case.encoded, 1, args.tgt, counter)
                    began = time.perf_counter()
                    if mode == "brute":
                        result = brute_force(problem, scorer, n_best=5)
                    else:
                        alpha = None if mode == "bnb" else int(mode.split("=")[1])
                        result = branch_and_bound(problem, scorer, SearchSettings(alpha=alpha))
                    elapsed = time.perf_counter() - began
                    tally = tallies[(mode, flag)]
                    tally.sequences.append(counter.sequences)
                    tally.calls.append(counter.calls)
                    tally.seconds.append(elapsed)
                    best = (result.best[0].start, result.best[0].end) if result.best else None
                    if mode == "brute":
                        reference = best
                    tally.agree += best == reference
                    if case.truth is not None:
                        tally.truth.append(best == case.truth)
        rows = {f"{m} [filter {f}]": t.row() for (m, f), t in tallies.items()}
        rows["openings with filter"] = {"mean": statistics.mean(kept), "of": length}
        results[str(length)] = rows
    return results


MODES = ["brute", "bnb", "heuristic a=1", "heuristic a=5"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models",
        default="tiny,tiny-marker",
        help="comma-separated: tiny (random), tiny-marker (trained toy), or MT model dirs",
    )
    parser.add_argument("--lengths", default="10,20,40")
    parser.add_argument("--sentences", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--tgt", default="hau_Latn")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    import torch

    from xprompt.backends.seq2seq import Seq2SeqTranslator
    from xprompt.mt.factory import resolve_mt_model
    from xprompt.testing.tiny_marker_mt import ensure_tiny_marker_mt

    torch.set_num_threads(args.threads)
    everything: dict = {}  # type: ignore[type-arg]
    for model in args.models.split(","):
        path = str(ensure_tiny_marker_mt()) if model == "tiny-marker" else resolve_mt_model(model)
        translator = Seq2SeqTranslator(path)
        make_cases = toy_model_cases if model == "tiny-marker" else random_model_cases
        everything[model] = measure(translator, make_cases, args)
        everything[model]["model"] = {"id": translator.model_id}
    if args.json:
        print(json.dumps(everything, indent=2))
        return
    for model, results in everything.items():
        print_table(model, results, args)


def print_table(model: str, results: dict, args: argparse.Namespace) -> None:  # type: ignore[type-arg]
    """One table per template length: costs per sentence and ratios against brute force."""
    model_id = results.pop("model")["id"]
    agreement = {
        mode: statistics.mean(
            rows[f"{mode} [filter {flag}]"]["agree"]
            for rows in results.values()
            for flag in ("off", "on")
        )
        for mode in MODES[1:]
    }
    print(
        f"\n== {model} ({model_id}), threads {args.threads}, {args.sentences} sentences per length"
    )
    for length, rows in results.items():
        info = rows.pop("openings with filter")
        print(
            f"\ntemplate length {length} (the pre-filter keeps {info['mean']:.1f} of "
            f"{info['of']} opening positions)"
        )
        truth = " best = truth" if "truth" in next(iter(rows.values())) else ""
        print(f"{'mode':<28}{'seqs/sent':>10}{'calls/sent':>11}{'ms/sent':>10}"
              f"{'seqs vs brute':>15}{'time vs brute':>15}{'best = brute':>14}{truth}")  # fmt: skip
        for name, row in rows.items():
            flag = name.split("[")[1]
            brute = rows[f"brute [{flag}"]
            print(
                f"{name:<28}{row['sequences']:>10.1f}{row['calls']:>11.1f}{row['ms']:>10.1f}"
                f"{row['sequences'] / brute['sequences']:>14.2f}x"
                f"{row['ms'] / brute['ms']:>14.2f}x{100 * row['agree']:>13.0f}%"
                + (f"{100 * row['truth']:>12.0f}%" if truth else "")
            )
    cases = 2 * len(results) * args.sentences
    print(
        "\nbest placement = brute force's, over all lengths and both filter settings "
        f"({cases} searches each): "
        + ", ".join(f"{mode} {100 * rate:.0f}%" for mode, rate in agreement.items())
    )


if __name__ == "__main__":
    random.seed(0)
    main()
