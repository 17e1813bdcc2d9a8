"""Statistical language identifiers behind one small interface.

Each detector declares the canonical codes it can name (:attr:`Detector.codes`).
The checker never lets a detector decide for a target outside that set: a
detector that does not know Yoruba calls Yoruba text Vietnamese, and that
answer means nothing.

- ``py3langid`` (default): naive Bayes over byte n-grams, 140 labels, shipped in
  the PyPI package, deterministic.
- ``pycld2`` (a dependency): Compact Language Detector 2, 160+ languages, very
  fast; its answers count only for languages it knows (it calls much unknown
  text English). Default mode uses it as the fallback for languages py3langid
  cannot name, strict mode as a second opinion.
- ``langdetect``: 55 languages, none of Hausa, Yoruba, Igbo, Amharic, ...;
  seeded (``DetectorFactory.seed = 0``) because it samples.
- ``fasttext``: a user-supplied fastText language-ID model file (GlotLID,
  OpenLID: labels ``__label__xxx_Scrp``; lid.176: ``__label__xx``) for
  languages py3langid cannot name (it decides ahead of the pycld2 fallback).
  Needs the ``fasttext`` extra.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from xprompt.errors import ConfigError, DependencyMissingError
from xprompt.langid import labels
from xprompt.langid.equivalence import language_key


@dataclass(frozen=True, slots=True)
class Detection:
    """One detector's answer for one text: canonical code (None: no language), confidence."""

    code: str | None
    confidence: float
    label: str
    reliable: bool = True


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


class Detector:
    """Base class: a name, the languages it can name, and ``detect``."""

    name: str = "detector"

    @cached_property
    def codes(self) -> frozenset[str]:
        """Canonical codes this detector can name."""
        mapped, _ = labels.label_map(self.name, self._labels())
        return frozenset(mapped.values())

    @cached_property
    def keys(self) -> frozenset[str]:
        """Language keys (folded ISO 639-3, see ``equivalence``) this detector can name."""
        return frozenset(language_key(code) for code in self.codes)

    def supports(self, code: str) -> bool:
        """Whether this detector can name the language of canonical ``code``."""
        return language_key(code) in self.keys

    def detect(self, text: str) -> Detection:
        """The most likely language of ``text``."""
        raise NotImplementedError

    def probability(self, text: str, key: str) -> float:
        """How likely ``text`` is in the language with key ``key`` (all labels folding into it).

        Asked only when the best label is another language, to tell "surely
        not the target" from "the target was a close second".
        """
        raise NotImplementedError

    def _sum_for(self, scored: list[tuple[str, float]], key: str) -> float:
        total = 0.0
        for label, score in scored:
            code = labels.canonical(self.name, label)
            if code is not None and language_key(code) == key:
                total += score
        return min(total, 1.0)

    def signature(self) -> str:
        """Name and version, for run signatures."""
        return self.name

    def _labels(self) -> list[str]:
        raise NotImplementedError


@lru_cache(maxsize=1)
def _py3langid_identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


class _NaiveBayes:
    """py3langid's scoring, the same numbers (``classify``), about twice as fast.

    py3langid keeps its class table in float16, which numpy multiplies without
    BLAS; here it is float32 once (57 MB), so one sentence's score is a small
    BLAS product. The byte-level feature walk is py3langid's own
    (``visit_counts``), compiled with numba where it is installed (it ships with
    vLLM) once a process has scored :data:`JIT_AFTER` texts (see :func:`jit_after`);
    results are bit-for-bit the same either way. The probabilities of the last text are kept, so the
    check's "best label" and "probability of the target" cost one scoring.
    """

    def __init__(self, identifier: Any) -> None:
        import numpy as np
        from py3langid.langid import visit_counts

        self._np = np
        self._visit = visit_counts
        self._identifier = identifier
        self._walk = (identifier.tk_nextmove, identifier._rowbase, identifier.tk_output)
        self._table = np.ascontiguousarray(identifier.nb_ptc, dtype=np.float32)
        self._prior = np.asarray(identifier.nb_pc, dtype=np.float32)
        self.classes: list[str] = list(identifier.nb_classes)
        self._alias = list(identifier._alias_pairs)
        self._last_text: str | None = None
        self._last: Any = None
        self._scored = 0
        self._compiled: Any = None  # None: not tried yet; False: numba unavailable

    def _features(self, encoded: bytes) -> tuple[Any, Any] | None:
        """Feature indexes (first-occurrence order) and their counts, None without features."""
        np = self._np
        self._scored += 1
        if self._compiled is None and self._scored > jit_after():
            self._compiled = self._compile() or False
        if self._compiled:
            idx, counts = self._compiled(*self._arrays, np.frombuffer(encoded, dtype=np.uint8))
            return (idx, counts) if len(idx) else None
        visits = self._visit(*self._walk, encoded)
        if not visits:
            return None
        idx = np.fromiter(visits.keys(), dtype=np.intp, count=len(visits))
        counts = np.fromiter(visits.values(), dtype=np.float32, count=len(visits))
        return idx, counts

    def _compile(self) -> Any:
        from xprompt.langid._walk import compile_walk

        walk = compile_walk()
        if walk is None:
            return None
        np = self._np
        nextmove, rowbase, output = self._walk
        self._arrays = (
            np.frombuffer(nextmove, dtype=np.uint32)
            if getattr(nextmove, "typecode", "") == "I" and nextmove.itemsize == 4
            else np.asarray(nextmove, dtype=np.int64),
            np.asarray(rowbase, dtype=np.int64),
            np.asarray(output, dtype=np.int64),
        )
        try:
            walk(*self._arrays, np.frombuffer(b"warm up", dtype=np.uint8))
        except Exception:  # a numba that cannot compile here: keep the Python walk
            return None
        return walk

    def probabilities(self, text: str) -> Any:
        """Normalised probability per class column (aliased columns folded), as py3langid."""
        if text is self._last_text or text == self._last_text:
            return self._last
        np = self._np
        encoded = self._identifier._encode(text)
        found = self._features(encoded)
        if found is not None:
            idx, counts = found
            scores = np.log1p(counts) @ self._table.take(idx, axis=0) + self._prior
            scores *= 1.0 / math.sqrt(len(encoded) or 1)
            np.exp(scores - scores.max(), out=scores)
            scores /= scores.sum()
        else:
            scores = np.full(len(self.classes), 1.0 / len(self.classes), dtype=np.float32)
        for i, j in self._alias:
            scores[i] += scores[j]
            scores[j] = 0.0
        self._last_text, self._last = text, scores
        return scores


