"""EPUB reader (zipfile + the HTML reader): chapters in spine order, a span per chapter.

META-INF/container.xml names the package document (OPF); its spine lists the content documents
in reading order. Each spine document with text becomes a chapter ("book.epub ch. 7"), converted
with html.full_text (books have no boilerplate to drop). Non-linear spine items (notes, covers)
are read too, in spine order. Files encrypted with DRM (META-INF/encryption.xml naming
content documents, not just obfuscated fonts) are refused.
"""
from __future__ import annotations

import io
import posixpath
import zipfile
from urllib.parse import unquote
from xml.etree import ElementTree as ET

from .base import Parsed, ReadError
from .zipcheck import check_zip

CHAPTER_SEP = "\n\n"
_FONT_OBFUSCATION = ("http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml(z: zipfile.ZipFile, name: str):
    try:
        return ET.fromstring(z.read(name))
    except KeyError:
        raise ReadError(f"damaged EPUB (missing {name})") from None
    except ET.ParseError as e:
        raise ReadError(f"damaged EPUB ({name}: {e})") from None


def _opf_path(z: zipfile.ZipFile) -> str:
    root = _xml(z, "META-INF/container.xml")
    for el in root.iter():
        if _local(el.tag) == "rootfile" and el.get("full-path"):
            return el.get("full-path")
    raise ReadError("damaged EPUB (container.xml names no package document)")


def _spine(z: zipfile.ZipFile, opf_path: str) -> tuple[list[str], str]:
    """(content document paths in reading order, book title)."""
    opf = _xml(z, opf_path)
    base = posixpath.dirname(opf_path)
    manifest, spine, title = {}, [], ""
    for el in opf.iter():
        name = _local(el.tag)
        if name == "item" and el.get("id") and el.get("href"):
            manifest[el.get("id")] = (posixpath.normpath(posixpath.join(base, unquote(el.get("href")))), el.get("media-type", ""))
        elif name == "itemref" and el.get("idref"):
            spine.append(el.get("idref"))
        elif name == "title" and not title and (el.text or "").strip():
            title = " ".join(el.text.split())
    paths = []
    for idref in spine:
        path, media = manifest.get(idref, ("", ""))
        if path and ("html" in media or path.lower().endswith((".html", ".htm", ".xhtml"))):
            paths.append(path)
    if not paths:
        raise ReadError("damaged EPUB (the spine lists no content documents)")
    return paths, title


def _check_drm(z: zipfile.ZipFile, names: set[str]) -> None:
    if "META-INF/encryption.xml" not in names:
        return
    try:
        root = ET.fromstring(z.read("META-INF/encryption.xml"))
    except ET.ParseError:
        return
    for data in root.iter():
        if _local(data.tag) != "EncryptedData":
            continue
        method = next((m.get("Algorithm", "") for m in data.iter() if _local(m.tag) == "EncryptionMethod"), "")
        uri = next((c.get("URI", "") for c in data.iter() if _local(c.tag) == "CipherReference"), "")
        if method in _FONT_OBFUSCATION and not uri.lower().endswith((".html", ".xhtml", ".htm")):
            continue  # obfuscated embedded fonts: harmless
        raise ReadError("DRM-protected (encrypted) EPUB: not supported")


def read_epub(source) -> Parsed:
    from . import html

    try:
        z = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)
    except (zipfile.BadZipFile, OSError) as e:
        raise ReadError(f"damaged EPUB (not a readable ZIP package: {e})") from None
    with z:
        check_zip(z, "EPUB")
        names = set(z.namelist())
        _check_drm(z, names)
        paths, title = _spine(z, _opf_path(z))
        parts, spans, pos, warnings = [], [], 0, []
        for path in paths:
            if path not in names:
                warnings.append(f"spine item {path} missing from the package")
                continue
            try:
                data = z.read(path)
            except (zipfile.BadZipFile, OSError, RuntimeError) as e:
                warnings.append(f"{path}: unreadable ({e})")
                continue
            try:
                text = html.full_text(html.parse_tree(html.decode_html(data)))
            except ReadError:
                continue  # an empty or broken chapter file
            if not text.strip():
                continue
            if parts:
                parts.append(CHAPTER_SEP)
                pos += len(CHAPTER_SEP)
            n = len(spans) + 1
            spans.append((n, pos, pos + len(text), f"ch. {n}", 0))
            parts.append(text)
            pos += len(text)
    if not spans:
        raise ReadError("no text in the EPUB")
    return Parsed("".join(parts), "epub", spans, warnings, {"title": title} if title else {}, unit="chapter")
