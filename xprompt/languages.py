"""Canonical language codes: FLORES-200 style ``hau_Latn`` (ISO 639-3 + ``_`` + ISO 15924).

Every language inside xprompt is a :class:`Language` whose ``code`` is the
canonical code. On input we accept canonical codes (any case, ``_`` or ``-``),
ISO 639-1/3 codes, BCP-47 tags (``ha-NG``, ``sr-Latn``, ``zh-TW``) and English or
native language names; :func:`resolve_with_note` says in one sentence how an
input was mapped whenever the mapping is not the identity.

Languages outside FLORES-200 resolve too (``gaa`` -> ``gaa_Latn``) when langcodes
knows them and can tell their likely script; ``in_flores200`` tells them apart.
``und`` (undetermined) is a legal language-ID answer but never a prompt
language, so :func:`resolve` rejects it.

Codes win over names: 'Ga' is ISO 639-1 for Irish, so the Ga language is ``gaa``.

Lookup tables are built on first use and results are cached, so importing this
module is cheap and resolving a code twice costs a dict lookup.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from xprompt.errors import UnknownLanguageError

if TYPE_CHECKING:
    import langcodes

__all__ = [
    "MACROLANGUAGES",
    "MT_FAMILIES",
    "UND",
    "Language",
    "english_name",
    "flores200_codes",
    "is_canonical",
    "mt_language_tokens",
    "resolve",
    "resolve_with_note",
]

UND = "und"
"""Undetermined: a legal language-ID answer that never goes into a prompt."""

_DATA_FILE = Path(__file__).parent / "resources" / "flores200.tsv"

MACROLANGUAGES: dict[str, str] = {
    # ISO 639-3 macrolanguage -> the FLORES-200 code that stands for it. FLORES-200
    # mostly uses individual-language codes (swh, not swa); for aka, est, grn, kon,
    # srd and zho it uses the macrolanguage code itself. Both kinds are listed so
    # the note of resolve_with_note can say that a macrolanguage was narrowed.
    "aka": "aka_Latn",  # Akan
    "ara": "arb_Arab",  # Arabic -> Modern Standard Arabic
    "aym": "ayr_Latn",  # Aymara -> Central Aymara
    "aze": "azj_Latn",  # Azerbaijani -> North Azerbaijani (Arabic script: azb_Arab)
    "din": "dik_Latn",  # Dinka -> Southwestern Dinka
    "est": "est_Latn",  # Estonian
    "fas": "pes_Arab",  # Persian -> Western Persian (Dari is prs_Arab)
    "ful": "fuv_Latn",  # Fula -> Nigerian Fulfulde
    "grn": "grn_Latn",  # Guarani
    "kau": "knc_Latn",  # Kanuri -> Central Kanuri
    "kon": "kon_Latn",  # Kongo
    "kur": "kmr_Latn",  # Kurdish -> Northern Kurdish (Arabic script: ckb_Arab)
    "lav": "lvs_Latn",  # Latvian -> Standard Latvian
    "mlg": "plt_Latn",  # Malagasy -> Plateau Malagasy
    "mon": "khk_Cyrl",  # Mongolian -> Halh Mongolian
    "msa": "zsm_Latn",  # Malay -> Standard Malay
    "nep": "npi_Deva",  # Nepali -> Nepali (individual language)
    "nor": "nob_Latn",  # Norwegian -> Norwegian Bokmål
    "ori": "ory_Orya",  # Oriya -> Odia (individual language)
    "orm": "gaz_Latn",  # Oromo -> West Central Oromo
    "pus": "pbt_Arab",  # Pashto -> Southern Pashto
    "que": "quy_Latn",  # Quechua -> Ayacucho Quechua
    "sqi": "als_Latn",  # Albanian -> Tosk Albanian
    "srd": "srd_Latn",  # Sardinian
    "swa": "swh_Latn",  # Swahili -> Swahili (individual language)
    "tmh": "taq_Latn",  # Tamashek -> Tamasheq
    "uzb": "uzn_Latn",  # Uzbek -> Northern Uzbek
    "yid": "ydd_Hebr",  # Yiddish -> Eastern Yiddish
    "zho": "zho_Hans",  # Chinese -> Mandarin, simplified script by default
}

# A macrolanguage in a given script or region that FLORES-200 covers by another member.
_MACROLANGUAGE_MEMBERS: dict[tuple[str, str], str] = {
    ("aze", "Arab"): "azb",  # South Azerbaijani
    ("fas", "AF"): "prs",  # Persian of Afghanistan: Dari
    ("kur", "Arab"): "ckb",  # Central Kurdish (Sorani)
}

# Individual languages that FLORES-200 files under another code.
_LANGUAGE_ALIASES: dict[str, str] = {
    "cmn": "zho",  # Mandarin Chinese: FLORES-200 zho_Hans/zho_Hant are Mandarin
    "ekk": "est",  # Standard Estonian
    "fil": "tgl",  # Filipino, the standard form of Tagalog
    "gug": "grn",  # Paraguayan Guarani
}

# Full codes used elsewhere for a FLORES-200 language.
_CODE_ALIASES: dict[str, tuple[str, str]] = {
    "sat_Beng": ("sat_Olck", "NLLB-200 labels its Ol Chiki Santali data sat_Beng"),
}

# The script chosen when the input names a multi-script FLORES-200 language
# without a script: CLDR's likely script where it has one (langcodes), else the
# script of the larger FLORES-200 data source (knc: Latin).
_DEFAULT_SCRIPT: dict[str, str] = {
    "ace": "Latn",
    "arb": "Arab",
    "bjn": "Latn",
    "kas": "Arab",
    "knc": "Latn",
    "min": "Latn",
    "taq": "Latn",
    "zho": "Hans",
}

# Script codes that FLORES-200 writes differently for the same text.
_SCRIPT_EQUIVALENTS = {"Kore": "Hang"}  # Korean: Hangul (+Han) is what FLORES calls Hang

# Macrolanguage autonyms that name a different variety than the FLORES member.
_NO_MACRO_AUTONYM = frozenset({"fuv"})  # 'Pulaar' is the Senegalese variety of Fula

# ISO 639 codes that are not languages.
_SPECIAL_CODES: dict[str, str] = {
    "mis": "uncoded languages",
    "mul": "multiple languages",
    "zxx": "no linguistic content",
}

_CANONICAL_RE = re.compile(r"([A-Za-z]{3})[_-]([A-Za-z]{4})")
_HOW_TO = (
    "Use a FLORES-200 code like hau_Latn, an ISO 639 code like ha/hau, "
    "a BCP-47 tag or an English name."
)


@dataclass(frozen=True, slots=True)
class Language:
    """A resolved language. Build one with :func:`resolve`, not by hand.

    Fields:
        code: canonical FLORES-200 style code, ``hau_Latn``.
        iso639_3: ISO 639-3 language code, ``hau``.
        script: ISO 15924 script code, ``Latn``.
        name: English name; the FLORES-200 name for FLORES-200 languages.
        native_name: the autonym from language_data (``Èdè Yorùbá``), None if it has none.
        in_flores200: whether ``code`` is one of the 204 FLORES-200 codes.
    """

    code: str
    iso639_3: str
    script: str
    name: str
    native_name: str | None
    in_flores200: bool

    @property
    def iso639_1(self) -> str | None:
        """The two-letter ISO 639-1 code, or None.

        For an individual language that FLORES-200 uses in place of a
        macrolanguage (swh, arb, zsm, ...) this is the macrolanguage's code
        ('sw', 'ar', 'ms'), which is what other tools expect.
        """
        return _iso639_1(self.iso639_3)

    @property
    def bcp47(self) -> str:
        """A BCP-47 tag ('ha', 'sr-Latn', 'zh-Hant'), script only where not the default."""
        language = self.iso639_1 or _short_code(self.iso639_3)
        if self.script == _tag_default_script(language, self.iso639_3):
            return language
        return f"{language}-{self.script}"

    def __str__(self) -> str:
        return self.code


def resolve(text: str) -> Language:
    """Resolve a code, tag or name to its canonical :class:`Language`.

    Raises :class:`~xprompt.errors.UnknownLanguageError` for unknown input,
    for ``und`` and for empty or non-string input.
    """
    return resolve_with_note(text)[0]


def resolve_with_note(text: str) -> tuple[Language, str | None]:
    """Resolve like :func:`resolve` and explain the mapping in one sentence.

    The note is None when the input already was the canonical code (up to case
    and ``-``/``_``), else e.g. ``"'sw' (Swahili, macrolanguage) -> swh_Latn (Swahili)"``.
    """
    if not isinstance(text, str):
        raise UnknownLanguageError(
            f"language must be a string such as 'hau_Latn', got {type(text).__name__} {text!r}"
        )
    if not text.strip():
        raise UnknownLanguageError(f"language is empty. {_HOW_TO}")
    return _resolve_cached(text.strip())


def flores200_codes() -> tuple[str, ...]:
    """All 204 FLORES-200 codes, sorted."""
    return tuple(sorted(_flores_names()))


def is_canonical(code: str) -> bool:
    """Whether ``code`` is exactly the canonical code it resolves to ('hau_Latn', 'gaa_Latn')."""
    try:
        return resolve(code).code == code
    except UnknownLanguageError:
        return False


def english_name(code: str) -> str:
    """The English name of a language given in any accepted form: ``resolve(code).name``."""
    return resolve(code).name


# --- resolution ---------------------------------------------------------------------


#: Names the papers' prompts use where FLORES-200's name is a variety's (Qin et al.'s CLP
#: and Etxaniz et al.'s self-translate write "Arabic", "Quechua", "Haitian", "Chinese").
PROMPT_NAMES: dict[str, str] = {
    "arb_Arab": "Arabic",
    "quy_Latn": "Quechua",
    "hat_Latn": "Haitian",
    "pes_Arab": "Persian",
    "zsm_Latn": "Malay",
    "lvs_Latn": "Latvian",
    "uzn_Latn": "Uzbek",
    "khk_Cyrl": "Mongolian",
    "als_Latn": "Albanian",
    "pbt_Arab": "Pashto",
    "pan_Guru": "Punjabi",
}


def prompt_name(code: str) -> str:
    """A language's English name as the papers' prompts write it.

    ``PROMPT_NAMES`` first ("Arabic" for Modern Standard Arabic, "Quechua" for
    Ayacucho Quechua, "Haitian" for Haitian Creole), else the FLORES name
    without its parenthesis ("Chinese" for "Chinese (Simplified)").
    """
    language = resolve(code)
    if language.code in PROMPT_NAMES:
        return PROMPT_NAMES[language.code]
    return language.name.split(" (", 1)[0].strip()


@functools.lru_cache(maxsize=4096)
def _resolve_cached(text: str) -> tuple[Language, str | None]:
    if text.split("-")[0].split("_")[0].lower() == UND:
        raise UnknownLanguageError(
            f"language {text!r} is undetermined ('und'), a language-ID answer that never "
            "goes into a prompt; give the language itself, e.g. hau_Latn."
        )
    match = _CANONICAL_RE.fullmatch(text)
    if match:
        code = f"{match[1].lower()}_{match[2].title()}"
        if code in _flores_names():
            return _flores_language(code), None
        if code in _CODE_ALIASES:
            target, why = _CODE_ALIASES[code]
            language = _flores_language(target)
            return language, f"{text!r} -> {target} ({language.name}); {why}"

    tag = _parse_tag(text)
    if tag is not None:
        return _from_tag(text, tag, code_input=True)

    by_name = _name_index().get(_normalize_name(text))
    if by_name is not None:
        language = _flores_language(by_name)
        return language, f"{text!r} -> {language.code} ({language.name})"
    import langcodes

    try:
        found = langcodes.find(text)
    except LookupError:
        raise UnknownLanguageError(_unknown_message(text)) from None
    # langcodes shortens names until one matches ('yoruba2' -> Yoruba); that is a guess, so a
    # name is accepted only when it is exactly one of the language's names in some language.
    from language_data.names import code_to_names

    names = {_normalize_name(n) for n in code_to_names(found.to_tag()).values()}
    if _normalize_name(text) not in names:
        raise UnknownLanguageError(_unknown_message(text))
    return _from_tag(text, found, code_input=False)


def _parse_tag(text: str) -> langcodes.Language | None:
    """The BCP-47 tag in ``text`` if it is a valid one naming a language, else None."""
    import langcodes

    text = text.replace("_", "-")
    try:
        tag = langcodes.Language.get(text, normalize=False)
        # BCP-47 itself rejects ISO 639-3 codes that have a two-letter form ('hau');
        # validate the normalized tag so that those pass.
        valid = langcodes.Language.get(text).is_valid()
    except (langcodes.LanguageTagError, ValueError):
        return None
    return tag if tag.language is not None and valid else None


def _from_tag(
    text: str, tag: langcodes.Language, *, code_input: bool
) -> tuple[Language, str | None]:
    """Map a parsed tag (from a code or from a name) to a Language and a note."""

    # An extended language subtag names the language itself: zh-yue is yue.
    raw = (tag.extlangs[0] if tag.extlangs else tag.language).lower()
    if raw == UND:
        raise UnknownLanguageError(f"language {text!r} is undetermined ('und'). {_HOW_TO}")
    iso3, implied_script = _input_iso3(raw)
    if iso3 is None:
        raise UnknownLanguageError(_unknown_message(text))
    script, region = _same_script(tag.script or implied_script), tag.territory
    if iso3 in _SPECIAL_CODES:
        raise UnknownLanguageError(
            f"language {text!r} is the ISO 639 code for {_SPECIAL_CODES[iso3]}, "
            f"not a language. {_HOW_TO}"
        )

    extras: list[str] = []
    region_script = None
    if script is None and region is not None:
        region_script = _region_script(_short_code(iso3), region)

    macro = iso3 if iso3 in MACROLANGUAGES else None
    if macro is not None:
        iso3 = MACROLANGUAGES[macro][:3]
        member = _MACROLANGUAGE_MEMBERS.get((macro, script or region_script or ""))
        if member is None and region is not None:
            member = _MACROLANGUAGE_MEMBERS.get((macro, region))
            if member is not None:
                extras.append(f"region {region} selects {member}")
                region = None  # used, not dropped
        iso3 = member or iso3
    elif iso3 in _LANGUAGE_ALIASES:
        extras.append(f"FLORES-200 files {_langcodes_name(iso3)} under {_LANGUAGE_ALIASES[iso3]}")
        iso3 = _LANGUAGE_ALIASES[iso3]
    if _langcodes_name(iso3) is None and iso3 not in _flores_scripts():
        raise UnknownLanguageError(_unknown_message(text))

    if script is None:
        script = _pick_script(text, iso3, region, region_script, extras)
    elif region is not None:
        extras.append(f"region {region} dropped")
    dropped = [*(tag.variants or ()), *(tag.extensions or ())]
    dropped += [tag.private] if tag.private else []
    if dropped:
        extras.append(f"subtags {'-'.join(dropped)} dropped")

    code = f"{iso3}_{script}"
    language = _flores_language(code) if code in _flores_names() else _other_language(iso3, script)
    if not language.in_flores200:
        extras.append("not in FLORES-200")
    if code_input and text.replace("-", "_").lower() == code.lower():
        return language, None
    head = repr(text)
    if macro is not None:
        head += f" ({_langcodes_name(macro)}, macrolanguage)"
    return language, "; ".join([f"{head} -> {code} ({language.name})", *extras])


def _pick_script(
    text: str, iso3: str, region: str | None, region_script: str | None, extras: list[str]
) -> str:
    """The script for an input that gave none: the region's, else the default.

    Appends to ``extras`` what the note should say about the choice.
    """
    default = _default_script(iso3)
    if region_script is not None and region_script != default:
        extras.append(f"script {region_script} implied by region {region}")
        return region_script
    if region is not None:
        extras.append(f"region {region} dropped")
    if default is None:
        raise UnknownLanguageError(
            f"language {text!r} ({_langcodes_name(iso3)}) has no known likely script: "
            f"give one explicitly, e.g. {iso3}_Latn."
        )
    flores_scripts = _flores_scripts().get(iso3, ())
    if len(flores_scripts) > 1:
        others = ", ".join(f"{iso3}_{s}" for s in flores_scripts)
        extras.append(f"default of its FLORES-200 scripts ({others})")
    elif not flores_scripts:
        extras.append(f"script {default} is its likely script")
    return default


def _input_iso3(raw: str) -> tuple[str | None, str | None]:
    """The ISO 639-3 code a language subtag names, and a script it implies ('sh': Latn).

    Two-letter codes map by ISO 639 ('tl' -> tgl); deprecated and bibliographic codes
    ('iw', 'mo', 'ger') go through langcodes' normalization. None if there is no code.
    """
    import langcodes
    from langcodes.data_dicts import LANGUAGE_ALPHA3, LANGUAGE_REPLACEMENTS

    known = (*_flores_scripts(), *MACROLANGUAGES, *_LANGUAGE_ALIASES)
    iso3 = LANGUAGE_ALPHA3.get(raw, raw) if len(raw) == 2 else raw
    if iso3 in known or (len(raw) == 3 and raw not in LANGUAGE_REPLACEMENTS):
        return iso3, None
    normalized = langcodes.Language.get(raw)
    try:
        return normalized.to_alpha3(), normalized.script
    except LookupError:
        return None, None


def _unknown_message(text: str) -> str:
    """An error message naming ``text`` and the closest FLORES-200 codes and names."""
    candidates = _suggestion_index()
    close = difflib.get_close_matches(text.casefold(), list(candidates), n=5, cutoff=0.6)
    codes = list(dict.fromkeys(candidates[c] for c in close))[:3]
    names = _flores_names()
    if not codes:
        return f"unknown language {text!r}. {_HOW_TO}"
    options = " or ".join(f"{c} ({names[c]})" for c in codes)
    return f"unknown language {text!r}: did you mean {options}? {_HOW_TO}"


# --- tables, built on first use -----------------------------------------------------


@functools.cache
def _flores_names() -> dict[str, str]:
    """FLORES-200 code -> English name, from resources/flores200.tsv."""
    table: dict[str, str] = {}
    lines = _DATA_FILE.read_text(encoding="utf-8").splitlines()
    rows = [line for line in lines if line and not line.startswith("#")]
    for line in rows[1:]:  # rows[0] is the header
        code, name = line.split("\t")
        table[code] = name
    return table


@functools.cache
def _flores_scripts() -> dict[str, tuple[str, ...]]:
    """ISO 639-3 code -> its FLORES-200 scripts, sorted."""
    scripts: dict[str, list[str]] = {}
    for code in sorted(_flores_names()):
        iso3, script = code.split("_")
        scripts.setdefault(iso3, []).append(script)
    return {iso3: tuple(s) for iso3, s in scripts.items()}


@functools.cache
def _name_index() -> dict[str, str]:
    """Normalized FLORES-200 name -> code; a name without its '(... script)' part
    ('Kashmiri') maps to the language's default script."""
    index: dict[str, str] = {}
    for code, name in _flores_names().items():
        index[_normalize_name(name)] = code
    for code, name in _flores_names().items():
        base = _base_name(name)
        iso3 = code[:3]
        if base != name and code == f"{iso3}_{_default_script(iso3)}":
            index.setdefault(_normalize_name(base), code)
    return index


