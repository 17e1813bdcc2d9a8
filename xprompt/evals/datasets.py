"""Loaders for the datasets of the published setups, from their public file layouts or Hugging Face.

Each loader reads one language and one split and returns plain rows (or, for
NER, CoNLL sentences) in xprompt's own shape, plus the problems it found.
A row with a problem is **kept** (with the fields it has), so every input row
reaches the output, where the runner records it with its error; the problem
itself (file, line, what is wrong) goes into the evaluation report.

Local layouts (the public repositories' own):

- **SIB-200** (``sib200``): ``<root>/data/annotated/<lang>/{train,dev,test}.tsv``
  with a header ``index_id  category  text``. Rows: ``id``, ``lang``, ``text``, ``label``.
- **MGSM** (``mgsm``): ``<root>/mgsm_<code>.tsv``, ``question<TAB>answer``, no
  header, one split (``test``). Rows: ``id``, ``lang``, ``question``, ``answer``.
- **FLORES-200** (``flores200``): ``<root>/{dev,devtest}/<code>.{dev,devtest}``, one
  sentence per line, aligned across languages. Rows (X -> English): ``id``,
  ``lang``, ``text``, ``target`` (the English reference), ``target_lang``.
- **MasakhaNER 2.0** (``masakhaner``): ``<root>/data/<lang>/{train,dev,test}.txt``,
  CoNLL: ``token tag`` per line, a blank line between sentences.

Language directories and files may be named by any code xprompt resolves
(``sw``, ``swa``, ``hau``, ``hau_Latn``); they are matched to the canonical code.

Hugging Face (``hf``): the same splits through ``datasets`` (``Davlan/sib200``,
``juletxara/mgsm``, ``facebook/flores``, ``masakhane/masakhaner2``), read with
xprompt's ``hf:`` input; a ``{config}`` in the name is replaced by the
dataset's config for the language, so a local ``save_to_disk`` copy works too.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from xprompt import data, languages
from xprompt.errors import ConfigError, DataError, UnknownLanguageError

DATASETS = ("sib200", "mgsm", "flores200", "masakhaner")

#: SIB-200's seven topic labels (Adelani et al. 2024).
SIB200_LABELS = (
    "science/technology",
    "travel",
    "politics",
    "sports",
    "health",
    "entertainment",
    "geography",
)

#: The Hugging Face names of the datasets (``xprompt eval --hf``).
HF_NAMES = {
    "sib200": "Davlan/sib200",
    "mgsm": "juletxara/mgsm",
    "flores200": "facebook/flores",
    "masakhaner": "masakhane/masakhaner2",
}

#: Split names as each dataset's Hugging Face copy spells them.
HF_SPLITS = {"sib200": {"dev": "validation"}, "masakhaner": {"dev": "validation"}}

_SPLIT = re.compile(r"^\s*([A-Za-z_]+)\s*(?:\[\s*(-?\d*)\s*:\s*(-?\d*)\s*\])?\s*$")


@dataclass(frozen=True)
class SplitSpec:
    """A split and an optional slice of its rows: ``test``, ``test[:25]``, ``test[25:]``."""

    name: str
    start: int | None = None
    stop: int | None = None

    @classmethod
    def parse(cls, text: str) -> SplitSpec:
        """Parse ``NAME`` or ``NAME[START:STOP]``; a ConfigError says what is accepted."""
        match = _SPLIT.match(text)
        if match is None:
            raise ConfigError(
                f"split '{text}': use a split name, optionally sliced: test, dev, test[:25], test[25:]"
            )
        name, start, stop = match.groups()
        return cls(name, int(start) if start else None, int(stop) if stop else None)

    def __str__(self) -> str:
        if self.start is None and self.stop is None:
            return self.name
        return f"{self.name}[{'' if self.start is None else self.start}:{'' if self.stop is None else self.stop}]"

    def take(self, items: Sequence[Any]) -> list[Any]:
        """The slice of ``items`` this spec names."""
        return list(items[self.start : self.stop])


@dataclass
class LoadedSplit:
    """One language's split: rows (or CoNLL sentences for NER), where they came from, and problems."""

    dataset: str
    lang: str
    split: str
    source: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    sentences: list[tuple[str, list[str]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sentences) if self.dataset == "masakhaner" else len(self.rows)


def check_dataset(name: str) -> str:
    """The dataset name, or a ConfigError listing the known ones."""
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset '{name}' (known: {', '.join(DATASETS)})")
    return name


def canonical(code: str) -> str | None:
    """The canonical code of a file or directory name, None when it names no language."""
    try:
        return languages.resolve(code).code
    except UnknownLanguageError:
        return None


def local_languages(dataset: str, root: str | Path) -> dict[str, Path]:
    """Canonical code -> the language's directory (SIB-200, MasakhaNER) or file stem location."""
    base = Path(root)
    found: dict[str, Path] = {}
    if dataset == "sib200":
        parent = base / "data" / "annotated" if (base / "data").is_dir() else base
        candidates = [p for p in parent.iterdir() if p.is_dir()] if parent.is_dir() else []
    elif dataset == "masakhaner":
        parent = base / "data" if (base / "data").is_dir() else base
        candidates = [p for p in parent.iterdir() if p.is_dir()] if parent.is_dir() else []
    elif dataset == "mgsm":
        candidates = sorted(base.glob("mgsm_*.tsv"))
        for path in candidates:
            code = canonical(path.stem.removeprefix("mgsm_"))
            if code is not None:
                found.setdefault(code, path)
        return found
    else:
        base = base / "flores200_dataset" if (base / "flores200_dataset").is_dir() else base
        candidates = sorted({p.with_suffix("") for p in base.glob("*/*.dev*")})
        for path in candidates:
            code = canonical(path.name)
            if code is not None:
                found.setdefault(code, base)
        return found
    for path in sorted(candidates):
        code = canonical(path.name)
        if code is not None:
            found.setdefault(code, path)
    return found


def _missing_language(dataset: str, root: Path, lang: str, have: dict[str, Path]) -> DataError:
    known = ", ".join(sorted(have)) or "none"
    return DataError(
        f"{dataset}: no data for {lang} under {root} (languages found: {known}); "
        "check --data, or use --hf to read the Hugging Face copy"
    )


def load_local(dataset: str, root: str | Path, lang: str, split: SplitSpec) -> LoadedSplit:
    """Read one language's split from the dataset's public local layout."""
    root = Path(root)
    if not root.exists():
        raise DataError(f"{dataset}: data directory not found: {root} (pass --data DIR or --hf)")
    have = local_languages(dataset, root)
    if lang not in have:
        raise _missing_language(dataset, root, lang, have)
    where = have[lang]
    if dataset == "sib200":
        loaded = _sib200_file(where / f"{split.name}.tsv", lang, split.name)
    elif dataset == "mgsm":
        if split.name != "test":
            raise ConfigError(
                f"mgsm has one split, 'test' (got '{split.name}'); slice it: test[:25]"
            )
        loaded = _mgsm_file(where, lang)
    elif dataset == "flores200":
        loaded = _flores_files(where, lang, split.name, have)
    else:
        loaded = _conll_file(where / f"{split.name}.txt", lang, split.name)
    return _sliced(loaded, split)


def _sliced(loaded: LoadedSplit, split: SplitSpec) -> LoadedSplit:
    loaded.split = str(split)
    if loaded.dataset == "masakhaner":
        loaded.sentences = split.take(loaded.sentences)
    else:
        loaded.rows = split.take(loaded.rows)
    return loaded


def _lines(path: Path) -> Iterator[tuple[int, str | None]]:
    """``(line number, text)`` of every line; text None when the line is not valid UTF-8."""
    if not path.is_file():
        raise DataError(f"file not found: {path}")
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield number, raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                yield number, None


def _sib200_file(path: Path, lang: str, split: str) -> LoadedSplit:
    loaded = LoadedSplit("sib200", lang, split, str(path))
    header: list[str] | None = None
    for number, line in _lines(path):
        where = f"{path.name} line {number}"
        if line is None:
            loaded.problems.append(f"{where}: not valid UTF-8")
            loaded.rows.append({"id": f"line{number}", "lang": lang, "source": where})
            continue
        if not line.strip():
            continue
        # The public files are plain tab-separated text; quotes are part of the sentences.
        cells = next(csv.reader([line], delimiter="\t", quoting=csv.QUOTE_NONE))
        if header is None:
            header = [c.strip() for c in cells]
            missing = [c for c in ("category", "text") if c not in header]
            if missing:
                raise DataError(
                    f"{path}: header has {', '.join(header)}; SIB-200 files need "
                    "index_id, category, text"
                )
            continue
        row: dict[str, Any] = {"lang": lang, "source": where}
        if len(cells) != len(header):
            loaded.problems.append(
                f"{where}: {len(cells)} columns, the header has {len(header)} ({', '.join(header)})"
            )
        values = dict(zip(header, cells, strict=False))
        row["id"] = values.get("index_id") or f"line{number}"
        if values.get("text", "").strip():
            row["text"] = values["text"]
        label = values.get("category", "").strip()
        if label:
            row["label"] = label
            if label not in SIB200_LABELS:
                loaded.problems.append(
                    f"{where}: category '{label}' is not one of SIB-200's labels "
                    f"({', '.join(SIB200_LABELS)})"
                )
        loaded.rows.append(row)
    return loaded


def _number(text: str) -> bool:
    try:
        Decimal(text.replace(",", ""))
    except InvalidOperation:
        return False
    return True


def _mgsm_file(path: Path, lang: str) -> LoadedSplit:
    loaded = LoadedSplit("mgsm", lang, "test", str(path))
    for number, line in _lines(path):
        where = f"{path.name} line {number}"
        row: dict[str, Any] = {"id": f"{path.stem}-{number}", "lang": lang, "source": where}
        if line is None:
            loaded.problems.append(f"{where}: not valid UTF-8")
            loaded.rows.append(row)
            continue
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != 2:
            loaded.problems.append(
                f"{where}: {len(cells)} tab-separated columns; MGSM lines are question<TAB>answer"
            )
        if cells[0].strip():
            row["question"] = cells[0]
        if len(cells) > 1 and cells[-1].strip():
            answer = cells[-1].strip()
            row["answer"] = answer
            if not _number(answer):
                loaded.problems.append(f"{where}: answer '{answer}' is not a number")
        loaded.rows.append(row)
    return loaded


def _flores_files(base: Path, lang: str, split: str, have: dict[str, Path]) -> LoadedSplit:
    if split not in ("dev", "devtest"):
        raise ConfigError(f"flores200 splits are dev and devtest (got '{split}')")
    source = _flores_path(base, lang, split)
    english = _flores_path(base, "eng_Latn", split)
    loaded = LoadedSplit("flores200", lang, split, str(source))
    src_lines = list(_lines(source))
    ref_lines = list(_lines(english)) if english.is_file() else []
    if not ref_lines:
        loaded.problems.append(f"{english}: the English reference file is missing")
    if ref_lines and len(ref_lines) != len(src_lines):
        loaded.problems.append(
            f"{source.name} has {len(src_lines)} lines, {english.name} has {len(ref_lines)}: "
            "FLORES files must be aligned line by line"
        )
    for i, (number, line) in enumerate(src_lines):
        where = f"{source.name} line {number}"
        row: dict[str, Any] = {
            "id": f"{split}-{number}",
            "lang": lang,
            "target_lang": "eng_Latn",
            "source": where,
        }
        if line is None or not line.strip():
            loaded.problems.append(
                f"{where}: {'not valid UTF-8' if line is None else 'empty line'}"
            )
        else:
            row["text"] = line
        if i < len(ref_lines):
            ref = ref_lines[i][1]
            if ref is not None and ref.strip():
                row["target"] = ref
            else:
                loaded.problems.append(f"{english.name} line {i + 1}: no English reference")
        loaded.rows.append(row)
    return loaded


def _flores_path(base: Path, lang: str, split: str) -> Path:
    folder = base / split
    for path in sorted(folder.glob(f"*.{split}")):
        if canonical(path.stem) == lang:
            return path
    return folder / f"{lang}.{split}"


def _conll_file(path: Path, lang: str, split: str) -> LoadedSplit:
    loaded = LoadedSplit("masakhaner", lang, split, str(path))
    block: list[str] = []
    for number, line in _lines(path):
        if line is None:
            loaded.problems.append(f"{path.name} line {number}: not valid UTF-8")
            continue
        if not line.strip() or line.startswith("-DOCSTART-"):
            if block:
                loaded.sentences.append((f"{split}-{len(loaded.sentences) + 1}", block))
                block = []
            continue
        if len(line.split()) < 2:
            loaded.problems.append(
                f"{path.name} line {number}: one column {line.strip()!r}; expected 'TOKEN TAG'"
            )
        block.append(line.strip())
    if block:
        loaded.sentences.append((f"{split}-{len(loaded.sentences) + 1}", block))
    return loaded


# -- Hugging Face ----------------------------------------------------------------------


def hf_config(dataset: str, lang: str) -> str:
    """The Hugging Face config of a language (``hau_Latn``; MGSM ``sw``; MasakhaNER ``hau``)."""
    info = languages.resolve(lang)
    if dataset == "mgsm":
        return info.iso639_1 or info.code.split("_")[0]
    if dataset == "masakhaner":
        return "swa" if info.code == "swh_Latn" else info.code.split("_")[0]
    if dataset == "flores200":
        return f"{info.code}-eng_Latn"
    return info.code


def load_hf(dataset: str, name: str, lang: str, split: SplitSpec) -> LoadedSplit:
    """Read one language's split through ``datasets`` (hub name or a local ``save_to_disk`` copy)."""
    config = hf_config(dataset, lang)
    spec_name = name.replace("{config}", config)
    hf_split = HF_SPLITS.get(dataset, {}).get(split.name, split.name)
    spec = f"hf:{spec_name}:{config}:{hf_split}"
    loaded = LoadedSplit(dataset, lang, split.name, spec)
    for index, _, row in data.read_raw_rows(spec, "hf"):
        where = f"{spec} row {index + 1}"
        if isinstance(row, str):
            loaded.problems.append(f"{where}: {row}")
            continue
        _hf_row(dataset, row, lang, split.name, index, where, loaded)
    return _sliced(loaded, split)


def _hf_row(
    dataset: str,
    row: dict[str, Any],
    lang: str,
    split: str,
    index: int,
    where: str,
    loaded: LoadedSplit,
) -> None:
    out: dict[str, Any] = {"lang": lang, "source": where}
    if dataset == "sib200":
        out["id"] = str(row.get("index_id", index))
        out.update(
            {k: str(row[c]) for k, c in (("text", "text"), ("label", "category")) if row.get(c)}
        )
        if out.get("label") and out["label"] not in SIB200_LABELS:
            loaded.problems.append(f"{where}: category '{out['label']}' is not a SIB-200 label")
    elif dataset == "mgsm":
        out["id"] = f"mgsm_{hf_config('mgsm', lang)}-{index + 1}"
        if row.get("question"):
            out["question"] = str(row["question"])
        answer = row.get("answer_number", row.get("answer"))
        if answer is not None and str(answer).strip():
            value = str(answer).strip()
            out["answer"] = value[:-2] if value.endswith(".0") else value
    elif dataset == "flores200":
        out["id"] = f"{split}-{row.get('id', index + 1)}"
        out["target_lang"] = "eng_Latn"
        source = row.get(f"sentence_{lang}") or row.get("sentence")
        if source:
            out["text"] = str(source)
        if row.get("sentence_eng_Latn"):
            out["target"] = str(row["sentence_eng_Latn"])
    else:
        tokens, tags = row.get("tokens") or [], row.get("ner_tags") or []
        names = loaded_tag_names(row)
        if len(tokens) != len(tags):
            loaded.problems.append(f"{where}: {len(tokens)} tokens but {len(tags)} tags")
        lines = [
            f"{t} {names[g] if isinstance(g, int) else g}"
            for t, g in zip(tokens, tags, strict=False)
        ]
        loaded.sentences.append((f"{split}-{row.get('id', index + 1)}", lines))
        return
    for needed in _fields(dataset):
        if needed not in out:
            loaded.problems.append(f"{where}: field '{needed}' is missing or empty")
    loaded.rows.append(out)


#: MasakhaNER 2.0's tag set, in the Hugging Face ClassLabel order.
MASAKHANER_TAGS = (
    "O",
    "B-PER",
    "I-PER",
    "B-ORG",
    "I-ORG",
    "B-LOC",
    "I-LOC",
    "B-DATE",
    "I-DATE",
)


def loaded_tag_names(row: dict[str, Any]) -> Sequence[str]:
    """Tag names for integer tags (the row may carry its own ``tag_names``)."""
    return row.get("tag_names") or MASAKHANER_TAGS


def _fields(dataset: str) -> tuple[str, ...]:
    return {
        "sib200": ("text", "label"),
        "mgsm": ("question", "answer"),
        "flores200": ("text", "target"),
    }.get(dataset, ())


# -- writing ---------------------------------------------------------------------------


def write_split(loaded: LoadedSplit, path: str | Path) -> Path:
    """Write the rows (JSONL) or sentences (CoNLL with ``# id`` / ``# lang``); unchanged files are kept.

    Keeping an unchanged file keeps its digest, so runs over it resume.
    """
    import json

    out = Path(path)
    if loaded.dataset == "masakhaner":
        parts = []
        for sentence_id, lines in loaded.sentences:
            parts.append(f"# id = {sentence_id}\n# lang = {loaded.lang}\n")
            parts.append("".join(line + "\n" for line in lines) + "\n")
        text = "".join(parts)
    else:
        first = ("id", "lang")
        rows = [{**{k: r[k] for k in first if k in r}, **r} for r in loaded.rows]
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not out.is_file() or out.read_text(encoding="utf-8") != text:
        out.write_text(text, encoding="utf-8")
    return out
