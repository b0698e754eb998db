"""rlm batch through the real CLI (scripted model, real sandboxes): task files, mixed good and bad
tasks, resume, the results file's repair and lock, --retry-failed, changed tasks, CSV, the shared
budget and gate. Ctrl-C on a real process: tests/test_batch_interrupt.py; Ray: tests/test_batch_ray.py."""
from __future__ import annotations

import csv
import fcntl
import json
import os
import threading

import pytest

# The answer names the question's tag and the document's word: a wrong document or question shows.
ANSWER = {"when": r"Question: (\w+)",
          "reply": "```repl\nimport re\nFINAL('{1}=' + re.search(r'word (\\w+)', context).group(1))\n```"}


def make_docs(tmp_path, n: int) -> list[str]:
    for i in range(1, n + 1):
        (tmp_path / f"d{i}.txt").write_text(f"the word w{i} is here\n", encoding="utf-8")
    return [f"d{i}.txt" for i in range(1, n + 1)]


def write_tasks(tmp_path, rows: list[dict], name: str = "tasks.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def n_tasks(tmp_path, n: int):
    make_docs(tmp_path, n)
    return write_tasks(tmp_path, [{"id": f"t{i}", "sources": f"d{i}.txt", "question": f"q{i} what is the word?"}
                                  for i in range(1, n + 1)])


def test_mixed_good_and_bad_tasks_each_get_a_record_and_the_batch_goes_on(cli, script, tmp_path):
    make_docs(tmp_path, 2)
    tasks = write_tasks(tmp_path, [
        {"id": "a", "sources": "d1.txt", "question": "qa"},
        {"id": "b", "sources": "missing.txt", "question": "qb"},
        {"id": "c", "sources": ["d2.txt", "d1.txt"], "question": "qc"},
        {"id": "d", "sources": "nothing-*.txt", "question": "qd"},
        {"id": 7, "sources": "d*.txt", "question": "qe"},
    ])
    out = tmp_path / "results.jsonl"
    r = cli(["batch", tasks, "-m", script([ANSWER]), "-o", out, "--parallel", "2"])
    assert r.exit_code == 3, r.stderr  # some input could not be read; every other task answered
    got = {rec["id"]: rec for rec in records(out)}
    assert sorted(got) == ["7", "a", "b", "c", "d"]
    assert got["a"]["answer"] == "qa=w1" and got["c"]["answer"] == "qc=w2" and got["7"]["answer"] == "qe=w1"
    assert got["b"]["status"] == "error" and got["b"]["exit_code"] == 3 and "missing.txt: no such file" in got["b"]["error"]
    assert got["d"]["exit_code"] == 3 and "no file matches" in got["d"]["error"]
    assert got["a"]["sources"] == ["d1.txt"] and got["a"]["question"] == "qa" and got["a"]["trajectory"]
    assert set(records(out)[0]) >= {"id", "sources", "version", "run_id", "status", "answer", "usage", "cost_usd"}
    assert "b" in r.stderr and "no such file" in r.stderr and "3 answered, 2 failed" in r.stderr
    assert r.stdout == ""


def test_rerun_skips_answered_ids_and_retry_failed_replaces_the_failure(cli, script, tmp_path):
    tasks = n_tasks(tmp_path, 3)
    os.remove(tmp_path / "d2.txt")
    out = tmp_path / "r.jsonl"
    model = script([ANSWER])
    assert cli(["batch", tasks, "-m", model, "-o", out]).exit_code == 3
    again = cli(["batch", tasks, "-m", model, "-o", out])
    assert again.exit_code == 3 and "nothing to do" in again.stderr and len(records(out)) == 3
    (tmp_path / "d2.txt").write_text("the word fixed\n", encoding="utf-8")
    retry = cli(["batch", tasks, "-m", model, "-o", out, "--retry-failed"])
    assert retry.exit_code == 0, retry.stderr
    recs = records(out)
    assert sorted(r["id"] for r in recs) == ["t1", "t2", "t3"]  # the failure was replaced, not appended to
    assert {r["id"]: r["answer"] for r in recs}["t2"] == "q2=fixed"


def test_a_partial_last_line_is_cut_off_and_that_task_runs_again(cli, script, tmp_path):
    tasks = n_tasks(tmp_path, 3)
    out = tmp_path / "r.jsonl"
    model = script([ANSWER])
    assert cli(["batch", tasks, "-m", model, "-o", out, "--parallel", "1"]).exit_code == 0
    lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
    last = json.loads(lines[-1])["id"]
    out.write_text("".join(lines[:-1]) + lines[-1][:40], encoding="utf-8")  # a crash mid-write
    r = cli(["batch", tasks, "-m", model, "-o", out])
    assert r.exit_code == 0, r.stderr
    assert "partial last record" in r.stderr
    recs = records(out)
    assert sorted(x["id"] for x in recs) == ["t1", "t2", "t3"] and recs[-1]["id"] == last


def test_two_batches_cannot_write_one_results_file(cli, script, tmp_path):
    tasks = n_tasks(tmp_path, 1)
    out = tmp_path / "r.jsonl"
    fd = os.open(str(out) + ".lock", os.O_RDWR | os.O_CREAT)
    os.write(fd, b"4242\n")
    fcntl.flock(fd, fcntl.LOCK_EX)  # what a running batch holds
    try:
        r = cli(["batch", tasks, "-m", script([ANSWER]), "-o", out])
    finally:
        os.close(fd)
    assert r.exit_code == 2 and "another rlm batch (pid 4242)" in r.stderr
    assert not out.exists() or out.read_text() == ""


def test_a_changed_question_for_a_saved_id_is_reported_and_rerun_on_request(cli, script, tmp_path):
    tasks = n_tasks(tmp_path, 2)
    out = tmp_path / "r.jsonl"
    model = script([ANSWER])
    assert cli(["batch", tasks, "-m", model, "-o", out]).exit_code == 0
    tasks.write_text(tasks.read_text().replace("q2 what", "q9 what"), encoding="utf-8")
    r = cli(["batch", tasks, "-m", model, "-o", out])
    assert r.exit_code == 2 and "different question or sources" in r.stderr and "'t2'" in r.stderr
    assert len(records(out)) == 2  # nothing ran
    r = cli(["batch", tasks, "-m", model, "-o", out, "--rerun-changed"])
    assert r.exit_code == 0
    assert {x["id"]: x["answer"] for x in records(out)} == {"t1": "q1=w1", "t2": "q9=w2"}


def test_task_file_errors_name_the_line(cli, script, tmp_path):
    make_docs(tmp_path, 1)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "sources": "d1.txt", "question": "q"}\n{"id": "a", "sources": "d1.txt", "question": "r"}\n')
    r = cli(["batch", bad, "-m", script([ANSWER]), "-o", tmp_path / "r.jsonl"])
    assert r.exit_code == 2 and "bad.jsonl:2: id 'a' is used twice (first at" in r.stderr
    bad.write_text('{"id": "a", "sources": "d1.txt"}\n')
    r = cli(["batch", bad, "-m", script([ANSWER])])
    assert r.exit_code == 2 and "bad.jsonl:1: no question" in r.stderr
    bad.write_text('{"id": "a", "sources": "d1.txt", "question": "q"}\nnot json\n')
    r = cli(["batch", bad, "-m", script([ANSWER])])
    assert r.exit_code == 2 and "bad.jsonl:2: not a JSON object" in r.stderr