@functools.cache
def _suggestion_index() -> dict[str, str]:
    """Casefolded code or English name -> FLORES-200 code, for did-you-mean."""
    index = {_normalize_name(name): code for code, name in _flores_names().items()}
    index.update({code.casefold(): code for code in _flores_names()})
    for iso3 in _flores_scripts():
        index.setdefault(iso3, f"{iso3}_{_default_script(iso3)}")
    return index


@functools.cache
def _flores_language(code: str) -> Language:
    iso3, script = code.split("_")
    return Language(
        code=code,
        iso639_3=iso3,
        script=script,
        name=_flores_names()[code],
        native_name=_native_name(iso3, script),
        in_flores200=True,
    )


def _other_language(iso3: str, script: str) -> Language:
    """A language outside FLORES-200 that langcodes knows, e.g. gaa_Latn or srp_Latn."""
    import langcodes

    flores = _flores_scripts().get(iso3)
    base = _base_name(_flores_names()[f"{iso3}_{flores[0]}"]) if flores else _langcodes_name(iso3)
    name = base
    if _default_script(iso3) not in (None, script):
        name = f"{base} ({langcodes.Language.make(script=script).script_name()} script)"
    return Language(
        code=f"{iso3}_{script}",
        iso639_3=iso3,
        script=script,
        name=name,
        native_name=_native_name(iso3, script),
        in_flores200=False,
    )


