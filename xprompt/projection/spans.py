"""Span-labelled sentences: the records, their validation, and CoNLL (BIO) and JSONL files.

A sentence is a text with labelled spans given as character offsets
(``text[start:end]``, end exclusive). Two file formats carry them:

- **CoNLL / BIO** (MasakhaNER, CoNLL-2003): one ``TOKEN ... TAG`` line per token
  (first column the token, last column the tag ``O``, ``B-X`` or ``I-X``), a blank
  line between sentences, ``-DOCSTART-`` lines ignored, and optional comment lines
  ``# id = ...`` / ``# lang = ...`` naming the next sentence. The text is the
  tokens joined by single spaces.
- **JSONL**: ``{"id": ..., "lang": ..., "text": ..., "spans": [{"start": 0,
  "end": 5, "label": "PER"}]}``; a span may carry ``"text"``, which must then
  equal ``text[start:end]``.

Spans must lie inside the text, be non-empty, not start or end with whitespace
and not overlap another span of the same type. Reading never stops at a bad
sentence: it becomes a :class:`SentenceError` naming the sentence, its line and
the span, so every input sentence reaches the output.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xprompt import languages
from xprompt.data import read_raw_rows
from xprompt.errors import DataError, UnknownLanguageError

_COMMENT = re.compile(r"^#\s*(id|lang|sent_id)\s*=\s*(.*?)\s*$")
_LABEL = re.compile(r"^[^\s\[\]]+$")


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """A labelled character span ``text[start:end]`` (end exclusive)."""

    start: int
    end: int
    label: str

    def to_dict(self, text: str | None = None) -> dict[str, Any]:
        """``{"start", "end", "label"}`` plus ``"text"`` when the sentence text is given."""
        out: dict[str, Any] = {"start": self.start, "end": self.end, "label": self.label}
        if text is not None:
            out["text"] = text[self.start : self.end]
        return out

    def overlaps(self, other: Span) -> bool:
        """Whether the two spans share at least one character."""
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class SpanSentence:
    """One sentence with its labelled spans, where it came from, and its position in the input."""

    index: int
    id: str
    lang: str
    text: str
    spans: tuple[Span, ...] = ()
    line: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def span_dicts(self) -> list[dict[str, Any]]:
        return [s.to_dict(self.text) for s in self.spans]


@dataclass(frozen=True)
class SentenceError:
    """A sentence that could not be read: where it is and what was wrong (text kept when known)."""

    index: int
    id: str
    error: str
    lang: str | None = None
    text: str | None = None
    line: int | None = None


def span_problem(text: str, spans: Sequence[Span]) -> str | None:
    """What is wrong with ``spans`` on ``text`` (naming the span), or None when they are valid."""
    for number, span in enumerate(spans, start=1):
        name = f"span {number} ({span.label} {span.start}-{span.end})"
        if not (0 <= span.start < span.end <= len(text)):
            if span.end <= span.start:
                return f"{name}: end must be greater than start"
            return f"{name}: outside the text (0-{len(text)})"
        if not _LABEL.match(span.label):
            return f"{name}: label {span.label!r} must be non-empty, without spaces or brackets"
        piece = text[span.start : span.end]
        if piece != piece.strip():
            return f"{name}: {piece!r} starts or ends with whitespace (trim the offsets)"
    ordered = sorted(enumerate(spans, start=1), key=lambda p: (p[1].start, p[1].end))
    for a in range(len(ordered)):
        for b in range(a + 1, len(ordered)):
            (na, sa), (nb, sb) = ordered[a], ordered[b]
            if sb.start >= sa.end:
                break
            if sa.label == sb.label:
                return (
                    f"span {min(na, nb)} and span {max(na, nb)} overlap and are both "
                    f"{sa.label} ({sa.start}-{sa.end}, {sb.start}-{sb.end})"
                )
    return None


def validate_spans(text: str, spans: Sequence[Span], where: str = "sentence") -> None:
    """Raise DataError naming ``where`` and the span when ``spans`` are not valid on ``text``."""
    problem = span_problem(text, spans)
    if problem is not None:
        raise DataError(f"{where}: {problem}")


# -- BIO -------------------------------------------------------------------------------


def spans_from_bio(tokens: Sequence[str], tags: Sequence[str]) -> tuple[str, tuple[Span, ...]]:
    """The text (tokens joined by spaces) and spans of a BIO-tagged sentence.

    Raises ValueError naming the token when a tag is not ``O``/``B-X``/``I-X`` or
    an ``I-X`` does not continue a span of type X.
    """
    if len(tokens) != len(tags):
        raise ValueError(f"{len(tokens)} tokens but {len(tags)} tags")
    starts: list[int] = []
    position = 0
    for token in tokens:
        starts.append(position)
        position += len(token) + 1
    text = " ".join(tokens)
    spans: list[Span] = []
    open_label: str | None = None
    open_start = 0
    previous = "O"
    for number, (token, tag) in enumerate(zip(tokens, tags, strict=True), start=1):
        begin = starts[number - 1]
        if tag == "O":
            kind, label = "O", None
        elif len(tag) > 2 and tag[:2] in ("B-", "I-") and _LABEL.match(tag[2:]):
            kind, label = tag[0], tag[2:]
        else:
            raise ValueError(f"token {number} {token!r}: tag {tag!r} is not O, B-TYPE or I-TYPE")
        if kind == "I" and open_label != label:
            raise ValueError(
                f"token {number} {token!r}: tag {tag!r} follows {previous!r} "
                f"(a {label} span starts with B-{label})"
            )
        if kind in ("O", "B") and open_label is not None:
            spans.append(Span(open_start, starts[number - 2] + len(tokens[number - 2]), open_label))
            open_label = None
        if kind == "B":
            open_label, open_start = label, begin
        previous = tag
    if open_label is not None:
        spans.append(Span(open_start, len(text), open_label))
    return text, tuple(spans)


def bio_from_spans(text: str, spans: Sequence[Span]) -> tuple[list[str], list[str]]:
    """Whitespace tokens of ``text`` (split further at span edges) and their BIO tags.

    Raises ValueError when spans overlap (BIO cannot express nesting).
    """
    ordered = sorted(spans)
    for a, b in itertools.pairwise(ordered):
        if a.overlaps(b):
            raise ValueError(
                f"spans {a.label} {a.start}-{a.end} and {b.label} {b.start}-{b.end} overlap"
            )
    cuts = {s.start for s in ordered} | {s.end for s in ordered}
    tokens: list[str] = []
    tags: list[str] = []
    for match in re.finditer(r"\S+", text):
        edges = sorted(
            {match.start(), match.end(), *(c for c in cuts if match.start() < c < match.end())}
        )
        for begin, end in itertools.pairwise(edges):
            owner = next((s for s in ordered if s.start <= begin and end <= s.end), None)
            tokens.append(text[begin:end])
            if owner is None:
                tags.append("O")
            else:
                tags.append(("B-" if begin == owner.start else "I-") + owner.label)
    return tokens, tags


# -- reading ---------------------------------------------------------------------------


def detect_span_format(path: str) -> str:
    """``jsonl`` for .jsonl/.json/.ndjson files, ``conll`` for anything else (.conll, .txt, .bio ...)."""
    return "jsonl" if Path(path).suffix.lower() in (".jsonl", ".json", ".ndjson") else "conll"


def read_span_file(
    path: str | os.PathLike[str], *, lang: str | None = None, fmt: str | None = None
) -> list[SpanSentence | SentenceError]:
    """Every sentence of a CoNLL or JSONL span file, valid or not, in file order.

    ``lang`` is the language of sentences that do not name their own. A file
    that cannot be opened raises DataError; a bad sentence becomes a SentenceError.
    """
    path = str(path)
    if not Path(path).is_file():
        raise DataError(f"span file not found: {path}")
    default = _resolve_lang(lang) if lang else None
    kind = fmt or detect_span_format(path)
    if kind == "conll":
        return list(_dedupe(_read_conll(path, default)))
    if kind == "jsonl":
        return list(_dedupe(_read_jsonl(path, default)))
    raise DataError(f"unknown span file format '{kind}' (use conll or jsonl)")


def _resolve_lang(code: str) -> str:
    return languages.resolve(code).code


def _dedupe(
    items: Iterable[SpanSentence | SentenceError],
) -> Iterator[SpanSentence | SentenceError]:
    seen: dict[str, int] = {}
    for item in items:
        if isinstance(item, SpanSentence) and item.id in seen:
            yield SentenceError(
                item.index,
                item.id,
                f"sentence {item.index + 1}{_at(item.line)}: duplicate id '{item.id}' "
                f"(first seen at sentence {seen[item.id] + 1})",
                lang=item.lang,
                text=item.text,
                line=item.line,
            )
            continue
        seen.setdefault(item.id, item.index)
        yield item


def _at(line: int | None) -> str:
    return f" (line {line})" if line is not None else ""


def _read_conll(path: str, default_lang: str | None) -> Iterator[SpanSentence | SentenceError]:
    name = os.path.basename(path)
    index = 0
    meta: dict[str, str] = {}
    rows: list[tuple[int, list[str]]] = []
    broken: dict[str, str] = {}

    def finish() -> SpanSentence | SentenceError:
        first = rows[0][0]
        where = f"sentence {index + 1} (line {first}) of {name}"
        row_id = meta.get("id") or meta.get("sent_id") or f"s{index + 1}"
        tokens = [cols[0] for _, cols in rows]
        lang: str | None = default_lang
        try:
            if broken:
                raise ValueError(broken["error"])
            if "lang" in meta:
                try:
                    lang = _resolve_lang(meta["lang"])
                except UnknownLanguageError as exc:
                    raise ValueError(f"'# lang = {meta['lang']}': {exc}") from None
            bad = next(((ln, c) for ln, c in rows if len(c) < 2), None)
            if bad is not None:
                raise ValueError(
                    f"line {bad[0]} has one column {bad[1][0]!r}; expected 'TOKEN TAG' "
                    "(token first, tag last, separated by whitespace)"
                )
            if lang is None:
                raise ValueError("no language: add '# lang = CODE' before it or pass --lang")
            text, spans = spans_from_bio(tokens, [cols[-1] for _, cols in rows])
        except ValueError as exc:
            return SentenceError(
                index, row_id, f"{where}: {exc}", lang=lang, text=" ".join(tokens), line=first
            )
        problem = span_problem(text, spans)
        if problem is not None:
            return SentenceError(
                index, row_id, f"{where}: {problem}", lang=lang, text=text, line=first
            )
        return SpanSentence(index, row_id, lang, text, spans, line=first)

    with open(path, "rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            if line_no == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError as exc:
                line = raw.decode("utf-8", errors="replace").strip()
                broken.setdefault("error", f"line {line_no}: invalid UTF-8 at byte {exc.start}")
            comment = _COMMENT.match(line)
            if comment and not rows:
                meta[comment.group(1)] = comment.group(2)
                continue
            if not line or line.startswith("-DOCSTART-"):
                if rows:
                    yield finish()
                    index += 1
                    rows, meta = [], {}
                    broken.clear()
                continue
            rows.append((line_no, line.split()))
    if rows:
        yield finish()


def _read_jsonl(path: str, default_lang: str | None) -> Iterator[SpanSentence | SentenceError]:
    name = os.path.basename(path)
    for index, line_no, row in read_raw_rows(path, "jsonl"):
        where = f"row {index + 1} (line {line_no}) of {name}"
        if isinstance(row, str):
            yield SentenceError(index, f"row{index + 1}", f"{where}: {row}", line=line_no)
            continue
        raw_id = row.get("id")
        row_id = str(raw_id) if raw_id not in (None, "") else f"row{index + 1}"
        text = row.get("text")
        lang: str | None = default_lang
        try:
            if "text" not in row:
                present = ", ".join(sorted(row)) or "none"
                raise ValueError(f"field 'text' is missing (fields present: {present})")
            if not isinstance(text, str):
                raise ValueError(f"field 'text' must be a string, got {type(text).__name__}")
            if not text.strip():
                raise ValueError("field 'text' is empty")
            if row.get("lang"):
                try:
                    lang = _resolve_lang(str(row["lang"]))
                except UnknownLanguageError as exc:
                    raise ValueError(f"field 'lang': {exc}") from None
            if lang is None:
                raise ValueError("field 'lang' is missing; add it or pass --lang for the file")
            spans = parse_span_list(row.get("spans", []), text)
            problem = span_problem(text, spans)
            if problem is not None:
                raise ValueError(problem)
        except ValueError as exc:
            yield SentenceError(
                index,
                row_id,
                f"{where}: {exc}",
                lang=lang,
                text=text if isinstance(text, str) else None,
                line=line_no,
            )
            continue
        extra = {k: v for k, v in row.items() if k not in ("id", "lang", "text", "spans")}
        yield SpanSentence(index, row_id, lang, text, spans, line=line_no, extra=extra)


def parse_span_list(value: Any, text: str) -> tuple[Span, ...]:
    """Spans from a JSON list of ``{"start", "end", "label"[, "text"]}`` objects (ValueError if bad)."""
    if not isinstance(value, list):
        raise ValueError(f"field 'spans' must be a list, got {type(value).__name__}")
    spans: list[Span] = []
    for number, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            raise ValueError(f"span {number}: must be an object with start, end, label")
        missing = [k for k in ("start", "end", "label") if k not in item]
        if missing:
            raise ValueError(f"span {number}: missing {', '.join(missing)} (has {', '.join(item)})")
        start, end, label = item["start"], item["end"], item["label"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
            raise ValueError(
                f"span {number}: start and end must be integers, got {start!r}, {end!r}"
            )
        if not isinstance(label, str):
            raise ValueError(f"span {number}: label must be a string, got {label!r}")
        span = Span(start, end, label)
        quoted = item.get("text")
        if quoted is not None and 0 <= start < end <= len(text) and text[start:end] != quoted:
            raise ValueError(
                f"span {number} ({label} {start}-{end}): text {quoted!r} does not match "
                f"the sentence at those offsets ({text[start:end]!r})"
            )
        spans.append(span)
    return tuple(spans)


# -- writing ---------------------------------------------------------------------------


def write_conll(
    path: str | os.PathLike[str], sentences: Iterable[tuple[str, str, str, Sequence[Span]]]
) -> int:
    """Write ``(id, lang, text, spans)`` sentences as a CoNLL BIO file; return how many were written.

    Each sentence gets ``# id`` and ``# lang`` comment lines (read back by
    :func:`read_span_file`). Raises ValueError naming the sentence when its spans overlap.
    """
    count = 0
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        for sentence_id, lang, text, spans in sentences:
            try:
                tokens, tags = bio_from_spans(text, spans)
            except ValueError as exc:
                raise ValueError(f"sentence '{sentence_id}': {exc}") from None
            handle.write(f"# id = {sentence_id}\n# lang = {lang}\n")
            handle.writelines(f"{t} {g}\n" for t, g in zip(tokens, tags, strict=True))
            handle.write("\n")
            count += 1
    return count