def test_csv_tasks_and_csv_results_survive_formulas_and_resume(cli, script, tmp_path):
    make_docs(tmp_path, 2)
    tasks = tmp_path / "tasks.csv"
    tasks.write_text('id,sources,question\n=cmd,d1.txt,q1\nb,"d2.txt;d1.txt",q2\n', encoding="utf-8")
    formula = {"when": r"Question: (\w+)", "reply": "```repl\nFINAL('=HYPERLINK(\"x\")' + ' {1}')\n```"}
    out = tmp_path / "r.csv"
    r = cli(["batch", tasks, "-m", script([formula]), "-o", out])
    assert r.exit_code == 0, r.stderr
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {row["id"] for row in rows} == {"'=cmd", "b"}  # a spreadsheet would run "=cmd"
    assert all(row["answer"].startswith("'=HYPERLINK") for row in rows)
    assert json.loads({row["id"]: row for row in rows}["b"]["sources"]) == ["d2.txt", "d1.txt"]
    again = cli(["batch", tasks, "-m", script([formula]), "-o", out])
    assert again.exit_code == 0 and "nothing to do: 2 of 2" in again.stderr


def test_cross_product_ids_are_stable_and_results_go_to_stdout_without_o(cli, script, tmp_path, monkeypatch):
    make_docs(tmp_path, 2)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "q.txt").write_text("# comment\nqa first\n\nqb second\n", encoding="utf-8")
    r = cli(["batch", "--questions", "q.txt", "d*.txt", "-m", script([ANSWER])])
    assert r.exit_code == 0, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert sorted(x["answer"] for x in recs) == ["qa=w1", "qa=w2", "qb=w1", "qb=w2"]
    ids = sorted(x["id"] for x in recs)
    assert [i.split("#")[0] for i in ids] == ["d1.txt", "d1.txt", "d2.txt", "d2.txt"]
    (tmp_path / "q.txt").write_text("qb second\nqc third\nqa first\n", encoding="utf-8")  # reordered, one added
    again = cli(["batch", "--questions", "q.txt", "d1.txt", "d2.txt", "-m", script([ANSWER])])
    ids2 = sorted(json.loads(line)["id"] for line in again.stdout.splitlines())
    assert set(ids) < set(ids2) and len(ids2) == 6