# --- langcodes helpers ----------------------------------------------------------------


@functools.cache
def _short_code(iso3: str) -> str:
    """The ISO 639-1 code of ``iso3`` where it has one ('hau' -> 'ha'), else ``iso3``.

    Unlike langcodes' normalization this keeps distinct languages apart
    (langcodes turns 'tgl' into 'fil' and 'prs' into 'fa-AF').
    """
    from langcodes.data_dicts import LANGUAGE_ALPHA3, LANGUAGE_REPLACEMENTS

    two_letter = [c for c, a3 in LANGUAGE_ALPHA3.items() if a3 == iso3 and len(c) == 2]
    two_letter.sort(key=lambda c: c in LANGUAGE_REPLACEMENTS)  # 'he' before 'iw'
    return two_letter[0] if two_letter else iso3


@functools.cache
def _langcodes_name(iso3: str) -> str | None:
    """The English name langcodes gives ``iso3``, None for codes it cannot name."""
    from language_data.names import code_to_names

    return code_to_names(_short_code(iso3)).get("en")


@functools.cache
def _default_script(iso3: str) -> str | None:
    """The script used when none is given: FLORES-200's, else CLDR's likely script."""
    from langcodes.data_dicts import LIKELY_SUBTAGS

    flores = _flores_scripts().get(iso3)
    if flores:
        return _DEFAULT_SCRIPT.get(iso3, flores[0])
    likely = LIKELY_SUBTAGS.get(_short_code(iso3))
    return _same_script(likely.split("-")[1]) if likely else None


