"""The LDP prompt layout: exemplar pairs ``z_1, e_1, ..., z_n, e_n``, then the input ``x``.

Each pair is ``[input]\\n[output]`` (Nguyen et al., ACL 2024), pairs separated
by a blank line; the templates ``ldp-translate`` (pairs) and ``ldp-chain``
(X -> English -> Y triples) place the parts. A line may start with a language
tag, in one of four styles:

- ``native``: the language's own name, ``Tiếng Việt: …`` / ``English: …`` (default);
- ``none``: no tags, the pair format alone (the paper found native or none best);
- ``english``: English names, ``Vietnamese: …``;
- ``code``: bracketed codes, ``[vi] …`` (the English-tag variant of the ablation).

The model's answer is the rest of the query's last line: generation stops at
the newline (pairs) or at the blank line that would start a new exemplar
(triples, whose answer is two lines: English, then the target).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from xprompt import languages
from xprompt.ldp.exemplar_set import SetRecord
from xprompt.templates import Template, load_template, render_as_prompt
from xprompt.types import Example, Message

TagStyle = Literal["native", "none", "english", "code"]
TAG_STYLES: tuple[str, ...] = ("native", "none", "english", "code")
PAIR_TEMPLATE = "ldp-translate"
CHAIN_TEMPLATE = "ldp-chain"


def language_tag(code: str, style: TagStyle) -> str:
    """The tag that starts a line in ``code``'s language, or ``""`` for ``none``."""
    if style == "none":
        return ""
    info = languages.resolve(code)
    if style == "native":
        return f"{info.native_name or english_name(info.code)}:"
    if style == "english":
        return f"{english_name(info.code)}:"
    if style == "code":
        return f"[{info.iso639_1 or info.bcp47}]"
    raise ValueError(f"unknown tag style {style!r} (use one of {', '.join(TAG_STYLES)})")


def check_tag_style(value: str) -> TagStyle:
    """``value`` as a tag style, or a ValueError listing the styles."""
    if value not in TAG_STYLES:
        raise ValueError(f"unknown tag style '{value}' (use one of {', '.join(TAG_STYLES)})")
    return value  # type: ignore[return-value]


def pair_example(record: SetRecord, style: TagStyle) -> Example:
    """An exemplar pair as the pair template's ``Example`` (its answer is the translation)."""
    fields = {
        "text": record.text,
        "source_tag": language_tag(record.lang, style),
        "target_tag": language_tag(record.target_lang, style),
    }
    return Example(record.id, record.lang, fields, target=record.target)


def chain_example(record: SetRecord, style: TagStyle) -> Example:
    """An exemplar triple as the chain template's ``Example`` (its answer is the Y side)."""
    assert record.pivot is not None and record.pivot_lang is not None
    fields = {
        "text": record.text,
        "pivot": record.pivot,
        "source_tag": language_tag(record.lang, style),
        "pivot_tag": language_tag(record.pivot_lang, style),
        "target_tag": language_tag(record.target_lang, style),
    }
    return Example(record.id, record.lang, fields, target=record.target)


class LDPPrompt:
    """Renders LDP prompts with the pair and chain templates in one tag style.

    Args:
        tags: the tag style.
        pair_template: template for pairs (default ``ldp-translate``); it must
            read ``text``, ``source_tag`` and ``target_tag`` only.
        chain_template: template for triples (default ``ldp-chain``).
    """

    def __init__(
        self,
        tags: TagStyle = "native",
        *,
        pair_template: Template | None = None,
        chain_template: Template | None = None,
    ) -> None:
        self.tags = check_tag_style(tags)
        self.pair_template = pair_template or load_template(PAIR_TEMPLATE)
        self.chain_template = chain_template or load_template(CHAIN_TEMPLATE)
        for template, needed in (
            (self.pair_template, {"text", "source_tag", "target_tag"}),
            (self.chain_template, {"text", "pivot", "source_tag", "pivot_tag", "target_tag"}),
        ):
            extra = set(template.fields) - needed
            if extra:
                raise ValueError(
                    f"template '{template.name}' reads {sorted(extra)}, which an LDP prompt "
                    f"does not fill (it fills {sorted(needed)})"
                )
            if "text" not in template.fields or template.layout != "block":
                raise ValueError(
                    f"template '{template.name}' is not an LDP translation template: it needs the "
                    "field 'text' and the block layout (pairs in one prompt)"
                )

    def signature(self) -> str:
        """Tag style and template digests."""
        return (
            f"tags={self.tags},template={self.pair_template.name}@{self.pair_template.digest},"
            f"chain={self.chain_template.name}@{self.chain_template.digest}"
        )

    def pair_messages(
        self, text: str, src: str, tgt: str, exemplars: Sequence[SetRecord]
    ) -> tuple[Message, ...]:
        """``z_1\\ne_1\\n\\n…\\n\\nx\\n`` (with tags when the style has them) as one user message."""
        template = self.pair_template
        query = Example(
            "query",
            src,
            {
                "text": text,
                "source_tag": language_tag(src, self.tags),
                "target_tag": language_tag(tgt, self.tags),
            },
        )
        shots = [pair_example(r, self.tags) for r in exemplars]
        return template.render(query, shots)

    def chain_messages(
        self, text: str, src: str, pivot: str, tgt: str, exemplars: Sequence[SetRecord]
    ) -> tuple[Message, ...]:
        """Triples ``x_j\\ne_j\\ny_j``, then ``x\\n``: the model writes the English line, then Y."""
        query = Example(
            "query",
            src,
            {
                "text": text,
                "pivot": "",
                "source_tag": language_tag(src, self.tags),
                "pivot_tag": language_tag(pivot, self.tags),
                "target_tag": language_tag(tgt, self.tags),
            },
        )
        shots = [chain_example(r, self.tags) for r in exemplars]
        return self.chain_template.render(query, shots)

    def pair_prompt(self, text: str, src: str, tgt: str, exemplars: Sequence[SetRecord]) -> str:
        """The pair prompt as raw text (what a base model completes)."""
        return render_as_prompt(self.pair_messages(text, src, tgt, exemplars))

    def parse_pair(self, output: str) -> str:
        """The translation in a completion: its first line, stripped."""
        return output.split("\n", 1)[0].strip()

    def parse_chain(self, output: str, tgt: str) -> tuple[str, str]:
        """``(english, target)`` from a triple completion; ValueError when the target line is missing."""
        lines = output.strip("\n").split("\n")
        if len(lines) < 2 or not lines[1].strip():
            raise ValueError(
                "the chained output has no target line after the English line "
                f"(got {output[:80]!r})"
            )
        pivot, target = lines[0].strip(), lines[1].strip()
        tag = language_tag(tgt, self.tags)
        if tag and target.startswith(tag):
            target = target[len(tag) :].strip()
        return pivot, target


def english_name(code: str) -> str:
    """A language's English name as a tag writes it: ``Chinese``, not ``Chinese (Simplified)``."""
    return languages.resolve(code).name.split(" (", 1)[0].strip()
