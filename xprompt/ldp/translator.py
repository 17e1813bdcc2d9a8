"""LDP translation with an LLM: a :class:`~xprompt.mt.base.Translator` built on exemplar sets.

Which exemplars a direction gets (``plan``):

- **X -> English**: ``x2en="diverse"`` (the LDP preset) takes pairs into English
  from the diverse high-resource languages (default Arabic, Chinese,
  Vietnamese, French), interleaved one language at a time so every prompt is
  diverse; ``x2en="in-language"`` takes X -> English pairs of the pool (human
  parallel data: supervised few-shot); ``auto`` (default) uses in-language pairs
  when the pool has ``shots`` of them, else the diverse ones.
- **English -> X**: the pool's English -> X pairs: the synthetic in-language
  exemplars ``xprompt synth pairs`` builds (the X side is genuine X text).
- **X -> Y** (neither English): X -> Y pairs of the pool when it has ``shots``
  of them (human parallel data); else triples X -> English -> Y (one prompt;
  the model writes the English line, then Y); else two chained steps,
  X -> English, then English -> Y.
- ``shots=0``: zero-shot, the layout and tags alone.

Exemplars are drawn once per direction (``first``: pool order; ``random``:
seeded shuffle), so every prompt of a direction shares its prefix and vLLM's
prefix cache serves it once; an exemplar whose input equals the query is
skipped. Greedy decoding, stop at the end of the line. Every step of a batch
is one ``backend.generate`` call; a request that cannot be served (no
exemplars for its direction, a prompt over the context) comes back with
``error`` set and never stops the batch.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from xprompt import languages
from xprompt.backends.base import Backend
from xprompt.ldp.exemplar_set import (
    DEFAULT_DIVERSE_LANGS,
    ENGLISH,
    SetRecord,
    records_digest,
)
from xprompt.ldp.prompt import LDPPrompt, TagStyle
from xprompt.mt.base import Translation, TranslationRequest, model_identity
from xprompt.types import Completion, Message, Request, Sampling

X2EnMode = Literal["auto", "diverse", "in-language"]
X2EN_MODES: tuple[str, ...] = ("auto", "diverse", "in-language")
Select = Literal["first", "random"]

#: Greedy, one line, room for a long sentence.
DEFAULT_SAMPLING = Sampling(temperature=0.0, max_tokens=128, stop=("\n",), seed=0)
DEFAULT_SHOTS = 8


@dataclass(frozen=True, slots=True)
class Plan:
    """How one direction is prompted: ``mode`` and the exemplars in prompt order."""

    mode: str  # zero-shot | diverse | in-language | triples | chain
    exemplars: tuple[SetRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class LDPOutput:
    """One translation with its evidence: mode, exemplar ids, English pivot (chains), prompt digests."""

    translation: Translation
    mode: str = ""
    exemplar_ids: tuple[str, ...] = ()
    pivot: str | None = None
    prompt_digests: tuple[str, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def details(self) -> dict[str, Any]:
        """Mode, exemplar ids and English pivot, for result records."""
        out: dict[str, Any] = {"mode": self.mode, "exemplar_ids": list(self.exemplar_ids)}
        if self.pivot is not None:
            out["pivot"] = self.pivot
        return out


def supervised_sources(pool: Sequence[SetRecord], shots: int) -> tuple[str, ...]:
    """Source languages for which ``x2en="auto"`` takes in-language (supervised) X -> English pairs.

    ``auto`` uses a language's own pairs into English when the pool has
    ``shots`` of them, so for these languages an "LDP" run is supervised
    few-shot prompting; signatures and reports name them.
    """
    if shots == 0:
        return ()
    counts: dict[str, int] = {}
    for r in pool:
        if r.kind == "pair" and r.target_lang == ENGLISH and r.lang != ENGLISH:
            counts[r.lang] = counts.get(r.lang, 0) + 1
    return tuple(sorted(lang for lang, n in counts.items() if n >= shots))


def x2en_label(x2en: str, pool: Sequence[SetRecord], shots: int) -> str:
    """``x2en`` as signatures write it: ``auto`` says which languages run supervised pairs."""
    if x2en != "auto":
        return x2en
    supervised = supervised_sources(pool, shots)
    return f"auto[in-language:{'+'.join(supervised)}]" if supervised else "auto[diverse]"


@dataclass
class LDPTranslator:
    """Translate with linguistically-diverse prompts (Nguyen et al., ACL 2024).

    Args:
        backend: any xprompt backend (vLLM in-process, an OpenAI-compatible server).
        pool: exemplar pairs and triples (:func:`~xprompt.ldp.exemplar_set.read_sets`).
        shots: exemplars per prompt (0 = zero-shot).
        tags: tag style (``native``, ``none``, ``english``, ``code``).
        x2en: X -> English exemplars: ``auto``, ``diverse`` or ``in-language``.
        diverse_langs: the diverse languages, in interleaving order.
        select: ``first`` (pool order) or ``random`` (shuffled by ``seed``).
        seed: seeds ``random`` selection.
        sampling: decoding (greedy, 128 tokens, stop at newline by default).
        prompt_format: ``raw`` (one text prompt, for base models, as in the paper)
            or ``chat`` (the prompt as one user turn of the chat template).
        prompt: the renderer (default: the shipped templates in ``tags`` style).
    """

    backend: Backend
    pool: Sequence[SetRecord]
    shots: int = DEFAULT_SHOTS
    tags: TagStyle = "native"
    x2en: X2EnMode = "auto"
    diverse_langs: tuple[str, ...] = DEFAULT_DIVERSE_LANGS
    select: Select = "first"
    seed: int = 0
    sampling: Sampling = DEFAULT_SAMPLING
    prompt_format: Literal["raw", "chat"] = "raw"
    prompt: LDPPrompt | None = None
    _orders: dict[tuple[str, str, str], tuple[SetRecord, ...]] = field(
        default_factory=dict, init=False, repr=False
    )

    def __post_init__(self) -> None:
        if self.shots < 0:
            raise ValueError(f"shots must be >= 0, got {self.shots}")
        if self.x2en not in X2EN_MODES:
            raise ValueError(f"x2en must be one of {', '.join(X2EN_MODES)}, got {self.x2en!r}")
        if self.select not in ("first", "random"):
            raise ValueError(f"select must be first or random, got {self.select!r}")
        if self.prompt_format not in ("raw", "chat"):
            raise ValueError(f"prompt_format must be raw or chat, got {self.prompt_format!r}")
        self.diverse_langs = tuple(languages.resolve(c).code for c in self.diverse_langs)
        if self.prompt is None:
            self.prompt = LDPPrompt(self.tags)
        self.pool_digest = records_digest(self.pool)

    # -- Translator protocol --------------------------------------------------------

    @property
    def model_id(self) -> str:
        """The LLM's id as its backend names it."""
        return self.backend.model_id

    @property
    def model_identity(self) -> str:
        """The LLM as signatures and provenance name it (directory name plus config digest)."""
        return model_identity(self.backend.model_id)

    def signature(self) -> str:
        """Model, prompt, exemplar pool digest, selection and decoding: everything that changes an output."""
        assert self.prompt is not None
        return (
            f"ldp:{self.model_identity}:{self.prompt.signature()},k={self.shots},"
            f"x2en={x2en_label(self.x2en, self.pool, self.shots)},"
            f"diverse={'+'.join(self.diverse_langs)},select={self.select},seed={self.seed},"
            f"pool={self.pool_digest},format={self.prompt_format},sampling={self.sampling.signature()}"
        )

    def describe(self) -> dict[str, Any]:
        """Facts for reports."""
        return {
            "engine": "ldp",
            "llm": self.backend.describe(),
            "shots": self.shots,
            "tags": self.tags,
            "pool": len(self.pool),
        }

    def close(self) -> None:
        """The backend belongs to the caller; nothing to release here."""

    def translate(self, requests: Sequence[TranslationRequest]) -> list[Translation]:
        """One translation per request, same order (see :meth:`translate_detailed`)."""
        return [out.translation for out in self.translate_detailed(requests)]

    # -- planning -------------------------------------------------------------------

    def _ordered(self, mode: str, src: str, tgt: str) -> tuple[SetRecord, ...]:
        key = (mode, src, tgt)
        if key not in self._orders:
            self._orders[key] = tuple(self._order(mode, src, tgt))
        return self._orders[key]

    def _order(self, mode: str, src: str, tgt: str) -> list[SetRecord]:
        if mode == "diverse":
            groups = [
                [
                    r
                    for r in self.pool
                    if r.kind == "pair" and r.lang == lang and r.target_lang == tgt
                ]
                for lang in self.diverse_langs
                if lang != src
            ]
        else:
            kind = "triple" if mode == "triples" else "pair"
            groups = [
                [r for r in self.pool if r.kind == kind and r.lang == src and r.target_lang == tgt]
            ]
        if self.select == "random":
            for i, group in enumerate(groups):
                random.Random(f"{self.seed}|{mode}|{src}|{tgt}|{i}").shuffle(group)
        out: list[SetRecord] = []
        depth = 0
        while any(depth < len(g) for g in groups):
            out.extend(g[depth] for g in groups if depth < len(g))
            depth += 1
        return out

    def _take(self, mode: str, src: str, tgt: str, query: str) -> tuple[SetRecord, ...] | None:
        ordered = self._ordered(mode, src, tgt)
        key = query.strip()
        chosen = tuple(r for r in ordered[: self.shots + 1] if r.text != key)[: self.shots]
        return chosen if len(chosen) == self.shots else None

    def _pair_plan(self, src: str, tgt: str, query: str) -> Plan:
        if self.shots == 0:
            return Plan("zero-shot")
        if tgt == ENGLISH and src != ENGLISH:
            if self.x2en in ("auto", "in-language"):
                chosen = self._take("in-language", src, tgt, query)
                if chosen is not None:
                    return Plan("in-language", chosen)
                if self.x2en == "in-language":
                    have = len(self._ordered("in-language", src, tgt))
                    raise ValueError(
                        f"ldp: the exemplar pool has {have} {src} -> {tgt} pairs, {self.shots} needed "
                        "for in-language (supervised) prompting; add parallel pairs, use fewer "
                        "shots, or x2en=diverse"
                    )
            chosen = self._take("diverse", src, tgt, query)
            if chosen is None:
                have = len(self._ordered("diverse", src, tgt))
                raise ValueError(
                    f"ldp: {have} diverse pairs into English from {', '.join(self.diverse_langs)} "
                    f"(excluding {src}), {self.shots} needed; use fewer shots, more diverse "
                    "languages, or a bigger diverse set"
                )
            return Plan("diverse", chosen)
        chosen = self._take("in-language", src, tgt, query)
        if chosen is None:
            have = len(self._ordered("in-language", src, tgt))
            hint = (
                f"build them with 'xprompt synth pairs --lang {tgt} --input SENTENCES' and pass "
                "the set as exemplars"
                if src == ENGLISH
                else "add pairs for this direction"
            )
            raise ValueError(
                f"ldp: the exemplar pool has {have} {src} -> {tgt} pairs, {self.shots} needed; {hint}"
            )
        return Plan("in-language", chosen)

    def plan(self, src: str, tgt: str, query: str) -> Plan:
        """The exemplars for one query (ValueError naming what is missing when there are too few)."""
        if src == tgt:
            raise ValueError(f"ldp: source and target are the same language ({src})")
        if self.shots == 0 or ENGLISH in (src, tgt):
            return self._pair_plan(src, tgt, query)
        chosen = self._take("in-language", src, tgt, query)
        if chosen is not None:
            return Plan("in-language", chosen)
        chosen = self._take("triples", src, tgt, query)
        if chosen is not None:
            return Plan("triples", chosen)
        self._pair_plan(src, ENGLISH, query)
        self._pair_plan(ENGLISH, tgt, "")
        return Plan("chain")

    # -- requests -------------------------------------------------------------------

    def _request(self, rid: str, messages: tuple[Message, ...], sampling: Sampling) -> Request:
        if self.prompt_format == "chat":
            return Request(rid, messages=messages, sampling=sampling)
        from xprompt.templates import render_as_prompt

        return Request(rid, prompt=render_as_prompt(messages), sampling=sampling)

    def _pair_request(self, rid: str, text: str, src: str, tgt: str, plan: Plan) -> Request:
        assert self.prompt is not None
        messages = self.prompt.pair_messages(text, src, tgt, plan.exemplars)
        return self._request(rid, messages, self.sampling)

    def _chain_request(self, rid: str, item: TranslationRequest, plan: Plan) -> Request:
        assert self.prompt is not None
        messages = self.prompt.chain_messages(
            item.text, item.src, ENGLISH, item.tgt, plan.exemplars
        )
        sampling = replace(self.sampling, stop=("\n\n",), max_tokens=2 * self.sampling.max_tokens)
        return self._request(rid, messages, sampling)

    def translate_detailed(self, requests: Sequence[TranslationRequest]) -> list[LDPOutput]:
        """Translate a batch: one ``generate`` call, plus one for the second leg of chains."""
        assert self.prompt is not None
        results: list[LDPOutput | None] = [None] * len(requests)
        batch: list[Request] = []
        owners: list[tuple[int, Plan]] = []
        for i, item in enumerate(requests):
            if not item.text.strip():
                results[i] = _failed(item, "source text is empty")
                continue
            try:
                plan = self.plan(item.src, item.tgt, item.text)
                if plan.mode == "chain":
                    first = self._pair_plan(item.src, ENGLISH, item.text)
                    batch.append(
                        self._pair_request(f"ldp{i}/en", item.text, item.src, ENGLISH, first)
                    )
                    owners.append((i, Plan("chain", first.exemplars)))
                elif plan.mode == "triples":
                    batch.append(self._chain_request(f"ldp{i}", item, plan))
                    owners.append((i, plan))
                else:
                    batch.append(self._pair_request(f"ldp{i}", item.text, item.src, item.tgt, plan))
                    owners.append((i, plan))
            except ValueError as exc:
                results[i] = _failed(item, str(exc))
        completions = self.backend.generate(batch) if batch else []
        second: list[Request] = []
        second_owners: list[tuple[int, tuple[str, ...], Plan, str, Request, Completion]] = []
        for (i, plan), request, completion in zip(owners, batch, completions, strict=True):
            item = requests[i]
            ids = tuple(r.id for r in plan.exemplars)
            if not completion.ok:
                results[i] = _failed(
                    item, completion.error or "generation failed", plan.mode, ids, (request,)
                )
                continue
            text = completion.texts[0]
            if plan.mode == "chain":
                pivot = self.prompt.parse_pair(text)
                if not pivot:
                    results[i] = _failed(
                        item, "ldp chain: the English step gave an empty output", "chain", ids
                    )
                    continue
                try:
                    leg = self._pair_plan(ENGLISH, item.tgt, pivot)
                except ValueError as exc:
                    results[i] = _failed(item, str(exc), "chain", ids)
                    continue
                second.append(self._pair_request(f"ldp{i}/tgt", pivot, ENGLISH, item.tgt, leg))
                second_owners.append((i, ids, leg, pivot, request, completion))
                continue
            pivot_text: str | None = None
            if plan.mode == "triples":
                try:
                    pivot_text, out = self.prompt.parse_chain(text, item.tgt)
                except ValueError as exc:
                    results[i] = _failed(item, f"ldp: {exc}", plan.mode, ids, (request,))
                    continue
            else:
                out = self.prompt.parse_pair(text)
            results[i] = LDPOutput(
                Translation(
                    item.text, item.src, item.tgt, out, tokens=completion.completion_tokens
                ),
                plan.mode,
                ids,
                pivot_text,
                (request.digest(),),
                completion.prompt_tokens,
                completion.completion_tokens,
            )
        finals = self.backend.generate(second) if second else []
        for (i, first_ids, leg, pivot, first_request, first), request, completion in zip(
            second_owners, second, finals, strict=True
        ):
            item = requests[i]
            ids = first_ids + tuple(r.id for r in leg.exemplars)
            digests = (first_request.digest(), request.digest())
            if not completion.ok:
                results[i] = _failed(
                    item,
                    completion.error or "generation failed",
                    "chain",
                    ids,
                    (first_request, request),
                    pivot=pivot,
                )
                continue
            tokens = first.completion_tokens + completion.completion_tokens
            results[i] = LDPOutput(
                Translation(
                    item.text,
                    item.src,
                    item.tgt,
                    self.prompt.parse_pair(completion.texts[0]),
                    tokens=tokens,
                ),
                "chain",
                ids,
                pivot,
                digests,
                first.prompt_tokens + completion.prompt_tokens,
                tokens,
            )
        return [r for r in results if r is not None]


def _failed(
    item: TranslationRequest,
    error: str,
    mode: str = "",
    ids: tuple[str, ...] = (),
    requests: tuple[Request, ...] = (),
    *,
    pivot: str | None = None,
) -> LDPOutput:
    return LDPOutput(
        Translation(item.text, item.src, item.tgt, None, error=error),
        mode,
        ids,
        pivot,
        tuple(r.digest() for r in requests),
    )
