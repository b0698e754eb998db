"""Ctrl-C latency: `python -m bench.bench_interrupt [--runs 5] [--no-local]`.

A real `rlm ask` process gets SIGINT while it waits in each of the three places issue 12 names:
a long code block in the REPL, a batch of slow sub-calls (3 x 20 s, scripted delay), and a local
model generation (a C call that never looks at signals; needs the [local] extra). Prints, per case,
the time from the signal to "stopping…" on stderr and to the process's exit, median and worst.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .common import bench_env, median, print_grid, rlm_argv, write_results

FENCE = "```repl\n{}\n```"
CASES = {
    "long code block (time.sleep(60))": ({"rules": [{"when": "Question", "reply": FENCE.format(
        "import time\ntime.sleep(60)")}]}, "code_start"),
    "llm_query_batched, 3 calls of 20 s": ({"rules": [
        {"when": "Question", "turn": 1, "reply": FENCE.format("r = llm_query_batched(['a', 'b', 'c'])")},
        {"when": "^[abc]$", "reply": "x", "delay": 20}]}, "subcall_start"),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_interrupt", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--no-local", action="store_true", help="skip the local-model case")
    p.add_argument("--json-out", type=Path, default=None)
    a = p.parse_args(argv)
    rows, res = [], {}
    cases = [(name, rules, when, []) for name, (rules, when) in CASES.items()]
    if not a.no_local and _local_available():
        cases.append(("local model generation", None, "model_start", ["-p", "local"]))
    for name, rules, when, extra in cases:
        runs = [_once(rules, when, extra) for _ in range(a.runs)]
        res[name] = runs
        exits = [r["exit_s"] for r in runs]
        notes = [r["stopping_s"] for r in runs if r["stopping_s"] is not None]
        rows.append([name, f"{median(notes) * 1e3:.0f} ms" if notes else "never", f"{median(exits):.2f} s",
                     f"{max(exits):.2f} s", ",".join(sorted({str(r['code']) for r in runs})),
                     "PASS" if max(exits) < 1 and all(r["code"] == 130 for r in runs) else "FAIL"])
    print_grid(f"Ctrl-C while rlm waits ({a.runs} runs each; target: exit < 1 s)",
               ["waiting in", "'stopping…' after", "exit after (median)", "worst", "exit code", "< 1 s"], rows)
    print(f"\nresults: {write_results('interrupt', res, a.json_out)}")
    return 0


def _local_available() -> bool:
    try:
        from rlm_cli.backends import local

        return local.available()
    except ImportError:
        return False


def _once(rules: dict | None, when: str, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        doc = Path(tmp, "doc.txt")
        doc.write_text("The gate code is 4417. " * 300, encoding="utf-8")
        args = list(extra)
        if rules is not None:
            Path(tmp, "m.json").write_text(json.dumps(rules), encoding="utf-8")
            args = ["-m", f"scripted/{Path(tmp, 'm.json')}"]
        env = bench_env(Path(tmp, "home"))
        proc = subprocess.Popen([*rlm_argv(), "ask", str(doc), "What is the gate code?", *args, "-v"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        seen = _watch(proc)
        _wait_for_event(Path(tmp, "home", "logs", "runs"), when)
        time.sleep(1.0)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
        t_exit = time.monotonic() - t0
        stopping = seen.get("stopping")
        return {"code": proc.returncode, "exit_s": t_exit, "stopping_s": stopping - t0 if stopping else None}


def _watch(proc) -> dict:
    seen: dict = {}

    def read():
        for line in proc.stderr:
            if b"stopping" in line and "stopping" not in seen:
                seen["stopping"] = time.monotonic()

    threading.Thread(target=read, daemon=True).start()
    return seen


def _wait_for_event(runs: Path, kind: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = list(runs.glob("*.jsonl")) if runs.is_dir() else []
        if files and f'"{kind}"' in files[0].read_text(encoding="utf-8"):
            return
        time.sleep(0.02)
    raise RuntimeError(f"the run never reached {kind}")


if __name__ == "__main__":
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    sys.exit(main())
