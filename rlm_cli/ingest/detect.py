"""Which reader a file needs, decided by its content first and its name second.

Content wins for every kind that has a signature: `%PDF-`, the ZIP member names of DOCX / XLSX /
PPTX / EPUB, image magic numbers (PNG, JPEG, TIFF, WebP, BMP, GIF), the OLE header of legacy or
encrypted Office files, HTML markup, RFC 822 headers (e-mail) and mbox "From " lines. Kinds
without a signature (CSV, TSV) follow the extension once the bytes are known to be text. A file
whose name promises one kind and whose content is another is read as its content says, with a
warning (a PNG named `.pdf` is an image; the text "oops" named `.pdf` is text).
"""
from __future__ import annotations

import io
import os
import re
import zipfile
from dataclasses import dataclass

from .base import ReadError

HEAD = 8192

EXT_KIND = {
    ".pdf": "pdf", ".docx": "docx", ".docm": "docx", ".dotx": "docx", ".dotm": "docx",
    ".xlsx": "xlsx", ".xlsm": "xlsx", ".xltx": "xlsx", ".xltm": "xlsx",
    ".pptx": "pptx", ".pptm": "pptx", ".ppsx": "pptx", ".potx": "pptx",
    ".epub": "epub", ".html": "html", ".htm": "html", ".xhtml": "html", ".shtml": "html",
    ".eml": "email", ".mbox": "mbox", ".mbx": "mbox", ".csv": "csv", ".tsv": "tsv", ".tab": "tsv",
    ".png": "image", ".jpg": "image", ".jpeg": "image", ".tif": "image", ".tiff": "image",
    ".webp": "image", ".bmp": "image", ".gif": "image",
}
KIND_NAME = {"pdf": "PDF", "docx": "DOCX", "xlsx": "XLSX", "pptx": "PPTX", "epub": "EPUB", "html": "HTML",
             "email": "e-mail", "mbox": "mbox", "csv": "CSV", "tsv": "TSV", "image": "image", "text": "text"}
_ZIP_KINDS = ("docx", "xlsx", "pptx", "epub")

