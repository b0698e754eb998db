"""Fast sanity tests of the benchmark task generators, scoring, oracle, runner and latency stub."""
from __future__ import annotations

import json
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ is not installed: import it from the checkout

from bench.stub import BenchStub, ModelScript
from bench.tasks import TASKS, generate, parse_length
from bench.tasks import oracle, runner, scoring


@pytest.mark.parametrize("task", list(TASKS))
def test_generators_are_seeded_and_sized(task):
    a = generate(task, 8000, 2, seed=3)
    b = generate(task, 8000, 2, seed=3)
    c = generate(task, 8000, 2, seed=4)
    assert [x.docs for x in a] == [x.docs for x in b]
    assert [x.docs for x in a] != [x.docs for x in c]
    for item in a:
        assert 0.95 * 8000 * 4 <= item.chars <= 1.05 * 8000 * 4
        assert item.question and item.answer not in (None, "", [])


@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("length", [8000, 60000])
def test_oracle_scores_full_marks_in_process(task, length):
    for item in generate(task, length, 3, seed=1):
        text = "".join(item.docs.values())
        assert scoring.score(item, oracle.solve(item, text)) == 1.0, (item.question, item.answer)


def test_oracle_code_does_not_contain_the_answer():
    for task in ("needle", "multihop"):
        item = generate(task, 8000, 1)[0]
        assert str(item.answer) not in oracle.code_for(item)


def test_multihop_spreads_facts_over_documents(tmp_path):
    item = generate("multihop", 8000, 1)[0]
    assert len(item.docs) == 6
    sources = item.write(tmp_path)
    assert sources == [str(tmp_path)] and len(list(tmp_path.iterdir())) == 6
    hops = [name for name, text in item.docs.items() if item.params["person"] in text]
    assert len(hops) == 1  # the first hop is in one document; the rest are elsewhere or distractors


def test_scoring_rules():
    assert scoring.numeric("There are 10 records.", 10) == 1.0
    assert scoring.numeric("12", 10) == pytest.approx(0.75 ** 2)
    assert scoring.numeric("none", 10) == 0.0
    assert scoring.exact("The answer is 1234567.", "1234567") == 1.0
    assert scoring.exact("12345678", "1234567") == 0.0
    assert scoring.exact("Less common, not more", "less", ["more", "less", "same"]) == 1.0
    assert scoring.exact("more or less", "less", ["more", "less", "same"]) == 0.0
    assert scoring.multi("a-b-1=5\nc-d-2=7", ["a-b-1=5", "c-d-2=8"]) == 0.5
    gold = ["u0001-u0002", "u0001-u0003", "u0002-u0003"]
    assert scoring.pairs("u0002-u0001\nu0003-u0001\nu0002-u0003", gold) == 1.0
    assert scoring.pairs("u0001-u0002\nu0009-u0008", gold) == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))
    assert scoring.pairs("", []) == 1.0


def test_parse_length():
    assert parse_length("8K") == 8000 and parse_length("10M") == 10_000_000 and parse_length("1500") == 1500


