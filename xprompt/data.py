"""Read datasets into ``Example`` records; write result records.

Formats: JSONL (``.jsonl``/``.json`` with one object per line), CSV, TSV, plain
text (one input per line, ``.txt``), and Hugging Face datasets
(``hf:NAME[:CONFIG]:SPLIT``, when ``datasets`` is installed and the data is
local or reachable).

A file that cannot be opened at all raises ``DataError``. A *row* that is bad
(malformed JSON, invalid UTF-8, a lone surrogate such as ``"\\ud800"``, a missing
or empty field, an unknown language code, a text over the size limit, a
duplicate id) becomes a ``RowError`` that names the row, the field and what was
wrong; reading goes on, so every input row ends up in the output, with a result
or with its error.

Lone surrogates (``"abc \\ud800 def"`` is valid JSON but not valid Unicode text:
it cannot be written as UTF-8, tokenized or sent to a server) are refused per
row, the same way in every reader (JSONL, CSV, TSV, TXT, Hugging Face), rather
than repaired: a repaired text would no longer be the user's input.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xprompt import languages
from xprompt.errors import DataError, OutputError, UnknownLanguageError
from xprompt.types import Example

#: Default limit on one text field, in characters (a whole book in one row is a mistake).
MAX_FIELD_CHARS = 100_000


@dataclass(frozen=True, slots=True)
class RowError:
    """A row that could not become an ``Example``: where it is and what was wrong."""

    index: int
    id: str
    error: str
    lang: str | None = None
    target: str | None = None


@dataclass(frozen=True)
class FieldMap:
    """How a file's columns map onto a template's fields and the row's id, language and target.

    ``fields`` maps template field name -> column name (identity when not given).
    ``lang`` is the language column; ``default_lang`` applies when the column is
    absent from a row (or there is no column). ``target`` is the gold column.
    """

    fields: Mapping[str, str] = field(default_factory=dict)
    id: str = "id"
    lang: str = "lang"
    target: str | None = None
    default_lang: str | None = None
    max_chars: int = MAX_FIELD_CHARS

    def column(self, template_field: str) -> str:
        return self.fields.get(template_field, template_field)


def detect_format(path: str) -> str:
    """``jsonl``, ``csv``, ``tsv``, ``txt`` or ``hf`` from a path or ``hf:`` spec."""
    if path.startswith("hf:"):
        return "hf"
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if suffix in (".csv", ".tsv", ".txt"):
        return suffix[1:]
    raise DataError(
        f"{path}: cannot tell the format from the extension; use .jsonl, .csv, .tsv, .txt or hf:NAME"
    )


def read_raw_rows(
    path: str, fmt: str | None = None
) -> Iterator[tuple[int, int, dict[str, Any] | str]]:
    """Yield ``(row index, line number, row dict or error text)`` for every row of a file.

    Blank lines in JSONL and text files are not rows. Line numbers are 1-based.
    """
    fmt = fmt or detect_format(path)
    if fmt == "hf":
        yield from _read_hf(path)
        return
    p = Path(path)
    if not p.is_file():
        raise DataError(f"input file not found: {path}")
    if fmt in ("jsonl", "txt"):
        yield from _read_lines(p, fmt)
    else:
        yield from _read_delimited(p, "\t" if fmt == "tsv" else ",")


def _read_lines(path: Path, fmt: str) -> Iterator[tuple[int, int, dict[str, Any] | str]]:
    index = 0
    with path.open("rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            if line_no == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            row: dict[str, Any] | str
            try:
                text = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                row = f"invalid UTF-8 at byte {exc.start} of the line"
            else:
                row = _parse_json_row(text) if fmt == "jsonl" else {"text": text}
            yield index, line_no, row
            index += 1


def _parse_json_row(text: str) -> dict[str, Any] | str:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"not valid JSON ({exc.msg} at column {exc.colno})"
    except RecursionError:
        return "not valid JSON (nested too deeply)"
    if not isinstance(value, dict):
        return f"a JSONL row must be an object, got {type(value).__name__}"
    if "\\u" not in text:
        # Decoded UTF-8 holds no surrogate, so only a \u escape can put one in the row.
        return value
    return surrogate_problem(value) or value


def lone_surrogate(value: str) -> str | None:
    """Where ``value`` holds a lone surrogate (``U+D800 at character 5``), or None when it is valid text."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"U+{ord(value[exc.start]):04X} at character {exc.start + 1}"
    return None


