"""Where rlm keeps its files. One function per directory; RLM_HOME puts them all under one folder."""
from __future__ import annotations

import os
from pathlib import Path

APP = "rlm"


def _home() -> Path | None:
    home = os.environ.get("RLM_HOME")
    return Path(home).expanduser() if home else None


def _dir(kind: str) -> Path:
    home = _home()
    if home is not None:
        return home / kind
    import platformdirs  # small, but only needed here

    fn = {
        "config": platformdirs.user_config_dir,
        "cache": platformdirs.user_cache_dir,
        "logs": platformdirs.user_log_dir,
        "state": platformdirs.user_state_dir,
    }[kind]
    return Path(fn(APP, appauthor=False))


def config_dir() -> Path:
    return _dir("config")


def cache_dir() -> Path:
    return _dir("cache")


def log_dir() -> Path:
    """Trajectories (one JSONL file per run) live here."""
    return _dir("logs")


def state_dir() -> Path:
    return _dir("state")


def ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