TWO_TURNS = [{"when": r"Question: (\w+)", "reply": "```repl\nprint('looking')\n```"},
             {"when": "looking", "reply": "```repl\nFINAL('done')\n```"}]


def test_the_shared_budget_stops_new_tasks_and_a_stopped_task_is_not_saved(cli, script, tmp_path):
    tasks = n_tasks(tmp_path, 4)  # each task: two model calls
    out = tmp_path / "r.jsonl"
    model = script(TWO_TURNS)
    r = cli(["batch", tasks, "-m", model, "-o", out, "--parallel", "1", "--max-calls", "3"])
    assert r.exit_code == 5, r.stderr
    recs = records(out)
    assert [x["id"] for x in recs] == ["t1"] and recs[0]["calls"] == 2  # t2 stopped at its 2nd call: not saved
    assert "call limit of 3" in r.stderr and "3 left for the next run" in r.stderr
    r = cli(["batch", tasks, "-m", model, "-o", out, "--parallel", "1", "--max-calls", "4"])
    assert r.exit_code == 5 and len(records(out)) == 3  # 4 calls: two more tasks, no more
    r = cli(["batch", tasks, "-m", model, "-o", out])
    assert r.exit_code == 0 and sorted(x["id"] for x in records(out)) == ["t1", "t2", "t3", "t4"]


def test_runs_sharing_a_budget_and_gate_never_exceed_them():
    from rlm_cli.backends.scripted import ScriptedModel
    from rlm_cli.context import Context
    from rlm_cli.engine import Run, RunConfig
    from rlm_cli.usage import Limits, SharedBudget

    class Counting(ScriptedModel):
        now = peak = 0
        lock = threading.Lock()

        def complete(self, model, messages, *, timeout=None):
            with self.lock:
                Counting.now += 1
                Counting.peak = max(Counting.peak, Counting.now)
            try:
                return super().complete(model, messages, timeout=timeout)
            finally:
                with self.lock:
                    Counting.now -= 1

    model = Counting.from_dict({"rules": [{"when": "Question", "reply": "```repl\nprint(1)\n```", "delay": 0.05}]})
    shared = SharedBudget(Limits(max_calls=7), concurrency=1)
    results = []

    def one():
        run = Run(model, RunConfig("scripted/r", limits=Limits(max_iterations=5), concurrency=8, shared=shared))
        results.append(run.execute("q", Context.from_text("abc")))

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counting.peak == 1  # one gate for all four runs, not one per run
    assert shared.usage.calls == 7 == sum(r.usage.calls for r in results)
    assert all(r.status == "limit" for r in results) and any("batch's call limit" in (r.error or "") for r in results)


