"""Ingestion: turn files, directories and stdin into one Context (text + source map).

Public API: `load_sources(...) -> Context`, `ProgressSink`, `HEADER_FORMAT`.
Heavy libraries (pypdfium2, pypdf, python-docx, charset-normalizer) are imported lazily by the
readers, so importing this package is cheap.

Layout of `Context.text` (see docs/ingestion.md): every source, even a single one, is preceded by
one header line

    ==> contracts/a.pdf (pdf, 12 pages, 48,213 bytes) <==

and followed by a blank line before the next header. `Source.start/end` cover only the source's
own text (header and separator excluded). PDF pages are separated by "\\n\\f\\n" (form feed on a
line of its own) and recorded as Page(number, start, end).
"""
from __future__ import annotations

import os
import typing

from ..context import Context, Page, Source
from ..errors import InputError
from .base import NullProgress, Parsed, ProgressSink, ReadError

__all__ = ["load_sources", "ProgressSink", "NullProgress", "Parsed", "HEADER_FORMAT", "header_line"]

HEADER_FORMAT = "==> {name} ({details}) <==\n"
STDIN_NAME = "<stdin>"
PDF_EXTS = {".pdf"}
DOCX_EXTS = {".docx", ".docm", ".dotx", ".dotm"}
_SNIFF = 4096


def _human_int(n: int) -> str:
    return f"{n:,}"


def _fmt_bytes(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:,} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def header_line(name: str, kind: str, size_bytes: int, pages: int) -> str:
    details = [kind]
    if pages:
        details.append(f"{pages:,} page" + ("s" if pages != 1 else ""))
    details.append(f"{size_bytes:,} bytes")
    return HEADER_FORMAT.format(name=name, details=", ".join(details))


def _os_cause(e: OSError) -> str:
    if isinstance(e, FileNotFoundError):
        return "no such file or directory"
    if isinstance(e, PermissionError):
        return "permission denied"
    if isinstance(e, IsADirectoryError):
        return "is a directory"
    return (e.strerror or str(e)).lower() if e.strerror else str(e)


def _sniff_kind(name: str, head: bytes) -> str:
    ext = os.path.splitext(name)[1].lower()
    if head.lstrip()[:5] == b"%PDF-" or (ext in PDF_EXTS and b"%PDF-" in head[:1024]):
        return "pdf"
    if ext in PDF_EXTS:
        return "pdf"  # let the PDF reader explain what is wrong with it
    if ext in DOCX_EXTS:
        return "docx"
    if head.startswith(b"PK\x03\x04") and b"word/" in head:
        return "docx"
    return "text"


def _read_text(data: bytes) -> Parsed:
    from .text import BinaryInput, decode_bytes

    try:
        text, enc = decode_bytes(data)
    except BinaryInput as e:
        raise ReadError(f"binary file ({e}), not text") from None
    return Parsed(text, "text", info={"encoding": enc})


def _read_pdf(source, password, engine, progress) -> Parsed:
    from . import pdf

    return pdf.read_pdf(source, password=password, engine=engine, progress=progress)


def _read_docx(source) -> Parsed:
    from . import docx

    return docx.read_docx(source)


def _parse_file(path: str, kind: str, *, password, pdf_engine, progress) -> Parsed:
    """Parse one file by kind. Tests patch this to count parses."""
    if kind == "pdf":
        return _read_pdf(path, password, pdf_engine, progress)
    if kind == "docx":
        return _read_docx(path)
    with open(path, "rb") as fh:
        data = fh.read()
    return _read_text(data)


def _load_file(name, abs_path, *, password, pdf_engine, use_cache, progress) -> tuple[Parsed, int]:
    try:
        st = os.stat(abs_path)
        if os.path.isdir(abs_path):
            raise ReadError("is a directory")
        with open(abs_path, "rb") as fh:
            head = fh.read(_SNIFF)
    except OSError as e:
        raise ReadError(_os_cause(e)) from None
    if st.st_size == 0 or not head:
        raise ReadError("empty file")
    kind = _sniff_kind(name, head)
    cacheable = use_cache and kind in ("pdf", "docx") and not password
    digest = None
    if cacheable:
        from . import cache

        variant = f"{kind}:{pdf_engine if kind == 'pdf' else ''}"
        try:
            digest = cache.file_digest(abs_path)
        except OSError as e:
            raise ReadError(_os_cause(e)) from None
        hit = cache.load(abs_path, st, variant, digest)
        if hit is not None:
            return hit, st.st_size
    try:
        parsed = _parse_file(abs_path, kind, password=password, pdf_engine=pdf_engine, progress=progress)
    except OSError as e:
        raise ReadError(_os_cause(e)) from None
    if cacheable and digest is not None:
        cache.store(abs_path, st, variant, digest, parsed)
    return parsed, st.st_size


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


