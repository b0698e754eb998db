"""Shared types of the ingest package: a reader's result and the progress protocol."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

# A span of a reader's text: (number, start, end) for PDF pages, or (number, start, end, label, row)
# where label is what `locate` prints after the file name ("ch. 7", "slide 12", "Sheet1", "msg 3",
# "§ Costs") and row > 0 means "count lines from start and add 'row N'" (spreadsheets).
SpanTuple = tuple


@dataclass
class Parsed:
    """What a reader returns: text (LF newlines) and spans relative to that text."""

    text: str
    kind: str  # text | pdf | docx | html | epub | pptx | xlsx | csv | tsv | email | mbox | image
    pages: list[SpanTuple] = field(default_factory=list)  # see SpanTuple
    warnings: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)  # e.g. {"encoding": "utf-8"} or {"engine": "pdfium"}
    unit: str = "page"  # what one span is: page | chapter | slide | sheet | message | section
    children: list[tuple[str, "Parsed", int]] = field(default_factory=list)  # (name suffix, parsed, bytes): attachments


class ReadError(Exception):
    """A reader could not read a file; `cause` is a one-line reason (no path)."""

    def __init__(self, cause: str):
        super().__init__(cause)
        self.cause = cause


@dataclass(frozen=True)
class ReadOptions:
    """Reader settings that change the text (so they are part of the parse-cache key)."""

    password: str | None = None
    pdf_engine: str = "auto"
    ocr: str = "auto"  # auto | always | never
    explicit: bool = True  # named by the user (not found by walking a directory)

    def variant(self, kind: str) -> str:
        from . import ocr as _ocr

        parts = [kind]
        if kind == "pdf":
            parts.append(self.pdf_engine)
        if kind in ("pdf", "image"):
            parts.append(f"ocr={self.ocr}:{'y' if _ocr.available() else 'n'}")
        return ":".join(parts)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]+")


def clean_label(text: str, limit: int = 60) -> str:
    """A one-line label (heading, sheet name, file name from a document): no control characters."""
    text = " ".join(_CONTROL.sub(" ", str(text)).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@runtime_checkable
class ProgressSink(Protocol):
    """Receives ingestion progress. The ingest core never prints; a sink may draw a bar."""

    def start(self, total: int, unit: str, description: str) -> None: ...

    def advance(self, n: int = 1) -> None: ...

    def finish(self) -> None: ...


class NullProgress:
    def start(self, total: int, unit: str, description: str) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def finish(self) -> None:
        pass


_SIZE_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
               "kib": 2**10, "mib": 2**20, "gib": 2**30}


def parse_size(text: str) -> int:
    """'200MB', '1.5G', '500k', '1048576' -> bytes (decimal units; KiB/MiB/GiB binary). ValueError if bad."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(text))
    if not m or m.group(2).lower() not in _SIZE_UNITS:
        raise ValueError(f"not a size: {text!r} (use e.g. 200MB, 1.5GB, 500k or a number of bytes)")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])
