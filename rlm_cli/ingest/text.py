"""Plain text reader: encoding detection, newline normalisation, binary refusal.

Order of detection (first that applies wins):
1. a BOM (UTF-8, UTF-32 LE/BE, UTF-16 LE/BE);
2. UTF-16 without BOM (NUL bytes on one parity of the sample only);
3. binary refusal (known magic numbers, NUL bytes, many control characters);
4. strict UTF-8 (ASCII included);
5. charset-normalizer on a sample (Latin-1, cp1252, Shift_JIS, GB18030, ...), decoding with
   errors="replace" so that a wrong guess never crashes.
"""
from __future__ import annotations

import codecs

SAMPLE = 64 * 1024

# Magic numbers of common binary formats, with a human name for the refusal message.
_MAGIC: list[tuple[bytes, str]] = [
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"PK\x03\x04", "ZIP archive"),
    (b"PK\x05\x06", "ZIP archive"),
    (b"\x1f\x8b", "gzip archive"),
    (b"BZh", "bzip2 archive"),
    (b"\xfd7zXZ\x00", "xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "7z archive"),
    (b"\x7fELF", "ELF executable"),
    (b"MZ", "Windows executable"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "OLE compound file (legacy Office or encrypted document)"),
    (b"SQLite format 3\x00", "SQLite database"),
    (b"\x00\x00\x01\x00", "icon"),
    (b"RIFF", "RIFF media"),
    (b"OggS", "Ogg media"),
    (b"fLaC", "FLAC audio"),
    (b"ID3", "MP3 audio"),
    (b"\x28\xb5\x2f\xfd", "zstd archive"),
    (b"\xca\xfe\xba\xbe", "Java class / Mach-O"),
    (b"\x00asm", "WebAssembly"),
    (b"%PDF-", "PDF"),
]

_BOMS: list[tuple[bytes, str]] = [
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: it starts with the same bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
]

# Control bytes that do not occur in text (everything below 0x20 except \t \n \v \f \r and ESC).
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 11, 12, 13, 27))


class BinaryInput(ValueError):
    """Raised when bytes look like a binary file; the message says what it looks like."""


def _utf16_without_bom(sample: bytes) -> str | None:
    n = len(sample) - (len(sample) % 2)
    if n < 4:
        return None
    even = sample[0:n:2]
    odd = sample[1:n:2]
    ze, zo = even.count(0), odd.count(0)
    half = n // 2
    # Mostly-ASCII UTF-16: one parity is nearly all NUL, the other nearly none.
    if zo > 0.3 * half and ze < 0.02 * half:
        enc = "utf-16-le"
    elif ze > 0.3 * half and zo < 0.02 * half:
        enc = "utf-16-be"
    else:
        return None
    try:
        sample[:n].decode(enc)
    except UnicodeDecodeError:
        return None
    return enc


def binary_kind(data: bytes) -> str | None:
    """Return a description if `data` looks binary, else None. Cheap: looks at a sample."""
    for magic, name in _MAGIC:
        if data.startswith(magic):
            if name == "Windows executable" and b"\x00" not in data[:SAMPLE]:
                continue  # a text file starting with "MZ"
            return name
    sample = data[:SAMPLE]
    if not sample:
        return None
    if sample.startswith(tuple(b for b, _ in _BOMS)) or _utf16_without_bom(sample):
        return None
    if b"\x00" in sample:
        return "binary data (NUL bytes)"
    controls = len(sample) - len(sample.translate(None, _CONTROL))
    if controls > 0.10 * len(sample):
        return "binary data (control bytes)"
    return None


def detect_encoding(data: bytes) -> tuple[str, int]:
    """Return (codec name, number of BOM bytes to skip). Raises BinaryInput."""
    for bom, enc in _BOMS:
        if data.startswith(bom):
            return enc, len(bom)
    sample = data[:SAMPLE]
    enc = _utf16_without_bom(sample)
    if enc:
        return enc, 0
    kind = binary_kind(data)
    if kind:
        raise BinaryInput(kind)
    if sample.isascii() and data.isascii():
        return "utf-8", 0
    try:
        # Strict UTF-8 of the whole buffer: fast in CPython and the common case.
        codecs.utf_8_decode(data, "strict", True)
        return "utf-8", 0
    except UnicodeDecodeError:
        pass
    return _guess_legacy(data), 0


# When charset-normalizer finds several equally plausible code pages (common on short inputs),
# prefer the ones people actually use.
_PREFERENCE = [
    "utf_8", "cp1252", "latin_1", "iso8859_15", "cp932", "shift_jis", "euc_jp", "gb18030", "gb2312",
    "big5", "euc_kr", "cp949", "cp1251", "koi8_r", "cp1250", "iso8859_2", "cp1253", "cp1254",
    "cp1255", "cp1256", "cp1257", "cp874", "mac_roman",
]


def _guess_legacy(data: bytes) -> str:
    try:
        import charset_normalizer
    except ImportError:  # pragma: no cover - a required dependency
        return "cp1252"
    # A bounded sample keeps this fast on huge files.
    sample = data[: 1024 * 1024]
    matches = list(charset_normalizer.from_bytes(sample))
    matches = [m for m in matches if m.encoding not in ("ascii", "utf_8")]
    if not matches:
        return "cp1252"
    low = min(m.chaos for m in matches)
    close = [m for m in matches if m.chaos <= low + 0.1]
    top = max(m.coherence for m in close)
    close = [m for m in close if m.coherence >= top - 0.05]
    rank = {e: i for i, e in enumerate(_PREFERENCE)}
    close.sort(key=lambda m: rank.get(m.encoding, len(rank)))
    return close[0].encoding


def normalize_newlines(text: str) -> str:
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode bytes to text with LF newlines. Returns (text, encoding). Raises BinaryInput."""
    enc, skip = detect_encoding(data)
    view = memoryview(data)[skip:] if skip else data
    text = str(view, enc, "replace") if skip else data.decode(enc, "replace")
    return normalize_newlines(text), enc
