"""Answer extraction: turn a model's text into a canonical answer, recording the rule that fired.

Parsers (``PARSERS``, chosen by name with :func:`extract`):

- ``number`` (the robust default for numeric tasks): the number after the
  last answer cue in any of many languages (``Answer:``, ``Antwort:``,
  ``Jibu ni``, ``答案是``, ``উত্তর:``, ``መልስ:``, ...), else in ``\\boxed{}``,
  else the last number in the text. Native decimal digits, Ethiopic numerals,
  full-width forms and the language's thousands / decimal separators are read
  (see ``xprompt.numerals``); CJK numerals are read right after a cue.
- ``mgsm-paper``: the MGSM rule of Qin et al. (2023), exactly as their code
  does it: the text after the last ``Answer:``, commas removed, the last match
  of ``-?\\d+\\.?\\d*`` read with ``float``. (Python's ``\\d`` matches every
  Unicode decimal digit, so native digits are read; Ethiopic numerals, other
  separators and localised cues are not.)
- ``choice``: map the text onto a label set (display names in the prompt
  language, or canonical labels, or option letters such as ``(B)``).
- ``text``: the stripped text itself.
- ``regex``: the first group of a pattern.

Every extraction says which rule produced it (``answer-cue``, ``boxed``,
``last-number``, ``exact``, ...) or why nothing was found (``no-label``,
``no-number``), and keeps the raw text it read (``matched``), so extraction
failures can be counted per language and checked by eye.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from xprompt import numerals

#: The foundation's simple number pattern (kept for callers that use it directly).
NUMBER = re.compile(r"-?\d+(?:[.,]\d+)*")

#: Parser names and what they do (``--parser`` / ``--opt parser=``).
PARSERS: dict[str, str] = {
    "number": "robust: localised answer cues, native digits, separators, then the last number",
    "mgsm-paper": "Qin et al. 2023: text after the last 'Answer:', commas removed, last -?\\d+\\.?\\d*",
    "choice": "a label from the label set, or an option letter like (B)",
    "text": "the stripped text",
    "regex": "the first group of a regular expression",
}

#: What a parser's published rule predicts when no path gave an answer (xprompt: nothing).
#: Qin et al.'s CLP/CLSP scripts predict 0, so re-scoring their files is exact.
NO_ANSWER_FALLBACK: dict[str, str] = {"mgsm-paper": "0"}

#: Rules that mean "no answer found" (metrics count them as extraction failures).
FAILED_RULES = frozenset({"no-label", "no-number", "no-match", "empty"})

#: Words that introduce the final answer, by ISO 639-3 code (matched case-insensitively, any language).
ANSWER_CUES: dict[str, tuple[str, ...]] = {
    "eng": ("final answer", "answer"),
    "deu": ("antwort",),
    "spa": ("respuesta",),
    "fra": ("réponse", "reponse"),
    "por": ("resposta",),
    "ita": ("risposta",),
    "nld": ("antwoord",),
    "rus": ("ответ",),
    "ukr": ("відповідь",),
    "pol": ("odpowiedź",),
    "tur": ("cevap", "yanıt"),
    "ell": ("απάντηση",),
    "jpn": ("答え", "解答", "回答", "正解"),
    "zho": ("答案", "答"),
    "kor": ("정답", "답"),
    "swh": ("jibu",),
    "hau": ("amsa",),
    "yor": ("ìdáhùn", "idahun"),
    "ibo": ("azịza", "aziza"),
    "kin": ("igisubizo",),
    "zul": ("impendulo",),
    "xho": ("impendulo",),
    "som": ("jawaab",),
    "amh": ("መልሱ", "መልስ"),
    "tir": ("መልሲ",),
    "ben": ("উত্তর",),
    "hin": ("उत्तर",),
    "mar": ("उत्तर",),
    "npi": ("उत्तर",),
    "tel": ("సమాధానం", "జవాబు"),
    "tam": ("பதில்", "விடை"),
    "tha": ("คำตอบ",),
    "lao": ("ຄຳຕອບ",),
    "khm": ("ចម្លើយ",),
    "mya": ("အဖြေ",),
    "arb": ("الإجابة", "الاجابة", "الجواب", "إجابة", "جواب"),
    "pes": ("پاسخ", "جواب"),
    "urd": ("جواب",),
    "heb": ("תשובה",),
    "vie": ("đáp án", "câu trả lời", "trả lời"),
    "ind": ("jawaban",),
    "zsm": ("jawapan",),
    "tgl": ("sagot",),
}

#: Words that may stand between a cue and the number ("The answer is 12", "答案是12", "Jibu ni 12").
COPULAS = (
    "is", "are", "was", "would be", "ist", "lautet", "est", "es", "é", "è", "ni", "ya", "ni:",
    "равен", "равно", "составляет", "là", "adalah", "ialah", "hal", "হল", "হলো", "হবে", "है",
    "होगा", "ነው", "是", "为", "為", "は", "が", "는", "은", "คือ", "ได้", "=",
)  # fmt: skip

#: Scripts written without spaces between words: their cues need no word boundary.
_UNSPACED = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "THAI", "LAO", "KHMER", "MYANMAR")


@dataclass(frozen=True, slots=True)
class Extraction:
    """A canonical answer (or None), the rule that produced it, and the raw text it was read from."""

    value: str | None
    rule: str
    matched: str | None = None

    @property
    def ok(self) -> bool:
        return self.value is not None


# -- answer cues ---------------------------------------------------------------------


def _unspaced(word: str) -> bool:
    import unicodedata

    return any(unicodedata.name(c, "").startswith(_UNSPACED) for c in word if c.isalpha())


def _alternation(words: Sequence[str], *, suffix: str = "") -> str:
    spaced = [re.escape(w).replace(r"\ ", r"\s+") for w in words if not _unspaced(w)]
    unspaced = [re.escape(w) for w in words if _unspaced(w)]
    parts = []
    if spaced:
        parts.append(r"(?<!\w)(?:" + "|".join(spaced) + ")" + suffix + r"(?!\w)")
    if unspaced:
        parts.append("(?:" + "|".join(unspaced) + ")")
    return "|".join(parts)


@lru_cache(maxsize=2)
def _cue_pattern(numeric: bool = True) -> re.Pattern[str]:
    words = sorted({w for cues in ANSWER_CUES.values() for w in cues}, key=len, reverse=True)
    copulas = sorted(COPULAS, key=len, reverse=True)
    # Cues may carry a short inflection ("answers", "መልሱ", "ответа").
    cue = "(?P<cue>" + _alternation(words, suffix=r"[^\W\d_]{0,3}") + "|####)"
    number_ahead = r"(?=[-\d\[(\$€£¥₹" + numerals.ETHIOPIC_CHARS + numerals.CJK_CHARS + "])"
    # A cue counts only when a colon, a copula or the number itself follows it, so that
    # "Let me answer this question" is not a cue while "Answer: ...", "The answer is 12",
    # "Jibu ni 12" and "答案12" are.
    after = (
        r"(?:[\s*_]*[:=][\s*_]*"
        r"|[\s*_]*(?:[\-—]|" + _alternation(copulas) + r")?[\s*_:]*" + number_ahead + ")"
    )
    if not numeric:
        after = r"(?:[\s*_]*[:=][\s*_]*|[\s*_]*(?:" + _alternation(copulas) + r")[\s*_:]*)"
    return re.compile(cue + after, re.IGNORECASE)


def answer_cues(text: str, *, numeric: bool = True) -> list[re.Match[str]]:
    """Every answer cue in ``text`` (already digit-normalised), in order; ``match.end()`` is where the answer starts.

    ``numeric``: the answer is a number, so a cue may also be followed directly
    by it ("Answer 12", "答案12"); otherwise a colon or a copula must follow.
    """
    return list(_cue_pattern(numeric).finditer(text))


_SENTENCE_END = re.compile(r"[\n。！？!?।॥።؟]|\.(?=\s|$)")


def _cue_span(text: str, start: int) -> tuple[int, int]:
    """The answer after a cue: from ``start`` (blanks skipped) to the end of that sentence or line."""
    while start < len(text) and text[start] in " \t\r\n":
        start += 1
    end = _SENTENCE_END.search(text, start)
    return start, len(text) if end is None else end.start()


# -- numbers -------------------------------------------------------------------------

_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")


def extract_number(text: str, lang: str | None = None) -> Extraction:
    """The answer number of a reasoning text (the robust ``number`` parser).

    In order: the last number on the line after the last answer cue that has
    one (``answer-cue``; a CJK numeral right after a cue counts too), the last
    number inside the last ``\\boxed{...}`` (``boxed``), the last number in the
    text (``last-number``); else ``no-number``. ``lang`` (the language the text
    is in) decides whether ``1.250`` is 1250 or 1.25.
    """
    normal = numerals.normalize(text)
    for cue in reversed(answer_cues(normal)):
        start, end = _cue_span(normal, cue.end())
        found = numerals.numbers_in(text, lang, start=start, end=end)
        if found:
            return Extraction(found[-1].canonical, "answer-cue", found[-1].raw)
        cjk = numerals.cjk_number_at(text, start)
        if cjk is not None:
            return Extraction(cjk.canonical, "answer-cue", cjk.raw)
    boxed = list(_BOXED.finditer(normal))
    if boxed:
        inner = boxed[-1]
        found = numerals.numbers_in(text, lang, start=inner.start(1), end=inner.end(1))
        if found:
            return Extraction(found[-1].canonical, "boxed", found[-1].raw)
    found = numerals.numbers_in(text, lang)
    if found:
        return Extraction(found[-1].canonical, "last-number", found[-1].raw)
    return Extraction(None, "no-number")


_PAPER_NUMBER = re.compile(r"-?\d+\.?\d*")


def extract_mgsm_paper(text: str) -> Extraction:
    """Qin et al. (2023)'s MGSM extraction, exactly: after the last ``Answer:``, commas removed, last number.

    Their code: ``text.split("Answer:")[-1].replace(",", "")``, then the last
    match of ``-?\\d+\\.?\\d*``, read as ``float``. The rule is ``paper-answer``
    when the text has ``Answer:``, ``paper-last-number`` when it has none (the
    whole text is searched), ``no-number`` when nothing matched.
    """
    segment = text.split("Answer:")[-1].replace(",", "")
    found = _PAPER_NUMBER.findall(segment)
    if not found:
        return Extraction(None, "no-number")
    raw = found[-1]
    number = float(raw)
    # Past ~1e308 ``float`` is infinite (their ``int(float(x) * 100)`` then raises
    # OverflowError): keep the number exactly as written, so it is scored as wrong.
    exact = Decimal(raw.rstrip(".")) if math.isinf(number) else Decimal(repr(number))
    value = numerals.canonical(exact)
    return Extraction(value, "paper-answer" if "Answer:" in text else "paper-last-number", raw)


# -- labels --------------------------------------------------------------------------

_EDGE_PUNCT = ".:;!?\"'`*()[]{}<> \t\r\n"


def _label_positions(
    text: str, candidates: Sequence[tuple[str, str]], structured: bool
) -> list[tuple[int, int, str]]:
    """(position, -length, label) of every label mention; one-character labels only in structured form."""
    found: list[tuple[int, int, str]] = []
    for name, label in candidates:
        key = name.casefold()
        if not key:
            continue
        if len(key) == 1:
            if not structured:
                continue
            pattern = rf"(?<!\w){re.escape(key)}(?!\w)"
        elif len(key) <= 3:
            pattern = rf"(?<!\w){re.escape(key)}(?!\w)"
        else:
            pattern = re.escape(key)
        match = re.search(pattern, text)
        if match is not None:
            found.append((match.start(), -len(key), label))
    return sorted(found)


_OPTION = re.compile(r"(?:\(([A-Za-z0-9])\)|^\s*([A-Za-z0-9])[.)](?:\s|$))", re.MULTILINE)


#: Texts up to this long have their label extraction kept (constrained decoding repeats a few).
CHOICE_CACHE_CHARS = 64


def extract_choice(text: str, shown: Sequence[str], canonical: Sequence[str]) -> Extraction:
    """Map generated text onto a label set. ``shown[i]`` is how label ``canonical[i]`` was displayed.

    In order: the whole text is a label (``exact``, after stripping quotes,
    brackets and markdown); the first label after the last answer cue
    (``answer-cue``); an option written as ``(B)`` or ``B)`` at a line start
    (``option``); the label mentioned first in the text (``contains``; on a
    tie the longer name). One-character labels (letters, digits) are matched
    only in the first three forms, never inside running text. Full-width
    forms are read as ASCII.

    The result depends on the arguments alone, so the extractions of short
    texts (labels, as constrained decoding writes them) are kept (bounded).
    """
    if type(text) is str and len(text) <= CHOICE_CACHE_CHARS:
        try:
            return _extract_choice_kept(text, tuple(shown), tuple(canonical))
        except TypeError:  # unhashable labels: not kept
            pass
    return _extract_choice(text, shown, canonical)


@lru_cache(maxsize=4096)
def _extract_choice_kept(
    text: str, shown: tuple[str, ...], canonical: tuple[str, ...]
) -> Extraction:
    return _extract_choice(text, shown, canonical)


def _extract_choice(text: str, shown: Sequence[str], canonical: Sequence[str]) -> Extraction:
    pairs = list(zip(shown, canonical, strict=True))
    candidates = [(name, label) for name, label in pairs] + [(label, label) for _, label in pairs]
    normal = numerals.normalize(text)
    key = normal.strip().strip(_EDGE_PUNCT).strip().casefold()
    for name, label in candidates:
        if key and key == name.casefold():
            return Extraction(label, "exact", text.strip())
    lowered = normal.casefold()
    for cue in reversed(answer_cues(normal, numeric=False)):
        start, end = _cue_span(lowered, cue.end())
        hits = _label_positions(lowered[start:end], candidates, structured=True)
        if hits:
            return Extraction(hits[0][2], "answer-cue", text[start:end].strip())
    options = {name.casefold(): label for name, label in candidates if len(name) == 1}
    for match in reversed(list(_OPTION.finditer(normal))):
        letter = (match.group(1) or match.group(2)).casefold()
        if letter in options:
            return Extraction(options[letter], "option", match.group(0).strip())
    hits = _label_positions(lowered, candidates, structured=False)
    if hits:
        position, length, label = hits[0]
        return Extraction(label, "contains", text[position : position - length])
    return Extraction(None, "no-label")


# -- others --------------------------------------------------------------------------


def extract_regex(text: str, pattern: str) -> Extraction:
    """The first group (or the whole match) of ``pattern``'s first match."""
    match = re.search(pattern, text)
    if match is None:
        return Extraction(None, "no-match")
    value = match.group(1) if match.groups() else match.group(0)
    return Extraction(value.strip(), "regex", match.group(0))