def load_sources(
    paths: list[str],
    *,
    stdin: typing.BinaryIO | None = None,
    include: list[str] = (),
    exclude: list[str] = (),
    password: str | None = None,
    pdf_engine: str = "auto",
    max_total_bytes: int | None = 2_000_000_000,
    use_cache: bool = True,
    progress: ProgressSink | None = None,
) -> Context:
    """Read every source into one Context. Raises InputError (exit 3) with a one-line cause."""
    from .walk import FileEntry, WalkResult, walk

    if pdf_engine not in ("auto", "pdfium", "pypdf"):
        raise InputError(str(pdf_engine), "unknown PDF engine (use auto, pdfium or pypdf)")
    progress = progress or NullProgress()
    paths = list(paths)
    if not paths:
        if stdin is None:
            raise InputError(STDIN_NAME, "no sources given and no standard input")
        paths = ["-"]

    # 1. Plan: expand directories, check existence, sum sizes.
    plan: list[FileEntry | str] = []  # "-" stands for stdin
    walked = WalkResult()
    for p in paths:
        if p == "-":
            if stdin is None:
                raise InputError(STDIN_NAME, "'-' given but no standard input is available")
            if "-" in plan:
                continue
            plan.append("-")
            continue
        try:
            st = os.stat(p)
        except OSError as e:
            if os.path.islink(p):
                raise InputError(p, "broken symbolic link") from None
            raise InputError(p, _os_cause(e)) from None
        if os.path.isdir(p):
            if not os.access(p, os.R_OK | os.X_OK):
                raise InputError(p, "permission denied")
            before = len(walked.files)
            walk(p, os.path.abspath(p), include=include, exclude=exclude, result=walked)
            new = walked.files[before:]
            if not new:
                raise InputError(p, "directory has no readable files" + (" matching the filters" if include or exclude or walked.ignored else ""))
            plan.extend(new)
        else:
            plan.append(FileEntry(os.path.normpath(p) if not p.startswith("./") else p[2:], os.path.abspath(p), st.st_size, True))
    # de-duplicate (the same file named twice, or via a directory)
    seen, unique = set(), []
    for item in plan:
        key = item if isinstance(item, str) else item.path
        if key not in seen:
            seen.add(key)
            unique.append(item)
    plan = unique
    if max_total_bytes is not None:
        total = sum(item.size for item in plan if not isinstance(item, str))
        if total > max_total_bytes:
            raise InputError(
                paths[0] if len(paths) == 1 else f"{len(plan)} sources",
                f"total input size {_fmt_bytes(total)} exceeds the limit of {_fmt_bytes(max_total_bytes)}",
            )

    # 2. Read.
    files = [item for item in plan if not isinstance(item, str)]
    single_pdf = len(plan) == 1 and files and files[0].name.lower().endswith(".pdf")
    results: list[tuple[str, str, int, Parsed]] = []  # (name, kind, size, parsed)
    ctx_warnings: list[str] = list(walked.warnings)
    skipped_binary: list[str] = []
    if len(plan) > 1:
        progress.start(len(plan), "files", "Reading sources")
    try:
        for item in plan:
            if isinstance(item, str):
                data = _read_stdin(stdin, max_total_bytes)
                if not data.strip():
                    raise InputError(STDIN_NAME, "empty input")
                try:
                    if _sniff_kind("", data[:_SNIFF]) == "pdf":
                        parsed = _read_pdf(data, password, pdf_engine, NullProgress())
                    elif data.startswith(b"PK\x03\x04") and b"word/document" in data[:65536] + data[-65536:]:
                        parsed = _read_docx(data)
                    else:
                        parsed = _read_text(data)
                except ReadError as e:
                    raise InputError(STDIN_NAME, e.cause) from None
                results.append((STDIN_NAME, "stdin", len(data), parsed))
                del data
            else:
                try:
                    parsed, size = _load_file(
                        item.name,
                        item.path,
                        password=password,
                        pdf_engine=pdf_engine,
                        use_cache=use_cache,
                        progress=progress if single_pdf else NullProgress(),
                    )
                except ReadError as e:
                    if item.explicit:
                        raise InputError(item.name, e.cause) from None
                    if e.cause.startswith("binary file"):
                        skipped_binary.append(item.name)
                    else:
                        ctx_warnings.append(f"{item.name}: skipped: {e.cause}")
                    if len(plan) > 1:
                        progress.advance(1)
                    continue
                results.append((item.name, parsed.kind, size, parsed))
            if len(plan) > 1:
                progress.advance(1)
    finally:
        progress.finish()
    if skipped_binary:
        shown = ", ".join(skipped_binary[:5]) + (f", ... (+{len(skipped_binary) - 5})" if len(skipped_binary) > 5 else "")
        ctx_warnings.append(f"skipped {len(skipped_binary):,} binary file(s): {shown}")
    if not results:
        raise InputError(paths[0] if len(paths) == 1 else ", ".join(paths[:3]), "nothing readable (" + "; ".join(ctx_warnings[:3]) + ")")

    # 3. Assemble.
    ctx = _assemble(results)
    ctx.warnings[:0] = ctx_warnings
    if not any(not r[3].text.isspace() and r[3].text for r in results):
        only = results[0]
        cause = only[3].warnings[0] if len(results) == 1 and only[3].warnings else "no text in the input"
        raise InputError(only[0] if len(results) == 1 else ", ".join(paths[:3]), cause)
    return ctx


def _assemble(results: list[tuple[str, str, int, Parsed]]) -> Context:
    parts: list[str] = []
    sources: list[Source] = []
    warnings: list[str] = []
    pos = 0
    last = len(results) - 1
    for i, (name, kind, size, parsed) in enumerate(results):
        header = header_line(name, kind, size, len(parsed.pages))
        parts.append(header)
        pos += len(header)
        start = pos
        text = parsed.text
        parts.append(text)
        pos += len(text)
        pages = [Page(n, start + s, start + e) for n, s, e in parsed.pages]
        src = Source(name, kind, start, pos, size, pages, list(parsed.warnings))
        sources.append(src)
        warnings.extend(f"{name}: {w}" for w in parsed.warnings)
        if i != last:
            sep = "\n\n" if not text.endswith("\n") else "\n"
            parts.append(sep)
            pos += len(sep)
    return Context("".join(parts), sources, warnings)
