"""Language identification and the off-target check.

Layered: NFC normalisation, then the Unicode script of the text against the
scripts the expected language is written in (cheap and exact across scripts),
then a statistical identifier (py3langid) for languages that share a script.
An identifier that cannot name the expected language never decides for it; the
only question asked then is whether the text is in English. Short text is
``uncertain``, never guessed.
"""

from __future__ import annotations

import threading
import unicodedata
from collections import Counter
from functools import lru_cache

from xprompt import languages
from xprompt.types import LangCheck

#: Below this many letters the statistical layer is not trusted.
MIN_LETTERS = 20

_SCRIPT_OF_NAME = {
    "LATIN": "Latn",
    "CYRILLIC": "Cyrl",
    "GREEK": "Grek",
    "ARABIC": "Arab",
    "HEBREW": "Hebr",
    "DEVANAGARI": "Deva",
    "BENGALI": "Beng",
    "GURMUKHI": "Guru",
    "GUJARATI": "Gujr",
    "ORIYA": "Orya",
    "TAMIL": "Taml",
    "TELUGU": "Telu",
    "KANNADA": "Knda",
    "MALAYALAM": "Mlym",
    "SINHALA": "Sinh",
    "THAI": "Thai",
    "LAO": "Laoo",
    "TIBETAN": "Tibt",
    "MYANMAR": "Mymr",
    "GEORGIAN": "Geor",
    "HANGUL": "Hang",
    "ETHIOPIC": "Ethi",
    "KHMER": "Khmr",
    "CJK": "Hani",
    "HIRAGANA": "Jpan",
    "KATAKANA": "Jpan",
    "ARMENIAN": "Armn",
    "TIFINAGH": "Tfng",
    "OL": "Olck",
}

#: Scripts a language code's script may show up as (Japanese mixes kana and Han, Korean Hangul and Han).
_SCRIPT_FAMILY = {
    "Hans": {"Hani"},
    "Hant": {"Hani"},
    "Jpan": {"Jpan", "Hani"},
    "Kore": {"Hang", "Hani"},
}


@lru_cache(maxsize=4096)
def char_script(char: str) -> str | None:
    """ISO 15924 code of a letter's script (coarse, from its Unicode name), None for non-letters."""
    if not char.isalpha():
        return None
    name = unicodedata.name(char, "")
    first = name.split(" ", 1)[0]
    return _SCRIPT_OF_NAME.get(first, "Zyyy")


def script_profile(text: str) -> tuple[Counter[str], int]:
    """Letters per script, and the number of letters."""
    counts: Counter[str] = Counter()
    for char in text:
        script = char_script(char)
        if script is not None:
            counts[script] += 1
    return counts, sum(counts.values())


_identifier_lock = threading.Lock()


@lru_cache(maxsize=1)
def _py3langid():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_pickled_model(MODEL_FILE, norm_probs=True)


def _statistical(text: str) -> tuple[str, float]:
    with _identifier_lock:
        label, prob = _py3langid().classify(text)
    return label, float(prob)


def check(text: str, expected: str) -> LangCheck:
    """Check that ``text`` is in language ``expected`` (canonical code or anything ``resolve`` takes)."""
    lang = languages.resolve(expected)
    text = unicodedata.normalize("NFC", text)
    counts, letters = script_profile(text)
    if letters == 0:
        return LangCheck(lang.code, "uncertain", languages.UND, 0.0, "no-letters")
    allowed = _SCRIPT_FAMILY.get(lang.script, {lang.script})
    in_script = sum(n for s, n in counts.items() if s in allowed)
    share_off = 1.0 - in_script / letters
    top_script = counts.most_common(1)[0][0]
    if share_off > 0.5:
        return LangCheck(
            lang.code, "off", f"und_{top_script}", share_off, "script", off_share=share_off
        )
    if letters < MIN_LETTERS:
        return LangCheck(
            lang.code, "uncertain", languages.UND, 0.0, "too-short", off_share=share_off
        )
    label, prob = _statistical(text)
    detected = _from_langid_label(label)
    if lang.iso639_1 == label or (detected is not None and detected == lang.code):
        return LangCheck(lang.code, "on", lang.code, prob, "py3langid")
    if label == "en" and prob >= 0.9 and lang.code != "eng_Latn":
        return LangCheck(lang.code, "off", "eng_Latn", prob, "py3langid-english", off_share=1.0)
    return LangCheck(lang.code, "uncertain", detected or languages.UND, prob, "py3langid-other")


def _from_langid_label(label: str) -> str | None:
    try:
        return languages.resolve(label).code
    except Exception:
        return None
