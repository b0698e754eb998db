"""`rlm batch` throughput and memory: `python -m bench.bench_batch [--tasks 200] [--latency 0.3]`.

Every task makes 3 sequential model calls against the latency stub (root: read and ask a sub-call;
sub: answer; root: FINAL), so one task takes at least 3 x latency. Through the real CLI, as a user
runs it: tasks per minute at --parallel 1/8/32 (local engine) and 8 (local Ray), against the ideal
(parallel x 60 / (3 x latency)); the peak memory (PSS) of the whole process tree (driver, sandbox
workers, Ray's processes) and what each task in flight adds; the Ray engine's fixed start cost.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from .common import _children, bench_env, print_grid, rlm_argv, write_results
from .stub import BenchStub, ModelScript

FENCE = "```repl\n{}\n```"
ROOT_RULES = [
    ("Question: ", FENCE.format("note = llm_query('Summarise: ' + context[:200])\nprint('sub said', note)")),
    ("sub said", FENCE.format("FINAL(note)")),
]
CALLS_PER_TASK = 3


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_batch", description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", type=int, default=200)
    p.add_argument("--latency", type=float, default=0.3, help="seconds per model call")
    p.add_argument("--parallel", default="1,8,32", help="local engine settings to measure")
    p.add_argument("--ray-parallel", type=int, default=8, help="--parallel for the local Ray engine (0: skip Ray)")
    p.add_argument("--json-out", type=Path, default=None)
    a = p.parse_args(argv)
    rows, res = [], {"tasks": a.tasks, "latency_s": a.latency, "calls_per_task": CALLS_PER_TASK, "runs": []}
    with tempfile.TemporaryDirectory() as tmp, BenchStub({"root": ModelScript(rules=ROOT_RULES),
                                                          "sub": ModelScript(default="a summary")}, latency=a.latency) as stub:
        tasks = write_tasks(Path(tmp), a.tasks)
        configs = [("local", int(n)) for n in a.parallel.split(",") if n.strip()]
        configs += [("ray", a.ray_parallel)] if a.ray_parallel else []
        for engine, n in configs:
            r = measure(stub.url, tasks, Path(tmp), engine, n, a.latency)
            res["runs"].append(r)
            rows.append(row(r))
        res["ray_start_s"] = ray_start_cost(stub.url, Path(tmp)) if a.ray_parallel else None
    base = next((r for r in res["runs"] if r["engine"] == "local" and r["parallel"] == 1), None)
    for r in res["runs"]:
        r["rss_per_task_mb"] = per_task_mb(r, base)
    print_grid(f"rlm batch: {a.tasks} tasks x {CALLS_PER_TASK} calls, stub latency {a.latency:g} s per call",
               ["engine", "--parallel", "wall", "tasks/min", "ideal", "of ideal", "peak memory (tree PSS)", "per task in flight", "ok"],
               [row(r) for r in res["runs"]])
    if res["ray_start_s"] is not None:
        print(f"\nRay engine fixed cost (1 task, no latency, ray - local): {res['ray_start_s']:.1f} s")
    print(f"\nresults: {write_results('batch', res, a.json_out)}")
    return 0


def row(r: dict) -> list:
    per = r.get("rss_per_task_mb")
    return [r["engine"], r["parallel"], f"{r['wall_s']:.1f} s", f"{r['tasks_per_min']:.0f}", f"{r['ideal_per_min']:.0f}",
            f"{r['tasks_per_min'] / r['ideal_per_min']:.0%}", f"{r['peak_tree_mb']:.0f} MB",
            f"{per:.1f} MB" if per is not None else "", f"{r['answered']}/{r['tasks']}"]


def write_tasks(tmp: Path, n: int) -> Path:
    docs = tmp / "docs"
    docs.mkdir(exist_ok=True)
    lines = []
    for i in range(n):
        (docs / f"doc{i}.txt").write_text(f"Document {i}. " + "Some filler text. " * 200, encoding="utf-8")
        lines.append(json.dumps({"id": f"t{i}", "sources": f"docs/doc{i}.txt", "question": f"What is document {i} about?"}))
    path = tmp / "tasks.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def measure(url: str, tasks: Path, tmp: Path, engine: str, parallel: int, latency: float) -> dict:
    out = tmp / f"results-{engine}-{parallel}.jsonl"
    out.unlink(missing_ok=True)
    argv = [*rlm_argv(), "batch", str(tasks), "-m", "openai/root", "--sub-model", "openai/sub", "--api-base", url,
            "-o", str(out), "--parallel", str(parallel), "--concurrency", str(max(parallel, 8) * 2), "-q",
            "--engine", engine]
    wall, rc, peak = run_sampled(argv, bench_env(tmp / f"home-{engine}-{parallel}"))
    recs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] if out.exists() else []
    n = sum(1 for line in tasks.read_text().splitlines() if line.strip())
    ideal = parallel * 60 / (CALLS_PER_TASK * latency)
    return {"engine": engine, "parallel": parallel, "wall_s": wall, "rc": rc, "tasks": n, "peak_tree_mb": peak,
            "answered": sum(1 for r in recs if r.get("status") == "ok"), "tasks_per_min": n * 60 / wall,
            "ideal_per_min": ideal}


def run_sampled(argv: list[str], env: dict) -> tuple[float, int, float]:
    """(wall seconds, exit code, peak of the summed RSS of the process tree in MB)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    peak = [0.0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], tree_rss_mb(proc.pid))
            stop.wait(0.05)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    _, err = proc.communicate(timeout=3600)
    wall = time.perf_counter() - t0
    stop.set()
    t.join()
    if proc.returncode:
        print(err.decode(errors="replace")[-2000:])
    return wall, proc.returncode, peak[0]


def tree_rss_mb(pid: int) -> float:
    """Memory of `pid` and every descendant (Ray's processes included: they are its children), in MB:
    the sum of each process's PSS (shared pages split between their users, so a child forked but not
    yet exec'd does not count the parent's memory twice); VmRSS where smaps_rollup is not readable."""
    total, stack, seen = 0.0, [pid], set()
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        kb = _field(f"/proc/{p}/smaps_rollup", "Pss:") or _field(f"/proc/{p}/status", "VmRSS:")
        if kb is None:
            continue
        total += kb / 1024
        stack += _children(p)
    return total


def _field(path: str, name: str) -> int | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(name):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def per_task_mb(r: dict, base: dict | None) -> float | None:
    """What each task in flight adds to the tree's peak, against --parallel 1 of the same engine."""
    if base is None or r["parallel"] <= 1 or r["engine"] != "local":
        return None
    return (r["peak_tree_mb"] - base["peak_tree_mb"]) / (r["parallel"] - 1)


def ray_start_cost(url: str, tmp: Path) -> float:
    """One task at zero latency with each engine: the difference is what Ray adds once per batch."""
    tasks = write_tasks(tmp / "one", 1) if (tmp / "one").mkdir() is None else None
    walls = {}
    for engine in ("local", "ray"):
        out = tmp / "one" / f"{engine}.jsonl"
        argv = [*rlm_argv(), "batch", str(tasks), "-m", "openai/root", "--sub-model", "openai/sub", "--api-base", url,
                "-o", str(out), "-q", "--engine", engine]
        env = bench_env(tmp / "one" / f"home-{engine}")
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, timeout=600)
        walls[engine] = time.perf_counter() - t0
    return walls["ray"] - walls["local"]


if __name__ == "__main__":
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    raise SystemExit(main())
