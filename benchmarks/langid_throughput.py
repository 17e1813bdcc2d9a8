"""Throughput of the off-target check on FLORES-200 sentences: one core, the CLI, and a process pool.

Text: SIB-200's FLORES-200 dev split (``--flores DIR``, default
``../shared/data/sib200``: ``DIR/data/annotated/<lang>/dev.tsv``), the 20
low-resource targets of ``benchmarks/langid_accuracy.py``; without it, the
project's own sentences under ``benchmarks/data/langid/``. Workloads:

- ``on-target``: each target's own sentences checked against it (the common case);
- ``mixed``: the same plus as many English sentences per target (about half
  of the outputs off-target, the path where the check asks for more).

Measured in one run, interleaved, median of ``--repeats``:

1. one core (the process pinned to it, numpy on one thread): bare
   ``py3langid.classify`` on the same texts (baseline), the check in default
   mode, and the whole ``xprompt langid check`` command in this process (read
   JSONL, check, write JSONL; its start-up, the same command on one text per
   language, is subtracted, as is the interpreter's). Rates
   per second of CPU time (what one core does, robust when other processes
   share the machine) and per wall second, with the share of its core the
   process got. Where numba is installed, the check and the CLI again with
   the compiled feature walk (what a process switches to after
   ``JIT_AFTER`` texts, or at once with ``XPROMPT_LANGID_JIT=1``; the compile
   itself, ~2 s, is not counted).
2. all usable cores: ``check_many`` (what batch runs use) with one process
   against a pool of one process per core, wall time, on the mixed workload
   three times over (a pool only starts from 4,000 texts). On a machine
   shared with other work the pool's gain is what the other work leaves.

    .venv/bin/python benchmarks/langid_throughput.py [--flores DIR] [--repeats 5]

Issue 15 target: >= 5,000 texts/s on one core.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from langid_accuracy import CONFUSERS, ENGLISH, load_corpus, load_flores  # noqa: E402

from xprompt.langid import LangidConfig, make_checker  # noqa: E402
from xprompt.langid.detectors import _naive_bayes, _py3langid_identifier  # noqa: E402
from xprompt.langid.parallel import check_many, usable_cores  # noqa: E402

TARGETS = tuple(CONFUSERS)


def workloads(corpus: dict[str, list[str]]) -> dict[str, list[tuple[str, str]]]:
    own = [(text, t) for t in TARGETS for text in corpus[t]]
    english = corpus[ENGLISH]
    off = [(text, t) for t in TARGETS for text in english[: len(corpus[t])]]
    return {"on-target": own, "mixed": own + off}


def load() -> str:
    """The 1-minute load average against the number of CPUs."""
    if not hasattr(os, "getloadavg"):
        return "load average unknown"
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"


def rate(fn: Callable[[], int]) -> tuple[float, float]:
    """Texts per second of wall time and per second of this process's CPU time."""
    wall, cpu = time.perf_counter(), time.process_time()
    n = fn()
    return n / (time.perf_counter() - wall), n / (time.process_time() - cpu)


def cli_runner(pairs: list[tuple[str, str]], folder: Path) -> Callable[[], tuple[float, float]]:
    """``xprompt langid check FILE --jobs 1`` in this process, output discarded.

    Returns a function giving (texts per wall second, per CPU second) with the
    command's start-up (parsing options, building the checker, printing the
    summary table: the same run on one text per language) subtracted.
    """
    from xprompt.cli import main

    def write(name: str, rows: list[tuple[str, str]]) -> Path:
        path = folder / name
        with path.open("w", encoding="utf-8") as handle:
            for text, lang in rows:
                handle.write(json.dumps({"text": text, "lang": lang}, ensure_ascii=False) + "\n")
        return path

    # The start-up run: one text per language, so its summary table is as large as the full run's.
    firsts = list({lang: (text, lang) for text, lang in reversed(pairs)}.values())
    full, one = write("texts.jsonl", pairs), write("one.jsonl", firsts)

    def timed(path: Path, expected: int) -> tuple[float, float]:
        sink = io.StringIO()
        wall, cpu = time.perf_counter(), time.process_time()
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(io.StringIO()):
            try:
                main(["langid", "check", str(path), "--jobs", "1"])
            except SystemExit as exc:
                if exc.code:
                    raise
        spent = time.perf_counter() - wall, time.process_time() - cpu
        assert sink.getvalue().count("\n") == expected
        return spent

    def run() -> tuple[float, float]:
        start_wall, start_cpu = timed(one, len(firsts))
        wall, cpu = timed(full, len(pairs))
        n = len(pairs) - len(firsts)
        return n / max(wall - start_wall, 1e-9), n / max(cpu - start_cpu, 1e-9)

    return run


