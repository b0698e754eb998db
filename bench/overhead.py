"""Overhead suite (stub backend): `python -m bench.overhead [--quick] [--skip-1gb] [--no-rlms]`.

CLI start, time to first request, per-iteration overhead, REPL round trip, batched fan-out
(64 sub-calls x 1 s at concurrency 1/4/16/64: wall time vs ideal), 100 MB and 1 GB contexts (load
time, peak RSS, a regex pass), ingestion throughput. Where the official implementation (PyPI
`rlms`) is installed in a separate venv (--rlms-python, default /tmp/rlms-venv/bin/python), the
fan-out and REPL round trip also run on it against the same stub, side by side.
Writes bench/results/overhead-*.json.
"""
from __future__ import annotations

import argparse
import os

from . import measure
from .common import Row, print_grid, print_table, write_results

RLMS_PYTHON = "/tmp/rlms-venv/bin/python"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.overhead", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer runs, fan-out at 4/16/64 only, no 1 GB context")
    p.add_argument("--skip-1gb", action="store_true", help="skip the 1 GB context run")
    p.add_argument("--concurrency", default=None, help="fan-out levels, comma-separated (default 1,4,16,64)")
    p.add_argument("--rlms-python", default=RLMS_PYTHON, help="python of a venv with `pip install rlms`")
    p.add_argument("--no-rlms", action="store_true", help="do not run the official implementation")
    p.add_argument("--tmpdir", default=None, help="where to write the big context files")
    p.add_argument("--json-out", default=None)
    a = p.parse_args(argv)
    levels = [int(x) for x in (a.concurrency or ("4,16,64" if a.quick else "1,4,16,64")).split(",")]
    runs = 5 if a.quick else 11
    rlms = None if a.no_rlms or not os.path.exists(a.rlms_python) else a.rlms_python
    why_no_rlms = ("--no-rlms" if a.no_rlms else f"{a.rlms_python} not found: python -m venv /tmp/rlms-venv && "
                   "/tmp/rlms-venv/bin/pip install rlms") if rlms is None else None
    res: dict = {"rlms_python": rlms, "rlms_missing": why_no_rlms}

    step("CLI start")
    res["help"] = measure.help_vs_import(runs)
    res["first_request"] = measure.first_request(max(3, runs // 2))
    pair = measure.per_iteration_pair(rlms, 20)
    res["per_iteration"], res["rlms_per_iteration"], res["per_iteration_rounds"] = pair["rlm"], pair["rlms"], pair
    step("REPL round trip")
    res["repl"] = measure.repl_roundtrip(3000)
    res["llm_query_channel"] = measure.llm_query_roundtrip(300)
    if rlms:
        res["rlms_repl"] = measure.rlms_repl(rlms, 3000)
    res["fanout"], res["rlms_fanout"] = [], []
    for c in levels:
        step(f"fan-out 64 x 1 s at concurrency {c}")
        res["fanout"].append(measure.fanout(c))
        if rlms:
            try:
                res["rlms_fanout"].append(measure.rlms_fanout(rlms, c))
            except Exception as exc:  # report, keep going
                res["rlms_fanout"].append({"concurrency": c, "error": str(exc)[:300]})
    res["contexts"] = []
    for mb in [100] + ([] if a.quick or a.skip_1gb else [1000]):
        step(f"{mb} MB context")
        res["contexts"].append(measure.big_context(mb, a.tmpdir))
    step("ingestion")
    res["ingest"] = measure.ingest_throughput(100)

    report(res)
    path = write_results("overhead", res, a.json_out)
    print(f"\nresults: {path}")
    return 0


def step(text: str) -> None:
    print(f"... {text}", flush=True)


def report(res: dict) -> None:
    h, f, it, r, q = res["help"], res["first_request"], res["per_iteration"], res["repl"], res["llm_query_channel"]
    print_table("rlm overhead (stub backend, zero latency)", [
        Row("rlm --help", f"{h['help_s'] * 1e3:.0f} ms", "< 2x import typer, rich", h["ratio"] < 2,
            f"bare import {h['import_s'] * 1e3:.0f} ms ({h['ratio']:.2f}x)"),
        Row("start -> first model request", f"{f['first_request_s'] * 1e3:.0f} ms", "< 1000 ms", f["first_request_s"] < 1),
        Row("per root iteration (orchestration)", f"{it['per_iteration_s'] * 1e3:.1f} ms", "< 3 ms, below rlms",
            it["per_iteration_s"] < 0.003 and (not res.get("rlms_per_iteration")
                                              or it["per_iteration_s"] < res["rlms_per_iteration"]["per_iteration_s"]),
            f"reply received -> next request sent, median of {it['iterations'] - 1}"
            + (f"; rlms {res['rlms_per_iteration']['per_iteration_s'] * 1e3:.1f} ms in the same run"
               if res.get("rlms_per_iteration") else "")
            + (f"; rlm exited {it['exit_code']}" if it.get("exit_code") else "")),
        Row("REPL exec round trip", f"{r['median_ms']:.3f} ms", "< 5 ms", r["median_ms"] < 5, f"p95 {r['p95_ms']:.3f} ms"),
        Row("llm_query channel (in-REPL call)", f"{q['median_ms']:.3f} ms", "", None, "handler answers at once"),
        Row("ingestion (rlm ingest, 100 MB text)", f"{res['ingest']['mb_per_s']:.1f} MB/s", "", None,
            f"{res['ingest']['wall_s']:.2f} s incl. start and token count; RSS {res['ingest']['rss_mb']:.0f} MB"),
    ])
    rl = {x["concurrency"]: x for x in res.get("rlms_fanout", [])}
    rows = []
    for x in res["fanout"]:
        o = rl.get(x["concurrency"], {})
        theirs = (f"{o['batch_s']:.2f} s ({o['ratio']:.2f}x, {o['max_in_flight']} in flight; whole run "
                  f"{o['wall_s']:.2f} s)" if "batch_s" in o else o.get("error", "not run"))
        rows.append([x["concurrency"], f"{x['ideal_s']:.0f} s", f"{x['batch_s']:.2f} s", f"{x['ratio']:.2f}x",
                     x["max_in_flight"], f"{x['wall_s']:.2f} s", "PASS" if x["ratio"] <= 1.3 and x["all_ok"] else "FAIL",
                     theirs])
    print_grid("batched fan-out: 64 llm_query_batched sub-calls x 1 s (batch span at the stub; target <= 1.3x ideal)",
               ["concurrency", "ideal", "rlm batch", "rlm vs ideal", "in flight", "rlm whole run", "<=1.3x", "rlms 0.1.3 (official) batch"],
               rows)
    if res.get("rlms_repl"):
        print_grid("REPL round trip side by side",
                   ["implementation", "median", "p95", "isolation"],
                   [["rlm (this)", f"{r['median_ms']:.3f} ms", f"{r['p95_ms']:.3f} ms",
                     "subprocess worker" + (f" + {', '.join(r['layers'])}" if r["layers"] else "")],
                    ["rlms (official)", f"{res['rlms_repl']['median_ms']:.3f} ms", f"{res['rlms_repl']['p95_ms']:.3f} ms",
                     "none: exec() in-process (LocalREPL)"]])
    elif res.get("rlms_missing"):
        print(f"\nrlms (official) not run: {res['rlms_missing']}")
    print_grid("big contexts: rlm ask with a one-turn scripted model running a regex over `context`",
               ["context", "wall", "worker start+load", "regex pass", "host peak RSS", "worker peak RSS", "swap-outs", "answer"],
               [[f"{c['context_mb']} MB", f"{c['wall_s']:.2f} s", f"{c['worker_start_and_load_s']:.2f} s",
                 f"{c['regex_pass_s']:.2f} s", f"{c['host_rss_mb']:.0f} MB", f"{c['worker_rss_mb']:.0f} MB",
                 c["swapped_pages"], "ok" if c["answer_ok"] else "WRONG"] for c in res["contexts"]])


if __name__ == "__main__":
    raise SystemExit(main())
