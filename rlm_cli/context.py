"""The Context: one string plus a source map from offsets back to files and their parts.

Layout (docs/ingestion.md): with one source, `text` is exactly that source's text. With several,
each source's text is preceded by one line `==> NAME <==` and sources are separated by a blank
line; `Source.start/end` cover only the source's own text.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field, replace

SEPARATOR_FORMAT = "==> {name} <==\n"


@dataclass(frozen=True)
class Page:
    """A span of a source: a PDF page, an EPUB chapter, a slide, a sheet, a message, a section."""

    number: int  # 1-based
    start: int
    end: int
    label: str = ""  # what locate prints ("ch. 7", "slide 12", "Sheet1", "§ Costs"); "" -> "p.N"
    row: int = 0  # > 0: a sheet segment whose first line is this row number

    def as_dict(self) -> dict:
        d = {"page": self.number, "start": self.start, "end": self.end}
        if self.label or self.row:
            d["label"] = self.label
        if self.row:
            d["row"] = self.row
        return d


@dataclass
class Source:
    """One ingested source: its slice of the context text (separator line excluded)."""

    name: str
    kind: str  # text | pdf | docx | html | epub | pptx | xlsx | csv | tsv | email | mbox | image | stdin | url kinds
    start: int
    end: int
    size_bytes: int = 0
    pages: list[Page] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unit: str = "page"  # what one entry of `pages` is: page | chapter | slide | sheet | message | section

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
            "unit": self.unit,
            "pages": [p.as_dict() for p in self.pages],
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
        """This context followed by `more` (its sources shifted): offsets into this one stay valid.
        A single source added gets its `==> NAME <==` line, as in a context of several sources."""
        if len(more.sources) == 1 and more.sources[0].start == 0:
            sep += SEPARATOR_FORMAT.format(name=more.sources[0].name)
        shift = len(self.text) + len(sep)
        moved = [replace(s, start=s.start + shift, end=s.end + shift, warnings=list(s.warnings),
                         pages=[replace(p, start=p.start + shift, end=p.end + shift) for p in s.pages])
                 for s in more.sources]
        return Context(self.text + sep + more.text, self.sources + moved, self.warnings + more.warnings)

    def source_at(self, offset: int) -> Source | None:
        starts = [s.start for s in self.sources]
        i = bisect.bisect_right(starts, offset) - 1
        if i < 0:
            return self.sources[0] if self.sources else None
        return self.sources[i]

    def locate(self, offset: int) -> str:
        """Map a character offset to 'file p.N', 'file ch. 7', 'file Sheet1 row 120', 'file line N'..."""
        return locate(self.text, [s.as_dict() for s in self.sources], offset)


def span_label(text: str, span: dict, offset: int) -> str:
    """The part after the file name for an offset inside (or after) `span`."""
    label = span["label"] if "label" in span else f"p.{span['page']}"
    row = span.get("row") or 0
    if row:
        n = row + text.count("\n", span["start"], max(min(offset, span["end"]), span["start"]))
        return f"{label} row {n}" if label else f"row {n}"
    return label


def locate(text: str, sources: list[dict], offset: int) -> str:
    """Shared by the host and (as a copy of its logic) the sandbox worker."""
    if not sources:
        return f"offset {offset}"
    name, part = where(text, sources, offset)
    return f"{name} {part}"


def where(text: str, sources: list[dict], offset: int) -> tuple[str, str]:
    """(source name, where in it: "p.3", "ch. 7", "slide 2", "Sheet1 row 120", "line 12") for an offset
    in `text`; ("", "offset N") without sources."""
    if not sources:
        return "", f"offset {offset}"
    offset = max(0, min(int(offset), max(len(text) - 1, 0)))
    starts = [s["start"] for s in sources]
    i = max(bisect.bisect_right(starts, offset) - 1, 0)
    src = sources[i]
    pages = src.get("pages") or []
    if pages:
        pstarts = [p["start"] for p in pages]
        j = max(bisect.bisect_right(pstarts, offset) - 1, 0)
        return src["name"], span_label(text, pages[j], offset)
    line = text.count("\n", src["start"], max(offset, src["start"])) + 1
    return src["name"], f"line {line}"