def one_core(pairs: list[tuple[str, str]], repeats: int, folder: Path) -> None:
    identifier = _py3langid_identifier()
    checker = make_checker(LangidConfig())
    for text, lang in {lang: (text, lang) for text, lang in pairs}.values():
        checker.check(text, lang)  # warm every target's tables

    def baseline() -> int:
        for text, _ in pairs:
            identifier.classify(text)
        return len(pairs)

    def check() -> int:
        for text, lang in pairs:
            checker.check(text, lang)
        return len(pairs)

    runs: dict[str, list[tuple[float, float]]] = {
        "py3langid.classify (baseline)": [],
        "check, default mode": [],
        "xprompt langid check (CLI)": [],
    }
    scorer = _naive_bayes()
    compiled = scorer._compile()  # numba, where installed: what long runs switch to
    if compiled:
        runs["check, compiled walk"] = []
        runs["CLI, compiled walk"] = []
    cli = cli_runner(pairs, folder)
    cli()  # warm
    for _ in range(repeats):
        scorer._compiled = False
        runs["py3langid.classify (baseline)"].append(rate(baseline))
        runs["check, default mode"].append(rate(check))
        runs["xprompt langid check (CLI)"].append(cli())
        if compiled:
            scorer._compiled = compiled
            runs["check, compiled walk"].append(rate(check))
            runs["CLI, compiled walk"].append(cli())
    scorer._compiled = False
    base = statistics.median(cpu for _, cpu in runs["py3langid.classify (baseline)"])
    print(
        f"  {'':32} {'per CPU-second':>16} {'ratio':>6} {'per wall-second':>17} {'core share':>10}"
    )
    for label, values in runs.items():
        cpu = statistics.median(c for _, c in values)
        wall = statistics.median(w for w, _ in values)
        share = statistics.median(w / c for w, c in values)
        print(
            f"  {label:32} {cpu:8,.0f} texts/s {cpu / base:6.2f}x {wall:9,.0f} texts/s "
            f"{100 * share:9.0f}%"
        )


def all_cores(pairs: list[tuple[str, str]], repeats: int, cores: int) -> None:
    checker = make_checker(LangidConfig())
    items = pairs * 3
    single, pooled = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        alone = check_many(checker.check, items, jobs=1)
        single.append(len(items) / (time.perf_counter() - start))
        start = time.perf_counter()
        spread = check_many(checker.check, items, jobs=cores)
        pooled.append(len(items) / (time.perf_counter() - start))
        assert spread == alone
    one, many = statistics.median(single), statistics.median(pooled)
    print(
        f"  check_many, 1 process       {one:9,.0f} texts/s (wall)\n"
        f"  check_many, {cores:2d} processes    {many:9,.0f} texts/s (wall)  {many / one:.2f}x"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--flores", type=Path, default=ROOT.parent / "shared" / "data" / "sib200")
    parser.add_argument("--core", type=int, help="CPU core to pin to (default: the first allowed)")
    args = parser.parse_args()
    if (args.flores / "data" / "annotated").is_dir() or (args.flores / "amh_Ethi").is_dir():
        corpus = load_flores(args.flores, "dev")
        print(f"text: FLORES-200 dev (SIB-200) under {args.flores}")
    else:
        corpus = load_corpus()
        print(f"text: {args.flores} not found; the project's sentences (benchmarks/data/langid)")
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    cores = usable_cores()
    if allowed is not None:
        core = args.core if args.core is not None else min(allowed)
        os.sched_setaffinity(0, {core})
        print(f"one core: pinned to CPU core {core}; {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, pairs in workloads(corpus).items():
            chars = statistics.mean(len(t) for t, _ in pairs)
            print(f"\n{name}: {len(pairs)} texts, mean {chars:.0f} characters")
            one_core(pairs, args.repeats, Path(tmp))
    if allowed is not None:
        os.sched_setaffinity(0, allowed)
    print(f"\nall {cores} usable cores ({load()}), mixed workload x3:")
    if cores < 2:
        print("  one usable core: check_many checks in this process (no pool)")
    else:
        all_cores(workloads(corpus)["mixed"], max(1, args.repeats // 2), cores)
    print(f"\nafter: {load()}")
    print(
        "core share = CPU time / wall time of the measurement: below 100% the core was shared "
        "with other processes, and per-wall-second rates understate what the check costs."
    )
    print("issue 15 target: >= 5,000 texts/s on one core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
