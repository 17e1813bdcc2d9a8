"""Read what other tools recorded, as ``xprompt score`` interchange rows (see ``xprompt.rescore``).

Two published layouts, read as they are, with no converter:

- ``clp-authors``: the output directories of Qin et al.'s CLP/CLSP code
  (``mgsm/output/clp/<lang>.jsonl`` and ``mgsm/output/clsp/<src>/<tgt>.jsonl``).
  Each line is ``{"id", "message", "origin"}``: ``message`` is the chat, its
  last turn the answer; ``origin.answer`` the gold. ``id`` is a per-worker
  batch number, not the item, so the **line index is the item**; the CLSP
  paths of one item are the same line of the ``<tgt>`` files of its ``<src>``
  directory, voted in the paper's order (en, de, es, fr, ja, ru, zh; ties to
  the earliest). A CLP file reasons in English.
- ``lm-eval``: lm-evaluation-harness sample logs (``--log_samples``:
  ``samples_<task>_<time>.jsonl`` with ``doc``, ``target``, ``resps``,
  ``filtered_resps``, ``arguments``). Every response of a document is one
  unlabelled sample (``resps``: raw generations, re-extracted and re-voted;
  the harness's ``filtered_resps`` are kept in the record). Each response is
  checked against the document's language: ``--lang``, else a ``doc`` field
  (``lang_field``, by default ``lang`` or ``language``), else the task name's
  last part that is a language code (``mgsm_direct_sw`` -> Swahili).

Each importer yields ``(index, where, row)``: the row is an interchange dict,
or the text of what is wrong with it (naming the file, line and field), or an
interchange dict with ``problem`` set (that text, with the item's id and
language where they are known), so a bad line becomes that item's error and
the rest are scored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from xprompt import languages
from xprompt.errors import DataError, UnknownLanguageError
from xprompt.reasoning import CLSP_PAPER_LANGS

#: ``--format`` values of ``xprompt score``.
FORMATS: dict[str, str] = {
    "xprompt": "xprompt result records or interchange rows (JSONL)",
    "clp-authors": "a CLP/CLSP authors' output directory (clp/<lang>.jsonl, clsp/<src>/<tgt>.jsonl)",
    "lm-eval": "an lm-evaluation-harness --log_samples file (samples_<task>_<time>.jsonl)",
}

#: The parser each importer scores with unless --parser says otherwise.
DEFAULT_PARSER = {"clp-authors": "mgsm-paper", "lm-eval": "number"}

Item = tuple[int, str, dict[str, Any] | str]


def _read_lines(path: Path) -> list[tuple[int, dict[str, Any] | str]]:
    """``(line number, object or problem)`` per non-blank line of a JSONL file."""
    out: list[tuple[int, dict[str, Any] | str]] = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                value = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                out.append((number, "not valid UTF-8"))
                continue
            except json.JSONDecodeError as exc:
                out.append((number, f"not valid JSON ({exc.msg})"))
                continue
            out.append((number, value if isinstance(value, dict) else "a JSON object was expected"))
    return out


def _code(text: str) -> str | None:
    try:
        return languages.resolve(text).code
    except UnknownLanguageError:
        return None


# -- the CLP / CLSP authors' output directories ------------------------------------------


def _answer_turn(row: Mapping[str, Any]) -> str:
    """The last chat turn's text (raises ValueError naming the field)."""
    message = row.get("message")
    if not isinstance(message, list) or not message:
        raise ValueError("field 'message' must be a non-empty list of chat turns")
    last = message[-1]
    content = last.get("content") if isinstance(last, Mapping) else None
    if not isinstance(content, str):
        raise ValueError("field 'message': the last turn has no text 'content'")
    return content


def _gold(row: Mapping[str, Any]) -> str | None:
    origin = row.get("origin")
    if not isinstance(origin, Mapping):
        raise ValueError("field 'origin' must be an object with 'answer'")
    answer = origin.get("answer")
    return None if answer is None else str(answer)


def _file_lang(path: Path) -> str:
    code = _code(path.stem)
    if code is None:
        raise DataError(f"{path}: the file name '{path.stem}' is not a language code")
    return code


def read_clp_authors(root: str | Path) -> Iterator[Item]:
    """Interchange rows of a ``clp`` or ``clsp`` directory of the authors' outputs (see the module docstring)."""
    base = Path(root)
    if not base.is_dir():
        raise DataError(f"clp-authors: not a directory: {base}")
    files = sorted(p for p in base.glob("*.jsonl") if p.is_file())
    dirs = sorted(p for p in base.iterdir() if p.is_dir() and any(p.glob("*.jsonl")))
    if files and dirs:
        raise DataError(
            f"clp-authors: {base} has both <lang>.jsonl files (a clp directory) and "
            "<src>/ directories (a clsp directory); pass one of them"
        )
    if not files and not dirs:
        raise DataError(
            f"clp-authors: {base} has no <lang>.jsonl files (clp) and no <src>/<tgt>.jsonl (clsp)"
        )
    index = 0
    if files:
        for path in files:
            lang = _file_lang(path)
            for item, (number, row) in enumerate(_read_lines(path)):
                where = f"{path.parent.name}/{path.name} line {number}"
                yield (
                    index,
                    where,
                    _clp_item(f"{path.stem}:{item}", lang, [(CLSP_PAPER_LANGS[0], where, row)]),
                )
                index += 1
        return
    rank = {code: i for i, code in enumerate(CLSP_PAPER_LANGS)}
    for directory in dirs:
        src = _file_lang(directory)
        paths = sorted(
            directory.glob("*.jsonl"), key=lambda p: (rank.get(_file_lang(p), len(rank)), p.name)
        )
        columns = [(_file_lang(p), p, _read_lines(p)) for p in paths]
        longest = max(len(rows) for _, _, rows in columns)
        for item in range(longest):
            parts: list[tuple[str, str, dict[str, Any] | str]] = []
            for tgt, path, rows in columns:
                if item < len(rows):
                    number, row = rows[item]
                    parts.append((tgt, f"{directory.name}/{path.name} line {number}", row))
                else:
                    parts.append(
                        (
                            tgt,
                            f"{directory.name}/{path.name}",
                            f"has {len(rows)} lines, no item {item + 1}",
                        )
                    )
            yield (
                index,
                f"{directory.name}/ item {item + 1}",
                _clp_item(f"{directory.name}:{item}", src, parts),
            )
            index += 1


