"""REPL variables kept across questions and processes (conversations).

The worker pickles its own variables into the one file beside its scratch directory it may write
(_Process.state_file: scratch itself may be a tmpfs the host cannot see); the host only copies that
file (opened without following links, a regular file with one link, size capped) into the
conversation's directory, then empties it, and later copies it beside a fresh worker's context,
where that worker unpickles it. The host never unpickles anything: a pickle made by hostile code only ever runs inside
a sandbox.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .host import SubprocessSandbox, WorkerDied

STATE_FILE = "state.pkl"
MAX_STATE_BYTES = 256 << 20  # documented in README (Conversations): larger variables are not kept
CONTROL_TIMEOUT = 60.0  # at most; a request waits no longer than a code block may run (exec timeout + grace)
MAX_NAMES = 500  # names reported back per request (the rest are counted)


@dataclass
class StateReport:
    saved: list[str] = field(default_factory=list)  # names kept (saved, or restored on load)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, why)
    bytes: int = 0
    error: str | None = None


@dataclass
class VarInfo:
    name: str
    type: str
    size: int | None  # len() when it has one

    def describe(self) -> str:
        return f"{self.name}: {self.type}" + (f", {self.size:,} items" if self.size is not None else "")


def save(box: SubprocessSandbox, dest: Path, max_bytes: int = MAX_STATE_BYTES) -> StateReport:
    """Ask the worker to pickle its variables, then move the file to `dest` (atomically)."""
    if box.proc is None:
        return StateReport(error="no REPL is running")
    outbox = box.proc.state_file  # beside scratch, not in it: scratch may be a tmpfs only the worker sees
    try:
        reply = box.control({"type": "save", "path": str(outbox), "max_bytes": max_bytes}, _timeout(box))
    except (TimeoutError, WorkerDied) as exc:
        return StateReport(error=f"the REPL did not save its variables ({exc or 'timeout'}); it was restarted")
    report = _report(reply, "saved")
    if report.error is None:
        try:
            report.bytes = _take(outbox, dest, max_bytes + (1 << 20), keep=True)
        except OSError as exc:
            report.error = f"the saved variables could not be kept ({exc})"
    try:
        os.truncate(outbox, 0)  # emptied, never removed: the worker's Landlock rule names this inode
    except OSError:
        pass
    return report


def load(box: SubprocessSandbox, src: Path) -> StateReport:
    """Hand `src` (a file saved earlier) to the worker, which unpickles it."""
    if not src.is_file():
        return StateReport()
    box.start()
    inbox = box.ctx_dir / STATE_FILE
    try:
        _take(src, inbox, MAX_STATE_BYTES + (1 << 20), keep=True)
        os.chmod(inbox, 0o400)
        reply = box.control({"type": "load", "path": str(inbox)}, _timeout(box))
    except (TimeoutError, WorkerDied) as exc:
        return StateReport(error=f"the REPL could not restore the variables ({exc or 'timeout'})")
    except OSError as exc:
        return StateReport(error=f"the saved variables could not be read ({exc})")
    finally:
        inbox.unlink(missing_ok=True)
    return _report(reply, "loaded")


def variables(box: SubprocessSandbox) -> list[VarInfo]:
    if box.proc is None:
        return []
    try:
        reply = box.control({"type": "vars"}, _timeout(box))
    except (TimeoutError, WorkerDied):
        return []
    items = reply.get("vars") if isinstance(reply.get("vars"), list) else []
    out = []
    for v in items[:MAX_NAMES]:
        if isinstance(v, dict) and isinstance(v.get("name"), str):
            size = v.get("size")
            out.append(VarInfo(v["name"][:100], str(v.get("type", "?"))[:60], size if isinstance(size, int) else None))
    return out


def _timeout(box: SubprocessSandbox) -> float:
    return min(CONTROL_TIMEOUT, box.opts.exec_timeout + box.opts.grace)


def _report(reply: dict, key: str) -> StateReport:
    """Validate the worker's reply (it is untrusted): names and reasons are short strings."""
    if reply.get("type") != key:
        return StateReport(error=str(reply.get("error") or "the REPL refused")[:500])
    names = reply.get(key) if isinstance(reply.get(key), list) else []
    skipped = reply.get("skipped") if isinstance(reply.get("skipped"), list) else []
    return StateReport(
        saved=[n[:100] for n in names[:MAX_NAMES] if isinstance(n, str)],
        skipped=[(str(s[0])[:100], str(s[1])[:200]) for s in skipped[:MAX_NAMES]
                 if isinstance(s, (list, tuple)) and len(s) == 2],
    )


def _take(src: Path, dest: Path, max_bytes: int, keep: bool = False) -> int:
    """Copy `src` to `dest` (temp file + rename) and remove `src` unless `keep`: a regular file with a
    single link, never followed through a symlink, at most `max_bytes`."""
    fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            raise OSError(f"{src.name} is not a plain file")
        if st.st_size > max_bytes:
            raise OSError(f"{src.name} is {st.st_size:,} bytes, over the {max_bytes:,}-byte cap")
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        total = 0
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
            while chunk := os.read(fd, 1 << 20):
                total += len(chunk)
                if total > max_bytes:
                    raise OSError(f"{src.name} grew over the {max_bytes:,}-byte cap")
                out.write(chunk)
        os.replace(tmp, dest)
    finally:
        os.close(fd)
        if not keep:
            src.unlink(missing_ok=True)
    return total
