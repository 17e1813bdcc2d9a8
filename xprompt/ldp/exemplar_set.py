"""Exemplar sets as data: translation pairs and triples with their provenance, in JSONL.

One JSON object per line, flat, so every reader of translation pairs
(self-translate's ``read_translation_pairs``, ``xprompt run --exemplars``, the
LDP translator) can read it::

    {"id": "ldp-hau_Latn-0003", "kind": "pair",
     "lang": "eng_Latn", "text": "<English>", "target": "<Hausa>", "target_lang": "hau_Latn",
     "provenance": {"method": "ldp-back-translation", "model": "…", "created": "2026-11-21T…Z",
                    "seed": 0, "source": {"file": "hau.txt", "row": 3, "id": "row3"},
                    "prompt": {"template": "ldp-translate@…", "tags": "native", "mode": "diverse",
                               "exemplars": ["ldp-diverse-arb-1", …]},
                    "generator": "<translator signature>"},
     "checks": {"source_lang": {"verdict": "on", …}, "output_lang": {…},
                "length_ratio": 1.12, "copy_chrf": 8.4, "roundtrip_chrf": 41.3}}

- ``kind: pair``: ``text`` in ``lang`` and its translation ``target`` in
  ``target_lang`` (an En->X pair has ``lang: eng_Latn``).
- ``kind: triple``: adds ``pivot`` (in ``pivot_lang``, English), for X->Y
  prompts that chain through English: ``text`` (X), ``pivot`` (English),
  ``target`` (Y).
- ``provenance`` says how the row was made, from which model, when and with
  which settings; ``checks`` holds the filter results it passed. Both are
  optional on input (human parallel data has neither), always written by
  ``xprompt synth``.

Candidates that a filter rejected are never dropped: they go to a sibling file
``<name>.rejected.jsonl`` with the reasons. Reading a rejected-candidates file
as an exemplar pool is an error that says so.

Task exemplar sets (``kind: task``) keep the task's own columns (``text``,
``label``, ``question`` ...) next to ``lang``, ``provenance`` and ``checks``, so
they load as an ordinary exemplar pool for any strategy.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from xprompt import data, languages
from xprompt.errors import ConfigError, DataError, UnknownLanguageError
from xprompt.types import Example

Kind = Literal["pair", "triple"]
KINDS: tuple[str, ...] = ("pair", "triple")
ENGLISH = "eng_Latn"

#: The shipped diverse high-resource X->English pairs (Arabic, Chinese, Vietnamese, French).
DEFAULT_DIVERSE_SET = (
    Path(__file__).resolve().parent.parent / "resources" / "ldp_diverse_x2en.jsonl"
)
#: The languages of the paper's ablation set, in round-robin order.
DEFAULT_DIVERSE_LANGS: tuple[str, ...] = ("arb_Arab", "zho_Hans", "vie_Latn", "fra_Latn")


@dataclass(frozen=True, slots=True)
class SetRecord:
    """One exemplar of a set: a pair (``text`` -> ``target``) or a triple (``text`` -> ``pivot`` -> ``target``)."""

    id: str
    lang: str
    text: str
    target: str
    target_lang: str
    kind: Kind = "pair"
    pivot: str | None = None
    pivot_lang: str | None = None
    provenance: Mapping[str, Any] = field(default_factory=dict)
    checks: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "provenance", MappingProxyType(dict(self.provenance)))
        object.__setattr__(self, "checks", MappingProxyType(dict(self.checks)))

    def reversed(self) -> SetRecord:
        """The pair the other way round (for human parallel data, which is symmetric)."""
        if self.kind != "pair":
            raise ValueError(f"exemplar '{self.id}': only pairs can be reversed")
        return SetRecord(
            f"{self.id}~r",
            self.target_lang,
            self.target,
            self.text,
            self.lang,
            provenance={**self.provenance, "reversed": True},
            checks=self.checks,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSONL row (keys in a fixed order, so files are byte-stable)."""
        out: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "lang": self.lang,
            "text": self.text,
        }
        if self.kind == "triple":
            out["pivot"] = self.pivot
            out["pivot_lang"] = self.pivot_lang
        out["target"] = self.target
        out["target_lang"] = self.target_lang
        out["provenance"] = _plain(self.provenance)
        out["checks"] = _plain(self.checks)
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def created_timestamp() -> str:
    """UTC time for provenance; ``$SOURCE_DATE_EPOCH`` pins it, for byte-identical rebuilds."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is not None and epoch.strip().isdigit():
        moment = _dt.datetime.fromtimestamp(int(epoch), tz=_dt.UTC)
    else:
        moment = _dt.datetime.now(tz=_dt.UTC).replace(microsecond=0)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def rejected_path(path: str | os.PathLike[str]) -> Path:
    """Where the rejected candidates of a set go: ``hau.set.jsonl`` -> ``hau.set.rejected.jsonl``."""
    p = Path(path)
    stem = p.name[: -len(p.suffix)] if p.suffix else p.name
    return p.with_name(f"{stem}.rejected{p.suffix or '.jsonl'}")


def check_output_free(input: str, output: str | os.PathLike[str], *, overwrite: bool) -> None:
    """Before any work: the input exists, and an existing set is not overwritten unless asked."""
    if not input.startswith("hf:") and not Path(input).is_file():
        raise DataError(f"input file not found: {input}")
    from xprompt.resume import check_output_path

    check_output_path(output)
    for path in (Path(output), rejected_path(output)):
        if path.exists() and not overwrite:
            raise ConfigError(f"{path} exists; pass --overwrite to replace it")


def summary_path(path: str | os.PathLike[str]) -> Path:
    """The set's build summary (counts per filter, signature): ``<set>.summary.json``."""
    return Path(str(path) + ".summary.json")