@pytest.mark.parametrize("argv, message", [
    (["batch"], "Usage: rlm batch"),
    (["batch", "a.jsonl", "b.jsonl"], "one TASKS file expected"),
    (["batch", "--questions", "nope.txt", "x"], "nope.txt: cannot read the questions file"),
])
def test_usage_errors(cli, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    r = cli(argv)
    assert r.exit_code == 2 and message in r.stderr + r.stdout


def test_csv_records_with_newlines_and_quotes_are_split_and_repaired_right(tmp_path):
    from rlm_cli.batch.results import ResultsFile, csv_record

    path = tmp_path / "r.csv"
    f = ResultsFile(path, "csv")
    assert f.open().records == {}
    rec = {"id": "a", "status": "ok", "exit_code": 0, "answer": 'line 1\n"quoted"\nline 3', "question": "q",
           "sources": ["x.txt"]}
    f.append(rec)
    f.append(dict(rec, id="b", answer="-1 starts like a formula"))
    f.close()
    whole = path.read_bytes()
    with open(path, "ab") as fh:
        fh.write(csv_record(dict(rec, id="c"))[:25])  # a crash inside the quoted multi-line answer
    f = ResultsFile(path, "csv")
    existing = f.open()
    f.close()
    assert existing.repaired == 25 and path.read_bytes() == whole
    assert sorted(existing.records) == ["a", "b"] and existing.records["a"].sources == ["x.txt"]
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["answer"] == 'line 1\n"quoted"\nline 3' and rows[1]["answer"] == "'-1 starts like a formula"


def test_a_backend_failure_stops_the_batch_with_exit_4_and_is_saved(cli, stub_server, tmp_path, monkeypatch):
    from conftest import scripted_responder

    tasks = n_tasks(tmp_path, 4)
    server = stub_server(scripted_responder([ANSWER]), api_key="sk-right")
    out = tmp_path / "r.jsonl"
    args = ["batch", tasks, "-m", "openai/m", "--api-base", server.url, "-o", out, "--parallel", "1"]
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    r = cli(args)
    assert r.exit_code == 4, r.stderr
    recs = records(out)
    assert [x["id"] for x in recs] == ["t1"] and recs[0]["exit_code"] == 4 and "authentication failed" in recs[0]["error"]
    assert "batch stopped" in r.stderr and "3 left for the next run" in r.stderr
    monkeypatch.setenv("OPENAI_API_KEY", "sk-right")
    r = cli([*args, "--retry-failed"])
    assert r.exit_code == 0, r.stderr
    assert sorted((x["id"], x["answer"]) for x in records(out)) == [(f"t{i}", f"q{i}=w{i}") for i in range(1, 5)]


@pytest.mark.parametrize("tty", [False, True])
def test_progress_shows_failures_without_control_characters(cli, script, tmp_path, tty):
    make_docs(tmp_path, 1)
    evil = "evil\x1b]52;c;cHduZWQ=\x07\x1b[2J\rname"
    tasks = write_tasks(tmp_path, [{"id": "good", "sources": "d1.txt", "question": "qa"},
                                   {"id": evil, "sources": "gone\x1b[31m.txt", "question": "qb"}])
    r = cli(["batch", tasks, "-m", script([ANSWER]), "-o", tmp_path / "r.jsonl"], stderr_tty=tty)
    assert r.exit_code == 3
    assert "\x1b" not in r.stderr  # (Rich draws no colour into a StringIO: any ESC would be the task's)
    assert "]52;" not in r.stderr and "\x07" not in r.stderr and "\r" not in r.stderr
    assert "evil" in r.stderr and "name" in r.stderr and "1 answered, 1 failed" in r.stderr
    assert ("2/2 failed 1 · $0.0000" in r.stderr) == tty  # the progress bar, on a terminal only
    assert {x["id"] for x in records(tmp_path / "r.jsonl")} == {"good", evil}  # the file keeps the id as it is


def test_a_file_that_is_not_a_results_file_is_never_appended_to(cli, script, tmp_path):
    tasks = n_tasks(tmp_path, 1)
    before = tasks.read_text()
    r = cli(["batch", tasks, "-m", script([ANSWER]), "-o", tasks])
    assert r.exit_code == 2 and "that is the task file" in r.stderr
    other = tmp_path / "other.jsonl"
    other.write_text(before, encoding="utf-8")
    r = cli(["batch", tasks, "-m", script([ANSWER]), "-o", other])
    assert r.exit_code == 2 and "not a results file of rlm batch" in r.stderr
    assert tasks.read_text() == before == other.read_text()


def test_quiet_prints_only_failures_and_the_summary_then(cli, script, tmp_path):
    make_docs(tmp_path, 1)
    tasks = write_tasks(tmp_path, [{"id": "good", "sources": "d1.txt", "question": "qa"},
                                   {"id": "bad", "sources": "gone.txt", "question": "qb"}])
    r = cli(["batch", tasks, "-m", script([ANSWER]), "-o", tmp_path / "r.jsonl", "-q"])
    assert r.exit_code == 3
    lines = r.stderr.splitlines()
    assert len(lines) == 2 and "error bad" in lines[0] and "gone.txt" in lines[0] and "1 answered, 1 failed" in lines[1]
