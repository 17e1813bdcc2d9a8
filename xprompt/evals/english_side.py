"""The English side of translate-test projection, shared by every projection method of a language.

Every sentence is translated into English (:func:`xprompt.projection.pipeline.translate_to_pivot`)
and tagged there; the tagged sentences go to a JSONL spans file that each
projection cell reads (``ProjectJob(english_spans=...)``), so marker-based
projection and CODEC project exactly the same English spans. The file is
named by a digest of what it depends on (input, MT settings, tagger) and is
built once; its cost (MT and tagger calls, tokens, seconds) is stored beside
it and added to every projection cell's cost, since each method needs it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xprompt.evals.measure import Cost
from xprompt.mt.base import Translator
from xprompt.projection.pipeline import translate_to_pivot
from xprompt.projection.spans import SpanSentence, read_span_file

PIVOT = "eng_Latn"


def english_path(
    out_dir: Path, lang: str, data_file: Path, translator_id: str, tagger_id: str
) -> Path:
    """Where the tagged English of one language's sentences is kept (named by what it depends on)."""
    key = hashlib.sha256(
        "|".join(
            [hashlib.sha256(data_file.read_bytes()).hexdigest(), translator_id, tagger_id]
        ).encode()
    ).hexdigest()[:12]
    return out_dir / f"{lang}.{key}.jsonl"


def cost_path(path: Path) -> Path:
    """Where the cost of building ``path`` is kept."""
    return Path(str(path) + ".cost.json")


def read_cost(path: Path) -> Cost:
    """The stored cost of building ``path`` (zero when it has not been built)."""
    stored = cost_path(path)
    if not stored.is_file():
        return Cost()
    return Cost.from_dict(json.loads(stored.read_text(encoding="utf-8")).get("cost", {}))


def build_english(
    path: Path,
    data_file: Path,
    lang: str,
    translator: Translator,
    tagger: Callable[[list[str]], list[list[Any]]],
    *,
    tagger_cost: Callable[[], Cost] | None = None,
    exclude_seconds: Callable[[], float] | None = None,
) -> Cost:
    """Translate and tag the sentences of ``data_file`` into ``path`` (once); return the cost.

    ``tagger_cost`` reports what the tagger spent; ``exclude_seconds`` returns seconds
    to leave out of the wall time (an engine that started meanwhile).
    """
    if path.is_file() and cost_path(path).is_file():
        return read_cost(path)
    began = time.perf_counter()
    sentences = [s for s in read_span_file(data_file, lang=lang) if isinstance(s, SpanSentence)]
    translations = translate_to_pivot(sentences, translator, PIVOT)
    good = [
        (s, t.text)
        for s, t in zip(sentences, translations, strict=True)
        if t.ok and (t.text or "").strip()
    ]
    tags = tagger([text for _, text in good]) if good else []
    failures = {
        s.id: t.error or "empty translation"
        for s, t in zip(sentences, translations, strict=True)
        if not (t.ok and (t.text or "").strip())
    }
    rows = []
    for (sentence, text), spans in zip(good, tags, strict=True):
        rows.append(
            {
                "id": sentence.id,
                "lang": PIVOT,
                "text": text,
                "spans": [s.to_dict(text) for s in spans],
            }
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    cost = Cost(
        rows=len(sentences),
        mt_calls=len(sentences),
        mt_tokens=sum(t.tokens for t in translations),
    )
    if tagger_cost is not None:
        cost.add(tagger_cost())
    cost.wall_s = time.perf_counter() - began - (exclude_seconds() if exclude_seconds else 0.0)
    cost.timed_rows = len(sentences)
    record = {"cost": cost.to_dict(), "translation_failures": failures}
    cost_path(path).write_text(json.dumps(record, ensure_ascii=False, indent=2), encoding="utf-8")
    return cost
