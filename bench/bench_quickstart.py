"""The README's quick start with the built-in local model, as a new user runs it:
`python -m bench.bench_quickstart [--runs 5]` (needs the [local] extra).

Runs `rlm ask examples/sample.txt "Which supplier missed the Q3 delivery deadline?"` once in a fresh
RLM_HOME (first use: the model's parts are checked) and then --runs more times, and prints the wall
time, the time until the first model reply, the turns taken and whether the answer is right, with the
spread; and what `--estimate` said beforehand. The figures in README's quick start come from here.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

from .common import ROOT, bench_env, machine, median, print_grid, rlm_argv, write_results

QUESTION = "Which supplier missed the Q3 delivery deadline?"
EXPECTED = "Brightwater Castings"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_quickstart", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--json-out", type=Path, default=None)
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        env = bench_env(Path(tmp, "home"))
        est = subprocess.run([*rlm_argv(), "ask", str(ROOT / "examples" / "sample.txt"), QUESTION, "--estimate"],
                             env=env, capture_output=True, text=True).stdout
        first = _run(env)
        runs = [_run(env) for _ in range(a.runs)]
    walls = [r["wall_s"] for r in runs]
    rows = [["first use (fresh RLM_HOME)", f"{first['wall_s']:.0f} s", f"{first['first_reply_s']:.0f} s", first["turns"],
             "yes" if first["right"] else "no"]]
    rows += [[f"run {i}", f"{r['wall_s']:.0f} s", f"{r['first_reply_s']:.0f} s", r["turns"], "yes" if r["right"] else "no"]
             for i, r in enumerate(runs, 1)]
    print_grid(f"README quick start, local model ({machine()['cpus']} cores, load {machine()['loadavg_1m']})",
               ["run", "wall", "first model reply", "turns", "right answer"], rows)
    print(f"\nlater runs: median {median(walls):.0f} s, min {min(walls):.0f} s, max {max(walls):.0f} s; "
          f"right {sum(r['right'] for r in runs)}/{len(runs)}")
    print("estimate beforehand: " + " ".join(line.strip() for line in est.splitlines() if "time:" in line or "calls" in line))
    res = {"first_use": first, "runs": runs, "estimate": est, "machine": machine()}
    print(f"results: {write_results('quickstart', res, a.json_out)}")
    return 0


def _run(env: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp, "trace.jsonl")
        t0 = time.perf_counter()
        out = subprocess.run([*rlm_argv(), "ask", str(ROOT / "examples" / "sample.txt"), QUESTION, "--trace", str(trace)],
                             env=env, capture_output=True, text=True, timeout=1800)
        wall = time.perf_counter() - t0
        events = [json.loads(line) for line in trace.read_text().splitlines()] if trace.is_file() else []
    first = next((e["t"] for e in events if e["kind"] == "model_end"), None)
    turns = sum(1 for e in events if e["kind"] == "model_end" and e["data"].get("role") == "root")
    return {"wall_s": wall, "first_reply_s": first if first is not None else float("nan"), "turns": turns,
            "right": EXPECTED.lower() in out.stdout.lower(), "answer": out.stdout.strip()[:200], "exit_code": out.returncode}


if __name__ == "__main__":
    raise SystemExit(main())