def surrogate_problem(value: Any, path: str = "") -> str | None:
    """Why a parsed row is not valid Unicode text (the first field with a lone surrogate), or None."""
    if isinstance(value, str):
        where = lone_surrogate(value)
        if where is None:
            return None
        name = f"field '{path}'" if path else "the text"
        return f"{name} has a lone surrogate {where}: not valid Unicode text (fix or drop the row)"
    if isinstance(value, dict):
        for key, item in value.items():
            problem = surrogate_problem(str(key), f"{path}.{key}" if path else str(key))
            problem = problem or surrogate_problem(item, f"{path}.{key}" if path else str(key))
            if problem:
                return problem
    elif isinstance(value, list):
        for i, item in enumerate(value):
            problem = surrogate_problem(item, f"{path}[{i}]")
            if problem:
                return problem
    return None


def _read_delimited(path: Path, delimiter: str) -> Iterator[tuple[int, int, dict[str, Any] | str]]:
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    text = data.decode("utf-8", errors="surrogateescape")
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    if not reader.fieldnames:
        raise DataError(f"{path}: no header row")
    index = 0
    line_no = reader.line_num
    for record in reader:
        start_line = line_no + 1
        line_no = reader.line_num
        if not any((v or "").strip() for v in record.values() if isinstance(v, str)):
            continue
        row: dict[str, Any] | str
        if None in record:
            row = f"has {len(record[None]) + len(reader.fieldnames)} columns, the header has {len(reader.fieldnames)}"  # type: ignore[index]
        else:
            bad = [k for k, v in record.items() if isinstance(v, str) and _has_surrogates(v)]
            row = f"invalid UTF-8 in column '{bad[0]}'" if bad else dict(record)
        yield index, start_line, row
        index += 1


