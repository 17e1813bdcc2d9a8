"""The SQLite translation cache: reuse, keys, errors, WAL, concurrent readers, interrupted writers."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from xprompt.backends.seq2seq import Seq2SeqTranslator
from xprompt.errors import ConfigError
from xprompt.mt.base import DecodingSettings, Translation, TranslationRequest
from xprompt.mt.cache import CachedTranslator, TranslationCache, cache_key


class Counting:
    """Wraps a real translator and records what it was asked to translate."""

    def __init__(self, inner: Seq2SeqTranslator) -> None:
        self.inner = inner
        self.calls: list[list[TranslationRequest]] = []

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    def signature(self) -> str:
        return self.inner.signature()

    def describe(self) -> dict:
        return self.inner.describe()

    def close(self) -> None:
        self.inner.close()

    def translate(self, requests: Sequence[TranslationRequest]) -> list[Translation]:
        self.calls.append(list(requests))
        return self.inner.translate(requests)


@pytest.fixture(scope="module")
def tiny(tiny_mt_dir: Path) -> Seq2SeqTranslator:
    return Seq2SeqTranslator(str(tiny_mt_dir), decoding=DecodingSettings(max_new_tokens=6))


REQUESTS = [
    TranslationRequest("Sannu da zuwa.", "hau_Latn", "eng_Latn"),
    TranslationRequest("Ẹ kú àárọ̀.", "yor_Latn", "eng_Latn"),
    TranslationRequest("ሰላም ነው።", "amh_Ethi", "eng_Latn"),
    TranslationRequest("Habari za asubuhi.", "swh_Latn", "eng_Latn"),
]


def test_second_pass_is_served_from_the_cache(tmp_path: Path, tiny: Seq2SeqTranslator) -> None:
    counting = Counting(tiny)
    cached = CachedTranslator(counting, TranslationCache(tmp_path / "mt.sqlite"))
    first = cached.translate(REQUESTS)
    assert [t.cached for t in first] == [False] * 4 and len(counting.calls) == 1
    second = cached.translate([*REQUESTS[::-1], REQUESTS[0]])
    assert len(counting.calls) == 1, "nothing new to translate"
    assert all(t.cached for t in second)
    assert [t.text for t in second] == [t.text for t in first[::-1]] + [first[0].text]
    assert [t.logprob for t in second[::-1][1:]] == pytest.approx([t.logprob for t in first])
    assert cached.hits == 5 and cached.misses == 4


def test_cache_survives_reopening_and_is_shared_by_a_new_translator(tmp_path: Path, tiny) -> None:
    path = tmp_path / "mt.sqlite"
    first = CachedTranslator(tiny, TranslationCache(path)).translate(REQUESTS)
    counting = Counting(tiny)
    reopened = CachedTranslator(counting, TranslationCache(path))
    again = reopened.translate(REQUESTS)
    assert counting.calls == [] and [t.text for t in again] == [t.text for t in first]
    assert len(TranslationCache(path)) == 4


def test_key_covers_model_settings_languages_and_text(tmp_path: Path, tiny_mt_dir: Path) -> None:
    path = tmp_path / "mt.sqlite"
    CachedTranslator(
        Seq2SeqTranslator(str(tiny_mt_dir), decoding=DecodingSettings(max_new_tokens=6)),
        TranslationCache(path),
    ).translate(REQUESTS)
    other = Counting(
        Seq2SeqTranslator(str(tiny_mt_dir), decoding=DecodingSettings(max_new_tokens=7))
    )
    CachedTranslator(other, TranslationCache(path)).translate(REQUESTS)
    assert len(other.calls) == 1 and len(other.calls[0]) == 4, "other decoding settings: no reuse"
    base = cache_key("sig", "hau_Latn", "eng_Latn", "Sannu")
    assert base != cache_key("sig", "hau_Latn", "fra_Latn", "Sannu")
    assert base != cache_key("sig", "ha_Latn", "eng_Latn", "Sannu")
    assert base != cache_key("sig", "hau_Latn", "eng_Latn", "Sannu ")
    assert base != cache_key("sig2", "hau_Latn", "eng_Latn", "Sannu")


def test_errors_are_not_cached_and_duplicates_are_translated_once(tmp_path: Path, tiny) -> None:
    counting = Counting(tiny)
    cached = CachedTranslator(counting, TranslationCache(tmp_path / "mt.sqlite"))
    bad = TranslationRequest("Marhaban", "arb_Latn", "eng_Latn")
    out = cached.translate([REQUESTS[0], bad, REQUESTS[0], bad])
    assert len(counting.calls[0]) == 2, "duplicates within a batch go to the model once"
    assert out[0].text == out[2].text and not out[1].ok and not out[3].ok
    cached.translate([bad])
    assert counting.calls[-1] == [bad], (
        "a failed translation is asked again, never served from the cache"
    )
    assert len(cached.cache) == 1


def test_wal_mode_and_a_reader_in_another_process_during_writes(tmp_path: Path) -> None:
    path = tmp_path / "mt.sqlite"
    cache = TranslationCache(path)
    (mode,) = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()
    assert mode == "wal"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), "200"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    seen = []
    while writer.poll() is None:
        seen.append(len(cache))  # readers never block on, or see half of, a writer's batch
    assert writer.returncode == 0, writer.stderr.read().decode()
    assert all(n % 5 == 0 for n in seen), "a batch is visible whole or not at all"
    assert any(0 < n < 1000 for n in seen), "the reader ran while the writer was writing"
    assert len(cache) == 1000


def test_a_writer_killed_mid_transaction_leaves_a_consistent_file(tmp_path: Path) -> None:
    path = tmp_path / "mt.sqlite"
    done = subprocess.run([sys.executable, "-c", WRITER, str(path), "3"], capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    killed = subprocess.run([sys.executable, "-c", DIES_MID_WRITE, str(path)], capture_output=True)
    assert killed.returncode == -9, killed.stderr.decode()
    cache = TranslationCache(path)
    assert len(cache) == 15, "the committed batches are there, the unfinished one is not"
    (status,) = sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()
    assert status == "ok"


def test_a_file_that_is_not_sqlite_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "mt.sqlite"
    path.write_text("this is not a database, " * 100)
    with pytest.raises(ConfigError, match="not a usable SQLite file"):
        TranslationCache(path)


# Writes N batches of 5 translations, one transaction each.
WRITER = """
import sys
from xprompt.mt.base import Translation
from xprompt.mt.cache import TranslationCache, cache_key
cache = TranslationCache(sys.argv[1])
for b in range(int(sys.argv[2])):
    items = []
    for i in range(5):
        t = Translation(f"src {b} {i}", "hau_Latn", "eng_Latn", f"out {b} {i}", logprob=-1.0, tokens=2)
        items.append((cache_key("sig", t.src, t.tgt, t.source), t))
    cache.put_many("sig", items)
"""

# Starts a transaction, inserts rows, and dies (SIGKILL) before committing.
DIES_MID_WRITE = """
import os, signal, sys
from xprompt.mt.cache import TranslationCache
cache = TranslationCache(sys.argv[1])
db = cache._db
db.execute("BEGIN IMMEDIATE")
for i in range(50):
    db.execute("INSERT INTO translations VALUES (?,?,?,?,?,?,?,?,?,?)",
               (f"k{i}", "sig", "hau_Latn", "eng_Latn", "s", "t", -1.0, 1, 1, 0.0))
os.kill(os.getpid(), signal.SIGKILL)
"""
