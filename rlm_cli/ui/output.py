"""Where the answer goes: stdout, or a file written atomically; and the --json result object."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from .. import __version__
from ..errors import RLMError

JSON_SCHEMA_VERSION = 2  # 2: citations are verified evidence objects; supported / forced / confidence


def write_atomic(path: str | Path, text: str, *, fsync: bool = True) -> None:
    """Write to a temp file beside `path`, fsync, then rename: readers never see a half-written file."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise RLMError(f"{path}: cannot write output ({exc.strerror})") from None
    try:
        os.fchmod(fd, _mode_for(path))
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _mode_for(path: Path) -> int:
    """Keep an existing file's mode; a new file gets what open() would give it (0666 less the umask),
    not mkstemp's 0600 (a cron job's answer is often read by another user)."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def result_object(r) -> dict:
    """The --json result for a RunResult (schema documented in README: 'JSON for scripts')."""
    usage = r.usage
    labels = r.labels
    return {
        "version": JSON_SCHEMA_VERSION,
        "rlm_version": __version__,
        "question": r.question,
        "run_id": r.run_id,
        "status": r.status,
        "exit_code": int(r.exit_code),
        "answer": r.answer,
        "error": r.error,
        "citations": [c.as_json() for c in r.citations],
        "supported": labels.get("supported"),
        "forced": labels.get("forced"),
        "confidence": labels.get("confidence"),
        "model_answer": labels.get("model_answer"),
        "iterations": r.iterations,
        "sub_calls": usage.sub_calls,
        "calls": usage.calls,
        "max_depth_reached": usage.max_depth_reached,
        "usage": usage.as_dict(),
        "tokens": usage.tokens,
        "cached_tokens": usage.cached_tokens,
        "cache_hits": usage.cache_hits,
        "cost_usd": round(usage.cost_usd, 6),
        "duration_s": r.duration_s,
        "root_model": r.root_model,
        "sub_model": r.sub_model,
        "trajectory": str(r.trajectory_path) if r.trajectory_path else None,
        "conversation": r.conversation,
        "warnings": list(r.warnings),
    }


def to_json(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2) + "\n"
