"""Dispatch: decide a source's kind by content (detect.py) and run the matching reader.

Every reader takes a path or bytes and returns a Parsed or raises ReadError with a one-line cause.
Heavy libraries are imported inside the readers, only when a file of that kind is read.
"""
from __future__ import annotations

import dataclasses
import os

from .base import NullProgress, Parsed, ReadError, ReadOptions
from .detect import HEAD, Detected, detect

MAX_ATTACHMENT_DEPTH = 2


def _bytes(source) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source)
    with open(source, "rb") as fh:
        return fh.read()


def read_text(data: bytes) -> Parsed:
    from .text import BinaryInput, decode_bytes

    try:
        text, enc = decode_bytes(data)
    except BinaryInput as e:
        raise ReadError(f"binary file ({e}), not text") from None
    return Parsed(text, "text", info={"encoding": enc})


def read_kind(det: Detected, source, opts: ReadOptions, progress=None, depth: int = 0) -> Parsed:
    """Run the reader for `det.kind` on `source` (a path or bytes)."""
    progress = progress or NullProgress()
    kind = det.kind
    if kind == "pdf":
        from . import pdf

        return pdf.read_pdf(source, password=opts.password, engine=opts.pdf_engine, progress=progress, ocr=opts.ocr)
    if kind == "docx":
        from . import docx

        return docx.read_docx(source)
    if kind == "xlsx":
        from . import sheets

        return sheets.read_xlsx(source, progress)
    if kind in ("csv", "tsv"):
        from . import sheets

        return sheets.read_delimited(_bytes(source), kind)
    if kind == "pptx":
        from . import pptx

        return pptx.read_pptx(source, progress)
    if kind == "epub":
        from . import epub

        return epub.read_epub(source)
    if kind == "html":
        from . import html

        return html.read_html(source)
    if kind in ("email", "mbox"):
        return _read_mail(kind, source, opts, progress, depth)
    if kind == "image":
        return _read_image(det, source, opts, progress)
    return read_text(_bytes(source))


def _read_mail(kind: str, source, opts: ReadOptions, progress, depth: int) -> Parsed:
    from . import mail

    def child(name: str, data: bytes):
        if depth + 1 > MAX_ATTACHMENT_DEPTH:
            return None, "nested too deep"
        try:
            det = detect(name, data, data[:HEAD])
            sub = dataclasses.replace(opts, explicit=False)
            return read_kind(det, data, sub, None, depth + 1), None
        except ReadError as e:
            return None, e.cause

    if kind == "email":
        return mail.read_email(_bytes(source), child)
    return mail.read_mbox(source, child, progress)


def _read_image(det: Detected, source, opts: ReadOptions, progress) -> Parsed:
    from . import ocr

    label = det.label or "image"
    if opts.ocr == "never":
        raise ReadError(f"{label} image: not read (--ocr never)")
    if not opts.explicit and opts.ocr != "always":
        raise ReadError(f"binary file ({label} image), not text")  # images in directories: --ocr always
    return ocr.read_image(source, label, progress)


def detect_file(name: str, path: str) -> tuple[Detected, int, os.stat_result]:
    """Stat and sniff a file. Raises ReadError (missing, unreadable, empty, unsupported kind)."""
    from . import _os_cause

    try:
        st = os.stat(path)
        if os.path.isdir(path):
            raise ReadError("is a directory")
        with open(path, "rb") as fh:
            head = fh.read(HEAD)
    except OSError as e:
        raise ReadError(_os_cause(e)) from None
    if st.st_size == 0 or not head:
        raise ReadError("empty file")
    return detect(name, path, head), st.st_size, st


CACHED_KINDS = {"pdf", "docx", "xlsx", "pptx", "epub", "html", "email", "mbox", "image"}


def load_file(name: str, path: str, opts: ReadOptions, use_cache: bool, progress) -> tuple[Parsed, int]:
    """Detect, then read through the parse cache. Raises ReadError."""
    from . import _os_cause

    det, size, st = detect_file(name, path)
    cacheable = use_cache and det.kind in CACHED_KINDS and not opts.password
    digest = variant = None
    if cacheable:
        from . import cache

        variant = opts.variant(det.kind)
        try:
            digest = cache.file_digest(path)
        except OSError as e:
            raise ReadError(_os_cause(e)) from None
        hit = cache.load(path, st, variant, digest)
        if hit is not None:
            return _with_detect_warning(hit, det), size
    try:
        parsed = read_kind(det, path, opts, progress)
    except OSError as e:
        raise ReadError(_os_cause(e)) from None
    if cacheable and digest is not None:
        cache.store(path, st, variant, digest, parsed)
    return _with_detect_warning(parsed, det), size


def _with_detect_warning(parsed: Parsed, det: Detected) -> Parsed:
    if det.warning and det.warning not in parsed.warnings:
        parsed.warnings.insert(0, det.warning)
    return parsed


def read_bytes(name: str, data: bytes, opts: ReadOptions, progress=None, content_type: str = "") -> Parsed:
    """Read stdin or a downloaded body: detected by content (and the server's content type)."""
    det = detect(name, data, data[:HEAD])
    if content_type and det.kind == "text":
        det = _from_content_type(det, content_type, data)
    return _with_detect_warning(read_kind(det, data, opts, progress), det)


_CTYPE_KIND = {
    "text/html": "html", "application/xhtml+xml": "html", "text/csv": "csv", "text/tab-separated-values": "tsv",
    "message/rfc822": "email", "application/mbox": "mbox",
}


def _from_content_type(det: Detected, content_type: str, data: bytes) -> Detected:
    """Text-like bodies: the server's type decides between HTML, CSV, TSV, e-mail and plain text."""
    kind = _CTYPE_KIND.get(content_type)
    return Detected(kind) if kind else det