@functools.cache
def _tag_default_script(language: str, iso3: str) -> str | None:
    """The script a reader of the bare tag ``language`` assumes: CLDR's likely
    script ('tzm' -> Latn), else FLORES-200's default."""
    from langcodes.data_dicts import LIKELY_SUBTAGS

    likely = LIKELY_SUBTAGS.get(language)
    return _same_script(likely.split("-")[1]) if likely else _default_script(iso3)


def _region_script(language: str, region: str) -> str | None:
    """The script CLDR implies for ``language`` in ``region`` (zh, TW -> Hant), if it says."""
    from langcodes.data_dicts import LIKELY_SUBTAGS

    likely = LIKELY_SUBTAGS.get(f"{language}-{region}")
    if likely is None:
        by_region = LIKELY_SUBTAGS.get(f"und-{region}", "")
        likely = by_region if by_region.split("-")[0] == language else None
    return _same_script(likely.split("-")[1]) if likely else None


@functools.cache
def _iso639_1(iso3: str) -> str | None:
    """``iso3``'s ISO 639-1 code, else that of the macrolanguage it stands for here."""
    own = _short_code(iso3)
    if len(own) == 2:
        return own
    for macro, target in MACROLANGUAGES.items():
        if target[:3] == iso3:
            code = _short_code(macro)
            return code if len(code) == 2 else None
    return None