def test_truncation_is_reported_and_costs_the_baseline():
    text = "x" * 400_000
    cut, kept = runner.truncate(text, 32_000)
    assert len(cut) == (32_000 - runner.ANSWER_RESERVE) * 4 and kept == pytest.approx(len(cut) / len(text))
    item = generate("needle", 200_000, 1)[0]
    full = "".join(item.docs.values())
    pos = full.index(item.answer)
    window = max(2000, pos // 4 - 2000)  # a window that ends before the needle
    cut, kept = runner.truncate(full, window)
    assert kept < 1 and item.answer not in cut
    assert scoring.score(item, oracle.solve(item, cut)) == 0.0


def test_runner_end_to_end_with_oracle_through_the_cli(tmp_path):
    a = runner.Args("needle", 8000, 2, seed=5, policy="oracle", timeout=60)
    res = runner.run(a)
    by = {s["system"]: s for s in res["summary"]}
    assert by["rlm"]["accuracy"] == 1.0 and by["rlm"]["failures"] == 0
    assert by["direct"]["accuracy"] == 1.0 and by["direct"]["kept_fraction"] == 1.0
    assert all(o["answer"] == str(item.answer) for o, item in
               zip([o for o in res["items"] if o["system"] == "rlm"], generate("needle", 8000, 2, seed=5)))


def test_bench_stub_per_model_replies_and_latency():
    scripts = {"slow": ModelScript(default="late"), "*": ModelScript([(r"key (\w+)", "got {1}")])}
    with BenchStub(scripts, latency_per_model={"slow": 0.3}) as stub:
        def ask(model, text):
            body = json.dumps({"model": model, "messages": [{"role": "user", "content": text}]}).encode()
            req = urllib.request.Request(stub.url + "/chat/completions", body, {"Content-Type": "application/json"})
            t0 = time.monotonic()
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.load(r)["choices"][0]["message"]["content"], time.monotonic() - t0
        assert ask("fast", "the key abc") [0] == "got abc"
        text, took = ask("slow", "anything")
        assert text == "late" and took >= 0.3
        assert [r.model for r in stub.chat()] == ["fast", "slow"]


def test_runner_with_a_model_over_http_reports_truncation():
    """The model path: rlm through the CLI and the direct baseline through the backend, both against a stub."""
    root_code = ("```repl\nimport re\nFINAL(re.search(r'numbers for {1} is: (\\d+)', context).group(1))\n```")
    reader = r"(?s)magic numbers for ([\w-]+) is: (\d+)\..*Question: What is the special magic number for \1 "
    scripts = {"*": ModelScript([(reader, "{2}"), (r"special magic number for ([\w-]+) mentioned", root_code)],
                                default="no idea")}
    with BenchStub(scripts) as stub:
        a = runner.Args("needle", 8000, 2, seed=2, model="openai/x", api_base=stub.url, window=1500, timeout=60)
        res = runner.run(a)
    by = {s["system"]: s for s in res["summary"]}
    assert by["rlm"]["accuracy"] == 1.0 and by["rlm"]["prompt_tokens"] > 0
    assert res["window_tokens"] == 1500 and res["window_source"] == "given"
    assert by["direct"]["kept_fraction"] == pytest.approx(500 / 8000, rel=0.05)
    items = generate("needle", 8000, 2, seed=2)
    for o, item in zip([o for o in res["items"] if o["system"] == "direct"], items):
        assert o["kept_fraction"] < 1
        head = "".join(item.docs.values())[: 500 * 4]  # about what fit: the baseline can only know a needle in it
        assert o["score"] == (1.0 if item.answer in head else 0.0)


def test_runner_direct_baseline_reads_the_whole_context_when_it_fits():
    reader = r"(?s)magic numbers for ([\w-]+) is: (\d+)\..*Question: What is the special magic number for \1 "
    with BenchStub({"*": ModelScript([(reader, "{2}")], default="no idea")}) as stub:
        res = runner.run(runner.Args("needle", 8000, 2, seed=2, model="openai/x", api_base=stub.url, window=20000, timeout=60,
                                     systems=["direct"]))
    (s,) = res["summary"]
    assert s["accuracy"] == 1.0 and s["kept_fraction"] == 1.0 and s["prompt_tokens"] >= 8000


def test_intervals_wilson_for_right_or_wrong_and_t_for_partial_scores():
    from bench.tasks.results import interval

    lo, hi = interval([1.0] * 10)
    assert hi == pytest.approx(1.0) and lo == pytest.approx(0.722, abs=0.001)
    lo, hi = interval([1.0] * 5 + [0.0] * 5)
    assert (round(lo, 3), round(hi, 3)) == (0.237, 0.763)
    lo, hi = interval([0.5, 0.75, 1.0, 0.25])
    assert lo < 0.625 < hi and lo >= 0.0 and hi <= 1.0


def test_evidence_score_needs_a_verified_citation_over_the_gold_record_with_its_value():
    from bench.tasks.evidence import evidence_score

    item = generate("needle", 8000, 1, seed=1)[0]
    text = "".join(item.docs.values())
    (record,) = item.params["evidence"]
    i = text.index(record)
    cite = lambda a, b, ok=True: {"start": a, "end": b, "verified": ok}  # noqa: E731
    assert evidence_score(item, [cite(i, i + len(record))], text) == 1.0
    assert evidence_score(item, [cite(i, i + len(record), ok=False)], text) == 0.0
    assert evidence_score(item, [cite(i, i + 20)], text) == 0.0  # the key without the number
    assert evidence_score(item, [cite(0, 50)], text) == 0.0 and evidence_score(item, None, text) == 0.0
    assert evidence_score(generate("aggregate", 8000, 1)[0], [], text) is None
    hop = generate("multihop", 8000, 1)[0]
    assert hop.params["evidence"][0].endswith(f"country of {hop.answer}.")
    assert any(hop.params["evidence"][0] in t for t in hop.docs.values())


def test_results_file_resumes_and_the_report_has_intervals(tmp_path, capsys):
    results = tmp_path / "r.jsonl"
    a = runner.Args("needle", 8000, 2, seed=5, policy="oracle", timeout=60, results=str(results))
    first = runner.run(a)
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(rows) == 4 and {r["system"] for r in rows} == {"rlm", "direct"}
    assert all(r["model"] == "oracle" and r["index"] in (0, 1) for r in rows)
    assert [r["evidence_score"] for r in rows if r["system"] == "rlm"] == [1.0, 1.0]  # the oracle cites its match
    assert [r["evidence_score"] for r in rows if r["system"] == "direct"] == [None, None]
    with open(results, "a") as f:
        f.write('{"task": "needle", "broken')  # a line cut short by a crash
    again = runner.run(runner.Args("needle", 8000, 3, seed=5, policy="oracle", timeout=60, results=str(results)))
    assert len(again["items"]) == 2  # only item 2 ran (rlm and direct)
    assert first["table"][0]["n"] == 2 and again["table"][0]["n"] == 3
    capsys.readouterr()
    assert runner.main(["--report", str(results), "--markdown"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("| task | length | system | n | accuracy | 95% CI | evidence |")
    assert out[2].startswith("| needle | 8K | rlm | 3 | 1.00 | [0.44, 1.00] | 1.00 |")
    assert out[3].startswith("| needle | 8K | direct | 3 | 1.00 | [0.44, 1.00] |  |")
