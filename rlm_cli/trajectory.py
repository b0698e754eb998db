"""The trajectory: one JSON line per event, flushed as it goes, secrets redacted. One file per run."""
from __future__ import annotations

import json
import os
from pathlib import Path

from . import paths, secrets
from .events import Event


def runs_dir() -> Path:
    return paths.log_dir() / "runs"


class TrajectoryWriter:
    """An event sink. The file is valid JSONL after every event, so a kill loses at most one line."""

    def __init__(self, run_id: str, directory: Path | None = None, *, path: Path | None = None):
        if path is None:
            path = paths.ensure(directory or runs_dir()) / f"{run_id}.jsonl"
        self.path = Path(path)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._f = os.fdopen(fd, "a", encoding="utf-8")

    @classmethod
    def to_file(cls, path: Path) -> "TrajectoryWriter":
        return cls("", path=path)

    def __call__(self, event: Event) -> None:
        if self._f.closed:
            return
        line = json.dumps(secrets.redact_obj(event.to_dict()), ensure_ascii=False, default=str)
        self._f.write(line + "\n")
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()


def read_events(path: Path) -> list[Event]:
    """Every complete line of a trajectory (a torn last line from a kill is skipped)."""
    events = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break
            try:
                events.append(Event.from_dict(json.loads(line)))
            except (ValueError, KeyError):
                continue
    return events
