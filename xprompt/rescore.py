"""Re-score stored outputs without a model: re-extract every path's answer, re-vote, summarise.

Two input forms, row by row (they may be mixed in one file):

1. xprompt's own result records (``xprompt run`` output). The reasoning paths
   are ``details.paths`` (CLP, CLSP, self-consistency; see
   ``xprompt.reasoning``), each pointing at its final text in ``steps``; a
   record without ``details.paths`` (``direct``) has one path per text of
   its last step. Stored language checks are reused.
2. The interchange form, for outputs of other tools: one JSON object per line,

   ```
   {"id": "q1", "lang": "swh_Latn", "target": "18",
    "outputs": [{"text": "... Answer: 18", "path": "eng_Latn"},
                {"text": "... Jibu: 17", "path": null}]}
   ```

   ``id`` (default ``row<N>``), ``lang`` (required; any code ``xprompt``
   resolves), ``target`` (optional: without it the row is not scored) and
   ``outputs`` (required, non-empty): a list of objects with ``text``
   (required) and ``path`` (the language the path reasons in, or null for an
   unlabelled sample). Paths with a language are checked against it
   (``xprompt.langid.check``) unless language checks are switched off.

Every row gives one output record (an xprompt result record, so the output can
be scored again); a row that is not valid becomes a record with an error that
names the row, the field and the problem.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from xprompt import __version__, answers, data, languages, reasoning
from xprompt.answers import Extraction
from xprompt.errors import ConfigError, UnknownLanguageError
from xprompt.metrics import RunSummary, summarize

#: The interchange form's outputs become steps ``output:0``, ``output:1``, ... in rescored records.
OUTPUT_STEP = "output"


class RowProblem(ValueError):
    """A row that cannot be scored; the message names the field and the problem."""


@dataclass(frozen=True)
class ScoreSettings:
    """How to re-score.

    ``parser``: the answer parser (None: each record's own, else ``number``).
    ``vote_order``: tie order of path languages (None: each record's stored
    order; interchange rows: the order of their outputs). ``exclude_off_target``:
    leave off-target paths out of the vote (None: as stored, else no).
    ``choices`` / ``pattern``: for the ``choice`` / ``regex`` parsers.
    ``langid``: check interchange paths against their language.
    """

    parser: str | None = None
    vote_order: tuple[str, ...] | None = None
    exclude_off_target: bool | None = None
    choices: tuple[str, ...] | None = None
    pattern: str | None = None
    langid: bool = True

    def __post_init__(self) -> None:
        if self.parser is not None and self.parser not in answers.PARSERS:
            raise ConfigError(
                f"--parser: unknown parser '{self.parser}' (known: {', '.join(answers.PARSERS)})"
            )
        if self.parser == "choice" and not self.choices:
            raise ConfigError("--parser choice needs the label set: --choices A,B,C,D")
        if self.parser == "regex" and not self.pattern:
            raise ConfigError("--parser regex needs --pattern REGEX (one group)")

    def signature(self, source_digest: str, fmt: str = "xprompt") -> str:
        order = "+".join(self.vote_order) if self.vote_order else "stored"
        exclude = {None: "stored", True: "yes", False: "no"}[self.exclude_off_target]
        return "|".join(
            [
                "score" if fmt == "xprompt" else f"score({fmt})",
                f"parser:{self.parser or 'stored'}",
                f"vote-order:{order}",
                f"exclude-off-target:{exclude}",
                f"langid:{'on' if self.langid else 'off'}",
                f"input:{source_digest}",
                f"xprompt:{__version__}",
            ]
        )


def parse_vote_order(text: str | None) -> tuple[str, ...] | None:
    """``"en,de,es"`` -> canonical codes, in order; a ConfigError names a code that is unknown."""
    if text is None or not text.strip():
        return None
    codes = []
    for item in text.split(","):
        if not item.strip():
            continue
        try:
            codes.append(languages.resolve(item.strip()).code)
        except UnknownLanguageError as exc:
            raise ConfigError(f"--vote-order: {exc}") from None
    return tuple(codes)


def score_file(
    path: str | Path,
    settings: ScoreSettings,
    *,
    fmt: str = "xprompt",
    lang: str | None = None,
    lang_field: str | None = None,
) -> tuple[list[dict[str, Any]], RunSummary]:
    """Re-score every row of a source: the new records (one per row, in order) and their summary.

    ``fmt``: ``xprompt`` (a JSONL file of result records or interchange rows),
    ``clp-authors`` (a directory) or ``lm-eval`` (a samples file); see
    ``xprompt.importers``. ``lang`` / ``lang_field``: lm-eval's language.
    """
    from xprompt import importers

    if fmt not in importers.FORMATS:
        raise ConfigError(
            f"--format: unknown format '{fmt}' (known: {', '.join(importers.FORMATS)})"
        )
    if fmt == "clp-authors":
        items: Iterator[tuple[int, str, dict[str, Any] | str]] = importers.read_clp_authors(path)
    elif fmt == "lm-eval":
        items = importers.read_lm_eval(path, lang=lang, lang_field=lang_field)
    else:
        items = _jsonl_items(str(path))
    if fmt != "xprompt" and settings.parser is None:
        settings = replace(settings, parser=importers.DEFAULT_PARSER[fmt])
    records = list(rescore_items(items, settings))
    summary = summarize(records, signature=settings.signature(_digest(Path(path)), fmt))
    summary.rows_this_session = len(records)
    return records, summary


def _digest(path: Path) -> str:
    """sha256 of a file, or of a directory's JSONL files (names and bytes, sorted)."""
    digest = hashlib.sha256()
    if path.is_dir():
        for file in sorted(path.rglob("*.jsonl")):
            digest.update(str(file.relative_to(path)).encode() + b"\0" + file.read_bytes())
    else:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def rescore_rows(path: str, settings: ScoreSettings) -> Iterator[dict[str, Any]]:
    """One re-scored record per row of a JSONL file (rows that cannot be scored carry an error)."""
    yield from rescore_items(_jsonl_items(path), settings)


def _jsonl_items(path: str) -> Iterator[tuple[int, str, dict[str, Any] | str]]:
    name = Path(path).name
    for index, line_no, row in data.read_raw_rows(path, "jsonl"):
        yield index, f"row {index + 1} (line {line_no}) of {name}", row


def rescore_items(
    items: Iterator[tuple[int, str, dict[str, Any] | str]], settings: ScoreSettings
) -> Iterator[dict[str, Any]]:
    """One re-scored record per ``(index, where, row or problem)`` (problems become errors)."""
    seen: dict[str, int] = {}
    for index, where, row in items:
        if isinstance(row, str):
            yield _error_record(index, f"row{index + 1}", f"{where}: {row}")
            continue
        row_id = str(row.get("id")) if row.get("id") not in (None, "") else f"row{index + 1}"
        if isinstance(row.get("problem"), str):  # an importer's item that could not be read
            yield _row_error(index, row_id, row, f"{where}: {row['problem']}")
            continue
        try:
            if row_id in seen:
                raise RowProblem(f"duplicate id '{row_id}' (first seen at row {seen[row_id] + 1})")
            seen[row_id] = index
            if "outputs" in row:
                yield rescore_interchange(row, index, row_id, settings)
            elif "steps" in row:
                yield rescore_record(row, index, settings)
            else:
                present = ", ".join(sorted(row)) or "none"
                raise RowProblem(
                    "neither an xprompt result record (field 'steps') nor an interchange row "
                    f"(field 'outputs') (fields present: {present})"
                )
        except RowProblem as exc:
            yield _row_error(index, row_id, row, f"{where}: {exc}")
        except Exception as exc:
            message = f"{where}: scoring failed: {type(exc).__name__}: {exc}"
            yield _row_error(index, row_id, row, message)


def _row_error(index: int, row_id: str, row: Mapping[str, Any], error: str) -> dict[str, Any]:
    return _error_record(index, row_id, error, lang=_lang_or_none(row), target=row.get("target"))


def _lang_or_none(row: Mapping[str, Any]) -> str | None:
    try:
        return languages.resolve(str(row.get("lang"))).code
    except Exception:
        return None


def _error_record(
    index: int, row_id: str, error: str, *, lang: str | None = None, target: Any = None
) -> dict[str, Any]:
    return {
        "index": index,
        "id": row_id,
        "lang": lang,
        "target": None if target is None else str(target),
        "prediction": None,
        "correct": None if target is None else False,
        "extraction": None,
        "error": error,
        "steps": [],
    }


# -- xprompt result records --------------------------------------------------------


def rescore_record(
    record: Mapping[str, Any], index: int, settings: ScoreSettings
) -> dict[str, Any]:
    """Re-extract and re-vote one of xprompt's own result records."""
    steps = record.get("steps")
    if not isinstance(steps, list):
        raise RowProblem("field 'steps' must be a list of steps")
    details = dict(record.get("details") or {})
    stored_vote = details.get("vote") or {}
    parser = settings.parser or details.get("parser") or "number"
    target = record.get("target")
    target = None if target is None else str(target)
    texts = {s.get("step"): s for s in steps if isinstance(s, Mapping)}
    metas = details.get("paths")
    if not metas:
        metas = _paths_of_last_step(steps)
    if not metas:
        return {**record, "index": record.get("index", index)}  # an error row with nothing to score
    paths = []
    for k, meta in enumerate(metas):
        if meta.get("error") is not None:
            error_path = Extraction(None, "error")
            paths.append(
                reasoning.PathResult(
                    meta.get("path"), error_path, meta.get("verdict"), error=meta["error"]
                )
            )
            continue
        step = texts.get(meta.get("step"))
        sample = int(meta.get("sample") or 0)
        if step is None or not isinstance(step.get("texts"), list) or sample >= len(step["texts"]):
            raise RowProblem(
                f"details.paths[{k}] points at step {meta.get('step')!r} text {sample}, "
                "which the record's steps do not have"
            )
        text = str(step["texts"][sample])
        lang = meta.get("path") or record.get("lang")
        extraction = _extract(text, parser, lang, settings)
        paths.append(
            reasoning.PathResult(
                meta.get("path"), extraction, meta.get("verdict"), step["step"], sample
            )
        )
    order = settings.vote_order or tuple(stored_vote.get("order") or ()) or None
    exclude = (
        settings.exclude_off_target
        if settings.exclude_off_target is not None
        else bool(stored_vote.get("exclude_off_target"))
    )
    samples = all(p.path is None for p in paths) and len(paths) > 1
    out = _scored(record, paths, parser, target, order, exclude, samples, details)
    out["index"] = record.get("index", index)
    return out


def _paths_of_last_step(steps: Sequence[Any]) -> list[dict[str, Any]]:
    for step in reversed(steps):
        if isinstance(step, Mapping) and step.get("texts"):
            verdicts = reasoning.check_verdicts(step.get("checks"))
            verdicts += [None] * (len(step["texts"]) - len(verdicts))
            return [
                {"path": None, "step": step.get("step"), "sample": k, "verdict": verdicts[k]}
                for k in range(len(step["texts"]))
            ]
    return []


def _extract(text: str, parser: str, lang: str | None, settings: ScoreSettings) -> Extraction:
    return answers.extract(
        text, parser, lang=lang, choices=settings.choices, pattern=settings.pattern
    )


def _scored(
    record: Mapping[str, Any],
    paths: list[reasoning.PathResult],
    parser: str,
    target: str | None,
    order: Sequence[str] | None,
    exclude: bool,
    samples: bool,
    details: dict[str, Any],
) -> dict[str, Any]:
    ordered = reasoning.order_paths(paths, order)
    result = reasoning.vote(ordered, exclude_off_target=exclude, parser=parser)
    for key in ("paths", "vote", "first_answer", "first_correct", "parser"):
        details.pop(key, None)
    details.update(
        reasoning.path_details(
            ordered,
            result,
            parser=parser,
            target=target,
            order=order,
            exclude_off_target=exclude,
            samples=samples,
        )
    )
    all_failed = all(p.error is not None for p in ordered)
    error = record.get("error") if all_failed else None
    correct = None
    if target is not None:
        correct = False if all_failed else answers.is_correct(result.answer, target, parser)
    return {
        **record,
        "prediction": result.answer,
        "correct": correct,
        "extraction": result.rule,
        "error": error,
        "details": details,
    }


# -- the interchange form ------------------------------------------------------------


def rescore_interchange(
    row: Mapping[str, Any], index: int, row_id: str, settings: ScoreSettings
) -> dict[str, Any]:
    """Extract, check and vote one interchange row (``id``, ``lang``, ``target``, ``outputs``)."""
    raw_lang = row.get("lang")
    if not isinstance(raw_lang, str) or not raw_lang.strip():
        present = ", ".join(sorted(row))
        raise RowProblem(f"field 'lang' is missing or not text (fields present: {present})")
    try:
        lang = languages.resolve(raw_lang).code
    except UnknownLanguageError as exc:
        raise RowProblem(f"field 'lang': {exc}") from None
    target = row.get("target")
    if isinstance(target, bool) or isinstance(target, list | dict):
        raise RowProblem(f"field 'target' must be text or a number, got {type(target).__name__}")
    target = None if target is None else str(target).strip()
    outputs = row.get("outputs")
    if not isinstance(outputs, list) or not outputs:
        raise RowProblem('field \'outputs\' must be a non-empty list of {"text": ..., "path": ...}')
    texts: list[str] = []
    path_langs: list[str | None] = []
    check_langs: list[str | None] = []
    for k, item in enumerate(outputs):
        if not isinstance(item, Mapping):
            raise RowProblem(
                f"outputs[{k}] must be an object with 'text' and 'path', got {type(item).__name__}"
            )
        text = item.get("text")
        if not isinstance(text, str):
            raise RowProblem(f"outputs[{k}].text is missing or not text")
        path = item.get("path")
        if path is not None:
            if not isinstance(path, str):
                raise RowProblem(f"outputs[{k}].path must be a language code or null")
            try:
                path = languages.resolve(path).code
            except UnknownLanguageError as exc:
                raise RowProblem(f"outputs[{k}].path: {exc}") from None
        expected = item.get("lang")
        if expected is not None:
            try:
                expected = languages.resolve(str(expected)).code
            except UnknownLanguageError as exc:
                raise RowProblem(f"outputs[{k}].lang: {exc}") from None
        texts.append(text)
        path_langs.append(path)
        check_langs.append(expected or path)
    parser = settings.parser or "number"
    steps: list[dict[str, Any]] = []
    paths: list[reasoning.PathResult] = []
    for k, (text, path, expected) in enumerate(zip(texts, path_langs, check_langs, strict=True)):
        check = _check(text, expected) if settings.langid and expected is not None else None
        step: dict[str, Any] = {
            "step": f"{OUTPUT_STEP}:{k}",
            "prompt_digest": "",
            "texts": [text],
            "prompt_tokens": 0,
            "completion_tokens": 0,
        }
        if expected is not None:
            step["lang"] = expected
        if check is not None:
            step["checks"] = [check]
        steps.append(step)
        extraction = _extract(text, parser, path or lang, settings)
        verdict = None if check is None else check["verdict"]
        paths.append(reasoning.PathResult(path, extraction, verdict, step["step"], 0))
    order = settings.vote_order
    samples = all(p is None for p in path_langs) and len(paths) > 1
    record = {
        "index": index,
        "id": row_id,
        "lang": lang,
        "target": target,
        "prediction": None,
        "correct": None,
        "extraction": None,
        "error": None,
        "steps": steps,
    }
    imported = row.get("imported")
    details = {"imported": dict(imported)} if isinstance(imported, Mapping) else {}
    return _scored(
        record, paths, parser, target, order, bool(settings.exclude_off_target), samples, details
    )


def _check(text: str, path: str) -> dict[str, Any]:
    from xprompt import langid

    return langid.check(text, path).to_dict()
