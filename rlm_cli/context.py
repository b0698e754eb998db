"""The Context: one string plus a source map from offsets back to files and pages."""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Page:
    number: int  # 1-based
    start: int
    end: int


@dataclass
class Source:
    """One ingested source: its slice of the context text (header line excluded)."""

    name: str
    kind: str  # text | pdf | docx | stdin
    start: int
    end: int
    size_bytes: int = 0
    pages: list[Page] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def chars(self) -> int:
        return self.end - self.start

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "start": self.start,
            "end": self.end,
            "chars": self.chars,
            "pages": [{"page": p.number, "start": p.start, "end": p.end} for p in self.pages],
        }


@dataclass
class Context:
    text: str
    sources: list[Source] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def from_text(cls, text: str, name: str = "<text>", kind: str = "text") -> "Context":
        return cls(text, [Source(name, kind, 0, len(text), len(text.encode("utf-8", "replace")))])

    def __len__(self) -> int:
        return len(self.text)

    def concat(self, more: "Context", sep: str = "\n\n") -> "Context":
        """This context followed by `more` (its sources shifted): offsets into this one stay valid."""
        shift = len(self.text) + len(sep)
        moved = [Source(s.name, s.kind, s.start + shift, s.end + shift, s.size_bytes,
                        [Page(p.number, p.start + shift, p.end + shift) for p in s.pages], list(s.warnings))
                 for s in more.sources]
        return Context(self.text + sep + more.text, self.sources + moved, self.warnings + more.warnings)

    def source_at(self, offset: int) -> Source | None:
        starts = [s.start for s in self.sources]
        i = bisect.bisect_right(starts, offset) - 1
        if i < 0:
            return self.sources[0] if self.sources else None
        return self.sources[i]

    def locate(self, offset: int) -> str:
        """Map a character offset to 'file p.N' (PDF) or 'file line N' (text)."""
        return locate(self.text, [s.as_dict() for s in self.sources], offset)


def locate(text: str, sources: list[dict], offset: int) -> str:
    """Shared by the host and (as a copy of its logic) the sandbox worker."""
    if not sources:
        return f"offset {offset}"
    offset = max(0, min(int(offset), max(len(text) - 1, 0)))
    starts = [s["start"] for s in sources]
    i = max(bisect.bisect_right(starts, offset) - 1, 0)
    src = sources[i]
    pages = src.get("pages") or []
    if pages:
        pstarts = [p["start"] for p in pages]
        j = max(bisect.bisect_right(pstarts, offset) - 1, 0)
        return f"{src['name']} p.{pages[j]['page']}"
    line = text.count("\n", src["start"], max(offset, src["start"])) + 1
    return f"{src['name']} line {line}"
