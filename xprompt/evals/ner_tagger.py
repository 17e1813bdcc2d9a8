"""An English NER tagger that prompts the LLM: the English side of translate-test label projection.

CODEC's translate-test (Le et al. 2024) tags the English translation with an
English NER model and projects the spans back onto the original sentence. The
evaluation compares projection methods, so the tagger only has to be the same
for every method. By default it is the suite's LLM, prompted with the
``ner-tag-en`` template ("TYPE: entity" lines); any ``module:function`` tagger
(:func:`xprompt.projection.pipeline.load_tagger`), e.g. a fine-tuned English
NER model, can replace it.

Each reply line ``TYPE: entity`` with a known type becomes a span at the first
whole-word occurrence of the entity in the sentence that does not overlap a
span already placed; anything else in the reply is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from xprompt.backends.base import Backend
from xprompt.projection.spans import Span
from xprompt.templates import Template, load_template
from xprompt.types import Example, Request, Sampling

#: MasakhaNER 2.0's entity types.
LABELS = ("PER", "ORG", "LOC", "DATE")
TEMPLATE = "ner-tag-en"

_LINE = re.compile(r"^\s*(?:[-*•]\s*)?([A-Za-z]+)\s*[:=\-]\s*(.+?)\s*$")


def parse_entities(reply: str, text: str, labels: Sequence[str] = LABELS) -> list[Span]:
    """Spans of ``text`` named by ``TYPE: entity`` lines of ``reply`` (see the module docstring)."""
    known = {label.upper(): label for label in labels}
    spans: list[Span] = []
    for line in reply.splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        label = known.get(match.group(1).upper())
        entity = match.group(2).strip().strip("\"'")
        if label is None or not entity:
            continue
        span = _place(text, entity, label, spans)
        if span is not None:
            spans.append(span)
    return sorted(spans)


def _place(text: str, entity: str, label: str, taken: Sequence[Span]) -> Span | None:
    start = text.find(entity)
    while start >= 0:
        end = start + len(entity)
        whole = (start == 0 or not text[start - 1].isalnum()) and (
            end == len(text) or not text[end].isalnum()
        )
        span = Span(start, end, label)
        if whole and not any(span.overlaps(other) for other in taken):
            return span
        start = text.find(entity, start + 1)
    return None


@dataclass
class LLMTagger:
    """Tags English sentences with the LLM in one batched call; counts what it cost."""

    backend: Backend
    max_tokens: int = 64
    labels: tuple[str, ...] = LABELS
    template: Template = field(default_factory=lambda: load_template(TEMPLATE))
    calls: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0

    @property
    def sampling(self) -> Sampling:
        """Greedy decoding, ``max_tokens`` new tokens."""
        return Sampling(temperature=0.0, max_tokens=self.max_tokens, seed=0)

    def signature(self) -> str:
        """Model, template and decoding: what the tags depend on."""
        return (
            f"llm-tagger({self.backend.model_id},template={self.template.name}@{self.template.digest},"
            f"labels={'+'.join(self.labels)},sampling={self.sampling.signature()})"
        )

    def __call__(self, texts: list[str]) -> list[list[Span]]:
        """Spans per text, same order (a failed request tags nothing)."""
        requests = [
            Request(
                f"tag{i}",
                messages=self.template.render(Example(f"tag{i}", "eng_Latn", {"text": text})),
                sampling=self.sampling,
            )
            for i, text in enumerate(texts)
        ]
        completions = self.backend.generate(requests) if requests else []
        out: list[list[Span]] = []
        for text, completion in zip(texts, completions, strict=True):
            self.calls += 1
            self.prompt_tokens += completion.prompt_tokens
            self.generated_tokens += completion.completion_tokens
            reply = completion.texts[0] if completion.ok and completion.texts else ""
            out.append(parse_entities(reply, text, self.labels))
        return out
