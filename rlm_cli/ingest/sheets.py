"""Spreadsheets: XLSX (openpyxl, read-only streaming) and CSV/TSV (stdlib csv).

Every sheet becomes tab-separated rows, one line per row (tabs and newlines inside a cell become
spaces; trailing empty cells are dropped). An XLSX sheet starts with a line `# Sheet: NAME`; a
CSV/TSV file is just its rows. Spans let `locate` name the row: a span is a run of consecutive
rows (label = sheet name, row = number of its first row), and a gap of more than GAP empty rows
starts a new span instead of writing thousands of empty lines. Cells are streamed row by row, so a
big sheet never has all its cells in memory (only the text being built). Formulas give the value
Excel cached when it last saved the file (a file written by a library that never computed them
has empty cells there).
"""
from __future__ import annotations

import datetime as _dt
import io

from .base import Parsed, ReadError, clean_label
from .zipcheck import check_zip

GAP = 3
SHEET_SEP = "\n\n"


def cell_text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:.15g}"
    if isinstance(v, _dt.datetime):
        return v.date().isoformat() if v.time() == _dt.time() else v.isoformat(sep=" ")
    if isinstance(v, (_dt.date, _dt.time)):
        return v.isoformat()
    s = str(v)
    if "\t" in s or "\n" in s or "\r" in s:
        s = " ".join(s.replace("\t", " ").splitlines())
    return s


class _Builder:
    """Accumulates rows into text and row spans (offsets relative to the whole document)."""

    def __init__(self):
        self.parts: list[str] = []
        self.pos = 0
        self.spans: list[tuple] = []
        self.rows = 0

    def write(self, s: str) -> None:
        self.parts.append(s)
        self.pos += len(s)

    def sheet(self, label: str, rows) -> None:
        """rows: iterable of (row number, list of cell strings)."""
        last, span_start, first_row = None, None, 0
        for number, cells in rows:
            while cells and not cells[-1]:
                cells.pop()
            if not cells:
                continue
            gap = 0 if last is None else number - last - 1
            if last is None or gap > GAP:
                self._close(span_start, label, first_row)
                if last is not None:
                    self.write("\n\n")
                span_start, first_row = self.pos, number
            else:
                self.write("\n" * (gap + 1))
            self.write("\t".join(cells))
            self.rows += 1
            last = number
        self._close(span_start, label, first_row)

    def _close(self, start, label, first_row) -> None:
        if start is not None:
            self.spans.append((len(self.spans) + 1, start, self.pos, label, first_row))


# ------------------------------------------------------------------------------------- XLSX
def _open_workbook(source):
    import zipfile

    from openpyxl import load_workbook

    # A file object, not a path: openpyxl refuses paths whose extension is not .xlsx/.xlsm.
    blob = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else open(source, "rb")
    try:
        with zipfile.ZipFile(blob) as z:
            check_zip(z, "XLSX")
        blob.seek(0)
        return load_workbook(blob, read_only=True, data_only=True), blob
    except ReadError:
        blob.close()
        raise
    except Exception as e:  # openpyxl raises many kinds (KeyError, lxml errors, InvalidFileException...)
        blob.close()
        msg = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        raise ReadError(f"damaged XLSX ({msg})") from None


def read_xlsx(source, progress=None) -> Parsed:
    wb, blob = _open_workbook(source)
    b, warnings = _Builder(), []
    try:
        sheets = list(wb.worksheets)
        if progress is not None:
            progress.start(len(sheets), "sheets", "Reading sheets")
        for ws in sheets:
            title = clean_label(ws.title) or "Sheet"
            if b.pos:
                b.write(SHEET_SEP)
            b.write(f"# Sheet: {title}\n")
            try:
                b.sheet(title, ((i, [cell_text(v) for v in row]) for i, row in enumerate(ws.iter_rows(min_row=1, values_only=True), 1)))
            except Exception as e:  # a damaged sheet: keep the others
                warnings.append(f"sheet {title}: unreadable ({type(e).__name__})")
            if progress is not None:
                progress.advance(1)
    finally:
        wb.close()
        blob.close()
    if not b.rows:
        raise ReadError("no cells with values in the XLSX")
    return Parsed("".join(b.parts).rstrip("\n"), "xlsx", b.spans, warnings, {"sheets": len(sheets), "rows": b.rows}, unit="sheet")


# ---------------------------------------------------------------------------------- CSV/TSV
def read_delimited(data: bytes, kind: str) -> Parsed:
    import csv

    from .text import BinaryInput, decode_bytes

    try:
        text, enc = decode_bytes(data)
    except BinaryInput as e:
        raise ReadError(f"binary file ({e}), not {kind.upper()}") from None
    delimiter = "\t" if kind == "tsv" else _sniff_delimiter(text[:65536])
    csv.field_size_limit(1 << 30)
    reader = csv.reader(_lines(text), delimiter=delimiter)  # not StringIO: it would hold 4 bytes/char
    try:
        lines = _delimited_lines(reader)
    except csv.Error as e:
        raise ReadError(f"damaged {kind.upper()} (line {reader.line_num}: {e})") from None
    while lines and not lines[-1]:
        lines.pop()
    if not any(lines):
        raise ReadError(f"no values in the {kind.upper()} file")
    out = "\n".join(lines)
    return Parsed(out, kind, [(1, 0, len(out), "", 1)], [], {"encoding": enc, "rows": len(lines),
                                                                "delimiter": delimiter}, unit="sheet")


def _lines(text: str):
    """The lines of `text` (newlines kept), lazily: no second copy of a big file."""
    start, n = 0, len(text)
    while start < n:
        end = text.find("\n", start) + 1 or n
        yield text[start:end]
        start = end


def _delimited_lines(reader) -> list[str]:
    """One line per record (record N is line N, so row spans need no gaps); the fast path joins
    the cells as they are, the slow one cleans cells holding tabs or newlines."""
    lines = []
    for row in reader:
        line = "\t".join(row)
        if "\n" in line or "\r" in line or line.count("\t") != len(row) - 1:
            line = "\t".join(cell_text(c) for c in row)
        lines.append(line.rstrip("\t"))
    return lines


def _sniff_delimiter(sample: str) -> str:
    import csv

    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","