def _native_name(iso3: str, script: str) -> str | None:
    """The autonym from language_data, falling back to the macrolanguage's."""
    import langcodes
    from language_data.names import code_to_names

    candidates = [_short_code(iso3)]
    if iso3 not in _NO_MACRO_AUTONYM and (macro := _iso639_1(iso3)):
        candidates.append(macro)
    for code in candidates:
        autonym = code_to_names(code).get(code)
        if autonym is None:
            continue
        if script == _tag_default_script(code, iso3) or code not in code_to_names(script):
            return autonym  # no name for the script in the language itself
        tag = langcodes.Language.make(language=code, script=script)
        named = tag.autonym()
        # autonym() falls back to English where the data lacks the combination
        return tag.display_name(code) if named == tag.display_name("en") else named
    return None


def _same_script(script: str | None) -> str | None:
    return _SCRIPT_EQUIVALENTS.get(script, script) if script else None


def _normalize_name(name: str) -> str:
    for old, new in (("’", "'"), ("-", " "), ("(", ""), (")", ""), (",", "")):
        name = name.replace(old, new)
    return " ".join(name.casefold().split())


def _base_name(name: str) -> str:
    """'Kashmiri (Arabic script)' -> 'Kashmiri'."""
    return name.split(" (")[0]


# --- language tokens of machine-translation model families ---------------------------