def extract_text(text: str) -> Extraction:
    """The stripped text; empty text is no answer."""
    stripped = text.strip()
    return Extraction(stripped or None, "text" if stripped else "empty")


def extract(
    text: str,
    parser: str,
    *,
    lang: str | None = None,
    choices: Sequence[str] | None = None,
    shown: Sequence[str] | None = None,
    pattern: str | None = None,
) -> Extraction:
    """Extract an answer with the named parser (see ``PARSERS``).

    ``lang`` is the language the text is in (separators); ``choices`` the
    canonical label set and ``shown`` its display names (``choice``);
    ``pattern`` the regex (``regex``).
    """
    if parser == "number":
        return extract_number(text, lang)
    if parser == "mgsm-paper":
        return extract_mgsm_paper(text)
    if parser == "choice":
        if not choices:
            raise ValueError("the 'choice' parser needs a label set")
        return extract_choice(text, list(shown or choices), list(choices))
    if parser == "regex":
        if not pattern:
            raise ValueError("the 'regex' parser needs a pattern")
        return extract_regex(text, pattern)
    if parser == "text":
        return extract_text(text)
    raise ValueError(f"unknown answer parser '{parser}' (known: {', '.join(PARSERS)})")


# -- voting and scoring --------------------------------------------------------------


def majority_vote(
    values: Sequence[str | None], order: Sequence[str] | None = None
) -> tuple[str | None, dict[str, int]]:
    """Plain majority over non-missing values.

    Ties go to the value whose first supporter comes earliest in ``values``
    (callers order paths by their tie rule, e.g. CLSP's language order).
    ``order`` is accepted for readability at call sites and must match ``values``.
    """
    if order is not None and len(order) != len(values):
        raise ValueError("order must name one entry per value")
    counts = Counter(v for v in values if v is not None)
    if not counts:
        return None, {}
    top = max(counts.values())
    for value in values:
        if value is not None and counts[value] == top:
            return value, dict(counts)
    raise AssertionError("unreachable")


