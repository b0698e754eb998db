"""Core speed benchmark (issue 2): `python -m bench.core [--runs N] [--repl-n N] [--mb 100]`.

Measures `rlm --help` vs a bare `import typer, rich`, time from process start to the first model
request (zero-latency stub), the per-exec REPL round trip, and `rlm ask` on a 100 MB text file
(wall time, peak RSS of host and worker). Prints a table with targets; writes bench/results/core-*.json.
"""
from __future__ import annotations

import argparse

from . import measure
from .common import Row, print_table, write_results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.core", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=15, help="runs per CLI timing (median reported)")
    p.add_argument("--repl-n", type=int, default=3000, help="REPL executions timed")
    p.add_argument("--mb", type=int, default=100, help="context size for the load test, MB")
    p.add_argument("--json-out", default=None, help="results file (default bench/results/core-DATE.json)")
    a = p.parse_args(argv)

    print("measuring rlm --help ...", flush=True)
    h = measure.help_vs_import(a.runs)
    print("measuring time to first request ...", flush=True)
    f = measure.first_request(max(3, a.runs // 2))
    print("measuring REPL round trip ...", flush=True)
    r = measure.repl_roundtrip(a.repl_n)
    print(f"measuring a {a.mb} MB context ...", flush=True)
    b = measure.big_context(a.mb)
    rows = table(h, f, r, b)
    print_table(f"rlm core benchmark ({a.mb} MB context)", rows)
    path = write_results("core", {"help": h, "first_request": f, "repl": r, "big_context": b,
                                  "rows": rows, "all_pass": all(x.ok for x in rows if x.ok is not None)}, a.json_out)
    print(f"\nresults: {path}")
    return 0 if all(x.ok for x in rows if x.ok is not None) else 1


def table(h: dict, f: dict, r: dict, b: dict) -> list[Row]:
    mb = b["context_mb"]
    peak = max(b["host_rss_mb"], b["worker_rss_mb"])
    return [
        Row("rlm --help (median)", f"{h['help_s'] * 1e3:.0f} ms", f"< 2x import ({2 * h['import_s'] * 1e3:.0f} ms)",
            h["ratio"] < 2, f"import typer, rich: {h['import_s'] * 1e3:.0f} ms; ratio {h['ratio']:.2f}x"),
        Row("start -> first model request", f"{f['first_request_s'] * 1e3:.0f} ms", "< 1000 ms",
            f["first_request_s"] < 1.0, f"median of {f['runs']}; whole run {f['whole_run_s'] * 1e3:.0f} ms"),
        Row("REPL exec round trip", f"{r['median_ms']:.3f} ms", "< 5 ms", r["median_ms"] < 5,
            f"p95 {r['p95_ms']:.3f} ms over {r['n']}; worker start {r['worker_start_ms']:.0f} ms"),
        Row(f"{mb} MB context: rlm ask wall", f"{b['wall_s']:.2f} s", "< 2 s", b["wall_s"] < 2 and b["answer_ok"],
            f"worker start+load {b['worker_start_and_load_s']:.2f} s, regex pass {b['regex_pass_s']:.2f} s"
            + ("" if b["answer_ok"] else f"; WRONG ANSWER {b['answer']!r} != {b['expected']!r}")),
        Row(f"{mb} MB context: peak RSS", f"host {b['host_rss_mb']:.0f} MB, worker {b['worker_rss_mb']:.0f} MB",
            f"< 4x context ({4 * mb * 1e6 / 2**20:.0f} MB) per process", b["rss_over_context"] < 4,
            f"max {b['rss_over_context']:.2f}x; host+worker {b['sum_rss_over_context']:.2f}x ({peak:.0f} MB max)"),
    ]


if __name__ == "__main__":
    raise SystemExit(main())
