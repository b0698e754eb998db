"""Shared types of the ingest package: a reader's result and the progress protocol."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass
class Parsed:
    """What a reader returns: text (LF newlines) and page spans relative to that text."""

    text: str
    kind: str  # text | pdf | docx
    pages: list[tuple[int, int, int]] = field(default_factory=list)  # (number, start, end)
    warnings: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)  # e.g. {"encoding": "utf-8"} or {"engine": "pdfium"}


class ReadError(Exception):
    """A reader could not read a file; `cause` is a one-line reason (no path)."""

    def __init__(self, cause: str):
        super().__init__(cause)
        self.cause = cause


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
