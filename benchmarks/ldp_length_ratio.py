"""LDP's length-ratio filter on gold translation pairs: how many correct pairs it rejects, per language.

Every SIB-200 language's sentences (train + dev, FLORES-200) are paired with
their English sentences by ``index_id``; a correct pair should pass the
filter. For each language the share of gold pairs outside ``[min, max]``
(default [1/3, 3]) is reported for both length measures of
``xprompt.ldp.filters``: ``letters`` (every letter and digit counts 1) and
``script`` (the default: weighted by script, a Han character 3, a Hangul
syllable 2, kana 1.5). The ratio is X / English (the English -> X direction; the
bounds are symmetric, so X -> English rejects the same pairs).

Run: ``.venv/bin/python benchmarks/ldp_length_ratio.py [--data ../shared/data/sib200] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from xprompt.evals.datasets import SplitSpec, load_local, local_languages
from xprompt.ldp.filters import LENGTH_MEASURES, FilterSettings, text_length

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "sib200"


def sentences(root: Path, lang: str) -> dict[str, str]:
    """index_id -> text, train and dev."""
    out: dict[str, str] = {}
    for split in ("train", "dev"):
        for row in load_local("sib200", root, lang, SplitSpec.parse(split)).rows:
            if row.get("text"):
                out[str(row["id"])] = row["text"]
    return out


def measure(
    root: Path, settings: FilterSettings, langs: list[str] | None = None
) -> dict[str, dict[str, float]]:
    """Per language (``langs``, default every one): gold pairs and the share each measure rejects."""
    english = sentences(root, "eng_Latn")
    results: dict[str, dict[str, float]] = {}
    for lang in langs or sorted(local_languages("sib200", root)):
        if lang == "eng_Latn":
            continue
        own = sentences(root, lang)
        pairs = [(own[k], english[k]) for k in own if k in english]
        entry: dict[str, float] = {"pairs": len(pairs)}
        for name in LENGTH_MEASURES:
            rejected = 0
            for text, eng in pairs:
                source = text_length(eng, name)  # type: ignore[arg-type]
                ratio = text_length(text, name) / source if source else float("inf")  # type: ignore[arg-type]
                rejected += not settings.min_ratio <= ratio <= settings.max_ratio
            entry[name] = rejected / len(pairs) if pairs else 0.0
        results[lang] = entry
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SIB-200 release root")
    parser.add_argument("--min-ratio", type=float, default=1 / 3)
    parser.add_argument("--max-ratio", type=float, default=3.0)
    parser.add_argument("--json", action="store_true", help="print every language as JSON")
    args = parser.parse_args()
    settings = FilterSettings(min_ratio=args.min_ratio, max_ratio=args.max_ratio)
    results = measure(args.data, settings)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(
        f"gold pairs rejected by the length ratio [{settings.min_ratio:.3g}, {settings.max_ratio:.3g}]"
    )
    print(f"{'language':<10} {'pairs':>6} {'letters':>8} {'script':>8}")
    worst = sorted(results.items(), key=lambda kv: -max(kv[1]["letters"], kv[1]["script"]))
    for lang, entry in worst[:12]:
        print(
            f"{lang:<10} {entry['pairs']:>6.0f} {100 * entry['letters']:>7.1f}% "
            f"{100 * entry['script']:>7.1f}%"
        )
    for name in LENGTH_MEASURES:
        over = [lang for lang, e in results.items() if e[name] > 0.01]
        top = max(results.items(), key=lambda kv: kv[1][name])
        print(
            f"{name}: {len(over)} of {len(results)} languages reject more than 1% of gold pairs; "
            f"worst {top[0]} {100 * top[1][name]:.1f}%"
        )


if __name__ == "__main__":
    main()
