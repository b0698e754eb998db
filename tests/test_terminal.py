"""The real CLI in a real terminal (tmux): the live tree appears while it runs and ends with the answer panel."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from test_render import RULES, TEXT

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
SLOW_RULES = [dict(r, delay=1.5) if r.get("when") == "Turn 3 of" else r for r in RULES]


class Tmux:
    def __init__(self, cwd, environ: dict):
        self.name = f"rlm-test-{uuid.uuid4().hex[:8]}"
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in environ.items())
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", "120", "-y", "40", "-c", str(cwd),
                        f"env {exports} bash --norc --noprofile"], check=True)

    def send(self, line: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, line, "Enter"], check=True)

    def screen(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True,
                              check=True).stdout

    def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        pytest.fail(f"{text!r} never appeared on the screen:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


@pytest.fixture
def term(tmp_path, rlm_home):
    (tmp_path / "report.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "model.json").write_text(json.dumps({"rules": SLOW_RULES}), encoding="utf-8")
    bindir = os.path.dirname(sys.executable)
    t = Tmux(tmp_path, {"RLM_HOME": str(rlm_home), "PATH": f"{bindir}:/usr/bin:/bin", "TERM": "xterm-256color",
                        "PS1": "$ ", "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    yield t
    t.close()


ASK = f"{shlex.quote(sys.executable)} -m rlm_cli ask report.txt 'Which supplier missed the deadline?' -m scripted/model.json"


def test_live_tree_in_a_terminal_ends_with_the_answer_panel(term):
    term.send(f"{ASK}; echo EXIT=$?")
    running = term.wait_for("iteration 3/20")  # the last turn takes 1.5 s: catch the tree mid-run
    assert "r Which supplier missed the deadline?" in running
    assert any(ln.startswith("… running") for ln in running.splitlines())
    assert "╭─ Answer" not in running
    screen = term.wait_for("EXIT=0")
    lines = screen.splitlines()
    start = next(i for i, ln in enumerate(lines) if "✓ r Which supplier missed the deadline?" in ln)
    panel = next(i for i, ln in enumerate(lines) if ln.startswith("╭─ Answer"))
    assert start < panel
    assert any("rlm_query_batched ×2" in ln for ln in lines[start:panel])
    assert any(ln.startswith("✓ ok") and "16 calls" in ln for ln in lines[start:panel])
    assert "│ ACME missed the deadline." in lines[panel + 1]
    assert not any("… running" in ln for ln in lines)  # the final frame replaced the running ones


def test_pipe_gets_only_the_answer_while_the_terminal_shows_the_tree(term, tmp_path):
    term.send(f"{ASK} | cat > answer.txt; echo EXIT=${{PIPESTATUS[0]}}")
    screen = term.wait_for("EXIT=0")
    assert "╭─ Answer" in screen and "rlm_query_batched ×2" in screen
    assert (tmp_path / "answer.txt").read_text(encoding="utf-8") == (
        "**ACME** missed the deadline.\n\n- found in part 1\n- confirmed by a sub-agent\n")