def _has_surrogates(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _read_hf(spec: str) -> Iterator[tuple[int, int, dict[str, Any] | str]]:
    """Rows of ``hf:NAME[:CONFIG]:SPLIT``: a hub dataset, a local data directory, or a
    directory written by ``Dataset.save_to_disk``."""
    parts = spec[3:].split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise DataError(f"'{spec}': use hf:NAME:SPLIT or hf:NAME:CONFIG:SPLIT")
    try:
        import datasets
    except ImportError:
        raise DataError(
            f"'{spec}': the 'datasets' package is not installed (pip install datasets)"
        ) from None
    datasets.disable_progress_bars()
    name, config, split = (parts[0], None, parts[1]) if len(parts) == 2 else parts
    local = Path(name).expanduser()
    try:
        if (local / "dataset_dict.json").is_file() or (local / "state.json").is_file():
            dataset = datasets.load_from_disk(str(local))
            if isinstance(dataset, datasets.DatasetDict):
                if split not in dataset:
                    raise DataError(f"'{spec}': no split '{split}' (splits: {', '.join(dataset)})")
                dataset = dataset[split]
        else:
            dataset = datasets.load_dataset(name, config, split=split)
    except DataError:
        raise
    except Exception as exc:  # hub, cache and format failures all surface as one user error
        raise DataError(f"'{spec}': could not load the dataset: {exc}") from None
    for index, row in enumerate(dataset):
        record = dict(row)
        yield index, index + 1, surrogate_problem(record) or record


def _text_value(row: Mapping[str, Any], column: str) -> str | None:
    value = row.get(column)
    if value is None:
        return None
    if isinstance(value, bool) or isinstance(value, (list, dict)):
        raise ValueError(f"field '{column}' must be text, got {type(value).__name__}")
    return str(value)


def read_examples(
    path: str,
    template_fields: Sequence[str],
    mapping: FieldMap,
    *,
    fmt: str | None = None,
) -> Iterator[Example | RowError]:
    """Yield an ``Example`` or a ``RowError`` for every row, in file order."""
    name = os.path.basename(path)
    seen: dict[str, int] = {}
    default_lang = languages.resolve(mapping.default_lang).code if mapping.default_lang else None
    for index, line_no, row in read_raw_rows(path, fmt):
        where = f"row {index + 1} (line {line_no}) of {name}"
        if isinstance(row, str):
            yield RowError(index, f"row{index + 1}", f"{where}: {row}")
            continue
        try:
            yield _example(row, index, where, template_fields, mapping, default_lang, seen)
        except Exception as exc:  # a row must never take the file down: it is that row's error
            yield RowError(index, f"row{index + 1}", f"{where}: {type(exc).__name__}: {exc}")


def _example(
    row: Mapping[str, Any],
    index: int,
    where: str,
    template_fields: Sequence[str],
    mapping: FieldMap,
    default_lang: str | None,
    seen: dict[str, int],
) -> Example | RowError:
    present = ", ".join(sorted(row)) or "none"
    raw_id = row.get(mapping.id)
    row_id = str(raw_id) if raw_id not in (None, "") else f"row{index + 1}"
    target: str | None = None
    lang: str | None = None
    try:
        if mapping.target is not None:
            target = _text_value(row, mapping.target)
            if target is None:
                raise ValueError(
                    f"target field '{mapping.target}' is missing (fields present: {present})"
                )
            target = target.strip()
        raw_lang = _text_value(row, mapping.lang)
        if raw_lang is None or not raw_lang.strip():
            if default_lang is None:
                raise ValueError(
                    f"field '{mapping.lang}' (language) is missing (fields present: {present}); "
                    "add it or pass --lang CODE for the whole file"
                )
            lang = default_lang
        else:
            try:
                lang = languages.resolve(raw_lang).code
            except UnknownLanguageError as exc:
                raise ValueError(f"field '{mapping.lang}': {exc}") from None
        fields: dict[str, str] = {}
        for template_field in template_fields:
            column = mapping.column(template_field)
            value = _text_value(row, column)
            if value is None:
                raise ValueError(f"field '{column}' is missing (fields present: {present})")
            if not value.strip():
                raise ValueError(f"field '{column}' is empty")
            if len(value) > mapping.max_chars:
                raise ValueError(
                    f"field '{column}' has {len(value):,} characters, over the limit of {mapping.max_chars:,}"
                )
            fields[template_field] = value
        if row_id in seen:
            raise ValueError(f"duplicate id '{row_id}' (first seen at row {seen[row_id] + 1})")
    except ValueError as exc:
        return RowError(index, row_id, f"{where}: {exc}", lang=lang, target=target)
    seen[row_id] = index
    return Example(id=row_id, lang=lang, fields=fields, target=target, index=index)


class RecordWriter:
    """Append JSON records to a JSONL file, one per line, flushed (and fsynced) per batch.

    Each record is serialised on its own: a record that cannot be written (a
    value JSON cannot hold, text that is not valid Unicode) is replaced by an
    error record for the same row, and the other records are written. A write
    that fails (disk full, the file gone read-only) raises ``OutputError``; what
    was written before stays, and a partial last line is cut off on resume.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputError(
                f"cannot open {self.path} for writing: {exc.strerror or exc}"
            ) from None

    def write_many(self, records: Sequence[Mapping[str, Any]]) -> None:
        if not records:
            return
        if self._fd is None:
            raise OutputError(f"{self.path}: the writer was closed")
        blob = b"".join(record_line(r) for r in records)
        try:
            view = memoryview(blob)
            while view:
                view = view[os.write(self._fd, view) :]
            os.fsync(self._fd)
        except OSError as exc:
            raise OutputError(
                f"could not write to {self.path}: {exc.strerror or exc}. The records written "
                "before are kept (a partial last line is cut off on resume); free space or fix "
                "the output, then run the same command again"
            ) from None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: ``json.dumps(record, ensure_ascii=False)``'s encoder, made once instead of per record.
_RECORD_ENCODER = json.JSONEncoder(ensure_ascii=False)


def record_line(record: Mapping[str, Any]) -> bytes:
    """One JSONL line for ``record``; an error record for its row when it cannot be serialised."""
    try:
        return (_RECORD_ENCODER.encode(record) + "\n").encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError, RecursionError) as exc:
        index = record.get("index")
        row_id = str(record.get("id")).encode("utf-8", "backslashreplace").decode("utf-8")
        where = f"row {index + 1} (id '{row_id}')" if isinstance(index, int) else f"id '{row_id}'"
        fallback = {
            **dict.fromkeys(record),
            "index": index,
            "id": row_id,
            "prediction": None,
            "correct": None,
            "error": f"{where}: the result could not be written ({type(exc).__name__}: {exc})",
            "steps": [],
        }
        return (json.dumps(fallback, ensure_ascii=True) + "\n").encode("utf-8")


def read_records(path: str | os.PathLike[str], *, repair: bool = False) -> list[dict[str, Any]]:
    """Read a results JSONL file.

    A run killed mid-write can leave a last line without its newline; with
    ``repair=True`` that partial line is cut off the file (the row is redone on
    resume), otherwise it is ignored. A malformed line elsewhere is a DataError.
    """
    p = Path(path)
    if not p.exists():
        return []
    data = p.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        if repair:
            with p.open("r+b") as handle:
                handle.truncate(cut)
        data = data[:cut]
    records = []
    for line_no, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(
                f"{path}: line {line_no} is not a valid result record ({exc})"
            ) from None
    return records
