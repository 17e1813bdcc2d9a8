"""A translation cache on disk (SQLite), so re-runs and other strategies reuse translations.

Keyed on the translator's signature (model identity and every decoding
setting), the source and target language and the exact source text, hashed
into one SHA-256 key. Only successful translations are stored.

SQLite in WAL mode: readers never block the writer or each other, a batch of
new translations is written in one transaction, and a process killed
mid-write leaves the file consistent (the unfinished batch is simply absent).
Several processes may share one file; writers wait on each other (busy timeout).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from xprompt.errors import ConfigError
from xprompt.mt.base import Translation, TranslationRequest, Translator

SCHEMA_VERSION = 1
#: SQLite's limit on bound variables is 32766 in current builds; stay far below it.
_LOOKUP_CHUNK = 500


def default_cache_path() -> Path:
    """``$XPROMPT_CACHE/translations.sqlite`` (default ``~/.cache/xprompt``)."""
    root = os.environ.get("XPROMPT_CACHE", Path.home() / ".cache" / "xprompt")
    return Path(root).expanduser() / "translations.sqlite"


def cache_key(translator: str, src: str, tgt: str, text: str) -> str:
    """The cache key of one translation: SHA-256 over translator signature, languages and text."""
    blob = json.dumps([translator, src, tgt, text], ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


class TranslationCache:
    """Translations stored in one SQLite file (created on first use)."""

    def __init__(self, path: str | os.PathLike[str], *, timeout_s: float = 60.0) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS translations ("
                " key TEXT PRIMARY KEY, translator TEXT NOT NULL, src TEXT NOT NULL,"
                " tgt TEXT NOT NULL, source TEXT NOT NULL, text TEXT NOT NULL,"
                " logprob REAL, tokens INTEGER NOT NULL, segments INTEGER NOT NULL,"
                " created REAL NOT NULL) WITHOUT ROWID"
            )
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
            self._db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),)
            )
            (version,) = self._db.execute("SELECT value FROM meta WHERE name='schema'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise ConfigError(
                f"translation cache {self.path}: not a usable SQLite file ({exc})"
            ) from None
        if int(version) != SCHEMA_VERSION:
            raise ConfigError(
                f"translation cache {self.path} has schema {version}, this xprompt writes "
                f"{SCHEMA_VERSION}: use another --cache file"
            )

    def get_many(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The stored rows for those keys that are present."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), _LOOKUP_CHUNK):
            chunk = wanted[start : start + _LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            for key, text, logprob, tokens, segments in self._db.execute(
                f"SELECT key, text, logprob, tokens, segments FROM translations WHERE key IN ({marks})",
                chunk,
            ):
                found[key] = {
                    "text": text,
                    "logprob": logprob,
                    "tokens": tokens,
                    "segments": segments,
                }
        return found

    def put_many(self, translator: str, items: Sequence[tuple[str, Translation]]) -> None:
        """Store ``(key, translation)`` pairs of successful translations in one transaction."""
        rows = [
            (
                key,
                translator,
                t.src,
                t.tgt,
                t.source,
                t.text,
                t.logprob,
                t.tokens,
                t.segments,
                time.time(),
            )
            for key, t in items
            if t.ok
        ]
        if not rows:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(
                "INSERT OR REPLACE INTO translations VALUES (?,?,?,?,?,?,?,?,?,?)", rows
            )
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def __len__(self) -> int:
        (count,) = self._db.execute("SELECT COUNT(*) FROM translations").fetchone()
        return int(count)

    def close(self) -> None:
        self._db.close()


class CachedTranslator:
    """A translator that answers from the cache first and asks ``inner`` only for the rest.

    Same interface as the translator it wraps. Identical requests within one
    batch are translated once. ``hits`` and ``misses`` count requests.
    """

    def __init__(self, inner: Translator, cache: TranslationCache) -> None:
        self.inner = inner
        self.cache = cache
        self.hits = 0
        self.misses = 0

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    def signature(self) -> str:
        return self.inner.signature()

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "cache": str(self.cache.path)}

    def close(self) -> None:
        self.inner.close()
        self.cache.close()

    def translate(self, requests: Sequence[TranslationRequest]) -> list[Translation]:
        signature = self.inner.signature()
        keys = [cache_key(signature, r.src, r.tgt, r.text) for r in requests]
        stored = self.cache.get_many(keys)
        missing: dict[str, TranslationRequest] = {}
        for key, request in zip(keys, requests, strict=True):
            if key not in stored:
                missing.setdefault(key, request)
        fresh: dict[str, Translation] = {}
        if missing:
            results = self.inner.translate(list(missing.values()))
            fresh = dict(zip(missing, results, strict=True))
            self.cache.put_many(signature, list(fresh.items()))
        out: list[Translation] = []
        for key, request in zip(keys, requests, strict=True):
            if key in stored:
                row = stored[key]
                self.hits += 1
                out.append(
                    Translation(
                        request.text,
                        request.src,
                        request.tgt,
                        row["text"],
                        logprob=row["logprob"],
                        tokens=row["tokens"],
                        segments=row["segments"],
                        cached=True,
                    )
                )
            else:
                self.misses += 1
                out.append(fresh[key])
        return out
