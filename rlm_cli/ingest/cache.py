"""Parse cache: cache_dir()/ingest/<key>.json, one entry per (absolute path, reader variant).

An entry is valid only if the file's size, mtime_ns and content hash (BLAKE2b of the bytes,
hundreds of MB/s, far cheaper than parsing) all match. Writes go to a temp file in the same
directory followed by os.replace, so concurrent runs never see a half-written entry; a corrupt or
unreadable entry is treated as a miss. Documents opened with a non-empty password are never cached
(their plain text would otherwise sit on disk).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .. import paths
from ..errors import RLMError
from .base import Parsed

VERSION = 1
CHUNK = 1 << 20


def cache_root() -> Path:
    return paths.cache_dir() / "ingest"


def file_digest(path: str) -> str:
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb", buffering=0) as fh:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while True:
            n = fh.readinto(buf)
            if not n:
                break
            h.update(view[:n])
    return h.hexdigest()


def _entry_path(abs_path: str, variant: str) -> Path:
    key = hashlib.blake2b(f"{VERSION}\0{abs_path}\0{variant}".encode("utf-8", "surrogatepass"), digest_size=16)
    return cache_root() / f"{key.hexdigest()}.json"


def load(abs_path: str, st: os.stat_result, variant: str, digest: str) -> Parsed | None:
    entry = _entry_path(abs_path, variant)
    try:
        with open(entry, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    try:
        if (
            data.get("v") != VERSION
            or data["path"] != abs_path
            or data["size"] != st.st_size
            or data["mtime_ns"] != st.st_mtime_ns
            or data["digest"] != digest
            or data["variant"] != variant
        ):
            return None
        return Parsed(
            text=data["text"],
            kind=data["kind"],
            pages=[tuple(p) for p in data["pages"]],
            warnings=list(data["warnings"]),
            info=dict(data.get("info") or {}, cached=True),
        )
    except (KeyError, TypeError):
        return None


def store(abs_path: str, st: os.stat_result, variant: str, digest: str, parsed: Parsed) -> None:
    """Best effort: a cache that cannot be written is not an error."""
    root = cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
        data = {
            "v": VERSION,
            "path": abs_path,
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "digest": digest,
            "variant": variant,
            "kind": parsed.kind,
            "text": parsed.text,
            "pages": [list(p) for p in parsed.pages],
            "warnings": parsed.warnings,
            "info": {k: v for k, v in parsed.info.items() if k != "cached"},
        }
        from ..ui.output import write_atomic

        write_atomic(_entry_path(abs_path, variant), json.dumps(data, ensure_ascii=False, separators=(",", ":")), fsync=False)
    except (OSError, ValueError, TypeError, RLMError):
        pass


def info() -> dict:
    root = cache_root()
    entries, total = 0, 0
    if root.is_dir():
        for p in root.iterdir():
            if p.suffix == ".json" and not p.name.startswith(".tmp-"):
                try:
                    total += p.stat().st_size
                    entries += 1
                except OSError:
                    pass
    return {"path": str(root), "entries": entries, "bytes": total}


def clear() -> int:
    """Delete all entries (and stale temp files). Returns the number of entries removed."""
    root = cache_root()
    removed = 0
    if not root.is_dir():
        return 0
    for p in root.iterdir():
        if p.suffix == ".json":
            try:
                p.unlink()
                if not p.name.startswith(".tmp-"):
                    removed += 1
            except OSError:
                pass
    return removed