def _clp_item(
    row_id: str, lang: str, parts: list[tuple[str, str, dict[str, Any] | str]]
) -> dict[str, Any]:
    """One item from its paths (reasoning language, where, row); a problem names the file and line."""
    outputs: list[dict[str, Any]] = []
    target: str | None = None
    for tgt, where, row in parts:
        if isinstance(row, str):
            return {"id": row_id, "lang": lang, "problem": f"{where}: {row}"}
        try:
            gold = _gold(row)
        except ValueError as exc:
            return {"id": row_id, "lang": lang, "problem": f"{where}: {exc}"}
        target = target if target is not None else gold
        try:
            text = _answer_turn(row)
        except ValueError as exc:
            return {"id": row_id, "lang": lang, "target": target, "problem": f"{where}: {exc}"}
        outputs.append({"text": text, "path": tgt})
    return {"id": row_id, "lang": lang, "target": target, "outputs": outputs}


# -- lm-evaluation-harness sample logs ------------------------------------------------------

_SAMPLES_NAME = re.compile(r"^samples_(?P<task>.+?)_(?P<time>\d{4}-\d{2}-\d{2}T[\d\-.:]+)\.jsonl$")
DEFAULT_LANG_FIELDS = ("lang", "language")


def task_of(path: str | Path) -> str | None:
    """The task name in ``samples_<task>_<time>.jsonl`` (None when the name is not of that form)."""
    match = _SAMPLES_NAME.match(Path(path).name)
    return match.group("task") if match else None


def task_lang(task: str | None) -> str | None:
    """The language a task name ends with (``mgsm_direct_sw`` -> ``swh_Latn``), None when none does."""
    if not task:
        return None
    parts = task.split("_")
    for size in (2, 1):  # "hau_Latn"-style codes first, then "sw", "swa"
        if len(parts) > size:
            tail = "_".join(parts[-size:])
            if re.fullmatch(r"[a-z]{2,3}(_[A-Z][a-z]{3})?", tail) and (code := _code(tail)):
                return code
    return None


def _texts(value: Any) -> list[str] | None:
    """Generated texts of ``resps`` (``[[t1, t2, ...]]`` or ``[t1, ...]``); None when not text."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        value = value[0]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def read_lm_eval(
    path: str | Path, *, lang: str | None = None, lang_field: str | None = None
) -> Iterator[Item]:
    """Interchange rows of an lm-eval ``--log_samples`` file (see the module docstring)."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"lm-eval: file not found: {file}")
    fixed = None
    if lang is not None:
        fixed = _code(lang)
        if fixed is None:
            raise DataError(f"lm-eval: --lang: '{lang}' is not a language xprompt knows")
    task = task_of(file)
    from_task = task_lang(task)
    fields = (lang_field,) if lang_field else DEFAULT_LANG_FIELDS
    for index, (number, row) in enumerate(_read_lines(file)):
        where = f"{file.name} line {number}"
        if isinstance(row, str):
            yield index, where, row
            continue
        yield index, where, _lm_eval_item(row, index, fixed, fields, from_task, task)


def _lm_eval_item(
    row: Mapping[str, Any],
    index: int,
    fixed: str | None,
    fields: tuple[str, ...],
    from_task: str | None,
    task: str | None,
) -> dict[str, Any] | str:
    doc = row.get("doc")
    doc = doc if isinstance(doc, Mapping) else {}
    texts = _texts(row.get("resps"))
    if texts is None:
        return (
            "field 'resps' holds no generated text (a loglikelihood task? only generate_until "
            "tasks have texts to re-extract)"
        )
    lang = fixed
    if lang is None:
        for name in fields:
            value = doc.get(name)
            if isinstance(value, str) and value.strip():
                lang = _code(value)
                if lang is None:
                    return f"field 'doc.{name}': '{value}' is not a language xprompt knows"
                break
    lang = lang or from_task
    if lang is None:
        return (
            f"no language: the task name '{task}' does not end with a language code and the doc "
            f"has no {' / '.join(repr(f) for f in fields)} field; pass --lang"
        )
    target = row.get("target")
    if isinstance(target, list | dict | bool):
        return f"field 'target' must be text or a number, got {type(target).__name__}"
    doc_id = row.get("doc_id")
    return {
        "id": f"{task or 'doc'}:{doc_id if doc_id is not None else index}",
        "lang": lang,
        "target": None if target is None else str(target),
        "outputs": [{"text": t, "path": None, "lang": lang} for t in texts],
        "imported": {"filtered_resps": row.get("filtered_resps"), "task": task},
    }
