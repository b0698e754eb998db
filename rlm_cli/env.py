"""The outside world the CLI touches, injectable (httpie style): tests build their own `Env`."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import IO


@dataclass
class Env:
    """What the CLI touches of the outside world; tests build their own (httpie style)."""

    stdin: IO[bytes] = field(default_factory=lambda: sys.stdin.buffer if hasattr(sys.stdin, "buffer") else sys.stdin)
    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)
    stdin_isatty: bool = field(default_factory=lambda: _isatty(sys.stdin))
    stderr_isatty: bool = field(default_factory=lambda: _isatty(sys.stderr))
    environ: dict = field(default_factory=lambda: os.environ)


def isatty(stream) -> bool:
    """Whether `stream` is a terminal (False for anything that cannot say)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


_isatty = isatty


def of(ctx) -> Env:
    """The Env a command runs in: the one `main()` was given (tests), else the real process's."""
    root = ctx.find_root() if ctx is not None else None
    obj = getattr(root, "obj", None)
    return obj if isinstance(obj, Env) else Env()
