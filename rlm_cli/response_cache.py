"""rlm's response cache (`--cache`): model answers kept on disk so that re-running a question, a batch
after a crash or a conversation's follow-up does not pay again for identical calls.

Key: SHA-256 of the model name, every deployment behind it (provider model string, api_base and the
request parameters: temperature, max_tokens, stop, seed...; never keys) and the messages, with the
remaining-budget notes and the context's token estimate removed (they change with the clock and
the tokenizer's loading, not with the question). The prompts themselves are not stored: only the key and the answer.

Storage: one SQLite file under the cache dir (0600 in a 0700 dir), least recently used entries dropped
past a size cap. Values are plain text checked on read (diskcache was not used: it unpickles values,
and a tampered cache file would then run code in the process that holds the API keys). A cached answer
is still model output: it takes the same path as a fresh one (parsed for code, run in the sandbox,
sanitised for the terminal).
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MAX_MB = 256
KEY_VERSION = 1
FILE = "responses.sqlite3"


@dataclass
class Policy:
    """What the user asked for: `--cache` / profile `cache: true`; `sampled`: also calls whose
    configured temperature is above 0 (`--cache-sampled` / profile `cache: sampled`)."""

    enabled: bool = False
    sampled: bool = False
    max_mb: float = DEFAULT_MAX_MB


def cache_path() -> Path:
    from . import paths

    return paths.cache_dir() / FILE


@dataclass
class Store:
    """The SQLite file. Thread-safe (one connection behind a lock); safe across processes (WAL, busy timeout)."""

    path: Path = field(default_factory=cache_path)
    max_bytes: int = int(DEFAULT_MAX_MB * 1e6)
    _db: sqlite3.Connection | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)  # created private, never world-readable
            os.close(fd)
            db = sqlite3.connect(str(self.path), timeout=10, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, model TEXT, text TEXT, "
                       "size INTEGER, created REAL, used REAL)")
            db.execute("CREATE INDEX IF NOT EXISTS responses_used ON responses(used)")
            self._db = db
        return self._db

    def get(self, key: str) -> str | None:
        with self._lock:
            db = self._conn()
            row = db.execute("SELECT text FROM responses WHERE key = ?", (key,)).fetchone()
            if row is None:
                return None
            if not isinstance(row[0], str):  # not what rlm writes: a damaged or tampered entry
                db.execute("DELETE FROM responses WHERE key = ?", (key,))
                return None
            db.execute("UPDATE responses SET used = ? WHERE key = ?", (time.time(), key))
            return row[0]

    def put(self, key: str, model: str, text: str) -> None:
        size = len(text.encode("utf-8", "surrogatepass")) + 200
        if size > self.max_bytes:
            return
        now = time.time()
        with self._lock:
            db = self._conn()
            db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?)", (key, model, text, size, now, now))
            self._evict(db)

    def _evict(self, db: sqlite3.Connection) -> None:
        """Past the cap, drop the least recently used entries down to 90 % of it."""
        total = db.execute("SELECT COALESCE(SUM(size), 0) FROM responses").fetchone()[0]
        if total <= self.max_bytes:
            return
        target = int(self.max_bytes * 0.9)
        for key, size in db.execute("SELECT key, size FROM responses ORDER BY used").fetchall():
            if total <= target:
                break
            db.execute("DELETE FROM responses WHERE key = ?", (key,))
            total -= size

    def info(self) -> dict:
        if not self.path.exists():
            return {"path": str(self.path), "entries": 0, "bytes": 0, "max_bytes": self.max_bytes}
        with self._lock:
            n, size = self._conn().execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM responses").fetchone()
        return {"path": str(self.path), "entries": n, "bytes": size, "max_bytes": self.max_bytes}

    def clear(self) -> int:
        if not self.path.exists():
            return 0
        with self._lock:
            db = self._conn()
            n = db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
            db.execute("DELETE FROM responses")
            db.execute("VACUUM")
        return n

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


class ResponseCache:
    """What a run uses: `get(model, messages)` before a call, `put(...)` after it. Never fails a run: a
    cache that cannot be read or written is a miss (the first error is kept in `error`)."""

    def __init__(self, backend, policy: Policy, store: Store | None = None):
        self.backend = backend
        self.policy = policy
        self.store = store or Store(max_bytes=int(policy.max_mb * 1e6))
        self.error: str | None = None

    def usable(self, model: str) -> bool:
        if self.error is not None:
            return False
        return self.policy.sampled or not _sampled(_params(self.backend, model))

    def key(self, model: str, messages: list[dict]) -> str:
        from .prompts import without_volatile

        shown = [{"role": m.get("role"), "content": without_volatile(_text(m.get("content")))} for m in messages]
        blob = json.dumps({"v": KEY_VERSION, "model": model, "deployments": _params(self.backend, model),
                           "messages": shown}, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()

    def get(self, model: str, messages: list[dict]) -> str | None:
        if not self.usable(model):
            return None
        try:
            return self.store.get(self.key(model, messages))
        except (sqlite3.Error, OSError) as exc:
            self.error = f"response cache unavailable ({exc})"
            return None

    def put(self, model: str, messages: list[dict], text: str) -> None:
        if not self.usable(model) or not isinstance(text, str):
            return
        try:
            self.store.put(self.key(model, messages), model, text)
        except (sqlite3.Error, OSError) as exc:
            self.error = f"response cache unavailable ({exc})"


def _params(backend, model: str) -> list:
    fn = getattr(backend, "request_params", None)
    return fn(model) if fn is not None else []


def _sampled(deployments: list) -> bool:
    """True if a deployment sets a temperature above 0 (unset: rlm does not ask for sampling)."""
    for d in deployments:
        t = (d.get("params") or {}).get("temperature") if isinstance(d, dict) else None
        try:
            if t is not None and float(t) > 0:
                return True
        except (TypeError, ValueError):
            return True
    return False


def _text(content) -> str:
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)
