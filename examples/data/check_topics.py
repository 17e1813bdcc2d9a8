#!/usr/bin/env python3
"""Validate the SIB-200-style topic classification demo data in this folder.

Checks, for topics.en.jsonl, topics.jsonl, topics.pool.jsonl and topics.test.jsonl:

* every line is one JSON object, UTF-8, with exactly the required fields;
* every string is NFC-normalised, non-empty and has no stray whitespace;
* labels come from the seven SIB-200 labels;
* topics.en.jsonl has 42 sentences, 6 per label, ids t001..t042;
* topics.jsonl has 504 rows: 12 languages x the same 42 ids, the same label
  per id in every language, English rows identical to topics.en.jsonl,
  ids of the form "t001-hau_Latn", ordered by language then id, and each
  text written mostly in the script its language code names;
* topics.pool.jsonl holds, per language, sentences 1 and 2 of each label
  (14 per language) and topics.test.jsonl the other 28; the two files are
  disjoint and their union is exactly topics.jsonl.

Standard library only. Usage:

    python examples/data/check_topics.py [DATA_DIR]

Exits 0 when everything passes, 1 otherwise (listing the problems).
"""

from __future__ import annotations

import json
import sys
import unicodedata
from collections import Counter
from pathlib import Path

LABELS = (
    "science/technology",
    "travel",
    "politics",
    "sports",
    "health",
    "entertainment",
    "geography",
)
LANGS = (
    "amh_Ethi",
    "eng_Latn",
    "fra_Latn",
    "hau_Latn",
    "hin_Deva",
    "ibo_Latn",
    "kin_Latn",
    "npi_Deva",
    "som_Latn",
    "swh_Latn",
    "yor_Latn",
    "zul_Latn",
)
N_SENTENCES = 42
PER_LABEL = 6
POOL_PER_LABEL = 2  # sentences numbered 1 and 2 within each label go to the pool

EN_FIELDS = ("id", "label", "text")
ROW_FIELDS = ("id", "lang", "label", "text")

# Unicode ranges for the scripts named in the language codes.
SCRIPT_RANGES = {
    "Latn": ((0x0041, 0x024F), (0x1E00, 0x1EFF)),
    "Ethi": ((0x1200, 0x139F), (0x2D80, 0x2DDF), (0xAB00, 0xAB2F)),
    "Deva": ((0x0900, 0x097F), (0xA8E0, 0xA8FF)),
}
MIN_SCRIPT_SHARE = 0.9  # of the letters in a text (names such as "Lagos" may be Latin)


class Checker:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def error(self, msg: str) -> None:
        self.errors.append(msg)

    def expect(self, cond: bool, msg: str) -> bool:
        if not cond:
            self.error(msg)
        return cond


def in_script(ch: str, script: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in SCRIPT_RANGES[script])


def script_share(text: str, script: str) -> float:
    letters = [ch for ch in text if unicodedata.category(ch).startswith("L")]
    if not letters:
        return 0.0
    return sum(in_script(ch, script) for ch in letters) / len(letters)


