"""When two language codes count as the same language for the off-target check.

Three tables, all in code so they are reviewed like code:

- **Folds** (always on): members of a macrolanguage and the macrolanguage
  itself are one language for the check. A detector's ``sw`` and a target
  ``swh_Latn`` agree; Egyptian Arabic output for a Modern Standard Arabic prompt
  is not off-target. Comparison is by *language key*: the folded ISO 639-3 code,
  without the script (scripts are the script layer's business).
- **Confusable clusters** (configurable): languages that detectors cannot
  reliably tell apart ({ind, zsm}, {bos, hrv, srp}, {kin, run}). A detector
  naming another member of the target's cluster makes the verdict
  ``uncertain``, never ``off``: a false alarm would be a guess.
- **Alternate scripts** (configurable): languages written in more than one
  script in everyday use (Serbian in Cyrillic and Latin); output in any of them
  passes the script layer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from xprompt import languages
from xprompt.errors import ConfigError, UnknownLanguageError

#: ISO 639-3 code -> the language key it folds into (macrolanguage members -> macrolanguage).
FOLDS: dict[str, str] = {
    # Arabic varieties
    **dict.fromkeys(
        (
            "arb acm acq aeb ajp apc ars ary arz afb ayl ayp apd abv shu ssh acw ayh "
            "acx adf aao auz avl pga"
        ).split(),
        "ara",
    ),
    **dict.fromkeys(["swh", "swc"], "swa"),  # Swahili
    **dict.fromkeys(["npi", "dty"], "nep"),  # Nepali
    **dict.fromkeys(  # Quechua
        "quy quz qub qud quf qug quh qul qup qus quw qvi qwh qxo".split(), "que"
    ),
    "zsm": "msa",  # Malay (Indonesian stays apart: see the ind/msa cluster)
    **dict.fromkeys(["pes", "prs"], "fas"),  # Persian, Dari
    **dict.fromkeys(["uzn", "uzs"], "uzb"),  # Uzbek
    **dict.fromkeys(["kmr", "ckb", "sdh"], "kur"),  # Kurdish
    **dict.fromkeys(["gaz", "hae", "orc", "gax"], "orm"),  # Oromo
    "khk": "mon",  # Mongolian
    "plt": "mlg",  # Malagasy
    **dict.fromkeys(["als", "aln"], "sqi"),  # Albanian
    **dict.fromkeys(["azj", "azb"], "aze"),  # Azerbaijani
    "lvs": "lav",  # Latvian
    "ekk": "est",  # Estonian
    **dict.fromkeys(["pbt", "pst", "pbu"], "pus"),  # Pashto
    "ydd": "yid",  # Yiddish
    "ory": "ori",  # Odia
    **dict.fromkeys("fuv fuc fub fue fuf fuh fui fuq ffm".split(), "ful"),  # Fula
    **dict.fromkeys(["twi", "fat"], "aka"),  # Akan
    "knc": "kau",  # Kanuri
    **dict.fromkeys(["gug", "gui", "gun", "nhd"], "grn"),  # Guarani
    "cmn": "zho",  # Mandarin
    "nob": "nor",  # Norwegian Bokmål (Nynorsk: cluster)
    "dik": "din",  # Dinka
    "fil": "tgl",  # Filipino is standard Tagalog
    **dict.fromkeys(["ayr", "ayc"], "aym"),  # Aymara
}

#: Confusable clusters used unless configured otherwise (codes as ``resolve`` takes them).
DEFAULT_CLUSTERS: tuple[tuple[str, ...], ...] = (
    ("ind", "zsm"),
    ("bos", "hrv", "srp_Cyrl", "cnr"),
    ("kin", "run"),
    ("nob", "nno"),
    ("zho_Hans", "yue", "wuu"),
)

#: Language key -> every script it is commonly written in (beyond the code's own).
DEFAULT_ALTERNATE_SCRIPTS: dict[str, tuple[str, ...]] = {
    "srp": ("Cyrl", "Latn"),
    "bos": ("Latn", "Cyrl"),
    "cnr": ("Latn", "Cyrl"),
    "uzb": ("Latn", "Cyrl"),
    "kaz": ("Cyrl", "Latn"),
    "aze": ("Latn", "Cyrl"),
    "zho": ("Hans", "Hant"),
}


def language_key(code: str) -> str:
    """The folded ISO 639-3 key of a canonical code or bare ISO 639-3 code ('swh_Latn' -> 'swa')."""
    iso3 = code.split("_", 1)[0]
    return FOLDS.get(iso3, iso3)


@lru_cache(maxsize=2048)
def _key_of_input(code: str) -> str:
    """Key of anything ``languages.resolve`` takes ('sw', 'Swahili', 'swh_Latn')."""
    return language_key(languages.resolve(code).code)


@dataclass(frozen=True)
class Equivalence:
    """Folds (fixed), confusable clusters and alternate scripts (configurable)."""

    clusters: tuple[frozenset[str], ...] = ()
    alternate_scripts: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        clusters: Iterable[Iterable[str]] | None = None,
        alternate_scripts: Mapping[str, Iterable[str]] | None = None,
    ) -> Equivalence:
        """From codes as users write them; None means the defaults. Raises ConfigError."""
        groups = []
        for group in DEFAULT_CLUSTERS if clusters is None else clusters:
            members = list(group)
            try:
                keys = frozenset(_key_of_input(c) for c in members)
            except UnknownLanguageError as exc:
                raise ConfigError(f"confusable cluster {members}: {exc}") from None
            if len(keys) < 2:
                raise ConfigError(
                    f"confusable cluster {members} names fewer than two distinct languages "
                    "(members of one macrolanguage are already the same language)"
                )
            groups.append(keys)
        scripts_in = DEFAULT_ALTERNATE_SCRIPTS if alternate_scripts is None else alternate_scripts
        scripts: dict[str, frozenset[str]] = {}
        for code, names in scripts_in.items():
            try:
                key = (
                    language_key(code) if code in DEFAULT_ALTERNATE_SCRIPTS else _key_of_input(code)
                )
            except UnknownLanguageError as exc:
                raise ConfigError(f"alternate scripts for {code!r}: {exc}") from None
            bad = [s for s in names if not (len(s) == 4 and s.isalpha())]
            if bad:
                raise ConfigError(
                    f"alternate scripts for {code!r}: {bad} are not ISO 15924 codes like 'Latn'"
                )
            scripts[key] = frozenset(s.title() for s in names)
        return cls(tuple(groups), scripts)

    def same(self, a: str, b: str) -> bool:
        """Whether codes ``a`` and ``b`` are one language (after folds)."""
        return language_key(a) == language_key(b)

    def confusable(self, a: str, b: str) -> bool:
        """Whether ``a`` and ``b`` are different languages in one confusable cluster."""
        ka, kb = language_key(a), language_key(b)
        return ka != kb and any(ka in group and kb in group for group in self.clusters)

    def scripts(self, code: str) -> frozenset[str]:
        """The ISO 15924 scripts output for canonical ``code`` may be in."""
        own = code.split("_", 1)[1] if "_" in code else ""
        return frozenset({own, *self.alternate_scripts.get(language_key(code), ())} - {""})

    def signature(self) -> str:
        """Short stable description of the configurable tables."""
        clusters = ";".join(sorted(",".join(sorted(g)) for g in self.clusters))
        alternates = ";".join(
            f"{k}:{'+'.join(sorted(v))}" for k, v in sorted(self.alternate_scripts.items())
        )
        digest = hashlib.sha256(alternates.encode()).hexdigest()[:8]
        return f"clusters={clusters or 'none'},scripts@{digest}"