#: Texts scored in Python before the compiled walk is built. numba's import and the (cached)
#: compile take ~2 s (~15 s the very first time), and the compiled walk saves ~50 µs a text:
#: it pays only for long runs. ``XPROMPT_LANGID_JIT=1`` compiles at first use, ``0`` never.
JIT_AFTER = 50_000


def jit_after() -> float:
    """Texts to score before compiling the walk (``XPROMPT_LANGID_JIT``: 1 at once, 0 never)."""
    setting = os.environ.get("XPROMPT_LANGID_JIT", "auto").strip().lower()
    if setting in ("1", "true", "yes", "on"):
        return 0
    if setting in ("0", "false", "no", "off"):
        return math.inf
    return JIT_AFTER


@lru_cache(maxsize=1)
def _naive_bayes() -> _NaiveBayes:
    return _NaiveBayes(_py3langid_identifier())


class Py3LangidDetector(Detector):
    """py3langid with normalised probabilities (the model loads once per process, ~0.7 s)."""

    name = "py3langid"

    def __init__(self) -> None:
        self._nb = _naive_bayes()
        self._columns: dict[str, Any] = {}

    def _labels(self) -> list[str]:
        return list(_py3langid_identifier().labels)

    def detect(self, text: str) -> Detection:
        scores = self._nb.probabilities(text)
        i = int(scores.argmax())
        label = self._nb.classes[i]
        return Detection(labels.canonical(self.name, label), float(scores[i]), label)

    def probability(self, text: str, key: str) -> float:
        columns = self._columns.get(key)
        if columns is None:
            import numpy as np

            wanted = [
                i
                for i, label in enumerate(self._nb.classes)
                if (code := labels.canonical(self.name, label)) is not None
                and language_key(code) == key
            ]
            columns = self._columns[key] = np.asarray(wanted, dtype=np.intp)
        if not len(columns):
            return 0.0
        return min(float(self._nb.probabilities(text)[columns].sum()), 1.0)

    def signature(self) -> str:
        return f"py3langid@{_version('py3langid')}"


class LangdetectDetector(Detector):
    """langdetect, seeded so that the same text always gets the same answer."""

    name = "langdetect"

    def __init__(self) -> None:
        try:
            from langdetect import DetectorFactory
            from langdetect.detector_factory import init_factory
        except ImportError:
            raise DependencyMissingError(
                "the langdetect detector needs the 'langdetect' package: pip install langdetect"
            ) from None
        DetectorFactory.seed = 0  # langdetect samples; unseeded it is not deterministic
        init_factory()

    def _labels(self) -> list[str]:
        from langdetect import detector_factory

        return list(detector_factory._factory.get_lang_list())

    def detect(self, text: str) -> Detection:
        from langdetect import detector_factory
        from langdetect.lang_detect_exception import LangDetectException

        detector = detector_factory._factory.create()
        detector.append(text)
        try:
            best = detector.get_probabilities()[0]
        except (LangDetectException, IndexError):
            return Detection(None, 0.0, "und")
        return Detection(labels.canonical(self.name, best.lang), float(best.prob), best.lang)

    def probability(self, text: str, key: str) -> float:
        from langdetect import detector_factory
        from langdetect.lang_detect_exception import LangDetectException

        detector = detector_factory._factory.create()
        detector.append(text)
        try:
            ranked = detector.get_probabilities()
        except LangDetectException:
            return 0.0
        return self._sum_for([(r.lang, r.prob) for r in ranked], key)

    def signature(self) -> str:
        return f"langdetect@{_version('langdetect')}:seed0"


