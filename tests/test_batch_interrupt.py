"""Ctrl-C on a real `rlm batch` process half-way, then the same command again: every id exactly once,
every answer right. (Tasks t11..t20 hang in the first run, so the signal always lands mid-batch.)"""
from __future__ import annotations

import re

from batch_helpers import check_all_answered_once, interrupt_after, lines, run, scripts, start, twenty_tasks


def test_sigint_half_way_then_resume_answers_every_id_exactly_once(script, tmp_path, rlm_home):
    tasks = twenty_tasks(tmp_path)
    out = tmp_path / "results.jsonl"
    hanging, plain = scripts(script)
    proc = start([tasks, "-m", hanging, "-o", out, "--parallel", "2"], rlm_home)
    code, err = interrupt_after(proc, out, 10)
    assert code == 130, err
    assert lines(out) == 10  # the two hung tasks in flight were abandoned, not saved
    assert "batch interrupted: 10 answered" in err and re.search(r"the [12] in flight (was|were) not saved", err)
    again = run([tasks, "-m", plain, "-o", out, "-q"], rlm_home)
    assert again.returncode == 0, again.stderr
    assert again.stderr == ""  # -q: nothing on stderr when all went well
    check_all_answered_once(out)
