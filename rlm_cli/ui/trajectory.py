"""The trajectory: one JSON line per event, flushed as it goes, secrets redacted. One file per run."""
from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from .. import redact
from ..events import TERMINAL, Event


def runs_dir() -> Path:
    return paths.log_dir() / "runs"


class TrajectoryWriter:
    """An event sink. The file is valid JSONL after every event, so a kill loses at most one line."""

    def __init__(self, run_id: str, directory: Path | None = None, *, path: Path | None = None):
        if path is None:
            path = paths.ensure(directory or runs_dir()) / f"{run_id}.jsonl"
        self.path = Path(path)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        _hold(fd)  # while the run is alive: `rlm logs` tells running from killed by this lock
        self._f = os.fdopen(fd, "a", encoding="utf-8", errors="replace")  # a lone surrogate must not lose an event

    @classmethod
    def to_file(cls, path: Path) -> "TrajectoryWriter":
        return cls("", path=path)

    def __call__(self, event: Event) -> None:
        if self._f.closed:
            return
        line = redact.redact(json.dumps(event.to_dict(), ensure_ascii=False, default=str))  # one pass per line
        self._f.write(line + "\n")
        self._f.flush()
        if event.kind in TERMINAL:
            self.close()

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()


def read_events(path: Path) -> list[Event]:
    """Every complete line of a trajectory (a torn last line from a kill is skipped)."""
    events = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.endswith("\n"):
                break
            try:
                events.append(Event.from_dict(json.loads(line)))
            except (ValueError, KeyError):
                continue
    return events


def _hold(fd: int) -> None:
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (ImportError, OSError):  # no flock (Windows) or another writer (--trace to the same file)
        pass


def is_running(path: Path) -> bool:
    """A process still holds the trajectory open for writing (its lock is released when it ends,
    however it ends, a kill -9 included)."""
    try:
        import fcntl
    except ImportError:
        return False
    try:
        with open(path, "rb") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
    except OSError:
        return False
    return False


# ---- saved runs -----------------------------------------------------------------------------------
_END_KINDS = TERMINAL
_TAIL_BYTES = 64 * 1024


@dataclass
class RunInfo:
    """One saved run, read cheaply (first line and the file's tail) for `rlm logs list`."""

    run_id: str
    path: Path
    started: float  # epoch seconds
    question: str = ""
    status: str = "incomplete"  # ok | limit | error | interrupted | running | incomplete (killed)
    cost_usd: float = 0.0
    calls: int = 0
    duration_s: float | None = None
    size_bytes: int = 0

    def as_dict(self) -> dict:
        return {"run_id": self.run_id, "path": str(self.path), "started": self.started, "question": self.question,
                "status": self.status, "cost_usd": self.cost_usd, "calls": self.calls,
                "duration_s": self.duration_s, "size_bytes": self.size_bytes}


def run_files(directory: Path | None = None) -> list[Path]:
    """Saved trajectories, oldest first (run ids start with a sortable timestamp; mtime breaks ties)."""
    d = directory or runs_dir()
    if not d.is_dir():
        return []
    files = [p for p in d.glob("*.jsonl") if p.is_file()]
    return sorted(files, key=lambda p: (_started(p), p.name))


def _started(path: Path) -> float:
    m = re.match(r"(\d{8}-\d{6})", path.name)
    if m:
        try:
            return time.mktime(time.strptime(m.group(1), "%Y%m%d-%H%M%S"))
        except ValueError:
            pass
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _json_lines(chunk: bytes) -> list[dict]:
    out = []
    for raw in chunk.split(b"\n"):
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def run_info(path: Path) -> RunInfo:
    path = Path(path)
    info = RunInfo(path.stem, path, _started(path))
    try:
        with open(path, "rb") as f:
            first = f.readline()
            f.seek(0, os.SEEK_END)
            info.size_bytes = size = f.tell()
            f.seek(max(0, size - _TAIL_BYTES))
            tail = f.read()
    except OSError:
        return info
    for obj in _json_lines(first)[:1]:
        d = obj.get("data") or {}
        info.question = str(d.get("question", ""))
        info.run_id = str(d.get("run_id") or info.run_id)
    for obj in reversed(_json_lines(tail)):
        d = obj.get("data") or {}
        if obj.get("kind") in _END_KINDS and info.status == "incomplete":
            info.status = str(d.get("status") or ("interrupted" if obj["kind"] == "interrupted" else "error"))
            info.duration_s = d.get("duration_s")
        totals = d.get("totals") if obj.get("kind") == "model_end" else d if obj.get("kind") in _END_KINDS else None
        if totals and "cost_usd" in totals:
            info.cost_usd = float(totals.get("cost_usd") or 0.0)
            info.calls = int(totals.get("calls") or 0)
            if info.duration_s is None:
                info.duration_s = totals.get("duration_s")
            break
    if info.status == "incomplete" and is_running(path):
        info.status = "running"
    return info


def find_run(ref: str, directory: Path | None = None) -> Path:
    """A run by id, unique id prefix, `latest`, or a path to a .jsonl file. Raises InputError."""
    from ..errors import InputError

    candidate = Path(ref)
    if ref not in ("latest", "last") and candidate.suffix == ".jsonl" and candidate.is_file():
        return candidate
    files = run_files(directory)
    if ref in ("latest", "last"):
        if not files:
            raise InputError(str(directory or runs_dir()), "no saved runs yet")
        return files[-1]
    exact = [p for p in files if p.stem == ref]
    matches = exact or [p for p in files if p.stem.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise InputError(ref, "no saved run with this id", hint="see `rlm logs list`")
    raise InputError(ref, f"ambiguous run id ({len(matches)} runs match)", hint="give more characters of the id")


def prune(keep: int, directory: Path | None = None) -> list[Path]:
    """Delete all but the `keep` newest runs; returns the deleted paths."""
    files = run_files(directory)
    doomed = files[: max(len(files) - max(keep, 0), 0)]
    removed = []
    for p in doomed:
        try:
            p.unlink()
            removed.append(p)
        except FileNotFoundError:
            continue
    return removed
