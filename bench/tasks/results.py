"""Per-item results kept in a JSON-lines file (appended as each item finishes, so a crash loses at most
the item in flight and a re-run resumes), and the summary table with 95 % intervals built from it."""
from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from pathlib import Path

KEY = ("task", "length_tokens", "seed", "index", "system", "model")
SYSTEMS = ("rlm", "direct")


class ResultsFile:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.rows = load(self.path)
        self.done = {key_of(r) for r in self.rows}

    def has(self, row: dict) -> bool:
        return key_of(row) in self.done

    def add(self, row: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+", encoding="utf-8") as f:
            if f.tell() and not _ends_with_newline(self.path):
                f.write("\n")  # after a line a crash cut short: start a new one
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            f.flush()
        self.rows.append(row)
        self.done.add(key_of(row))


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, 2)
        return f.read(1) == b"\n"


def key_of(row: dict) -> tuple:
    return tuple(row.get(k) for k in KEY)


def load(path: Path) -> list[dict]:
    """The rows of a results file; a line cut short by a crash is skipped."""
    rows = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue
    return rows


# ---- statistics ---------------------------------------------------------------------------------------
def interval(scores: list[float]) -> tuple[float, float]:
    """95 % interval of the mean: Wilson's for 0/1 scores, Student's t for partial scores."""
    n = len(scores)
    if n == 0:
        return (float("nan"), float("nan"))
    mean = sum(scores) / n
    if all(s in (0.0, 1.0) for s in scores):
        z = 1.959964
        centre = (mean + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(mean * (1 - mean) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return (max(0.0, centre - half), min(1.0, centre + half))
    if n == 1:
        return (0.0, 1.0)
    half = _t975(n - 1) * statistics.stdev(scores) / math.sqrt(n)
    return (max(0.0, mean - half), min(1.0, mean + half))


def _t975(df: int) -> float:
    table = {1: 12.71, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
             12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}
    return table.get(df) or next((v for k, v in sorted(table.items()) if k >= df), 1.96)


def summarize(rows: list[dict]) -> list[dict]:
    """One row per (task, length, model, system): n, accuracy and its interval, evidence score, tokens and
    seconds per item, failures, share of the context the direct baseline kept."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["task"], r["length_tokens"], r.get("model"), r["system"])].append(r)
    out = []
    for (task, length, model, system), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or "",
                                                                                  SYSTEMS.index(kv[0][3]))):
        scores = [float(r["score"]) for r in rs]
        lo, hi = interval(scores)
        ev = [r["evidence_score"] for r in rs if r.get("evidence_score") is not None]
        out.append({"task": task, "length_tokens": length, "model": model, "system": system, "n": len(rs),
                    "accuracy": sum(scores) / len(rs), "ci_low": lo, "ci_high": hi,
                    "evidence": (sum(ev) / len(ev)) if ev and system == "rlm" else None,
                    "supported": _share(rs, "supported"), "forced": _share(rs, "forced"),
                    "tokens": sum(r.get("prompt_tokens", 0) + r.get("completion_tokens", 0) for r in rs) / len(rs),
                    "seconds": sum(r["seconds"] for r in rs) / len(rs),
                    "failures": sum(1 for r in rs if r.get("status") not in ("ok", "unsupported")),
                    "kept": sum(r.get("kept_fraction", 1.0) for r in rs) / len(rs)})
    return out


def _share(rows: list[dict], key: str) -> float | None:
    vals = [r.get(key) for r in rows if r.get(key) is not None]
    return sum(1 for v in vals if v) / len(vals) if vals else None


def fmt_length(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}K" if n % 1000 == 0 else str(n)


def table_rows(summary: list[dict]) -> list[list[str]]:
    rows = []
    for s in summary:
        ev = "" if s["evidence"] is None else f"{s['evidence']:.2f}"
        kept = f"{s['kept']:.0%}" if s["system"] == "direct" else ""
        rows.append([s["task"], fmt_length(s["length_tokens"]), s["system"], str(s["n"]), f"{s['accuracy']:.2f}",
                     f"[{s['ci_low']:.2f}, {s['ci_high']:.2f}]", ev, f"{s['tokens']:,.0f}", f"{s['seconds']:.0f}",
                     str(s["failures"]), kept])
    return rows


HEADERS = ["task", "length", "system", "n", "accuracy", "95% CI", "evidence", "tokens/item", "s/item", "failed",
           "direct kept"]


def markdown(summary: list[dict]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(summary)]
    return "\n".join(lines) + "\n"
