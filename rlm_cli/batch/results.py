"""The results file: one record per finished task (JSONL: the `rlm ask --json` object plus `id` and
`sources`; CSV: the same, flat), appended and fsynced as each task ends, locked against a second
batch, and read back on restart: a partial last record (a crash mid-write) is cut off, every
complete one tells which ids are done."""
from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import RLMError, UsageError

CSV_COLUMNS = ["id", "status", "exit_code", "answer", "error", "question", "sources", "cost_usd", "tokens", "calls",
               "iterations", "duration_s", "root_model", "sub_model", "run_id", "trajectory"]
_FORMULA = ("=", "+", "-", "@", "\t", "\r", "'")  # a spreadsheet runs cells starting with these (and ' is ours)


class ResultsError(RLMError):
    """The results file cannot be written (disk full, permissions changed): the batch stops."""


@dataclass
class Saved:
    """What resume needs of one saved result."""

    id: str
    status: str
    exit_code: int
    question: str
    sources: list[str]


@dataclass
class Existing:
    records: dict[str, Saved] = field(default_factory=dict)  # id -> the last record for it
    repaired: int = 0  # bytes of a partial last record cut off
    unreadable: int = 0  # complete records that could not be read (ignored)


def fmt_for(path: Path | None, fmt: str | None) -> str:
    if fmt:
        return fmt
    return "csv" if path is not None and path.suffix.lower() == ".csv" else "jsonl"


