"""Ctrl-C and kill -9 mid-run: the trajectory stays parseable; SIGINT exits 130 after a clean shutdown."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SLEEPY = [
    {"when": "Question: ", "turn": 1, "reply": "```repl\nprint('start')\nnotes = llm_query_batched(['a', 'b'])\n```"},
    {"when": "Turn 2 of", "reply": "```repl\nimport time\nprint('sleeping')\ntime.sleep(60)\n```"},
    {"when": "^[ab]$", "reply": "note"},
]


def _start(script, tmp_path, rlm_home) -> tuple[subprocess.Popen, Path]:
    doc = tmp_path / "doc.txt"
    doc.write_text("some text to read\n" * 100, encoding="utf-8")
    env = dict(os.environ, RLM_HOME=str(rlm_home), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "rlm_cli", "ask", str(doc), "what is it?", "-m", script(SLEEPY), "-v"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            start_new_session=True)
    runs = rlm_home / "logs" / "runs"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait until the REPL is inside time.sleep(60)
        files = list(runs.glob("*.jsonl")) if runs.is_dir() else []
        if files and '"block": 1, "code": "import time' in files[0].read_text(encoding="utf-8"):
            time.sleep(0.3)
            return proc, files[0]
        time.sleep(0.05)
    proc.kill()
    pytest.fail("the run never reached the sleeping code block")


def _workers(owner: int) -> set[int]:
    """REPL workers started by the rlm process `owner` (their scratch dir names it; other rlm processes
    on the machine, e.g. other test runs, are not counted)."""
    found = set()
    for pid in os.listdir("/proc"):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except (OSError, ValueError):
            continue
        if pid.isdigit() and b"rlm_cli/sandbox/worker.py" in cmd and f"rlm-scratch-{owner}-" in cwd:
            found.add(int(pid))
    return found


def test_sigint_leaves_a_trajectory_ending_with_interrupted_and_exits_130(script, tmp_path, rlm_home):
    proc, path = _start(script, tmp_path, rlm_home)
    assert _workers(proc.pid), "the test cannot see the run's REPL worker"
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - t0 < 10  # did not wait for the 60 s sleep
    assert proc.returncode == 130, err
    assert out == b""
    assert "interrupted: interrupted in" in err.decode()  # the -v line of the final event
    lines = path.read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]  # every line parses
    assert events[-1]["kind"] == "interrupted"
    assert {"calls", "tokens", "cost_usd"} <= set(events[-1]["data"])
    deadline = time.monotonic() + 5
    while _workers(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _workers(proc.pid), "REPL workers left running after Ctrl-C"


def test_sigkill_leaves_only_complete_parseable_lines(script, tmp_path, rlm_home, cli):
    proc, path = _start(script, tmp_path, rlm_home)
    alive = cli(["logs", "list"])
    assert " running " in alive.stdout.splitlines()[1]  # the run holds its trajectory: not "killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    raw = path.read_text(encoding="utf-8")
    complete = raw.splitlines() if raw.endswith("\n") else raw.splitlines()[:-1]
    events = [json.loads(line) for line in complete]
    assert events[0]["kind"] == "run_start" and events[-1]["kind"] == "code_start"
    r = cli(["logs", "list"])
    assert " incomplete " in r.stdout.splitlines()[1]
    shown = cli(["logs", "show", "latest", "--color", "never", "--width", "100"])
    assert shown.exit_code == 0 and "╭─ Failed" in shown.stdout and "(killed)" in shown.stdout