class Cld2Detector(Detector):
    """pycld2 (Compact Language Detector 2); only reliable answers count as confident."""

    name = "pycld2"

    def __init__(self) -> None:
        try:
            import pycld2
        except ImportError as exc:
            raise DependencyMissingError(
                f"pycld2 cannot be imported ({exc}); it is a dependency of xprompt: "
                "pip install pycld2 (or reinstall xprompt). Strict mode needs it as a second "
                "opinion; default mode uses it as the fallback for languages py3langid cannot "
                "name (Wolof, Tigrinya, Rundi) and works without it, leaving those uncertain"
            ) from None
        self._cld2 = pycld2

    def _labels(self) -> list[str]:
        names = set(self._cld2.DETECTED_LANGUAGES)
        return [code for name, code in self._cld2.LANGUAGES if name in names]

    def detect(self, text: str) -> Detection:
        try:
            reliable, _, details = self._cld2.detect(text, isPlainText=True)
        except self._cld2.error:
            return Detection(None, 0.0, "un", reliable=False)
        _, code, percent, _ = details[0]
        return Detection(labels.canonical(self.name, code), percent / 100.0, code, reliable)

    def probability(self, text: str, key: str) -> float:
        # CLD2 reports the share of the text in each of its top three languages.
        try:
            _, _, details = self._cld2.detect(text, isPlainText=True)
        except self._cld2.error:
            return 0.0
        return self._sum_for([(code, percent / 100.0) for _, code, percent, _ in details], key)

    def signature(self) -> str:
        return f"pycld2@{_version('pycld2')}"


class FastTextDetector(Detector):
    """A user-supplied fastText language-ID model file (GlotLID, OpenLID, lid.176)."""

    name = "fasttext"

    def __init__(self, model_path: str | os.PathLike[str]) -> None:
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"fastText language-ID model not found: {path} (give the path of a .bin model "
                "file such as GlotLID's model.bin or OpenLID's lid201-model.bin)"
            )
        self.path = path
        self._model = _load_fasttext(path)
        mapped, unmapped = labels.label_map(self.name, self._model.get_labels())
        if not mapped:
            raise ConfigError(
                f"{path}: none of the model's {len(unmapped)} labels names a language "
                f"(first: {unmapped[:3]}); expected labels like __label__hau_Latn or __label__ha"
            )
        self.unmapped_labels = tuple(unmapped)

    def _labels(self) -> list[str]:
        return list(self._model.get_labels())

    def detect(self, text: str) -> Detection:
        # fastText predicts one line; the low-level call avoids fasttext 0.9's
        # numpy-2-incompatible wrapper (np.array(..., copy=False)).
        line = " ".join(text.split()) + "\n"
        predictions = self._model.f.predict(line, 1, 0.0, "replace")
        if not predictions:
            return Detection(None, 0.0, "und")
        prob, label = predictions[0]
        return Detection(labels.canonical(self.name, label), min(float(prob), 1.0), label)

    def probability(self, text: str, key: str) -> float:
        line = " ".join(text.split()) + "\n"
        top = self._model.f.predict(line, 10, 0.0, "replace")
        return self._sum_for([(label, float(prob)) for prob, label in top], key)

    @cached_property
    def digest(self) -> str:
        """SHA-256 of the model's size and first MiB (models are large; enough to tell them apart)."""
        sha = hashlib.sha256(str(self.path.stat().st_size).encode())
        with open(self.path, "rb") as handle:
            sha.update(handle.read(1 << 20))
        return sha.hexdigest()[:8]

    def signature(self) -> str:
        return f"fasttext:{self.path.name}@{self.digest}"


def _load_fasttext(path: Path) -> Any:
    try:
        import fasttext
    except ImportError:
        raise DependencyMissingError(
            "a fastText language-ID model needs the 'fasttext' package: "
            "pip install 'xprompt[fasttext]' (fasttext-wheel)"
        ) from None
    try:
        return fasttext.load_model(str(path))
    except ValueError as exc:
        raise ConfigError(f"{path}: not a fastText model ({exc})") from None


#: Detectors by name; ``fasttext`` needs a model path.
DETECTORS = ("py3langid", "pycld2", "langdetect", "fasttext")


def make_detector(name: str, *, fasttext_model: str | None = None) -> Detector:
    """Build a detector by name. Raises ConfigError / DependencyMissingError with the fix."""
    if name == "py3langid":
        return Py3LangidDetector()
    if name == "pycld2":
        return Cld2Detector()
    if name == "langdetect":
        return LangdetectDetector()
    if name == "fasttext":
        if fasttext_model is None:
            raise ConfigError(
                "detector 'fasttext' needs a model file: --langid-model PATH "
                "(e.g. GlotLID's model.bin)"
            )
        return _cached_fasttext(str(Path(fasttext_model).expanduser().resolve()))
    raise ConfigError(f"unknown language-ID detector {name!r} (known: {', '.join(DETECTORS)})")


@lru_cache(maxsize=4)
def _cached_fasttext(path: str) -> FastTextDetector:
    # GlotLID is 1.6 GB: load each model file once per process.
    return FastTextDetector(path)