def _as_number(text: str) -> Decimal | None:
    try:
        return Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        found = numerals.numbers_in(text)
        return found[0].value if len(found) == 1 else None


_CENT = Decimal("0.01")


def is_correct(prediction: str | None, target: str, parser: str) -> bool:
    """Whether a canonical prediction equals the gold target under the parser's notion of equality.

    ``number``: equal when they agree to two decimals (rounded; the gold may
    use native digits). ``mgsm-paper``: the paper's own test,
    ``int(float(x) * 100)`` equal (truncated). Labels compare after stripping,
    case-insensitively; texts after stripping.
    """
    if prediction is None:
        return False
    if parser == "mgsm-paper":
        # The paper's test; a number past float's range (a model looping out digits) is wrong,
        # not an OverflowError that would end the scoring.
        try:
            return int(float(prediction) * 100) == int(float(target.replace(",", "")) * 100)
        except (ValueError, OverflowError):
            return False
    if parser == "number":
        pred, gold = _as_number(prediction), _as_number(target)
        if pred is None or gold is None:
            return False
        try:
            return pred.quantize(_CENT) == gold.quantize(_CENT)
        except InvalidOperation:  # more digits than the decimal context holds
            return pred == gold
    if parser == "choice":
        return prediction.strip().casefold() == target.strip().casefold()
    return prediction.strip() == target.strip()