_IMAGES = [
    (b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
    (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
]
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENC_MARKERS = ("EncryptionInfo".encode("utf-16-le"), b"EncryptionInfo", "EncryptedPackage".encode("utf-16-le"))
_LEGACY = {".doc": "legacy Word .doc", ".xls": "legacy Excel .xls", ".ppt": "legacy PowerPoint .ppt",
           ".msg": "Outlook .msg"}
_HTML_START = re.compile(rb"^\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*<(!doctype\s+html|html[\s>]|head[\s>]|body[\s>]|meta[\s>]|title[\s>])",
                         re.I | re.S)
_HEADER_LINE = re.compile(rb"^([A-Za-z][A-Za-z0-9-]{1,40}):[ \t]*\S?", re.M)
_MAIL_HEADERS = {b"from", b"to", b"subject", b"date", b"message-id", b"mime-version", b"received", b"return-path",
                 b"delivered-to", b"cc", b"reply-to", b"content-type", b"x-mailer", b"in-reply-to", b"references"}
_MBOX_FROM = re.compile(rb"^From \S+ .*\d\d:\d\d")


@dataclass
class Detected:
    kind: str  # a reader kind (see EXT_KIND values, and "text")
    label: str = ""  # for images: PNG, JPEG...
    warning: str = ""  # e.g. "named .pdf but the content is text: read as text"


def image_type(head: bytes) -> str | None:
    for magic, name in _IMAGES:
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[:2] == b"BM" and len(head) > 18 and head[6:10] == b"\x00\x00\x00\x00" and head[14] in (12, 40, 52, 56, 64, 108, 124):
        return "BMP"
    return None


def zip_kind(names: set[str], mimetype: str) -> str | None:
    if any(n.startswith("word/document") for n in names):
        return "docx"
    if "xl/workbook.xml" in names or "xl/workbook.bin" in names:
        return "xlsx" if "xl/workbook.xml" in names else "xlsb"
    if "ppt/presentation.xml" in names:
        return "pptx"
    if mimetype == "application/epub+zip" or ("META-INF/container.xml" in names and not mimetype.startswith("application/vnd.oasis")):
        return "epub"
    if mimetype.startswith("application/vnd.oasis.opendocument"):
        return "odf:" + {"text": "ODT", "spreadsheet": "ODS", "presentation": "ODP"}.get(mimetype.rsplit(".", 1)[-1], "OpenDocument")
    return None


def _zip_members(source) -> tuple[set[str], str]:
    with zipfile.ZipFile(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source) as z:
        names = set(z.namelist())
        mimetype = ""
        if "mimetype" in names:
            mimetype = z.read("mimetype")[:100].decode("ascii", "replace").strip()
    return names, mimetype


def looks_like_email(head: bytes) -> bool:
    block = head.lstrip(b"\r\n").split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    lines = [ln for ln in block.splitlines() if ln and not ln[:1].isspace()]
    if not lines:
        return False
    names = [m.group(1).lower() for ln in lines if (m := _HEADER_LINE.match(ln))]
    if len(names) != len(lines):  # every unfolded line of the block must be a header
        return False
    known = {n for n in names if n in _MAIL_HEADERS}
    mime = {b"mime-version", b"content-type"} <= known  # a MIME message without the usual headers
    return len(known) >= 2 and (mime or bool(known & {b"from", b"subject", b"message-id", b"received", b"date"}))


def _text_kind(ext_kind: str | None, head: bytes) -> str:
    body = head.lstrip(b"\xef\xbb\xbf")
    if _MBOX_FROM.match(body) and looks_like_email(body.split(b"\n", 1)[-1]):
        return "mbox"
    if looks_like_email(body):
        return "email"
    if _HTML_START.match(body[:2048]):
        return "html"
    if ext_kind in ("html", "csv", "tsv", "email", "mbox"):
        return ext_kind
    return "text"


def _ole(ext: str, ext_kind: str | None, data: bytes) -> ReadError:
    if any(m in data for m in _ENC_MARKERS):
        what = KIND_NAME.get(ext_kind or "", "Office document")
        return ReadError(f"password-protected (encrypted) {what}: not supported; save an unprotected copy")
    if ext in _LEGACY:
        return ReadError(f"{_LEGACY[ext]} (OLE) file: not supported; save it in the newer format (.{ext[1:]}x)")
    return ReadError("binary file (OLE compound file: legacy Office document), not supported")


def detect(name: str, source, head: bytes) -> Detected:
    """Decide the reader for `source` (a path or bytes) whose first bytes are `head`.

    Raises ReadError for kinds recognised but not readable (legacy/encrypted Office, ODF, ...).
    Binary files of no known kind come back as "text" and the text reader refuses them.
    """
    ext = os.path.splitext(name)[1].lower()
    ext_kind = EXT_KIND.get(ext)
    if head.lstrip()[:5] == b"%PDF-" or b"%PDF-" in head[:1024]:
        return _named("pdf", ext_kind, ext)
    img = image_type(head)
    if img:
        return _named("image", ext_kind, ext, label=img)
    if head.startswith(OLE):
        data = head if not isinstance(source, (bytes, bytearray)) else bytes(source[:65536])
        if not isinstance(source, (bytes, bytearray)):
            with open(source, "rb") as fh:
                data = fh.read(65536)
        raise _ole(ext, ext_kind, data)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _zip(name, source, ext, ext_kind)
    from .text import binary_kind

    if binary_kind(head):
        # Unknown binary content: a damaged PDF/Office file may still be read by its reader.
        return Detected(ext_kind if ext_kind in ("pdf",) else "text")
    return _named(_text_kind(ext_kind, head), ext_kind, ext)


def _zip(name: str, source, ext: str, ext_kind: str | None) -> Detected:
    try:
        names, mimetype = _zip_members(source)
    except (zipfile.BadZipFile, OSError, RuntimeError, ValueError, EOFError) as e:
        if ext_kind in _ZIP_KINDS:
            raise ReadError(f"damaged {KIND_NAME[ext_kind]} (not a readable ZIP package: {e})") from None
        raise ReadError(f"damaged ZIP archive ({e})") from None
    kind = zip_kind(names, mimetype)
    if kind is None:
        if ext_kind in _ZIP_KINDS:
            raise ReadError(f"not a {KIND_NAME[ext_kind]}: a ZIP archive without the {KIND_NAME[ext_kind]} parts")
        raise ReadError("binary file (ZIP archive), not text")
    if kind == "xlsb":
        raise ReadError("Excel binary workbook (.xlsb): not supported; save it as .xlsx")
    if kind.startswith("odf:"):
        raise ReadError(f"OpenDocument file ({kind[4:]}): not supported; save it as .docx/.xlsx/.pptx")
    return _named(kind, ext_kind, ext)


def _named(kind: str, ext_kind: str | None, ext: str, label: str = "") -> Detected:
    warning = ""
    text_like = {"text", "csv", "tsv", "html", "email", "mbox"}
    if ext_kind and ext_kind != kind and not (ext_kind in text_like and kind in text_like):
        what = f"{label} image" if kind == "image" and label else KIND_NAME.get(kind, kind)
        warning = f"named {ext} but the content is {what}: read as {KIND_NAME.get(kind, kind)}"
    return Detected(kind, label, warning)