def read_jsonl(path: Path, fields: tuple[str, ...], ck: Checker) -> list[dict]:
    rows: list[dict] = []
    if not ck.expect(path.is_file(), f"{path.name}: file missing"):
        return rows
    try:
        content = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        ck.error(f"{path.name}: not valid UTF-8 ({exc})")
        return rows
    ck.expect(content.endswith("\n"), f"{path.name}: last line lacks a newline")
    ck.expect("\r" not in content, f"{path.name}: contains carriage returns")
    ck.expect(not content.startswith("\ufeff"), f"{path.name}: starts with a BOM")
    for n, line in enumerate(content.split("\n")[:-1], start=1):
        where = f"{path.name}:{n}"
        if not ck.expect(line.strip() != "", f"{where}: empty line"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            ck.error(f"{where}: invalid JSON ({exc})")
            continue
        if not ck.expect(isinstance(obj, dict), f"{where}: not a JSON object"):
            continue
        ck.expect(
            line == json.dumps(obj, ensure_ascii=False),
            f"{where}: not written as json.dumps(obj, ensure_ascii=False)",
        )
        ck.expect(
            tuple(obj) == fields,
            f"{where}: fields {list(obj)} != {list(fields)}",
        )
        ok = True
        for key in fields:
            val = obj.get(key)
            if not isinstance(val, str) or not val:
                ck.error(f"{where}: field {key!r} missing, empty or not a string")
                ok = False
                continue
            ck.expect(
                unicodedata.normalize("NFC", val) == val,
                f"{where}: field {key!r} is not NFC-normalised",
            )
            ck.expect(
                val == " ".join(val.split()),
                f"{where}: field {key!r} has leading/trailing/double whitespace",
            )
        if ok:
            ck.expect(obj["label"] in LABELS, f"{where}: unknown label {obj['label']!r}")
            rows.append(obj)
    return rows


def check_english(rows: list[dict], ck: Checker) -> dict[str, dict]:
    name = "topics.en.jsonl"
    ck.expect(len(rows) == N_SENTENCES, f"{name}: {len(rows)} rows, expected {N_SENTENCES}")
    ids = [r["id"] for r in rows]
    expected_ids = [f"t{i:03d}" for i in range(1, N_SENTENCES + 1)]
    ck.expect(ids == expected_ids, f"{name}: ids are not t001..t{N_SENTENCES:03d} in order")
    counts = Counter(r["label"] for r in rows)
    for label in LABELS:
        ck.expect(
            counts[label] == PER_LABEL,
            f"{name}: label {label!r} has {counts[label]} sentences, expected {PER_LABEL}",
        )
    for r in rows:
        ck.expect(
            60 <= len(r["text"]) <= 200,
            f"{name}: {r['id']} is {len(r['text'])} characters (want 60-200)",
        )
    return {r["id"]: r for r in rows}


def pool_ids(english: dict[str, dict]) -> set[str]:
    """Base ids numbered 1..POOL_PER_LABEL within their label (in id order)."""
    seen: Counter[str] = Counter()
    chosen = set()
    for base in sorted(english):
        label = english[base]["label"]
        seen[label] += 1
        if seen[label] <= POOL_PER_LABEL:
            chosen.add(base)
    return chosen


def check_all(rows: list[dict], english: dict[str, dict], ck: Checker) -> None:
    name = "topics.jsonl"
    total = N_SENTENCES * len(LANGS)
    ck.expect(len(rows) == total, f"{name}: {len(rows)} rows, expected {total}")
    ids = [r["id"] for r in rows]
    ck.expect(len(set(ids)) == len(ids), f"{name}: duplicate ids")
    keys = [(r["lang"], r["id"]) for r in rows]
    ck.expect(keys == sorted(keys), f"{name}: rows are not ordered by language, then id")
    per_lang = Counter(r["lang"] for r in rows)
    ck.expect(
        set(per_lang) == set(LANGS),
        f"{name}: languages {sorted(per_lang)} != {sorted(LANGS)}",
    )
    for lang in LANGS:
        ck.expect(
            per_lang[lang] == N_SENTENCES,
            f"{name}: {lang} has {per_lang[lang]} rows, expected {N_SENTENCES}",
        )
    bases_per_lang: dict[str, set[str]] = {lang: set() for lang in LANGS}
    for r in rows:
        where = f"{name}: {r['id']}"
        base, sep, lang = r["id"].partition("-")
        if not ck.expect(
            sep == "-" and lang == r["lang"], f"{where}: id does not end in -{r['lang']}"
        ):
            continue
        if not ck.expect(base in english, f"{where}: unknown sentence id {base!r}"):
            continue
        bases_per_lang.setdefault(lang, set()).add(base)
        ck.expect(
            r["label"] == english[base]["label"],
            f"{where}: label {r['label']!r} differs from English {english[base]['label']!r}",
        )
        if lang == "eng_Latn":
            ck.expect(r["text"] == english[base]["text"], f"{where}: differs from topics.en.jsonl")
        else:
            ck.expect(
                r["text"] != english[base]["text"],
                f"{where}: text identical to the English sentence",
            )
        script = lang.rsplit("_", 1)[-1]
        if script in SCRIPT_RANGES:
            share = script_share(r["text"], script)
            ck.expect(
                share >= MIN_SCRIPT_SHARE,
                f"{where}: only {share:.0%} of letters are in the {script} script",
            )
        else:
            ck.error(f"{where}: no script range known for {script!r}")
    for lang, bases in bases_per_lang.items():
        ck.expect(
            bases == set(english), f"{name}: {lang} does not cover exactly t001..t{N_SENTENCES:03d}"
        )


def check_split(
    all_rows: list[dict],
    pool: list[dict],
    test: list[dict],
    english: dict[str, dict],
    ck: Checker,
) -> None:
    wanted_pool = pool_ids(english)
    n_pool = POOL_PER_LABEL * len(LABELS)
    n_test = N_SENTENCES - n_pool
    by_id = {r["id"]: r for r in all_rows}
    for name, rows, in_pool, per_lang_n in (
        ("topics.pool.jsonl", pool, True, n_pool),
        ("topics.test.jsonl", test, False, n_test),
    ):
        ids = [r["id"] for r in rows]
        ck.expect(len(set(ids)) == len(ids), f"{name}: duplicate ids")
        keys = [(r["lang"], r["id"]) for r in rows]
        ck.expect(keys == sorted(keys), f"{name}: rows are not ordered by language, then id")
        ck.expect(
            len(rows) == per_lang_n * len(LANGS),
            f"{name}: {len(rows)} rows, expected {per_lang_n * len(LANGS)}",
        )
        per_lang = Counter(r["lang"] for r in rows)
        for lang in LANGS:
            ck.expect(
                per_lang[lang] == per_lang_n,
                f"{name}: {lang} has {per_lang[lang]} rows, expected {per_lang_n}",
            )
        per_lang_label = Counter((r["lang"], r["label"]) for r in rows)
        want = POOL_PER_LABEL if in_pool else PER_LABEL - POOL_PER_LABEL
        for lang in LANGS:
            for label in LABELS:
                ck.expect(
                    per_lang_label[(lang, label)] == want,
                    f"{name}: {lang}/{label} has {per_lang_label[(lang, label)]} rows, expected {want}",
                )
        for r in rows:
            base = r["id"].partition("-")[0]
            ck.expect(
                (base in wanted_pool) == in_pool,
                f"{name}: {r['id']} belongs in the {'test' if in_pool else 'pool'} file",
            )
            ck.expect(by_id.get(r["id"]) == r, f"{name}: {r['id']} differs from topics.jsonl")
    pool_set = {r["id"] for r in pool}
    test_set = {r["id"] for r in test}
    ck.expect(not pool_set & test_set, f"pool/test overlap: {sorted(pool_set & test_set)[:5]}")
    ck.expect(
        pool_set | test_set == set(by_id),
        "pool + test does not equal topics.jsonl",
    )


def main(argv: list[str]) -> int:
    data_dir = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent
    ck = Checker()
    en_rows = read_jsonl(data_dir / "topics.en.jsonl", EN_FIELDS, ck)
    all_rows = read_jsonl(data_dir / "topics.jsonl", ROW_FIELDS, ck)
    pool = read_jsonl(data_dir / "topics.pool.jsonl", ROW_FIELDS, ck)
    test = read_jsonl(data_dir / "topics.test.jsonl", ROW_FIELDS, ck)
    english = check_english(en_rows, ck)
    check_all(all_rows, english, ck)
    check_split(all_rows, pool, test, english, ck)
    if ck.errors:
        for msg in ck.errors[:200]:
            print(f"FAIL {msg}", file=sys.stderr)
        if len(ck.errors) > 200:
            print(f"... and {len(ck.errors) - 200} more", file=sys.stderr)
        print(f"{len(ck.errors)} problem(s) found", file=sys.stderr)
        return 1
    print(
        f"OK: {len(en_rows)} English sentences; {len(all_rows)} rows "
        f"({len(LANGS)} languages x {N_SENTENCES}); pool {len(pool)}, test {len(test)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
