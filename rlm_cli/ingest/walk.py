"""Directory walking: recursive, stable order, include/exclude globs, .gitignore, no loops.

Rules (documented in docs/ingestion.md):
- entries are visited in sorted name order, depth first, so the order is stable across runs;
- hidden files and directories (name starting with '.') and VCS directories are skipped;
- .gitignore files found inside the walked tree are honoured (git's pattern syntax: '!', '/',
  trailing '/', '*', '?', '[...]', '**'); a deeper .gitignore overrides a shallower one;
- --exclude globs prune files and directories; --include globs (if any) keep only matching files;
  a glob without '/' matches the base name, one with '/' matches the path relative to the root;
- symlinks are followed, but a directory already visited (a loop, or a second link to it) is
  skipped with a warning.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache

VCS_DIRS = frozenset({".git", ".hg", ".svn", ".bzr", "_darcs", "CVS", ".jj", ".fossil"})


@dataclass
class FileEntry:
    name: str  # display name (the user's path joined with the relative path)
    path: str  # absolute path
    size: int
    explicit: bool  # named on the command line (errors are fatal) or found by walking


@dataclass
class WalkResult:
    files: list[FileEntry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ignored: int = 0  # entries dropped by .gitignore / globs / hidden rules


def _glob_to_regex(pat: str) -> str:
    """Translate a git-style glob (no leading '/', no '!') to a regex body."""
    i, n, out = 0, len(pat), []
    while i < n:
        c = pat[i]
        if c == "*":
            if pat.startswith("**", i):
                # '**/' any leading dirs; '/**' everything inside; bare '**' anything
                if pat.startswith("**/", i):
                    out.append("(?:.*/)?")
                    i += 3
                    continue
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = i + 1
            if j < n and pat[j] in "!^":
                j += 1
            if j < n and pat[j] == "]":
                j += 1
            while j < n and pat[j] != "]":
                j += 1
            if j >= n:
                out.append(re.escape(c))
            else:
                body = pat[i + 1 : j]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                body = body.replace("\\", "\\\\")
                out.append(f"[{body}]")
                i = j
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pat[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class Rule:
    regex: re.Pattern
    negate: bool
    dir_only: bool


def parse_gitignore(text: str) -> list[Rule]:
    rules = []
    for raw in text.splitlines():
        line = raw.rstrip("\n")
        # trailing spaces are ignored unless escaped
        while line.endswith(" ") and not line.endswith("\\ "):
            line = line[:-1]
        if not line or line.startswith("#"):
            continue
        negate = False
        if line.startswith("!"):
            negate, line = True, line[1:]
        elif line.startswith("\\!") or line.startswith("\\#"):
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        line = line.lstrip("/")
        body = _glob_to_regex(line)
        rx = ("^" if anchored else "^(?:.*/)?") + body + "$"
        rules.append(Rule(re.compile(rx, re.S), negate, dir_only))
    return rules


@lru_cache(maxsize=256)
def _compile_glob(pat: str) -> re.Pattern:
    pat = pat.strip()
    if "/" in pat.rstrip("/"):
        return re.compile("^" + _glob_to_regex(pat.lstrip("./").rstrip("/")) + "$", re.S)
    return re.compile("^(?:.*/)?" + _glob_to_regex(pat.rstrip("/")) + "$", re.S)


def glob_match(rel: str, patterns) -> bool:
    return any(_compile_glob(p).match(rel) for p in patterns)


class _Ignores:
    """Stack of (.gitignore dir relative to root, rules)."""

    def __init__(self):
        self.layers: list[tuple[str, list[Rule]]] = []

    def ignored(self, rel: str, is_dir: bool) -> bool:
        result = False
        for base, rules in self.layers:
            if base:
                if not rel.startswith(base + "/"):
                    continue
                sub = rel[len(base) + 1 :]
            else:
                sub = rel
            for r in rules:
                if r.dir_only and not is_dir:
                    continue
                if r.regex.match(sub):
                    result = not r.negate
        return result


def walk(root_display: str, root_abs: str, *, include=(), exclude=(), result: WalkResult) -> None:
    """Every readable file under `root_abs`, in a stable order, into `result` (skips and warnings too)."""
    _Walker(root_display, include, exclude, result).visit(root_abs, "")


class _Walker:
    """One directory walk: .gitignore layers, hidden and VCS entries, globs, symlink loops."""

    def __init__(self, root_display: str, include, exclude, result: WalkResult):
        self.root_display, self.include, self.exclude, self.result = root_display, include, exclude, result
        self.ignores = _Ignores()
        self.visited: set[tuple[int, int]] = set()

    def disp(self, rel: str) -> str:
        return os.path.normpath(os.path.join(self.root_display, rel)) if rel else os.path.normpath(self.root_display)

    def skip(self, rel: str, why) -> None:
        self.result.warnings.append(f"{self.disp(rel)}: skipped: {why}")

    def visit(self, dir_abs: str, rel_dir: str) -> None:
        try:
            st = os.stat(dir_abs)
        except OSError as e:
            return self.skip(rel_dir, e.strerror or e)
        if (st.st_dev, st.st_ino) in self.visited:
            return self.skip(rel_dir, "symlink loop or directory already visited")
        self.visited.add((st.st_dev, st.st_ino))
        pushed = self._push_gitignore(dir_abs, rel_dir)
        try:
            with os.scandir(dir_abs) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            self.skip(rel_dir, e.strerror or e)
            entries = []
        for e in entries:
            self.entry(e, f"{rel_dir}/{e.name}" if rel_dir else e.name)
        if pushed:
            self.ignores.layers.pop()

    def _push_gitignore(self, dir_abs: str, rel_dir: str) -> bool:
        gi = os.path.join(dir_abs, ".gitignore")
        if not os.path.isfile(gi):
            return False
        try:
            with open(gi, encoding="utf-8", errors="replace") as fh:
                self.ignores.layers.append((rel_dir, parse_gitignore(fh.read())))
            return True
        except OSError:
            return False

    def entry(self, e, rel: str) -> None:
        if e.name.startswith(".") or e.name in VCS_DIRS:
            self.result.ignored += 1
            return
        try:
            is_dir = e.is_dir(follow_symlinks=True)
            is_file = not is_dir and e.is_file(follow_symlinks=True)
        except OSError:
            is_dir = is_file = False
        if not is_dir and not is_file:
            if e.is_symlink():
                self.skip(rel, "broken symlink")
            return
        if self.ignores.ignored(rel, is_dir) or (self.exclude and glob_match(rel, self.exclude)):
            self.result.ignored += 1
        elif is_dir:
            self.visit(e.path, rel)
        elif self.include and not glob_match(rel, self.include):
            self.result.ignored += 1
        else:
            try:
                size = e.stat(follow_symlinks=True).st_size
            except OSError as err:
                return self.skip(rel, err.strerror or err)
            self.result.files.append(FileEntry(self.disp(rel), os.path.abspath(e.path), size, False))


