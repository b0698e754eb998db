"""Parse cache: cache_dir()/ingest/<key>.json, one entry per (absolute path or URL, reader variant).

An entry is valid only if the file's size, mtime_ns and content hash (BLAKE2b of the bytes,
hundreds of MB/s, far cheaper than parsing) all match. Writes go to a temp file in the same
directory followed by os.replace, so concurrent runs never see a half-written entry; a corrupt or
unreadable entry is treated as a miss. Documents opened with a non-empty password are never cached
(their plain text would otherwise sit on disk).

URL entries (load_url/store_url) hold the server's validators (ETag, Last-Modified) instead of
size/mtime/hash: the caller revalidates with a conditional GET and reuses the entry on a 304.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from ..errors import RLMError
from .base import Parsed

VERSION = 2
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
    from .. import __version__  # a new release may read a kind differently: its own entries

    key = hashlib.blake2b(f"{VERSION}\0{__version__}\0{abs_path}\0{variant}".encode("utf-8", "surrogatepass"), digest_size=16)
    return cache_root() / f"{key.hexdigest()}.json"


def _to_parsed(data: dict) -> Parsed:
    return Parsed(
        text=data["text"],
        kind=data["kind"],
        pages=[tuple(p) for p in data["pages"]],
        warnings=list(data["warnings"]),
        info=dict(data.get("info") or {}, cached=True),
        unit=data.get("unit", "page"),
        children=[(c[0], _to_parsed(c[1]), int(c[2])) for c in data.get("children") or []],
    )


def _from_parsed(parsed: Parsed) -> dict:
    return {
        "kind": parsed.kind,
        "text": parsed.text,
        "pages": [list(p) for p in parsed.pages],
        "warnings": parsed.warnings,
        "info": {k: v for k, v in parsed.info.items() if k not in ("cached", "revalidated")},
        "unit": parsed.unit,
        "children": [[name, _from_parsed(child), size] for name, child, size in parsed.children],
    }


def _read_entry(entry: Path) -> dict | None:
    try:
        with open(entry, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("v") == VERSION else None


def load(abs_path: str, st: os.stat_result, variant: str, digest: str) -> Parsed | None:
    data = _read_entry(_entry_path(abs_path, variant))
    if data is None:
        return None
    try:
        if (
            data["path"] != abs_path
            or data["size"] != st.st_size
            or data["mtime_ns"] != st.st_mtime_ns
            or data["digest"] != digest
            or data["variant"] != variant
        ):
            return None
        return _to_parsed(data)
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def _write(entry: Path, data: dict) -> None:
    """Best effort: a cache that cannot be written is not an error."""
    try:
        cache_root().mkdir(parents=True, exist_ok=True)
        from ..ui.output import write_atomic

        write_atomic(entry, json.dumps(data, ensure_ascii=False, separators=(",", ":")), fsync=False)
    except (OSError, ValueError, TypeError, RLMError):
        pass


def store(abs_path: str, st: os.stat_result, variant: str, digest: str, parsed: Parsed) -> None:
    data = {"v": VERSION, "path": abs_path, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "digest": digest,
            "variant": variant, **_from_parsed(parsed)}
    _write(_entry_path(abs_path, variant), data)


@dataclass
class UrlEntry:
    parsed: Parsed
    validators: dict  # {"etag": str | None, "last_modified": str | None}
    size: int


def load_url(url: str, variant: str) -> UrlEntry | None:
    data = _read_entry(_entry_path("url\0" + url, variant))
    if data is None:
        return None
    try:
        if data["url"] != url or data["variant"] != variant:
            return None
        return UrlEntry(_to_parsed(data), dict(data["validators"]), int(data["size"]))
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def store_url(url: str, variant: str, validators: dict, parsed: Parsed, size: int) -> None:
    data = {"v": VERSION, "url": url, "variant": variant, "validators": validators, "size": size, **_from_parsed(parsed)}
    _write(_entry_path("url\0" + url, variant), data)


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
