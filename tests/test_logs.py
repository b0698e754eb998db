"""Saved runs: the trajectory file, `rlm logs list | show | prune`, redaction, linear growth."""
from __future__ import annotations

import io
import json
import re

import pytest
from rich.console import Console

from rlm_cli.ui import trajectory
from rlm_cli.ui.tree import RenderOptions, TreeState
from test_render import RULES, TEXT

QUESTION = "Which supplier missed the deadline?"


@pytest.fixture
def doc(tmp_path):
    path = tmp_path / "report.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture
def ran(cli, script, doc):
    """One finished run; returns its JSON result."""
    r = cli(["ask", doc, QUESTION, "-m", script(RULES), "--json"])
    assert r.exit_code == 0, r.stderr
    return r.json()


def test_trajectory_is_one_valid_jsonl_file_per_run(ran):
    path = trajectory.runs_dir() / f"{ran['run_id']}.jsonl"
    assert ran["trajectory"] == str(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    kinds = [json.loads(line)["kind"] for line in lines]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end"
    assert kinds.count("node_start") == 3 and kinds.count("subcall_start") == 4
    assert (path.stat().st_mode & 0o777) == 0o600


def test_logs_list_shows_time_status_cost_question(cli, ran):
    r = cli(["logs", "list"])
    assert r.exit_code == 0
    header, row = r.stdout.splitlines()
    assert header.split() == ["RUN", "STARTED", "STATUS", "COST", "CALLS", "QUESTION"]
    assert re.match(rf"{ran['run_id']}  \d{{4}}-\d\d-\d\d \d\d:\d\d  ok +\$0\.0000 +16 +{re.escape(QUESTION)}$", row)
    js = [json.loads(line) for line in cli(["logs", "list", "--json"]).stdout.splitlines()]
    assert js[0]["run_id"] == ran["run_id"] and js[0]["status"] == "ok" and js[0]["calls"] == ran["calls"]


def test_logs_show_re_renders_the_tree_with_the_live_render_code(cli, ran):
    r = cli(["logs", "show", "latest", "--color", "never", "--width", "100"])
    assert r.exit_code == 0, r.stderr
    events = trajectory.read_events(trajectory.find_run(ran["run_id"]))
    console = Console(width=100, color_system=None, file=io.StringIO(), record=True)
    console.print(TreeState.from_events(events, RenderOptions()))
    assert r.stdout == console.export_text()
    assert "├── ✓ rlm_query_batched ×2" in r.stdout and "r.2 Find the quarter" in r.stdout
    assert "╭─ Answer" in r.stdout and "• confirmed by a sub-agent" in r.stdout
    # the same run by id prefix, and by path
    assert cli(["logs", "show", ran["run_id"][:-2], "--color", "never", "--width", "100"]).stdout == r.stdout
    assert cli(["logs", "show", ran["trajectory"], "--color", "never", "--width", "100"]).stdout == r.stdout


def test_logs_show_json_dumps_the_events(cli, ran):
    r = cli(["logs", "show", ran["run_id"], "--json"])
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert events[0]["kind"] == "run_start" and events[0]["data"]["run_id"] == ran["run_id"]
    assert events[-1]["kind"] == "run_end" and events[-1]["data"]["answer"] == ran["answer"]
    assert {"kind", "node", "depth", "t", "data"} <= set(events[5])


def test_logs_show_to_file_is_written(cli, ran, tmp_path):
    out = tmp_path / "tree.txt"
    r = cli(["logs", "show", "latest", "--collapse", "-o", out])
    assert r.exit_code == 0 and r.stdout == ""
    assert "▸ iteration 1 collapsed" in out.read_text(encoding="utf-8")


def test_unknown_and_ambiguous_run_ids_are_input_errors(cli, ran, script, doc):
    r = cli(["logs", "show", "nope"])
    assert r.exit_code == 3 and r.stderr.startswith("rlm: error: nope: no saved run with this id")
    cli(["ask", doc, QUESTION, "-m", script(RULES)])
    r = cli(["logs", "show", ran["run_id"][:4]])
    assert r.exit_code == 3 and "ambiguous run id (2 runs match)" in r.stderr


def test_logs_show_latest_without_runs(cli):
    r = cli(["logs", "show", "latest"])
    assert r.exit_code == 3 and "no saved runs yet" in r.stderr
    assert cli(["logs", "list"]).stderr.startswith("rlm: no saved runs in ")


def test_prune_keeps_the_newest(cli, script, doc):
    model = script(RULES)
    ids = [cli(["ask", doc, QUESTION, "-m", model, "--json"]).json()["run_id"] for _ in range(3)]
    r = cli(["logs", "prune", "--keep", "1"])
    assert r.exit_code == 0 and r.stderr == "rlm: removed 2 run(s), kept 1\n"
    assert [p.stem for p in trajectory.run_files()] == [sorted(ids)[-1]]


def test_secrets_are_redacted_in_the_trajectory(cli, script, doc):
    secret = "sk-test-SECRETVALUE123456"
    r = cli(["ask", doc, f"Is {secret} in there?", "-m", script(RULES, default='```repl\nFINAL("no")\n```'), "--json"],
            environ={"OPENAI_API_KEY": secret})
    assert r.exit_code == 0, r.stderr
    text = open(r.json()["trajectory"], encoding="utf-8").read()
    assert "SECRETVALUE" not in text and "[REDACTED]" in text


def _looping_run(cli, script, doc, turns: int) -> int:
    """A run of `turns` iterations, each printing 2 KB; returns its trajectory size."""
    rules = [{"when": f"Turn {turns} of", "reply": '```repl\nFINAL("done")\n```'},
             {"when": "", "reply": "```repl\nprint('x' * 2000)\n```"}]
    r = cli(["ask", doc, "q", "-m", script(rules), "--json", "--max-iterations", str(turns + 1)])
    assert r.exit_code == 0, r.stderr
    return len(open(r.json()["trajectory"], "rb").read())


def test_trajectory_grows_linearly_with_iterations(cli, script, doc):
    sizes = {n: _looping_run(cli, script, doc, n) for n in (3, 6, 12)}
    per_turn_small = (sizes[6] - sizes[3]) / 3
    per_turn_large = (sizes[12] - sizes[6]) / 6
    assert per_turn_large == pytest.approx(per_turn_small, rel=0.1)  # no repeated message history
    assert per_turn_small < 6_000  # ~2 KB of output plus the event envelope
