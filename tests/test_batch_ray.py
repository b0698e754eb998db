"""The Ray engine (extra [ray]) on a local Ray instance started by `rlm batch --engine ray` itself:
the same records as the local engine, the shared budget held by the actor, Ctrl-C then resume.
Slow (each run starts Ray: ~5-10 s here); CI runs them (`pytest -m slow` after installing [ray])."""
from __future__ import annotations

import re

import json

import pytest
from batch_helpers import ANSWER, check_all_answered_once, interrupt_after, lines, run, scripts, start, twenty_tasks

pytest.importorskip("ray", reason="the [ray] extra is not installed")
pytestmark = pytest.mark.slow


def _outcomes(path) -> dict:
    recs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return {r["id"]: (r["status"], r["exit_code"], r["answer"], r["sources"], r["question"]) for r in recs}


def test_ray_engine_gives_the_same_records_as_the_local_engine(script, tmp_path, rlm_home):
    tasks = twenty_tasks(tmp_path, 6)
    with tasks.open("a", encoding="utf-8") as f:
        f.write(json.dumps({"id": "bad", "sources": "missing.txt", "question": "q7 which word?"}) + "\n")
        f.write(json.dumps({"id": "two", "sources": ["d2.txt", "d1.txt"], "question": "q8 which word?"}) + "\n")
    model = script([{"when": r"Question: (\w+)", "reply": ANSWER}])
    local, ray = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    a = run([tasks, "-m", model, "-o", local, "--parallel", "2"], rlm_home)
    b = run([tasks, "-m", model, "-o", ray, "--parallel", "2", "--engine", "ray"], rlm_home)
    assert a.returncode == b.returncode == 3, (a.stderr, b.stderr)
    assert _outcomes(local) == _outcomes(ray)
    assert _outcomes(ray)["two"][2] == "q8=w2" and _outcomes(ray)["bad"][:2] == ("error", 3)


def test_ray_engine_shared_budget_stops_new_tasks(script, tmp_path, rlm_home):
    tasks = twenty_tasks(tmp_path, 4)
    two_turns = script([{"when": r"Question: (\w+)", "reply": "```repl\nprint('looking')\n```"},
                        {"when": "looking", "reply": "```repl\nFINAL('done')\n```"}])
    out = tmp_path / "r.jsonl"
    r = run([tasks, "-m", two_turns, "-o", out, "--parallel", "1", "--max-calls", "3", "--engine", "ray"], rlm_home)
    assert r.returncode == 5, r.stderr
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [x["id"] for x in recs] == ["t1"] and "batch's call limit of 3" in r.stderr


def test_ray_engine_sigint_half_way_then_resume(script, tmp_path, rlm_home):
    tasks = twenty_tasks(tmp_path)
    out = tmp_path / "results.jsonl"
    hanging, plain = scripts(script)
    proc = start([tasks, "-m", hanging, "-o", out, "--parallel", "2", "--engine", "ray"], rlm_home)
    code, err = interrupt_after(proc, out, 10)
    assert code == 130, err
    assert lines(out) == 10 and re.search(r"the [12] in flight (was|were) not saved", err)
    again = run([tasks, "-m", plain, "-o", out, "--engine", "ray", "-q"], rlm_home)
    assert again.returncode == 0, again.stderr
    check_all_answered_once(out)
