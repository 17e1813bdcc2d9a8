"""Language identification and the off-target check.

``check(text, expected) -> LangCheck`` is what strategies call (the
``LangChecker`` signature); it uses a process-wide default :class:`Checker`
(default mode: py3langid, with pycld2 as the fallback for languages py3langid
cannot name). Build other checkers with :func:`make_checker`
from a :class:`LangidConfig` (strict mode, a fastText model, other pivots).

Layers (see ``checker.py``): NFC and noise masking, sentence splitting, the
Unicode-script layer, the statistical layer (only detectors that can name the
target decide), the pivot rule for targets no detector knows, and the
copy-of-source and degenerate-repetition detectors.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from xprompt.errors import ConfigError, DependencyMissingError
from xprompt.langid.checker import Checker, Identification
from xprompt.langid.config import LangidConfig
from xprompt.langid.detectors import DETECTORS, Detection, Detector, make_detector
from xprompt.langid.equivalence import Equivalence, language_key
from xprompt.types import LangCheck

__all__ = [
    "DETECTORS",
    "Checker",
    "Detection",
    "Detector",
    "Equivalence",
    "Identification",
    "LangidConfig",
    "check",
    "default_checker",
    "identify",
    "language_key",
    "make_checker",
]


def make_checker(config: LangidConfig | None = None) -> Checker:
    """A checker for ``config`` (defaults when None). Raises ConfigError / DependencyMissingError."""
    config = config or LangidConfig()
    names = config.detector_names()
    if config.mode == "strict" and len(names) < 2:
        raise ConfigError(
            f"strict mode needs a second detector for a second opinion, got only {names}"
        )
    detectors = tuple(make_detector(n, fasttext_model=config.fasttext_model) for n in names)
    fallbacks = []
    missing = []
    for name in config.fallback_names():
        if name in names:
            continue
        try:
            fallbacks.append(make_detector(name, fasttext_model=config.fasttext_model))
        except DependencyMissingError as exc:
            # Degrade, loudly: the check still works, with the old (narrower) coverage.
            missing.append(name)
            _warn_once(name, str(exc))
    return Checker(
        detectors=detectors,
        fallbacks=tuple(fallbacks),
        missing_fallbacks=tuple(missing),
        mode=config.mode,
        equivalence=Equivalence.build(config.clusters, config.alternate_scripts),
        pivots=tuple(config.pivots),
        min_letters=config.min_letters,
        off_confidence=config.off_confidence,
        pivot_confidence=config.pivot_confidence,
        off_share=config.off_share,
    )


_log = logging.getLogger(__name__)
_warned: set[str] = set()


def _warn_once(name: str, message: str) -> None:
    if name not in _warned:
        _warned.add(name)
        _log.warning(
            "language-ID fallback %s unavailable, languages only it can name stay 'uncertain' "
            "(rule unsupported-target:%s-missing): %s",
            name,
            name,
            message,
        )


@lru_cache(maxsize=1)
def default_checker() -> Checker:
    """The process-wide checker with default settings (built on first use)."""
    return make_checker()


def check(text: str, expected: str) -> LangCheck:
    """Check that ``text`` is in language ``expected`` with the default checker."""
    return default_checker().check(text, expected)


def identify(text: str) -> Identification:
    """The language of ``text`` by the default checker's first detector."""
    return default_checker().identify(text)
