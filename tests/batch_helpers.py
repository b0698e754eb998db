"""Shared by the batch tests that drive a real `rlm batch` process (Ctrl-C, Ray)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ANSWER = "```repl\nimport re\nFINAL('{1}=' + re.search(r'word (\\w+)', context).group(1))\n```"


def twenty_tasks(tmp_path: Path, n: int = 20) -> Path:
    rows = []
    for i in range(1, n + 1):
        (tmp_path / f"d{i}.txt").write_text(f"the word w{i} is here\n", encoding="utf-8")
        rows.append({"id": f"t{i}", "sources": f"d{i}.txt", "question": f"q{i} which word?"})
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def scripts(script) -> tuple[str, str]:
    """(a model whose tasks t11..t20 hang for 60 s, so Ctrl-C always lands mid-batch; the same without)."""
    rule = {"when": r"Question: (\w+)", "reply": ANSWER}
    hang = {"when": r"Question: (q1[1-9]|q20)\b", "reply": ANSWER, "delay": 60}
    return script([hang, rule]), script([rule])


def env_for(rlm_home: Path) -> dict:
    return dict(os.environ, RLM_HOME=str(rlm_home), PYTHONUNBUFFERED="1")


def start(args: list, rlm_home: Path) -> subprocess.Popen:
    env = env_for(rlm_home)
    return subprocess.Popen([sys.executable, "-m", "rlm_cli", "batch", *map(str, args)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)


def lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def interrupt_after(proc: subprocess.Popen, out: Path, n: int, deadline_s: float = 150) -> tuple[int, str]:
    """SIGINT once `out` holds n records; (exit code, stderr)."""
    deadline = time.monotonic() + deadline_s
    while lines(out) < n and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=40)  # the hung tasks would take 60 s: exiting means they were abandoned
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode, err


def check_all_answered_once(out: Path, n: int = 20) -> None:
    recs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    ids = [r["id"] for r in recs]
    assert sorted(ids) == sorted(f"t{i}" for i in range(1, n + 1)), ids  # every id exactly once
    for r in recs:
        k = r["id"][1:]
        assert r["status"] == "ok" and r["answer"] == f"q{k}={'w' + k}", r


def run(args: list, rlm_home: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rlm_cli", "batch", *map(str, args)], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout, env=env_for(rlm_home))
