"""The stderr sinks through the real CLI: live tree on a terminal, plain lines with -v, quiet, colour rules."""
from __future__ import annotations

import io
import re

import pytest

from rlm_cli.cli import Env
from rlm_cli.ui.display import LiveTree, PlainLines, color_enabled, make_display
from test_render import RULES, TEXT

ANSWER = "**ACME** missed the deadline.\n\n- found in part 1\n- confirmed by a sub-agent\n"
QUESTION = "Which supplier missed the deadline?"


@pytest.fixture
def doc(tmp_path):
    path = tmp_path / "report.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def _env(tty: bool, **environ) -> Env:
    return Env(stdout=io.StringIO(), stderr=io.StringIO(), stderr_isatty=tty, environ=dict(environ))


@pytest.mark.parametrize("tty, quiet, verbose, kind", [
    (True, False, False, LiveTree), (False, False, False, PlainLines), (True, False, True, PlainLines),
    (True, True, False, PlainLines), (False, False, True, PlainLines),
])
def test_display_choice(tty, quiet, verbose, kind):
    assert type(make_display(_env(tty, TERM="xterm"), quiet=quiet, verbose=verbose)) is kind


def test_dumb_terminal_gets_no_live_display():
    assert isinstance(make_display(_env(True, TERM="dumb")), PlainLines)


@pytest.mark.parametrize("color, tty, environ, expected", [
    ("auto", True, {}, True), ("auto", False, {}, False), ("auto", True, {"NO_COLOR": "1"}, False),
    ("auto", True, {"NO_COLOR": ""}, True), ("always", False, {"NO_COLOR": "1"}, True), ("never", True, {}, False),
])
def test_color_rules(color, tty, environ, expected):
    assert color_enabled(_env(tty, **environ), color, tty) is expected


def test_pipe_stdout_holds_only_the_answer_and_verbose_lines_go_to_stderr(cli, script, doc):
    r = cli(["ask", doc, QUESTION, "-m", script(RULES), "-v"])
    assert r.exit_code == 0, r.stderr
    assert r.stdout == ANSWER
    lines = r.stderr.splitlines()
    assert re.match(r"\[ *\d+\.\d\ds\] r +run \S+: Which supplier", lines[0])
    assert any(re.search(r"r\.1 +child RLM: Find the supplier", ln) for ln in lines)
    assert any("llm_query_batched x6" in ln for ln in lines)
    assert any("node ok after 1 iterations: Q3" in ln for ln in lines)
    assert "\x1b[" not in r.stderr  # not a terminal: no colour, no cursor moves


def test_no_tty_without_verbose_prints_only_the_evidence_warning_on_success(cli, script, doc):
    r = cli(["ask", doc, QUESTION, "-m", script(RULES)])
    assert (r.exit_code, r.stdout, r.stderr) == (0, ANSWER, "rlm: warning: no verified evidence supports the answer\n")
    cited = [{"when": "Question", "reply": "```repl\nFINAL('ACME', evidence='The supplier ACME missed')\n```"}]
    r = cli(["ask", doc, QUESTION, "-m", script(cited)])
    assert (r.exit_code, r.stdout, r.stderr) == (0, "ACME\n", "")


def test_quiet_prints_only_errors(cli, script, doc):
    ok = cli(["ask", doc, QUESTION, "-m", script(RULES), "-q"], stderr_tty=True)
    assert (ok.exit_code, ok.stdout, ok.stderr) == (0, ANSWER, "")
    bad = cli(["ask", doc, QUESTION, "-m", script([], default="no code here"), "-q", "--max-iterations", "1"],
              stderr_tty=True)
    assert bad.exit_code == 5 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "rlm: error: no answer after 1 iterations" in bad.stderr


def test_live_tree_on_a_terminal_ends_with_the_answer_panel(cli, script, doc):
    r = cli(["ask", doc, QUESTION, "-m", script(RULES)], stderr_tty=True, environ={"TERM": "xterm", "COLUMNS": "100"})
    assert r.exit_code == 0 and r.stdout == ANSWER
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", r.stderr)
    assert "r Which supplier missed the deadline?" in plain
    assert "rlm_query_batched ×2" in plain
    panel = plain[plain.rindex("╭─ Answer"):]
    assert "ACME missed the deadline." in panel and "• confirmed by a sub-agent" in panel
    assert "\x1b[3" in r.stderr  # coloured on a terminal


def test_live_tree_honours_no_color_and_color_never(cli, script, doc):
    for extra, environ in (([], {"TERM": "xterm", "NO_COLOR": "1"}), (["--color", "never"], {"TERM": "xterm"})):
        r = cli(["ask", doc, QUESTION, "-m", script(RULES), *extra], stderr_tty=True, environ=environ)
        assert r.exit_code == 0
        assert "╭─ Answer" in r.stderr
        assert not re.search(r"\x1b\[[0-9;]*m", r.stderr), extra  # cursor control only, no SGR colour


def test_color_always_colours_plain_lines(cli, script, doc):
    r = cli(["ask", doc, QUESTION, "-m", script(RULES), "-v", "--color", "always"])
    assert r.exit_code == 0 and r.stdout == ANSWER
    assert "\x1b[2m[" in r.stderr
