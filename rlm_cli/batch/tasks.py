"""The task list: a TASKS file (JSONL or CSV: id, sources, question) or the cross product of a
questions file and SOURCES; ids stable across runs (that is what resume keys on)."""
from __future__ import annotations

import csv
import glob
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError

GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class Task:
    id: str
    sources: tuple[str, ...]  # as written (paths, globs, URLs); resolved against `base` when run
    question: str
    base: str = "."  # directory relative paths are read from
    where: str = ""  # "tasks.jsonl:12", for messages

    def fingerprint(self) -> dict:
        """What a saved result must match to count for this task."""
        return {"question": self.question, "sources": list(self.sources)}


@dataclass
class TaskList:
    tasks: list[Task] = field(default_factory=list)
    origin: str = ""  # the file, or "questions x sources"


def derived_id(sources, question: str) -> str:
    data = json.dumps([list(sources), question], ensure_ascii=False)
    return "t-" + hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def is_url(spec: str) -> bool:
    return "://" in spec


# ---- TASKS files --------------------------------------------------------------------------------------
def read_tasks(path: str, stdin=None) -> TaskList:
    """Every task of a JSONL or CSV file ('-': stdin). Errors name the file and line (usage errors)."""
    name = "<stdin>" if path == "-" else path
    text = _read_text(path, stdin)
    base = os.getcwd() if path == "-" else os.path.dirname(os.path.abspath(path))
    kind = _kind(path, text)
    rows = _jsonl_rows(name, text) if kind == "jsonl" else _csv_rows(name, text, "\t" if kind == "tsv" else ",")
    tasks = [_task(name, line, row, base) for line, row in rows]
    if not tasks:
        raise UsageError(f"{name}: no tasks")
    _check_unique(tasks)
    return TaskList(tasks, name)


def _read_text(path: str, stdin) -> str:
    try:
        if path == "-":
            data = stdin.read() if stdin is not None else b""
        else:
            data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the task file ({(exc.strerror or str(exc)).lower()})") from None
    data = data if isinstance(data, bytes) else str(data).encode()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: the task file is not UTF-8 ({exc.reason} at byte {exc.start})") from None


def _kind(path: str, text: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return suffix[1:]
    return "jsonl" if text.lstrip().startswith("{") else "csv"


def _jsonl_rows(name: str, text: str):
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise UsageError(f"{name}:{n}: not a JSON object ({exc.msg})") from None
        if not isinstance(row, dict):
            raise UsageError(f"{name}:{n}: not a JSON object")
        yield n, row


def _csv_rows(name: str, text: str, delimiter: str):
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    heads = [h.strip().lower() for h in (reader.fieldnames or [])]
    if "question" not in heads:
        raise UsageError(f"{name}: the CSV header must name the columns id, sources and question (found: "
                         f"{', '.join(heads) or 'nothing'})")
    reader.fieldnames = heads
    for row in reader:
        if any((v or "").strip() for k, v in row.items() if k):
            yield reader.line_num, {k: _csv_sources(v) if k in ("sources", "source") else v for k, v in row.items()}


def _csv_sources(cell):
    """A CSV cell: a JSON list, or specs separated by ';'."""
    cell = (cell or "").strip()
    if cell.startswith("["):
        try:
            return json.loads(cell)
        except ValueError:
            pass
    return [s.strip() for s in cell.split(";") if s.strip()]


def _task(name: str, line: int, row: dict, base: str) -> Task:
    where = f"{name}:{line}"
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        raise UsageError(f"{where}: no question")
    sources = row.get("sources", row.get("source"))
    if isinstance(sources, str):
        sources = [sources]
    if not isinstance(sources, list) or not sources or not all(isinstance(s, str) and s.strip() for s in sources):
        raise UsageError(f"{where}: 'sources' must be a path, glob or URL, or a list of them")
    if "-" in sources:
        raise UsageError(f"{where}: '-' (stdin) cannot be a task's source")
    tid = row.get("id")
    if tid is None or (isinstance(tid, str) and not tid.strip()):
        tid = derived_id(sources, question)
    elif not isinstance(tid, (str, int)) or isinstance(tid, bool):
        raise UsageError(f"{where}: 'id' must be a string or a number")
    return Task(str(tid).strip(), tuple(s.strip() for s in sources), question.strip(), base, where)


def _check_unique(tasks: list[Task]) -> None:
    seen: dict[str, Task] = {}
    for t in tasks:
        if t.id in seen:
            raise UsageError(f"{t.where}: id '{t.id}' is used twice (first at {seen[t.id].where})")
        seen[t.id] = t


# ---- the cross product -----------------------------------------------------------------------------
def cross_product(questions_file: str, specs: list[str]) -> TaskList:
    """One task per source x question. A quoted glob among SOURCES is one source per matching file.
    id: "SOURCE#" + 8 hex digits of the question's SHA-256 (stable when questions are added or moved)."""
    questions = read_questions(questions_file)
    sources: list[str] = []
    for spec in specs:
        sources += expand_source_arg(spec)
    if not sources:
        raise UsageError("no SOURCES given for --questions")
    tasks = []
    for src in sources:
        for q in questions:
            qid = hashlib.sha256(q.encode("utf-8", "surrogatepass")).hexdigest()[:8]
            tasks.append(Task(f"{src}#{qid}", (src,), q, os.getcwd(), f"{questions_file} x {src}"))
    _check_unique(tasks)
    return TaskList(tasks, f"{questions_file} x {len(sources)} sources")


def read_questions(path: str) -> list[str]:
    """One question per line; blank lines and lines starting with '#' are skipped; duplicates once."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the questions file ({(exc.strerror or str(exc)).lower()})") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: the questions file is not UTF-8") from None
    out: list[str] = []
    for line in text.splitlines():
        q = line.strip()
        if q and not q.startswith("#") and q not in out:
            out.append(q)
    if not out:
        raise UsageError(f"{path}: no questions")
    return out


def expand_source_arg(spec: str) -> list[str]:
    if spec == "-":
        raise UsageError("'-' (stdin) cannot be a batch source")
    if is_url(spec) or not (GLOB_CHARS & set(spec)) or os.path.exists(spec):
        return [spec]
    found = sorted(glob.glob(spec, recursive=True))
    if not found:
        raise UsageError(f"{spec}: no file matches")
    return found


# ---- at run time (on the worker) ---------------------------------------------------------------------
def resolve_sources(task: Task) -> tuple[list[str], str | None]:
    """The specs to read: relative paths against the task's base, globs expanded (sorted). Returns
    (specs, None), or ([], spec) for a glob that matched nothing."""
    out: list[str] = []
    for spec in task.sources:
        if is_url(spec):
            out.append(spec)
            continue
        path = os.path.join(task.base, os.path.expanduser(spec))
        if (GLOB_CHARS & set(spec)) and not os.path.exists(path):
            found = sorted(glob.glob(path, recursive=True))
            if not found:
                return [], spec
            out += found
        else:
            out.append(path)
    return out, None