# ---- encoding ----------------------------------------------------------------------------------------
def jsonl_record(obj: dict) -> bytes:
    return (json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8", "surrogatepass")


def csv_header() -> bytes:
    return _csv_line(CSV_COLUMNS)


def csv_record(obj: dict) -> bytes:
    cells = []
    for col in CSV_COLUMNS:
        v = obj.get(col)
        if col == "sources":
            v = json.dumps(v or [], ensure_ascii=False)
        cells.append(_guard(v) if isinstance(v, str) else ("" if v is None else v))
    return _csv_line(cells)


def _csv_line(cells: list) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue().encode("utf-8", "surrogatepass")


def _guard(s: str) -> str:
    """A cell a spreadsheet would run as a formula gets a leading ' (reversibly: see _unguard)."""
    return "'" + s if s.startswith(_FORMULA) else s


def _unguard(s: str) -> str:
    return s[1:] if s.startswith("'") else s


# ---- reading back ------------------------------------------------------------------------------------
def record_spans(data: bytes, fmt: str) -> tuple[list[tuple[int, int]], int]:
    """(start, end) of every complete record (newline included), and where the complete part ends.
    CSV records may hold newlines inside quotes; JSONL records never do."""
    spans, start = [], 0
    if fmt == "jsonl":
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                return spans, start
            spans.append((start, end + 1))
            start = end + 1
    quoted = False
    for i, b in enumerate(data):
        if b == 0x22:  # '"': an escaped quote ("") toggles twice
            quoted = not quoted
        elif b == 0x0A and not quoted:
            spans.append((start, i + 1))
            start = i + 1
    return spans, start


def parse_record(raw: bytes, fmt: str) -> dict | None:
    text = raw.decode("utf-8", "replace")
    if not text.strip():
        return None
    if fmt == "jsonl":
        obj = json.loads(text)
        return obj if isinstance(obj, dict) else None
    row = next(csv.reader(io.StringIO(text, newline="")), None)
    if row is None or len(row) != len(CSV_COLUMNS):
        return None
    obj = {k: _unguard(v) for k, v in zip(CSV_COLUMNS, row)}
    obj["sources"] = json.loads(obj["sources"] or "[]")
    return obj


def saved_of(obj: dict) -> Saved | None:
    if not isinstance(obj.get("id"), str) or not obj["id"]:
        return None
    try:
        code = int(obj.get("exit_code") or 0)
    except (TypeError, ValueError):
        code = 1
    sources = obj.get("sources") if isinstance(obj.get("sources"), list) else []
    return Saved(obj["id"], str(obj.get("status") or ""), code, str(obj.get("question") or ""), [str(s) for s in sources])


# ---- the file ----------------------------------------------------------------------------------------
class ResultsFile:
    """-o FILE: locked for the whole batch (FILE.lock beside it), repaired and read on open, one
    fsynced write per record."""

    def __init__(self, path: Path, fmt: str):
        self.path, self.fmt = Path(path), fmt
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._lock_fd: int | None = None
        self._fd: int | None = None

    def open(self) -> Existing:
        self._lock()
        existing = self._read_and_repair()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        if self.fmt == "csv" and os.fstat(self._fd).st_size == 0:
            self._write(csv_header())
        return existing

    def _lock(self) -> None:
        import fcntl

        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise UsageError(f"-o {self.path}: cannot create the lock file {self.lock_path} ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise UsageError(f"-o {self.path}: another rlm batch (pid {holder}) is writing this file") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def _read_and_repair(self) -> Existing:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return Existing()
        except OSError as exc:
            raise UsageError(f"-o {self.path}: cannot read it ({exc.strerror})") from None
        spans, complete = record_spans(data, self.fmt)
        out = Existing(repaired=len(data) - complete)
        if out.repaired:
            os.truncate(self.path, complete)  # a record cut by a crash: it is run again
        if self.fmt == "csv" and spans:
            if data[spans[0][0]:spans[0][1]] != csv_header():
                raise UsageError(f"-o {self.path}: not a results CSV of rlm batch (its header differs)")
            spans = spans[1:]
        for s, e in spans:
            self._read_one(data[s:e], out)
        return out

    def _read_one(self, raw: bytes, out: Existing) -> None:
        try:
            obj = parse_record(raw, self.fmt)
        except ValueError:
            obj = None
            if self.fmt == "jsonl" and raw.strip() and not raw.lstrip().startswith(b"{"):
                raise UsageError(f"-o {self.path}: not a JSONL results file (use --format csv for CSV)") from None
        if obj and not ("status" in obj and "run_id" in obj):
            raise UsageError(f"-o {self.path}: not a results file of rlm batch (a record without status and run_id); "
                             "give another -o FILE")
        saved = saved_of(obj) if obj else None
        if saved is None:
            out.unreadable += 1 if raw.strip() else 0
        else:
            out.records[saved.id] = saved

    def drop(self, ids: set[str]) -> None:
        """Rewrite the file without the records of `ids` (atomically), before they run again."""
        from ..ui.output import write_atomic

        if not ids:
            return
        data = self.path.read_bytes()
        spans, _ = record_spans(data, self.fmt)
        keep = []
        for n, (s, e) in enumerate(spans):
            raw = data[s:e]
            try:
                obj = None if (n == 0 and self.fmt == "csv") else parse_record(raw, self.fmt)
            except ValueError:
                obj = None
            if not (obj and obj.get("id") in ids):
                keep.append(raw)
        os.close(self._fd)
        write_atomic(self.path, b"".join(keep).decode("utf-8", "surrogatepass"))
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND, 0o666)

    def append(self, obj: dict) -> None:
        self._write(csv_record(obj) if self.fmt == "csv" else jsonl_record(obj))

    def _write(self, data: bytes) -> None:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            os.fsync(self._fd)
        except OSError as exc:
            raise ResultsError(f"{self.path}: cannot write a result ({exc.strerror}); the batch stopped, rerun "
                               "the same command to resume") from None

    def close(self) -> None:
        for attr in ("_fd", "_lock_fd"):
            fd = getattr(self, attr)
            if fd is not None:
                os.close(fd)  # closing the lock file's descriptor releases the lock
                setattr(self, attr, None)


class StreamResults:
    """No -o: every record to stdout as it ends (nothing to resume from)."""

    def __init__(self, stream, fmt: str, terminal: bool = False):
        self.stream, self.fmt, self.terminal = stream, fmt, terminal
        self._header = fmt == "csv"

    def open(self) -> Existing:
        return Existing()

    def drop(self, ids: set[str]) -> None:
        pass

    def append(self, obj: dict) -> None:
        if self.terminal:  # model and document text never reaches a terminal with control characters
            obj = _for_terminal(obj)
        data = csv_record(obj) if self.fmt == "csv" else jsonl_record(obj)
        if self._header:
            data, self._header = csv_header() + data, False
        self.stream.write(data.decode("utf-8", "surrogatepass"))
        self.stream.flush()

    def close(self) -> None:
        pass


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _for_terminal(obj):
    if isinstance(obj, str):
        return _CONTROL.sub("\ufffd", obj)
    if isinstance(obj, dict):
        return {k: _for_terminal(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_for_terminal(v) for v in obj]
    return obj
