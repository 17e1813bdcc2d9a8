"""The layered off-target check: is this generated text in the language it was asked to be in?

For each text: NFC, mask noise (code, URLs, numbers, markup), split into
sentences, and for each sentence:

1. **Script layer**: if most of its letters are in a script the expected
   language is not written in, it is off-target (rule ``script``). Exact, cheap.
2. **Length**: below ``min_letters`` letters no statistical identifier is
   trustworthy: ``uncertain`` (rule ``too-short``), never a guess.
3. **Statistical layer**: the detectors that can name the expected language
   decide (default mode: the first of them; strict mode: all of them, any
   confident "other language" makes the sentence off-target). A detected
   language that folds into the expected one (``sw`` for ``swh_Latn``) is on
   target; one in the target's confusable cluster is ``uncertain``. When none
   of them can name it, a *fallback* detector that can (default mode: pycld2,
   for Wolof, Tigrinya, Rundi) decides alone; its rules read ``pycld2-fallback``.
4. **Pivot rule**: if no detector (fallbacks included) can name the expected
   language (Ewe, Shan), the only question asked is whether the sentence is
   in a pivot language (English by default), which detectors know well.
   Anything else is ``uncertain``: a detector's look-alike answer is never used.

The text's verdict aggregates its sentences by letters: ``off`` when at least
``off_share`` of its letters are in off-target sentences, ``on`` when at least
half are in on-target ones, otherwise ``uncertain``. Copy-of-source (given a
source) decides before everything; degenerate repetition adds the flag
``repetition`` without changing the language verdict.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from xprompt import languages
from xprompt.langid import degenerate, scripts
from xprompt.langid import lines as linelayer
from xprompt.langid.detectors import Detector
from xprompt.langid.equivalence import Equivalence, language_key
from xprompt.langid.scripts import letter_count
from xprompt.langid.text import Segment, mask_noise, normalize, split
from xprompt.types import LangCheck, SegmentCheck, Verdict

UND = languages.UND
Mode = Literal["default", "strict"]

#: Siblings no statistical detector knows but whose orthography gives them away: sibling ->
#: (script, letters only it uses among that script's languages, share of letters needed).
#: Shan is written with the Myanmar script's "Extended for Shan" letters and tone marks
#: (U+1075-U+109F): 9% or more of the letters of every FLORES Shan sentence, none of Burmese's.
ORTHOGRAPHY: dict[str, tuple[str, str, float]] = {
    "shn_Mymr": ("Mymr", "[\u1075-\u109f]", 0.03),
}

#: Latin-script targets: the blind siblings (languages the decider has no label for) worth a
#: second detector's word. In other scripts every language of the script the second detector
#: knows and the decider does not is one; in Latin script that would be dozens, and pycld2
#: calls some correct Zulu "Swati" and Luganda "Maori" (FLORES train), so only these.
LATIN_SIBLINGS: dict[str, frozenset[str]] = {
    "que": frozenset({"aym"}),  # Aymara for Quechua: py3langid calls it Quechua
    "kin": frozenset({"run"}),  # Rundi for Kinyarwanda: confusable, so uncertain, not on
}

#: In default mode, a second detector's "off" for a sentence the decider doubted stands only
#: when the decider gave the target less than this probability. Calibrated on FLORES train:
#: correct Zulu the decider doubts and pycld2 calls Xhosa has P(Zulu) >= 0.41; Xhosa output
#: for a Zulu prompt mostly below 0.4.
SECOND_LEAN = 0.4


@dataclass(frozen=True, slots=True)
class _Target:
    code: str
    key: str
    scripts: frozenset[str]  # table scripts the letters may be in
    counter: scripts.ScriptCounter
    deciders: tuple[Detector, ...]  # detectors that can name the language, in order
    pivot_detector: Detector | None
    fallback: bool = False  # deciders are fallback detectors (none of the main ones can name it)
    second: Detector | None = None  # default mode: asked when the decider doubts, or for siblings
    blind: frozenset[str] = frozenset()  # same-script keys ``second`` knows and the decider cannot
    orthography: tuple[tuple[str, re.Pattern[str]], ...] = ()  # (sibling code, its own letters)


@dataclass(frozen=True, slots=True)
class _Seg:
    segment: Segment
    detected: str
    confidence: float
    verdict: Verdict
    rule: str


@dataclass(frozen=True, slots=True)
class _Vote:
    detected: str
    confidence: float  # in the verdict: P(target) when on, 1 - P(target) when off
    verdict: Verdict
    rule: str
    p_target: float


@dataclass(frozen=True, slots=True)
class Identification:
    """What language a text is in, without an expectation: code, confidence, per-segment evidence."""

    detected: str
    confidence: float
    script: str | None
    detector: str
    segments: tuple[SegmentCheck, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """Plain JSON values; segments only when there is more than one."""
        out: dict[str, object] = {
            "detected": self.detected,
            "confidence": round(self.confidence, 4),
            "script": self.script,
            "detector": self.detector,
        }
        if len(self.segments) > 1:
            out["segments"] = [
                {
                    "start": s.start,
                    "end": s.end,
                    "detected": s.detected,
                    "confidence": round(s.confidence, 4),
                }
                for s in self.segments
            ]
        return out


@dataclass
class Checker:
    """The off-target check with its settings. Build one with ``xprompt.langid.make_checker``.

    Args:
        detectors: statistical identifiers, in order of preference.
        fallbacks: detectors that decide (alone, first that can) only for targets none of
            ``detectors`` can name; their rules carry the suffix ``-fallback``. A detector
            that cannot name the target is never asked, so its look-alike answers are never used.
        missing_fallbacks: names of fallbacks wanted but not importable; the pivot rule's
            ``uncertain`` then reads ``unsupported-target:<name>-missing``.
        mode: ``default`` (the first detector that can name the target decides) or
            ``strict`` (later detectors that can name it give second opinions, see
            ``_second_opinions``).
        equivalence: folds, confusable clusters, alternate scripts.
        pivots: languages asked about when no detector knows the target.
        min_letters: sentences with fewer letters are ``uncertain``.
        min_script_letters: fewer letters than this are never off by script alone.
        off_confidence: confidence needed that a sentence is *not* the target
            (1 - the detector's probability of the target) to call it off-target.
        pivot_confidence: the detector's probability of a pivot language needed to
            call a sentence off-target when no detector knows the target.
        off_share: share of a text's letters in off-target sentences that makes it off.
        copy_threshold: share of the output's 4-grams found in the source that makes it a copy.
    """

    detectors: tuple[Detector, ...]
    fallbacks: tuple[Detector, ...] = ()
    missing_fallbacks: tuple[str, ...] = ()
    mode: Mode = "default"
    equivalence: Equivalence = field(default_factory=Equivalence.build)
    pivots: tuple[str, ...] = ("eng_Latn",)
    min_letters: int = 20
    min_script_letters: int = 8
    off_confidence: float = 0.8
    pivot_confidence: float = 0.8
    off_share: float = 0.2
    copy_threshold: float = 0.8
    _targets: dict[str, _Target] = field(default_factory=dict, init=False, repr=False)

    # -- public -----------------------------------------------------------------------

    def __call__(self, text: str, expected: str) -> LangCheck:
        """``check(text, expected)``: the ``LangChecker`` signature strategies use."""
        return self.check(text, expected)

    def check(
        self,
        text: str,
        expected: str,
        *,
        source: str | None = None,
        source_lang: str | None = None,
    ) -> LangCheck:
        """Check that ``text`` is in language ``expected`` (any code ``languages.resolve`` takes).

        ``source``: the input this text was generated from, when the output must
        not be a copy of it (translation); ``source_lang`` its language, if known
        (a copy is only off-target when the languages differ).
        """
        target = self._target(expected)
        text = normalize(text)
        masked = mask_noise(text)
        flags: tuple[str, ...] = ()
        if degenerate.is_repetitive(masked):
            flags = ("repetition",)
        if source is not None:
            copied = self._copy(text, source, source_lang, target, flags)
            if copied is not None:
                return copied
        all_lines = linelayer.lines(masked) if linelayer.may_have_lines(masked) else None
        preamble = self._preamble(masked, all_lines, target) if all_lines else None
        if preamble is not None:
            lo, hi = preamble.segment.start, preamble.segment.end
            masked = masked[:lo] + " " * (hi - lo) + masked[hi:]
        quoted: set[int] = set()
        if all_lines is not None and len(all_lines) > 1:
            # Quotations (of the source, in quotation marks, "> ..."): in no language of the answer.
            for i, line in enumerate(all_lines):
                if linelayer.is_quote(text[line.start : line.end]):
                    quoted.add(i)
                    masked = (
                        masked[: line.start] + " " * (line.end - line.start) + masked[line.end :]
                    )
        segments = split(masked, self.min_letters)
        if not segments:
            if preamble is not None:
                return self._with_lines(
                    LangCheck(target.code, "uncertain", UND, 0.0, "no-letters", flags=flags),
                    [preamble],
                    preamble,
                    [],
                )
            return LangCheck(target.code, "uncertain", UND, 0.0, "no-letters", flags=flags)
        judged = [self._judge(seg, target) for seg in segments]
        if "Latn" not in target.scripts and self._latin_inside(masked, target):
            flags = (*flags, "english-words")
        result = self._aggregate(judged, target, flags)
        if all_lines is None or (preamble is None and len(all_lines) < 2):
            return result
        line_checks = self._judge_lines(all_lines, judged, target, quoted, preamble)
        return self._with_lines(result, line_checks, preamble, judged)

    # -- lines ------------------------------------------------------------------------

    def _latin_inside(self, masked: str, target: _Target) -> bool:
        """Whether a line mostly in the target's (non-Latin) script holds Latin-script words."""
        if not linelayer.has_latin_word(masked):
            return False
        for line in masked.split("\n"):
            if linelayer.has_latin_word(line):
                letters = letter_count(line)
                if letters and target.counter.count(line, letters).off_share < 0.5:
                    return True
        return False

    def _preamble(
        self, masked: str, all_lines: list[linelayer.Line], target: _Target
    ) -> _Seg | None:
        """The leading line or lead-in, when it is an assistant preamble in another language."""
        span = linelayer.preamble_span(masked, all_lines)
        if span is None:
            return None
        lo, hi = span
        text = masked[lo:hi]
        letters = letter_count(text)
        if not letters:
            return None
        seg = Segment(lo, hi, text, letters)
        key = linelayer.opener(text, skip=target.key)
        if key is not None:
            if letters >= self.min_letters and self._judge(seg, target).verdict == "on":
                return None
            return _Seg(seg, linelayer.PREAMBLE_CODES[key], 1.0, "off", "preamble")
        if text.rstrip().endswith(":") and linelayer.words(text) >= 3:
            judged = self._judge(seg, target)
            if judged.verdict == "off":
                return _Seg(
                    seg, judged.detected, judged.confidence, "off", f"preamble:{judged.rule}"
                )
        return None

    def _judge_lines(
        self,
        all_lines: list[linelayer.Line],
        judged: Sequence[_Seg],
        target: _Target,
        quoted: set[int],
        preamble: _Seg | None,
    ) -> list[_Seg]:
        """Verdicts for the lines of 5+ words (a sentence that is the whole line is reused)."""
        by_span = {(s.segment.start, s.segment.end): s for s in judged}
        out = [preamble] if preamble is not None else []
        for i, line in enumerate(all_lines):
            if preamble is not None and line.start < preamble.segment.end:
                continue
            if line.words < linelayer.MIN_LINE_WORDS or i in quoted:
                continue
            known = by_span.get((line.start, line.end))
            if known is None:
                seg = Segment(line.start, line.end, line.text, letter_count(line.text))
                known = self._judge(seg, target)
            out.append(known)
        return out

    def _with_lines(
        self,
        result: LangCheck,
        line_checks: list[_Seg],
        preamble: _Seg | None,
        judged: Sequence[_Seg],
    ) -> LangCheck:
        """The text's verdict with its lines: ``mixed`` when an off line sits beside on-target text."""
        if not line_checks:
            return result
        records = tuple(
            SegmentCheck(
                s.segment.start, s.segment.end, s.detected, s.confidence, s.verdict, s.rule
            )
            for s in line_checks
        )
        off = [s for s in line_checks if s.verdict == "off"]
        if not off:
            return replace(result, lines=records)
        first = off[0]
        off_share = result.off_share
        if preamble is not None:
            total = sum(s.segment.letters for s in judged) + preamble.segment.letters
            off_letters = sum(s.segment.letters for s in judged if s.verdict == "off")
            off_share = (off_letters + preamble.segment.letters) / total
        has_on = result.verdict == "on" or any(s.verdict == "on" for s in line_checks)
        if has_on:
            rule = first.rule if first is preamble else f"line:{first.rule}"
            return replace(
                result,
                verdict="mixed",
                detected=first.detected,
                confidence=first.confidence,
                rule=rule,
                off_share=off_share,
                lines=records,
            )
        if result.verdict == "off":
            return replace(result, off_share=off_share, lines=records)
        return replace(
            result,
            verdict="off",
            detected=first.detected,
            confidence=first.confidence,
            rule=first.rule,
            off_share=off_share,
            lines=records,
        )

    def identify(self, text: str) -> Identification:
        """The language of ``text`` by the first detector (script layer for naming the script)."""
        detector = self.detectors[0]
        masked = mask_noise(normalize(text))
        segs: list[SegmentCheck] = []
        letters_by_code: dict[str, int] = {}
        conf_by_code: dict[str, float] = {}
        for seg in split(masked, self.min_letters):
            if seg.letters < self.min_letters:
                code, conf = UND, 0.0
            else:
                found = detector.detect(seg.text)
                code, conf = found.code or UND, found.confidence
            segs.append(SegmentCheck(seg.start, seg.end, code, conf, "on", detector.name))
            letters_by_code[code] = letters_by_code.get(code, 0) + seg.letters
            conf_by_code[code] = conf_by_code.get(code, 0.0) + conf * seg.letters
        if not segs:
            return Identification(UND, 0.0, None, detector.name)
        best = max(letters_by_code, key=lambda c: (c != UND, letters_by_code[c]))
        return Identification(
            best,
            conf_by_code[best] / letters_by_code[best],
            scripts.dominant(masked),
            detector.name,
            tuple(segs),
        )

    def signature(self) -> str:
        """Every setting that can change a verdict, as a short stable string."""
        fallback = ""
        if self.fallbacks or self.missing_fallbacks:
            names = [d.signature() for d in self.fallbacks]
            names += [f"{name}-missing" for name in self.missing_fallbacks]
            fallback = f",fallback={'+'.join(names)}"
        return (
            f"langid({'+'.join(d.signature() for d in self.detectors)},mode={self.mode}{fallback},"
            f"pivots={'+'.join(self.pivots)},min={self.min_letters},conf={self.off_confidence:g},"
            f"pivot_conf={self.pivot_confidence:g},share={self.off_share:g},"
            f"script_min={self.min_script_letters},copy={self.copy_threshold:g},"
            f"{self.equivalence.signature()})"
        )

    def can_name(self, expected: str) -> tuple[str, ...]:
        """Names of the detectors that decide for language ``expected`` (empty: pivot rule only).

        A fallback detector is named when it is the one deciding (see :meth:`by_fallback`).
        """
        return tuple(d.name for d in self._target(expected).deciders)

    def by_fallback(self, expected: str) -> bool:
        """Whether a fallback detector decides for ``expected`` (no main detector can name it)."""
        return self._target(expected).fallback

    # -- layers -----------------------------------------------------------------------

    def _target(self, expected: str) -> _Target:
        target = self._targets.get(expected)
        if target is None:
            code = languages.resolve(expected).code
            key = language_key(code)
            deciders = tuple(d for d in self.detectors if key in d.keys)
            fallback = False
            if not deciders:
                deciders = tuple(d for d in self.fallbacks if key in d.keys)[:1]
                fallback = bool(deciders)
            pivot_keys = {language_key(p) for p in self.pivots}
            pivot = next((d for d in self.detectors if pivot_keys & d.keys), None)
            allowed = scripts.members(self.equivalence.scripts(code))
            counter = scripts.ScriptCounter(allowed)
            second, blind = self._second_for(key, allowed, deciders, fallback)
            orthography = tuple(
                (sib, re.compile(chars))
                for sib, (script, chars, _) in ORTHOGRAPHY.items()
                if script in allowed and language_key(sib) != key
            )
            target = _Target(
                code, key, allowed, counter, deciders, pivot, fallback, second, blind, orthography
            )
            self._targets[expected] = target
        return target

    def _second_for(
        self,
        key: str,
        allowed: frozenset[str],
        deciders: tuple[Detector, ...],
        fallback: bool,
    ) -> tuple[Detector | None, frozenset[str]]:
        """Default mode: the detector to consult beside the decider, and the siblings only it knows.

        The second detector is the first fallback that can name the target too
        (pycld2 by default). Blind siblings: languages written in the target's
        scripts that the second detector can name and the decider cannot
        (Tigrinya for Amharic, Aymara for Quechua).
        """
        if self.mode != "default" or fallback or not deciders:
            return None, frozenset()
        second = next((d for d in self.fallbacks if key in d.keys), None)
        if second is None:
            return None, frozenset()
        primary = deciders[0]
        blind = frozenset(
            language_key(code)
            for code in second.codes
            if "_" in code
            and code.split("_", 1)[1] in allowed
            and language_key(code) not in primary.keys
            and language_key(code) != key
        )
        if "Latn" in allowed:
            blind &= LATIN_SIBLINGS.get(key, frozenset())
        return second, blind

    def siblings(self, expected: str) -> dict[str, object]:
        """How the check tells ``expected`` from languages written in its script (for coverage).

        ``consulted``: the detector asked beside the decider (None if none);
        ``blind``: sibling keys only that detector can name; ``orthography``:
        siblings caught by their own letters; ``confusable``: cluster members
        (never ``off``, at most ``uncertain``).
        """
        target = self._target(expected)
        return {
            "consulted": target.second.name if target.second else None,
            "blind": sorted(target.blind),
            "orthography": [code for code, _ in target.orthography],
            "confusable": sorted(
                k for g in self.equivalence.clusters if target.key in g for k in g - {target.key}
            ),
        }

    def _judge(self, seg: Segment, target: _Target) -> _Seg:
        count = target.counter.count(seg.text, seg.letters)
        if count.off_share > 0.5 and count.letters >= self.min_script_letters:
            detected = self._name_off_script(seg.text, target)
            return _Seg(seg, detected, count.off_share, "off", "script")
        if seg.letters < self.min_letters:
            return _Seg(seg, UND, 0.0, "uncertain", "too-short")
        for sibling, chars in target.orthography:
            share = len(chars.findall(seg.text)) / seg.letters
            if share >= ORTHOGRAPHY[sibling][2]:
                return _Seg(seg, sibling, 1.0, "off", f"orthography:{language_key(sibling)}")
        if not target.deciders:
            return self._pivot_rule(seg, target)
        primary = target.deciders[0]
        if target.fallback:
            vote = self._vote(primary, seg.text, target, f"{primary.name}-fallback")
            return _Seg(seg, vote.detected, vote.confidence, vote.verdict, vote.rule)
        vote = self._vote(primary, seg.text, target)
        if self.mode == "strict":
            vote = self._second_opinions(vote, primary, seg.text, target)
        elif target.second is not None and vote.verdict != "off":
            vote = self._consult(vote, seg.text, target)
        return _Seg(seg, vote.detected, vote.confidence, vote.verdict, vote.rule)

    def _consult(self, vote: _Vote, text: str, target: _Target) -> _Vote:
        """Default mode: the second detector decides when the decider doubts, or names a blind sibling.

        - The decider is unsure (low confidence, no language): the second
          detector's confident verdict stands (rules ``second:<rule>``); its "off"
          only when the decider gave the target under ``SECOND_LEAN``.
        - The decider says "on" but the second detector confidently names a
          language written in the target's script that the decider has no label
          for (py3langid calls Tigrinya "Amharic, 100%"): off (``sibling:<name>``),
          or ``uncertain`` when that language is in the target's confusable cluster.
        """
        second = target.second
        assert second is not None
        if vote.verdict == "uncertain":
            if vote.rule.endswith(":confusable"):
                return vote
            other = self._vote(second, text, target)
            if other.verdict == "off" and vote.p_target >= SECOND_LEAN:
                return vote
            if other.verdict != "uncertain":
                return _Vote(
                    other.detected,
                    other.confidence,
                    other.verdict,
                    f"second:{other.rule}",
                    other.p_target,
                )
            return vote
        if not target.blind:
            return vote
        found = second.detect(text)
        if found.code is None or language_key(found.code) not in target.blind:
            return vote
        if not found.reliable or found.confidence < self.off_confidence:
            return vote
        if self.equivalence.confusable(found.code, target.code):
            rule = f"sibling:{second.name}:confusable"
            return _Vote(found.code, found.confidence, "uncertain", rule, vote.p_target)
        return _Vote(found.code, found.confidence, "off", f"sibling:{second.name}", 0.0)

    def _vote(
        self, detector: Detector, text: str, target: _Target, name: str | None = None
    ) -> _Vote:
        """One detector's verdict. Off needs ``off_confidence`` that the text is *not* the target.

        ``name``: what the rules call the detector (default: its name).

        That is 1 - P(target), not the winner's probability: Spanish output for
        a Quechua prompt may be only 45% "Spanish" but 0% Quechua, while correct
        Xhosa text that a detector calls Zulu usually keeps a fair share of Xhosa.
        """
        name = name or detector.name
        found = detector.detect(text)
        if found.code is not None and language_key(found.code) == target.key:
            return _Vote(target.code, found.confidence, "on", name, found.confidence)
        if found.code is None:
            return _Vote(UND, 0.0, "uncertain", f"{name}:und", 0.0)
        if self.equivalence.confusable(found.code, target.code):
            return _Vote(found.code, found.confidence, "uncertain", f"{name}:confusable", 0.0)
        if found.reliable and found.confidence >= self.off_confidence:
            # P(target) <= 1 - P(winner): sure enough without asking for the whole ranking.
            return _Vote(found.code, found.confidence, "off", name, 1.0 - found.confidence)
        p_target = detector.probability(text, target.key)
        if found.reliable and 1.0 - p_target >= self.off_confidence:
            return _Vote(found.code, 1.0 - p_target, "off", name, p_target)
        return _Vote(found.code, 1.0 - p_target, "uncertain", f"{name}:low-confidence", p_target)

    def _second_opinions(self, vote: _Vote, primary: Detector, text: str, target: _Target) -> _Vote:
        """Strict mode: later detectors may overturn a verdict that is not already off.

        A second opinion of "off" wins when the first detector cannot name the
        language it found (py3langid knows no Tigrinya, so its "Amharic, 100%"
        for Tigrinya text means nothing) or when the first detector leaned away
        from the target too. When the first detector said "on" but without
        ``off_confidence``, the two disagree and the sentence is ``uncertain``;
        a confident "on" stands.
        """
        for detector in target.deciders[1:]:
            if vote.verdict == "off":
                return vote
            other = self._vote(detector, text, target)
            if other.verdict == "off":
                blind = language_key(other.detected) not in primary.keys
                if blind or vote.verdict == "uncertain":
                    rule = f"strict:{other.rule}"
                    return _Vote(other.detected, other.confidence, "off", rule, other.p_target)
                if vote.p_target < self.off_confidence:
                    rule = f"strict:disagree:{other.rule}"
                    return _Vote(other.detected, other.confidence, "uncertain", rule, vote.p_target)
            elif other.verdict == "on" and vote.verdict == "uncertain":
                vote = other
        return vote

    def _pivot_rule(self, seg: Segment, target: _Target) -> _Seg:
        detector = target.pivot_detector
        unsupported = "unsupported-target"
        if self.missing_fallbacks:
            unsupported += "".join(f":{name}-missing" for name in self.missing_fallbacks)
        if detector is None:
            return _Seg(seg, UND, 0.0, "uncertain", unsupported)
        found = detector.detect(seg.text)
        pivot = next(
            (p for p in self.pivots if found.code and language_key(found.code) == language_key(p)),
            None,
        )
        if pivot is not None and found.reliable:
            # Summed over the pivot's labels: English text is partly "Nigerian Pidgin" to py3langid.
            p_pivot = found.confidence
            if p_pivot < self.pivot_confidence:
                p_pivot = detector.probability(seg.text, language_key(pivot))
            if p_pivot >= self.pivot_confidence:
                return _Seg(seg, pivot, p_pivot, "off", f"pivot:{detector.name}")
        # What the detector named is not reported: for an unknown target it is a look-alike.
        return _Seg(seg, UND, 0.0, "uncertain", unsupported)

    def _name_off_script(self, text: str, target: _Target) -> str:
        """The language of text in a foreign script, if the first detector can tell; else und_Scri."""
        script = scripts.dominant(text, exclude=target.scripts)
        if script is None:
            return UND
        found = self.detectors[0].detect(text)
        if found.code is not None and script in scripts.members({found.code.split("_")[1]}):
            return found.code
        return f"{UND}_{script}"

    def _copy(
        self,
        text: str,
        source: str,
        source_lang: str | None,
        target: _Target,
        flags: tuple[str, ...],
    ) -> LangCheck | None:
        if source_lang is not None and self.equivalence.same(
            languages.resolve(source_lang).code, target.code
        ):
            return None
        score = degenerate.copy_score(text, normalize(source))
        if score < self.copy_threshold or len(text.strip()) < self.min_letters:
            return None
        detected = languages.resolve(source_lang).code if source_lang else UND
        return LangCheck(target.code, "off", detected, score, "copy-of-source", 1.0, flags=flags)

    # -- aggregation -------------------------------------------------------------------

    def _aggregate(
        self, judged: Sequence[_Seg], target: _Target, flags: tuple[str, ...]
    ) -> LangCheck:
        if len(judged) == 1:
            only = judged[0]
            share = 1.0 if only.verdict == "off" else 0.0
            return LangCheck(
                target.code,
                only.verdict,
                only.detected,
                only.confidence,
                only.rule,
                share,
                flags=flags,
            )
        total = sum(s.segment.letters for s in judged)
        letters: dict[str, int] = {"on": 0, "off": 0, "uncertain": 0}
        for s in judged:
            letters[s.verdict] += s.segment.letters
        off_share = letters["off"] / total
        verdict: Verdict
        if letters["off"] and off_share >= self.off_share:
            verdict = "off"
        elif letters["on"] * 2 >= total:
            verdict = "on"
        else:
            verdict = "uncertain"
        chosen = [s for s in judged if s.verdict == verdict]
        weight = sum(s.segment.letters for s in chosen)
        largest = max(chosen, key=lambda s: s.segment.letters)
        by_lang: dict[str, int] = {}
        for s in chosen:
            by_lang[s.detected] = by_lang.get(s.detected, 0) + s.segment.letters
        detected = max(by_lang, key=lambda c: by_lang[c])
        confidence = sum(s.confidence * s.segment.letters for s in chosen) / weight
        segments = tuple(
            SegmentCheck(
                s.segment.start, s.segment.end, s.detected, s.confidence, s.verdict, s.rule
            )
            for s in judged
        )
        return LangCheck(
            target.code, verdict, detected, confidence, largest.rule, off_share, segments, flags
        )
