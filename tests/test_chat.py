"""`rlm chat`: piped (one answer per question line) and on a real terminal (tmux), where Ctrl-C in the
middle of a question stops it and the next question still sees the variables."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys

import pytest

from test_conversations import DOC, RULES
from test_terminal import Tmux

R = "```repl\n{}\n```"
SLOW = [{"when": "Question: Take your time", "reply": R.format("import time\nslow = 'started'\ntime.sleep(60)\nFINAL('late')")}]


@pytest.fixture
def doc(tmp_path):
    path = tmp_path / "doc.txt"
    path.write_text(DOC, encoding="utf-8")
    return path


def test_piped_questions_give_one_answer_each_and_share_variables(cli, script, doc):
    r = cli(["chat", doc, "-m", script(RULES)], stdin=b"Which suppliers missed?\n\nHow many?\n")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "Acme Corp, CraneWorks\n2 suppliers, first: Acme Corp\n"


def test_piped_json_is_one_object_per_line_with_the_ask_schema(cli, script, doc):
    r = cli(["chat", doc, "-m", script(RULES), "--json"], stdin=b"Which suppliers missed?\nHow many?\n")
    assert r.exit_code == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    asked = cli(["ask", doc, "Which suppliers missed?", "-m", script(RULES), "--json"]).json()
    assert [x["answer"] for x in lines] == ["Acme Corp, CraneWorks", "2 suppliers, first: Acme Corp"]
    assert set(lines[0]) == set(asked) and lines[0]["conversation"] == lines[1]["conversation"]


def test_piped_commands_report_on_stderr_only(cli, script, doc, tmp_path):
    extra = tmp_path / "extra.txt"
    extra.write_text("Delta Inc missed the deadline as well.\n", encoding="utf-8")
    rules = RULES + [{"when": "Question: And in the new file", "reply": R.format(
        "more = [m.start() for m in re.finditer('missed', context)]\nFINAL(f'{len(more)} in all, {len(hits)} before')")}]
    stdin = f"Which suppliers missed?\n/vars\n/add {extra}\nAnd in the new file?\n/reset\n/vars\n/cost\n".encode()
    r = cli(["chat", doc, "-m", script(rules)], stdin=stdin)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "Acme Corp, CraneWorks\n3 in all, 2 before\n"
    assert "hits: list, 2 items" in r.stderr and "added 1 source(s)" in r.stderr
    assert "(no variables yet)" in r.stderr and "2 question(s), 2 calls" in r.stderr


def test_chat_needs_sources_or_a_conversation(cli):
    r = cli(["chat"], stdin=b"hello\n")
    assert r.exit_code == 2 and "needs SOURCES" in r.stderr


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_terminal_session_ctrl_c_mid_question_keeps_the_conversation(tmp_path, rlm_home, doc):
    (tmp_path / "model.json").write_text(json.dumps({"rules": RULES + SLOW}), encoding="utf-8")
    bindir = os.path.dirname(sys.executable)
    term = Tmux(tmp_path, {"RLM_HOME": str(rlm_home), "PATH": f"{bindir}:/usr/bin:/bin", "TERM": "xterm-256color",
                           "PS1": "$ ", "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    try:
        term.send(f"{shlex.quote(sys.executable)} -m rlm_cli chat doc.txt -m scripted/model.json; echo EXIT=$?")
        term.wait_for("rlm>")
        term.send("Which suppliers missed?")
        term.wait_for("Acme Corp, CraneWorks")
        term.send("Take your time")
        term.wait_for("time.sleep(60)")
        subprocess.run(["tmux", "send-keys", "-t", term.name, "C-c"], check=True)
        term.wait_for("stopped: the conversation and its variables are kept", timeout=20)
        term.send("How many?")
        term.wait_for("2 suppliers, first: Acme Corp", timeout=30)  # `hits` and `who` survived the Ctrl-C
        term.send("/vars")
        screen = term.wait_for("who: function")
        assert "hits: list, 2 items" in screen
        subprocess.run(["tmux", "send-keys", "-t", term.name, "C-d"], check=True)
        screen = term.wait_for("EXIT=0", timeout=20)
        assert "3 question(s)" in screen
    finally:
        term.close()
