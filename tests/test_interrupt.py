"""Ctrl-C: noticed at once wherever the main thread waits, the in-flight calls abandoned, exactly one
terminal event (`interrupted`), nothing printed after it. Timing margins are wide on purpose: the
blocked work lasts 30-60 s, the assertions allow 10 s (exact figures: bench/bench_interrupt.py)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

from rlm_cli.context import Context
from rlm_cli.engine import Run, RunConfig
from rlm_cli.backends.scripted import ScriptedModel
from rlm_cli.sandbox import SandboxOptions
from rlm_cli.usage import Limits

SLOW_BATCH = [
    {"when": "Question: ", "turn": 1, "reply": "```repl\nprint('asking')\nnotes = llm_query_batched(['a', 'b', 'c'])\n```"},
    {"when": "^[abc]$", "reply": "note", "delay": 30},
]


def _interrupt_when(events: list, kind: str, delay: float = 0.3) -> threading.Thread:
    """Send SIGINT to this process from a helper thread once `kind` was emitted: the kernel delivers a
    process-directed signal to the sending thread, so the main thread must notice it on its own."""
    def fire():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(e.kind == kind for e in list(events)):
            time.sleep(0.02)
        time.sleep(delay)
        os.kill(os.getpid(), signal.SIGINT)

    t = threading.Thread(target=fire, daemon=True)
    t.start()
    return t


def _run(rules, **limits) -> tuple[Run, list]:
    model = ScriptedModel.from_dict({"rules": rules})
    run = Run(model, RunConfig("scripted/r", "scripted/s", Limits(**limits), sandbox=SandboxOptions(exec_timeout=60)))
    events: list = []
    run.bus.add(events.append)
    return run, events


def test_sigint_on_a_helper_thread_stops_a_long_exec_at_once():
    run, events = _run([{"when": "Question", "reply": "```repl\nimport time\ntime.sleep(45)\n```"}])
    _interrupt_when(events, "code_start")
    t0 = time.monotonic()
    result = run.execute("q", Context.from_text("abc"))
    assert time.monotonic() - t0 < 10
    assert result.status == "interrupted" and result.exit_code == 130
    assert [e.kind for e in events].count("interrupted") == 1 and events[-1].kind == "interrupted"


def test_sigint_during_a_batch_does_not_wait_for_the_calls_in_flight():
    run, events = _run(SLOW_BATCH)
    _interrupt_when(events, "subcall_start")
    t0 = time.monotonic()
    result = run.execute("q", Context.from_text("abc"))
    assert time.monotonic() - t0 < 10  # the three 30 s calls were abandoned
    assert result.status == "interrupted"
    kinds = [e.kind for e in events]
    assert kinds[-1] == "interrupted" and kinds.count("interrupted") == 1
    time.sleep(0.5)
    assert [e.kind for e in events][-1] == "interrupted"  # nothing emitted after the end (bus closed)


def test_cli_sigint_mid_batch_exits_130_at_once_with_nothing_after_interrupted(script, tmp_path, rlm_home):
    doc = tmp_path / "doc.txt"
    doc.write_text("text\n" * 50, encoding="utf-8")
    env = dict(os.environ, RLM_HOME=str(rlm_home), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "rlm_cli", "ask", str(doc), "q?", "-m", script(SLOW_BATCH), "-v"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    runs = rlm_home / "logs" / "runs"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        files = list(runs.glob("*.jsonl")) if runs.is_dir() else []
        if files and '"subcall_start"' in files[0].read_text(encoding="utf-8"):
            break
        time.sleep(0.05)
    time.sleep(0.3)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    elapsed = time.monotonic() - t0
    text = err.decode()
    assert proc.returncode == 130, text
    assert elapsed < 10, f"exit took {elapsed:.1f} s (the calls in flight last 30 s)"
    assert "stopping…" in text
    after = text.split("interrupted: interrupted", 1)[1]
    assert "llm_query" not in after and "sub call" not in after  # no sub-call line after the end
    events = [json.loads(line) for line in files[0].read_text(encoding="utf-8").splitlines()]
    assert events[-1]["kind"] == "interrupted"
    assert sum(e["kind"] == "interrupted" for e in events) == 1
