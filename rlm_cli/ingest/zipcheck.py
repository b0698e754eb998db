"""Guards for ZIP-based documents (DOCX, XLSX, PPTX, EPUB): size bombs and encrypted members."""
from __future__ import annotations

import zipfile

from .base import ReadError

MAX_UNCOMPRESSED = 4_000_000_000  # bytes of XML/HTML a package may expand to
MAX_RATIO = 1000  # a member expanding more than this (and over 100 MB) is a zip bomb, not a document


def check_zip(z: zipfile.ZipFile, what: str) -> None:
    total = 0
    for info in z.infolist():
        if info.flag_bits & 0x1:
            raise ReadError(f"password-protected (encrypted) {what}: not supported")
        total += info.file_size
        if info.file_size > 100_000_000 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise ReadError(f"{what} member {info.filename[:80]!r} expands {info.file_size // max(info.compress_size, 1):,}x: refused (zip bomb?)")
    if total > MAX_UNCOMPRESSED:
        raise ReadError(f"{what} expands to {total / 1e9:.1f} GB: over the {MAX_UNCOMPRESSED / 1e9:.0f} GB limit")
