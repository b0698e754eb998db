"""Ingestion: turn files, directories, URLs and stdin into one Context (text + source map).

Public API: `load_sources(...) -> Context`, `ProgressSink`, `SEPARATOR_FORMAT`.
Heavy libraries (pypdfium2, pypdf, python-docx, openpyxl, python-pptx, trafilatura, httpx,
charset-normalizer, the OCR engine) are imported lazily by the readers, so importing this package
is cheap.

Layout of `Context.text` (see docs/ingestion.md): with ONE source, the text is exactly that
source's text (nothing added, so counting over `context` is exact). With several, each source is
preceded by one line

    ==> contracts/a.pdf <==

and sources are separated by a blank line. `Source.start/end` cover only the source's own text.
PDF pages are separated by "\\n\\f\\n" and recorded as Page(number, start, end); other kinds
record their chapters, slides, sheets, messages or sections the same way, with a label.
"""
from __future__ import annotations

import dataclasses
import os
import typing

from ..context import SEPARATOR_FORMAT, Context, Page, Source
from ..errors import InputError
from .base import NullProgress, Parsed, ProgressSink, ReadError, ReadOptions

__all__ = ["load_sources", "ProgressSink", "NullProgress", "Parsed", "SEPARATOR_FORMAT", "separator_line"]

STDIN_NAME = "<stdin>"
DEFAULT_MAX_DOWNLOAD = 200_000_000


def _fmt_bytes(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:,} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def separator_line(name: str) -> str:
    return SEPARATOR_FORMAT.format(name=name)


def _os_cause(e: OSError) -> str:
    if isinstance(e, FileNotFoundError):
        return "no such file or directory"
    if isinstance(e, PermissionError):
        return "permission denied"
    if isinstance(e, IsADirectoryError):
        return "is a directory"
    return (e.strerror or str(e)).lower() if e.strerror else str(e)


def _read_stdin(stdin, limit) -> bytes:
    stream = getattr(stdin, "buffer", stdin)
    chunks, total = [], 0
    while True:
        chunk = stream.read(1 << 20)
        if not chunk:
            break
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8", "surrogateescape")
        chunks.append(chunk)
        total += len(chunk)
        if limit is not None and total > limit:
            raise InputError(STDIN_NAME, f"input larger than the limit of {_fmt_bytes(limit)}")
    return b"".join(chunks)


def is_url(p: str) -> bool:
    return p[:8].lower().startswith(("http://", "https://"))


@dataclasses.dataclass
class _Plan:
    items: list  # FileEntry | "-" (stdin) | UrlItem
    warnings: list[str]
    ignored: int


@dataclasses.dataclass
class _Url:
    url: str
    name: str  # shown: credentials and secret-looking query values removed


def _plan(paths: list[str], stdin, include, exclude, max_total_bytes) -> _Plan:
    """Expand directories, check existence, de-duplicate, check the total size."""
    from .walk import FileEntry, WalkResult, walk

    items: list = []
    walked = WalkResult()
    for p in paths:
        if p == "-":
            if stdin is None:
                raise InputError(STDIN_NAME, "'-' given but no standard input is available")
            items.append("-")
        elif is_url(p):
            from .fetch import display_url

            items.append(_Url(p, display_url(p)))
        else:
            try:
                st = os.stat(p)
            except OSError as e:
                if os.path.islink(p):
                    raise InputError(p, "broken symbolic link") from None
                raise InputError(p, _os_cause(e)) from None
            if os.path.isdir(p):
                items.extend(_walk_dir(p, include, exclude, walked, walk))
            else:
                items.append(FileEntry(os.path.normpath(p) if not p.startswith("./") else p[2:], os.path.abspath(p), st.st_size, True))
    seen, unique = set(), []
    for item in items:
        key = item if isinstance(item, str) else getattr(item, "path", None) or item.url
        if key not in seen:
            seen.add(key)
            unique.append(item)
    if max_total_bytes is not None:
        total = sum(item.size for item in unique if isinstance(item, FileEntry))
        if total > max_total_bytes:
            raise InputError(
                paths[0] if len(paths) == 1 else f"{len(unique)} sources",
                f"total input size {_fmt_bytes(total)} exceeds the limit of {_fmt_bytes(max_total_bytes)}",
            )
    return _Plan(unique, list(walked.warnings), walked.ignored)


def _walk_dir(p, include, exclude, walked, walk) -> list:
    if not os.access(p, os.R_OK | os.X_OK):
        raise InputError(p, "permission denied")
    before = len(walked.files)
    walk(p, os.path.abspath(p), include=include, exclude=exclude, result=walked)
    new = walked.files[before:]
    if not new:
        raise InputError(p, "directory has no readable files" + (" matching the filters" if include or exclude or walked.ignored else ""))
    return new


