"""Shared helpers for the benchmarks: timing, process-tree peak RSS, tables, JSON results.

Nothing here imports rlm_cli at module level, so `python -m bench.X --help` stays cheap.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"


def rlm_argv() -> list[str]:
    """How to start the CLI: the `rlm` console script of the running interpreter's environment (what users
    run), else `python -m rlm_cli`. Not the first `rlm` on PATH: that may belong to another install."""
    exe = os.environ.get("RLM_BENCH_BIN")
    if exe:
        return [exe]
    beside = Path(sys.executable).with_name("rlm")
    return [str(beside)] if beside.is_file() else [sys.executable, "-m", "rlm_cli"]


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def machine() -> dict:
    mem = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024
    except OSError:
        pass
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0, 0, 0)
    return {"loadavg_1m": round(load[0], 2), "cpus": os.cpu_count(), "cpu": cpu, "mem_mb": mem, "python": platform.python_version(),
            "platform": platform.platform(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def bench_env(home: str | Path) -> dict:
    """Environment for CLI runs: isolated RLM_HOME, no API keys, no colour."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(RLM_HOME=str(home), NO_COLOR="1", LITELLM_LOCAL_MODEL_COST_MAP="True")
    return env


# ---- process-tree peak RSS ---------------------------------------------------------------------
def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                out += [int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
            except OSError:
                pass
    except OSError:
        pass
    return out


def _hwm_mb(pid: int) -> tuple[float, str]:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0, ""
    hwm, name = 0.0, ""
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
        elif line.startswith("Name:"):
            name = line.split(":", 1)[1].strip()
    return hwm, name


@dataclass
class TreeWatch:
    """Polls /proc for a process and its descendants, keeping each one's peak RSS (VmHWM)."""

    pid: int
    interval: float = 0.01
    peaks: dict = field(default_factory=dict)  # pid -> (peak MB, cmd)
    swap_before: int = 0
    swap_after: int = 0

    def __post_init__(self):
        self.swap_before = swapped_pages()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            stack = [self.pid]
            while stack:
                p = stack.pop()
                hwm, _ = _hwm_mb(p)
                if hwm:
                    cmd = self.peaks.get(p, (0, None))[1] or _cmdline(p)
                    self.peaks[p] = (max(hwm, self.peaks.get(p, (0, ""))[0]), cmd)
                stack += _children(p)
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.swap_after = swapped_pages()

    def host_mb(self) -> float:
        return self.peaks.get(self.pid, (0.0, ""))[0]

    def worker_mb(self) -> float:
        return max([mb for p, (mb, cmd) in self.peaks.items() if p != self.pid and "worker.py" in cmd] or [0.0])

    @property
    def swapped(self) -> int:
        return self.swap_after - self.swap_before


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def swapped_pages() -> int:
    """pswpout from /proc/vmstat: pages written to swap since boot (0 growth = no swapping)."""
    try:
        for line in Path("/proc/vmstat").read_text().splitlines():
            if line.startswith("pswpout "):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_watched(argv: list[str], env: dict, cwd: str | None = None, timeout: float = 900) -> dict:
    """Run argv, returning wall time, exit code, stdout/stderr and peak RSS of host and worker."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    watch = TreeWatch(proc.pid)
    out, err = proc.communicate(timeout=timeout)
    wall = time.perf_counter() - t0
    watch.stop()
    return {"wall_s": wall, "rc": proc.returncode, "stdout": out.decode(errors="replace"),
            "stderr": err.decode(errors="replace"), "host_rss_mb": watch.host_mb(), "worker_rss_mb": watch.worker_mb(),
            "swapped_pages": watch.swapped}


# ---- tables and results ----------------------------------------------------------------------------
@dataclass
class Row:
    name: str
    value: str
    target: str = ""
    ok: bool | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
        return "" if self.ok is None else ("PASS" if self.ok else "FAIL")


def print_table(title: str, rows: list[Row], out=sys.stdout) -> None:
    heads = ["benchmark", "measured", "target", "result", "note"]
    cells = [[r.name, r.value, r.target, r.verdict, r.note] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(heads)]
    line = "  ".join(h.ljust(w) for h, w in zip(heads, widths))
    print(f"\n{title}\n{line}\n{'  '.join('-' * w for w in widths)}", file=out)
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths)).rstrip(), file=out)
    out.flush()


def print_grid(title: str, heads: list[str], rows: list[list], out=sys.stdout) -> None:
    cells = [[str(v) for v in r] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(heads)]
    print(f"\n{title}\n" + "  ".join(h.ljust(w) for h, w in zip(heads, widths)), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths)).rstrip(), file=out)
    out.flush()


def write_results(name: str, payload: dict, path: str | Path | None = None) -> Path:
    path = Path(path) if path else RESULTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"benchmark": name, "machine": machine(), "command": " ".join([Path(sys.executable).name, *sys.argv]), **payload}
    path.write_text(json.dumps(data, indent=2, default=_jsonable) + "\n", encoding="utf-8")
    return path


def _jsonable(obj):
    if hasattr(obj, "__dataclass_fields__"):
        return asdict(obj)
    return str(obj)
