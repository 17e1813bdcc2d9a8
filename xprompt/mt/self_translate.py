"""Self-translate (Etxaniz et al., NAACL 2024): the LLM translates its own input, few-shot.

The prompt is the ``self-translate`` template (``templates/self-translate.yaml``):
each exemplar is ``"{LangName}: {source}\\n{TargetName}: {translation}\\n"`` and the
query ends with ``"{LangName}: {text}\\n{TargetName}:"``, with the language names
the paper's prompts use (``languages.prompt_name``: "Chinese", "Quechua", "Arabic",
"Haitian"). Greedy decoding, at most 64 new tokens (128 for MGSM: translate-test
picks it from the task), stopping at the newline that ends the line.

Exemplars come from a file (JSONL, CSV or TSV) of translation pairs, supplied by
the user or written by the synthetic-exemplar command::

    {"id": "t001-hau", "lang": "hau_Latn", "text": "<source sentence>",
     "target": "<its translation>", "target_lang": "eng_Latn"}

``target_lang`` defaults to ``eng_Latn``. As in the paper, the exemplars for a
language pair are the first ``shots`` rows of that pair (file order) whose
source is shorter than ``max_exemplar_chars`` (100); ``exemplar_lang="any"``
takes them from any source language instead (each labelled with its own
language name), for languages without exemplars of their own.

Works with any backend (vLLM in-process, an OpenAI-compatible server): all
requests of a batch go to the backend in one ``generate`` call.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from xprompt import data, languages
from xprompt.backends.base import Backend
from xprompt.errors import DataError, UnknownLanguageError
from xprompt.mt.base import Translation, TranslationRequest
from xprompt.templates import Template, load_template, render_as_prompt
from xprompt.types import Example, Request, Sampling

#: The paper's decoding: greedy, 64 new tokens, stop at the end of the line.
DEFAULT_SAMPLING = Sampling(temperature=0.0, max_tokens=64, stop=("\n",), seed=0)
TEMPLATE_NAME = "self-translate"


@dataclass(frozen=True, slots=True)
class TranslationPair:
    """One exemplar: a source sentence in ``lang`` and its translation into ``target_lang``."""

    id: str
    lang: str
    text: str
    target: str
    target_lang: str = "eng_Latn"


def read_translation_pairs(path: str) -> list[TranslationPair]:
    """Read an exemplar file; any bad row is an error naming the row and field (exemplars must be clean)."""
    name = path.rsplit("/", 1)[-1]
    pairs: list[TranslationPair] = []
    seen: set[str] = set()
    for index, line_no, row in data.read_raw_rows(path):
        where = f"exemplar file {name}, row {index + 1} (line {line_no})"
        if isinstance(row, str):
            raise DataError(f"{where}: {row}")
        present = ", ".join(sorted(row)) or "none"
        values: dict[str, str] = {}
        for column in ("lang", "text", "target"):
            value = row.get(column)
            if not isinstance(value, str) or not value.strip():
                raise DataError(
                    f"{where}: field '{column}' is missing or empty (fields present: {present})"
                )
            values[column] = value.strip()
        try:
            lang = languages.resolve(values["lang"]).code
            target_lang = languages.resolve(str(row.get("target_lang") or "eng_Latn")).code
        except UnknownLanguageError as exc:
            raise DataError(f"{where}: {exc}") from None
        pair_id = str(row.get("id") or f"pair{index + 1}")
        if pair_id in seen:
            raise DataError(f"{where}: duplicate id '{pair_id}'")
        seen.add(pair_id)
        pairs.append(TranslationPair(pair_id, lang, values["text"], values["target"], target_lang))
    if not pairs:
        raise DataError(f"exemplar file {path} has no rows")
    return pairs


@dataclass
class SelfTranslator:
    """Translate with an LLM backend and a few-shot prompt (a :class:`~xprompt.mt.base.Translator`).

    Args:
        backend: any xprompt backend (vLLM, OpenAI-compatible server).
        pairs: exemplar translation pairs (see :func:`read_translation_pairs`).
        shots: exemplars per prompt (4 in the paper).
        sampling: decoding (greedy, 64 tokens, stop at newline by default).
        exemplar_lang: ``same`` (exemplars of the query's own language) or ``any``.
        max_exemplar_chars: only exemplars with shorter sources (100 in the paper).
        prompt_format: ``raw`` (one text prompt, as in the paper, for base models)
            or ``chat`` (the prompt as one user turn of the model's chat template).
        template: the prompt template (default: the shipped ``self-translate``).
        pairs_digest: names the exemplar set in the signature (digest of the pairs by default).
    """

    backend: Backend
    pairs: Sequence[TranslationPair]
    shots: int = 4
    sampling: Sampling = DEFAULT_SAMPLING
    exemplar_lang: Literal["same", "any"] = "same"
    max_exemplar_chars: int = 100
    prompt_format: Literal["raw", "chat"] = "raw"
    template: Template = field(default_factory=lambda: load_template(TEMPLATE_NAME))
    pairs_digest: str = ""

    def __post_init__(self) -> None:
        if self.shots < 0:
            raise ValueError(f"shots must be >= 0, got {self.shots}")
        if not self.pairs_digest:
            blob = "\n".join(f"{p.lang}\t{p.text}\t{p.target_lang}\t{p.target}" for p in self.pairs)
            self.pairs_digest = hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]

    @property
    def model_id(self) -> str:
        return self.backend.model_id

    def signature(self) -> str:
        return (
            f"self-translate:{self.backend.model_id}:template={self.template.name}@{self.template.digest},"
            f"k={self.shots},exemplars={self.pairs_digest}/{self.exemplar_lang}/<{self.max_exemplar_chars},"
            f"format={self.prompt_format},sampling={self.sampling.signature()}"
        )

    def describe(self) -> dict[str, Any]:
        return {"engine": "self-translate", "llm": self.backend.describe(), "shots": self.shots}

    def close(self) -> None:
        """The backend belongs to the caller; nothing to release here."""

    def exemplars(self, src: str, tgt: str, query: str) -> list[TranslationPair]:
        """The exemplars for one query (first ``shots`` eligible pairs in file order)."""
        chosen: list[TranslationPair] = []
        for pair in self.pairs:
            if len(chosen) == self.shots:
                break
            if pair.target_lang != tgt or len(pair.text) >= self.max_exemplar_chars:
                continue
            if (self.exemplar_lang == "same" and pair.lang != src) or pair.text == query.strip():
                continue
            chosen.append(pair)
        if len(chosen) < self.shots:
            where = f"{src} -> {tgt}" if self.exemplar_lang == "same" else f"any language -> {tgt}"
            raise ValueError(
                f"self-translate: the exemplar file has {len(chosen)} usable pairs for {where} "
                f"(sources under {self.max_exemplar_chars} characters), {self.shots} needed; add "
                "pairs, use fewer shots, or exemplar_lang=any"
            )
        return chosen

    def request(self, i: int, item: TranslationRequest) -> Request:
        """The LLM request translating one item (raises ValueError when exemplars are missing)."""
        target_name = languages.prompt_name(item.tgt)
        query = Example(
            f"q{i}",
            item.src,
            {
                "text": item.text,
                "source_name": languages.prompt_name(item.src),
                "target_name": target_name,
            },
        )
        shots = [
            Example(
                p.id,
                p.lang,
                {
                    "text": p.text,
                    "source_name": languages.prompt_name(p.lang),
                    "target_name": target_name,
                },
                target=p.target,
            )
            for p in self.exemplars(item.src, item.tgt, item.text)
        ]
        messages = self.template.render(query, shots)
        if self.prompt_format == "chat":
            return Request(f"mt{i}", messages=messages, sampling=self.sampling)
        return Request(f"mt{i}", prompt=render_as_prompt(messages), sampling=self.sampling)

    def translate(self, requests: Sequence[TranslationRequest]) -> list[Translation]:
        """Translate a batch with one ``backend.generate`` call; errors per request."""
        results: list[Translation | None] = [None] * len(requests)
        batch: list[Request] = []
        positions: list[int] = []
        for i, item in enumerate(requests):
            if not item.text.strip():
                results[i] = Translation(
                    item.text, item.src, item.tgt, None, error="source text is empty"
                )
                continue
            try:
                batch.append(self.request(i, item))
                positions.append(i)
            except ValueError as exc:
                results[i] = Translation(item.text, item.src, item.tgt, None, error=str(exc))
        completions = self.backend.generate(batch) if batch else []
        for i, completion in zip(positions, completions, strict=True):
            item = requests[i]
            if not completion.ok:
                results[i] = Translation(
                    item.text,
                    item.src,
                    item.tgt,
                    None,
                    error=completion.error or "generation failed",
                )
                continue
            text = completion.texts[0].split("\n", 1)[0].strip()
            results[i] = Translation(
                item.text,
                item.src,
                item.tgt,
                text,
                tokens=completion.completion_tokens,
                prompt_tokens=completion.prompt_tokens,
            )
        return [r for r in results if r is not None]
