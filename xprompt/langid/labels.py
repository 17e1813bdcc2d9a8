"""Conversions between each detector's labels and canonical codes: the one place for them.

Detectors name languages in their own ways: py3langid and langdetect in ISO
639-1 (with a few 639-3 codes and ``zh-cn``), pycld2 in ISO 639-1 with old
codes (``iw``, ``jw``) and pseudo-languages (``xx-Bugi``, ``zzp``), fastText
language-ID models as ``__label__hau_Latn`` (GlotLID, OpenLID) or
``__label__ha`` (fastText's lid.176). Everything goes through
:func:`xprompt.languages.resolve`, except the labels listed here, which it
cannot resolve or which name no language at all (``None``).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from xprompt import languages
from xprompt.errors import UnknownLanguageError

#: Label -> canonical code, or None for labels that name no language. Per detector.
OVERRIDES: dict[str, dict[str, str | None]] = {
    "py3langid": {
        "zxx": None,  # "no linguistic content"
        "bcl": "bcl_Latn",
        "gcf": "gcf_Latn",
        "hbo": "hbo_Hebr",
        "uzs": "uzs_Arab",
        "grc": "grc_Grek",
    },
    "langdetect": {"zh-cn": "zho_Hans", "zh-tw": "zho_Hant"},
    "pycld2": {
        "un": None,  # unknown
        "xxx": None,
        "zzp": None,  # Pig Latin
        "tlh": None,  # Klingon
        "xx-Bugi": "bug_Bugi",
        "xx-Goth": "got_Goth",
        "bh": "bih_Deva",
        "hmn": "hmn_Latn",
        "ie": "ile_Latn",
        "zh-Hant": "zho_Hant",
    },
    "fasttext": {},
}

_FASTTEXT_PREFIX = "__label__"


@lru_cache(maxsize=4096)
def canonical(detector: str, label: str) -> str | None:
    """The canonical code a ``detector`` means by ``label``; None if it names no known language.

    ``detector`` is one of the keys of :data:`OVERRIDES`. fastText labels may
    carry the ``__label__`` prefix. Labels like ``und_Zyyy`` and ``zxx_Zxxx``
    (no language) map to None.
    """
    table = OVERRIDES.get(detector)
    if table is None:
        raise ValueError(f"unknown detector {detector!r} (known: {', '.join(OVERRIDES)})")
    if detector == "fasttext" and label.startswith(_FASTTEXT_PREFIX):
        label = label[len(_FASTTEXT_PREFIX) :]
    if label in table:
        return table[label]
    base = label.replace("-", "_").split("_", 1)[0].lower()
    if base in ("und", "zxx", "mis", "mul", "xxx"):
        return None
    try:
        return languages.resolve(label).code
    except UnknownLanguageError:
        return None


def label_map(detector: str, labels: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """Canonical code per label for a detector's label set, and the labels that name no language."""
    mapped: dict[str, str] = {}
    unmapped: list[str] = []
    for label in labels:
        code = canonical(detector, label)
        if code is None:
            unmapped.append(label)
        else:
            mapped[label] = code
    return mapped, unmapped