def load_sources(
    paths: list[str],
    *,
    stdin: typing.BinaryIO | None = None,
    include: list[str] = (),
    exclude: list[str] = (),
    password: str | None = None,
    pdf_engine: str = "auto",
    ocr: str = "auto",
    max_total_bytes: int | None = 2_000_000_000,
    max_download: int | None = DEFAULT_MAX_DOWNLOAD,
    fetch_timeout: float | None = None,
    use_cache: bool = True,
    progress: ProgressSink | None = None,
) -> Context:
    """Read every source into one Context. Raises InputError (exit 3) with a one-line cause."""
    if pdf_engine not in ("auto", "pdfium", "pypdf"):
        raise InputError(str(pdf_engine), "unknown PDF engine (use auto, pdfium or pypdf)")
    if ocr not in ("auto", "always", "never"):
        raise InputError(str(ocr), "unknown OCR mode (use auto, always or never)")
    progress = progress or NullProgress()
    paths = list(paths)
    if not paths:
        if stdin is None:
            raise InputError(STDIN_NAME, "no sources given and no standard input")
        paths = ["-"]
    plan = _plan(paths, stdin, include, exclude, max_total_bytes)
    opts = ReadOptions(password=password, pdf_engine=pdf_engine, ocr=ocr)
    reader = _Reader(plan, opts, stdin, use_cache, progress, max_total_bytes,
                     {"max_bytes": max_download, "timeout": fetch_timeout})
    results = reader.run()
    if not results:
        raise InputError(paths[0] if len(paths) == 1 else ", ".join(paths[:3]), "nothing readable (" + "; ".join(reader.warnings[:3]) + ")")
    ctx = assemble(results)
    ctx.warnings[:0] = reader.warnings
    if not any(r[3].text.strip() for r in results):
        only = results[0]
        cause = only[3].warnings[0] if len(results) == 1 and only[3].warnings else "no text in the input"
        raise InputError(only[0] if len(results) == 1 else ", ".join(paths[:3]), cause)
    return ctx


class _Reader:
    """Reads the planned items in order; errors on named items are fatal, on walked ones warnings."""

    def __init__(self, plan: _Plan, opts: ReadOptions, stdin, use_cache, progress, max_total_bytes, fetch_kw):
        self.plan, self.opts, self.stdin, self.use_cache = plan, opts, stdin, use_cache
        self.progress, self.max_total_bytes, self.fetch_kw = progress, max_total_bytes, fetch_kw
        self.warnings: list[str] = list(plan.warnings)
        self.skipped_binary: list[str] = []
        self.skipped_images = 0

    def run(self) -> list[tuple[str, str, int, Parsed]]:
        from .progress import Nested

        items = self.plan.items
        many = len(items) > 1
        results = []
        if many:
            self.progress.start(len(items), "files", "Reading sources")
        try:
            for item in items:
                sub = Nested(self.progress) if many else self.progress
                try:
                    got = self._one(item, sub)
                finally:
                    if many:
                        sub.close()
                if got is not None:
                    results.extend(_flatten(*got))
                if many:
                    self.progress.advance(1)
        finally:
            self.progress.finish()
        self._binary_warning()
        return results

    def _one(self, item, progress):
        if isinstance(item, str):
            data = _read_stdin(self.stdin, self.max_total_bytes)
            if not data.strip():
                raise InputError(STDIN_NAME, "empty input")
            return STDIN_NAME, "stdin", len(data), self._guard(STDIN_NAME, lambda: _read_bytes(STDIN_NAME, data, self.opts, progress))
        if isinstance(item, _Url):
            from .fetch import read_url

            parsed, size = self._guard(item.name, lambda: read_url(item.url, self.opts, progress, use_cache=self.use_cache, **self.fetch_kw))
            return item.name, parsed.kind, size, parsed
        from .readers import load_file

        opts = self.opts if item.explicit else dataclasses.replace(self.opts, explicit=False)
        try:
            parsed, size = load_file(item.name, item.path, opts, self.use_cache, progress)
        except ReadError as e:
            if item.explicit:
                raise InputError(item.name, e.cause) from None
            self._skip(item.name, e.cause)
            return None
        return item.name, parsed.kind, size, parsed

    @staticmethod
    def _guard(name, fn):
        try:
            return fn()
        except ReadError as e:
            raise InputError(name, e.cause) from None

    def _skip(self, name: str, cause: str) -> None:
        if cause.startswith("binary file"):
            self.skipped_binary.append(name)
            self.skipped_images += " image)" in cause
        else:
            self.warnings.append(f"{name}: skipped: {cause}")

    def _binary_warning(self) -> None:
        names = self.skipped_binary
        if not names:
            return
        shown = ", ".join(names[:5]) + (f", ... (+{len(names) - 5})" if len(names) > 5 else "")
        note = ""
        if self.skipped_images and self.opts.ocr != "never":
            from . import ocr

            note = (f"; OCR the {self.skipped_images:,} image(s) with --ocr always" if ocr.available()
                    else f"; images need OCR: {ocr.EXTRA} and use --ocr always")
        self.warnings.append(f"skipped {len(names):,} binary file(s): {shown}{note}")


def _read_bytes(name, data, opts, progress) -> Parsed:
    from .readers import read_bytes

    return read_bytes(name, data, opts, progress)


def _flatten(name: str, kind: str, size: int, parsed: Parsed) -> list[tuple[str, str, int, Parsed]]:
    """A source and its attachments (sub-sources named 'parent › child'), depth first."""
    out = [(name, kind, size, parsed)]
    for suffix, child, child_size in parsed.children:
        out.extend(_flatten(f"{name} › {suffix}", child.kind, child_size, child))
    return out


def assemble(results: list[tuple[str, str, int, Parsed]]) -> Context:
    """One source: its text as is. Several: each after a '==> name <==' line, a blank line between."""
    parts: list[str] = []
    sources: list[Source] = []
    warnings: list[str] = []
    pos = 0
    many = len(results) > 1
    for i, (name, kind, size, parsed) in enumerate(results):
        if many:
            if i:
                sep = "\n" if parts[-1].endswith("\n") else "\n\n"
                parts.append(sep)
                pos += len(sep)
            header = separator_line(name)
            parts.append(header)
            pos += len(header)
        start = pos
        parts.append(parsed.text)
        pos += len(parsed.text)
        pages = [Page(p[0], start + p[1], start + p[2], *(p[3:5] if len(p) >= 5 else ())) for p in parsed.pages]
        sources.append(Source(name, kind, start, pos, size, pages, list(parsed.warnings), parsed.unit))
        warnings.extend(f"{name}: {w}" for w in parsed.warnings)
    return Context("".join(parts), sources, warnings)
