"""Which sources an MCP client may name: paths inside the allowed roots (`rlm mcp --root DIR`), and
URLs only when the server was started with `--allow-urls`.

A path is resolved (symlinks and `..`) before it is compared with the roots, and a directory is
walked first: a symlink anywhere inside it that leads out of the roots refuses the whole source
(the reader would otherwise follow it). Standard input is the protocol's channel and never a source.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError

MAX_WALK = 200_000  # entries checked in one directory source before giving up


@dataclass
class Roots:
    dirs: list[Path] = field(default_factory=list)
    allow_urls: bool = False

    @classmethod
    def of(cls, dirs: list[str] | None, allow_urls: bool = False) -> "Roots":
        resolved = []
        for d in dirs or [os.getcwd()]:
            path = Path(d).expanduser().resolve()
            if not path.is_dir():
                raise UsageError(f"--root {d}: not a directory")
            resolved.append(path)
        return cls(resolved, allow_urls)

    def check(self, spec: str) -> str:
        """The source as the reader should get it (an absolute, resolved path, or the URL), or UsageError."""
        if not isinstance(spec, str) or not spec.strip():
            raise UsageError("a source must be a non-empty string")
        if spec == "-":
            raise UsageError("'-' (standard input) cannot be a source over MCP: stdin carries the protocol")
        if "://" in spec:
            return self._url(spec)
        path = Path(spec).expanduser()
        if not path.is_absolute():
            path = self.dirs[0] / path
        real = Path(os.path.realpath(path))
        if not self.inside(real):
            raise UsageError(f"{spec}: outside the allowed roots ({self.describe()})")
        if real.is_dir():
            self._walk(spec, real)
        return str(real)

    def check_all(self, specs: list[str]) -> list[str]:
        return [self.check(s) for s in specs]

    def inside(self, real: Path) -> bool:
        return any(real == d or d in real.parents for d in self.dirs)

    def describe(self) -> str:
        return ", ".join(str(d) for d in self.dirs)

    def _url(self, spec: str) -> str:
        if not self.allow_urls:
            raise UsageError(f"{_short(spec)}: URLs are not allowed by this server (start it with --allow-urls)")
        if not spec.lower().startswith(("http://", "https://")):
            raise UsageError(f"{_short(spec)}: only http and https URLs can be sources")
        return spec

    def _walk(self, spec: str, top: Path) -> None:
        """Every entry under `top`, following symlinks that stay inside the roots as the reader would (each
        directory once), refusing the first one that leads out."""
        todo, seen, count = [top], {top}, 0
        while todo:
            for dirpath, dirnames, filenames in os.walk(todo.pop(), followlinks=False):
                for name in dirnames + filenames:
                    count += 1
                    if count > MAX_WALK:
                        raise UsageError(f"{spec}: more than {MAX_WALK:,} entries to check; name a smaller directory")
                    entry = Path(dirpath, name)
                    if not entry.is_symlink():
                        continue
                    real = Path(os.path.realpath(entry))
                    if not self.inside(real):
                        raise UsageError(f"{spec}: {entry.relative_to(top) if top in entry.parents else entry} "
                                         "is a symlink leading outside the allowed roots")
                    if real.is_dir() and real not in seen:
                        seen.add(real)
                        todo.append(real)


def _short(text: str, n: int = 120) -> str:
    return text if len(text) <= n else text[:n] + "…"