#: Machine-translation model families whose language tokens xprompt knows.
MT_FAMILIES: tuple[str, ...] = ("nllb", "m2m100", "madlad")

# NLLB-200 names a few FLORES-200 languages differently in its vocabulary.
_NLLB_TOKEN: dict[str, str] = {"sat_Olck": "sat_Beng"}

# M2M-100 codes that are not the language's ISO 639-1 (or 639-3) code.
_M2M100_CODE: dict[str, str] = {
    "nob": "no",  # M2M-100 calls Norwegian Bokmål 'no'
    "nso": "ns",  # Northern Sotho: 'ns' is M2M-100's own code, not ISO 639
}


def mt_language_tokens(code: str, family: str) -> tuple[str, ...]:
    """The tokens that may name language ``code`` in an MT model family's vocabulary, best first.

    ``code`` is anything :func:`resolve` takes. Families:

    - ``nllb`` (NLLB-200 and models with FLORES-style tokens): the canonical code
      itself, except Santali in Ol Chiki, which NLLB's tokenizer calls ``sat_Beng``.
    - ``m2m100``: ``__xx__`` with the ISO 639-1 code (``__ha__``), ISO 639-3 where
      there is none (``__ceb__``), and M2M-100's own ``__no__`` / ``__ns__``.
      M2M-100 codes carry no script.
    - ``madlad`` (MADLAD-400, T5-style ``<2xx>`` prefixes): ISO 639-1, ISO 639-3,
      then ``xx_Script`` spellings; for a language in a script other than its
      default (``zh-Hant``, ``sr-Latn``) only spellings that carry the script.

    The caller picks the first candidate its tokenizer has; a model family's
    vocabulary, not this table, decides whether a language is supported.
    """
    language = resolve(code)
    if family == "nllb":
        return (_NLLB_TOKEN.get(language.code, language.code),)
    short = language.iso639_1 or language.iso639_3
    if family == "m2m100":
        return (f"__{_M2M100_CODE.get(language.iso639_3, short)}__",)
    if family == "madlad":
        scripted = [language.bcp47.replace("-", "_"), f"{language.iso639_3}_{language.script}"]
        if "-" in language.bcp47:
            # Not the language's default script: a bare code would name the other script.
            spellings = [language.bcp47, *scripted]
        else:
            spellings = [short, language.iso639_3, *scripted]
        return tuple(dict.fromkeys(f"<2{s}>" for s in spellings))
    raise ValueError(f"unknown MT model family {family!r} (known: {', '.join(MT_FAMILIES)})")