def records_digest(records: Iterable[SetRecord]) -> str:
    """SHA-256 (12 hex digits) of the exemplars' content (not their provenance): names a pool in signatures."""
    sha = hashlib.sha256()
    for r in records:
        parts = [r.id, r.kind, r.lang, r.text, r.pivot or "", r.target, r.target_lang]
        sha.update(("\t".join(parts) + "\n").encode("utf-8"))
    return sha.hexdigest()[:12]


# -- reading ------------------------------------------------------------------------


def _code(value: Any, column: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{where}: field '{column}' (language) is missing or empty")
    try:
        return languages.resolve(value).code
    except UnknownLanguageError as exc:
        raise DataError(f"{where}: field '{column}': {exc}") from None


def _text(row: Mapping[str, Any], column: str, where: str) -> str:
    value = row.get(column)
    if not isinstance(value, str) or not value.strip():
        present = ", ".join(sorted(row)) or "none"
        kind = "empty" if isinstance(value, str) else "missing"
        raise DataError(f"{where}: field '{column}' is {kind} (fields present: {present})")
    return value.strip()


def record_from_row(row: Mapping[str, Any], where: str, *, default_id: str) -> SetRecord:
    """Validate one JSON row of a pair/triple set; a DataError names the row and the field."""
    if "rejected" in row:
        reasons = "; ".join(
            str(r.get("filter", r)) if isinstance(r, Mapping) else str(r)
            for r in row.get("rejected") or []
        )
        raise DataError(
            f"{where}: this is a rejected candidate ({reasons or 'no reason given'}), not an "
            "exemplar; use the accepted set file, not its .rejected.jsonl"
        )
    kind = row.get("kind", "pair")
    if kind not in KINDS:
        raise DataError(
            f"{where}: field 'kind' is {kind!r}; a translation exemplar set holds 'pair' or 'triple' "
            "rows (task exemplars load as an ordinary pool)"
        )
    lang = _code(row.get("lang"), "lang", where)
    target_lang = _code(row.get("target_lang") or ENGLISH, "target_lang", where)
    text = _text(row, "text", where)
    target = _text(row, "target", where)
    pivot = pivot_lang = None
    if kind == "triple":
        pivot = _text(row, "pivot", where)
        pivot_lang = _code(row.get("pivot_lang") or ENGLISH, "pivot_lang", where)
    for column in ("provenance", "checks"):
        if column in row and not isinstance(row[column], Mapping):
            raise DataError(f"{where}: field '{column}' must be an object")
    raw_id = row.get("id")
    return SetRecord(
        id=str(raw_id) if raw_id not in (None, "") else default_id,
        lang=lang,
        text=text,
        target=target,
        target_lang=target_lang,
        kind=kind,
        pivot=pivot,
        pivot_lang=pivot_lang,
        provenance=row.get("provenance") or {},
        checks=row.get("checks") or {},
    )


def read_set(path: str | os.PathLike[str], *, fmt: str | None = None) -> list[SetRecord]:
    """Read a pair/triple exemplar set (JSONL, CSV or TSV); any bad row is an error naming it.

    Plain parallel data (``lang, text, target, target_lang``; ``target_lang``
    defaults to English) reads too: provenance is optional.
    """
    name = Path(path).name
    records: list[SetRecord] = []
    seen: dict[str, int] = {}
    for index, line_no, row in data.read_raw_rows(str(path), fmt):
        where = f"exemplar set {name}, row {index + 1} (line {line_no})"
        if isinstance(row, str):
            raise DataError(f"{where}: {row}")
        record = record_from_row(row, where, default_id=f"pair{index + 1}")
        if record.id in seen:
            raise DataError(f"{where}: duplicate id '{record.id}' (first at row {seen[record.id]})")
        seen[record.id] = index + 1
        records.append(record)
    if not records:
        raise DataError(f"exemplar set {path} has no rows")
    return records


def read_sets(paths: Sequence[str | os.PathLike[str]]) -> list[SetRecord]:
    """Several sets as one pool; an id used in two files is an error naming both."""
    pool: list[SetRecord] = []
    origin: dict[str, str] = {}
    for path in paths:
        for record in read_set(path):
            if record.id in origin:
                raise DataError(
                    f"exemplar id '{record.id}' is in both {origin[record.id]} and {Path(path).name}"
                )
            origin[record.id] = Path(path).name
            pool.append(record)
    return pool


def default_diverse_set() -> list[SetRecord]:
    """The shipped diverse X->English pairs (see :data:`DEFAULT_DIVERSE_SET`)."""
    return read_set(DEFAULT_DIVERSE_SET)


# -- recognising a set where an ordinary exemplar pool is read ----------------------------


def _first_row(path: str) -> Mapping[str, Any] | None:
    try:
        with open(path, "rb") as handle:
            for raw in handle:
                if raw.strip():
                    value = json.loads(raw.decode("utf-8-sig"))
                    return value if isinstance(value, dict) else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return None


def is_exemplar_set(path: str) -> bool:
    """Whether a JSONL file is a pair/triple exemplar set (or its rejected candidates).

    Recognised by its first row: ``kind`` ``pair``/``triple``, or a ``rejected``
    list, or the translation-pair columns ``text``, ``target`` and ``target_lang``.
    """
    if Path(path).suffix.lower() not in (".jsonl", ".json", ".ndjson"):
        return False
    row = _first_row(path)
    if row is None:
        return False
    if row.get("kind") in KINDS or isinstance(row.get("rejected"), list):
        return True
    return all(isinstance(row.get(k), str) for k in ("text", "target", "target_lang"))


def tag_fields(record: SetRecord, style: str = "native") -> dict[str, str]:
    """The fields a translation template derives from an exemplar's languages (tags and names)."""
    from xprompt.ldp.prompt import language_tag

    out = {
        "source_tag": language_tag(record.lang, style),  # type: ignore[arg-type]
        "target_tag": language_tag(record.target_lang, style),  # type: ignore[arg-type]
        "source_name": languages.resolve(record.lang).name,
        "target_name": languages.resolve(record.target_lang).name,
        "target_lang": record.target_lang,
    }
    if record.pivot is not None and record.pivot_lang is not None:
        out["pivot"] = record.pivot
        out["pivot_lang"] = record.pivot_lang
        out["pivot_tag"] = language_tag(record.pivot_lang, style)  # type: ignore[arg-type]
    return out


def read_pool(path: str, template_fields: Sequence[str]) -> list[Any]:
    """An exemplar set as ``Example`` rows for a template (what ``xprompt.exemplars.read_exemplar_pool`` returns).

    ``text`` is the exemplar's input and ``target`` its answer; tags and
    language names (``source_tag``, ``target_tag``, ``pivot_tag``,
    ``source_name``, ``target_name``; native tags) and ``pivot`` are derived.
    A template field the set cannot provide is an error naming it.
    """
    records = read_set(path)
    out: list[Example] = []
    for index, record in enumerate(records):
        fields = {"text": record.text, **tag_fields(record)}
        missing = [f for f in template_fields if f not in fields]
        if missing:
            raise DataError(
                f"exemplar set {Path(path).name}, row {index + 1}: the template needs field(s) "
                f"{missing}, which a translation exemplar set cannot provide (it gives: "
                f"{', '.join(sorted(fields))}); use a translation template such as ldp-translate"
            )
        out.append(Example(record.id, record.lang, fields, target=record.target, index=index))
    return out


# -- writing ------------------------------------------------------------------------


def write_jsonl(path: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]]) -> int:
    """Write rows atomically (temporary file, then rename); returns the number written."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    count = 0
    with tmp.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    os.replace(tmp, p)
    return count
