"""The measurements shared by bench.core and bench.overhead. Each returns a plain dict."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import bench_env, median, rlm_argv, run_watched
from .stub import BenchStub, ModelScript

FINAL_OK = "```repl\nFINAL('ok')\n```"


def _fence(code: str) -> str:
    return f"```repl\n{code}\n```"


# ---- CLI start ----------------------------------------------------------------------------------
def _wall(argv: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def help_vs_import(runs: int = 15) -> dict:
    """Median wall time of `rlm --help` and of `python -c "import typer, rich"` (alternating runs)."""
    with tempfile.TemporaryDirectory() as home:
        env = bench_env(home)
        helps, imports = [], []
        _wall([*rlm_argv(), "--help"], env)  # warm the page cache / bytecode
        for _ in range(runs):
            helps.append(_wall([*rlm_argv(), "--help"], env))
            imports.append(_wall([sys.executable, "-c", "import typer, rich"], env))
    h, i = median(helps), median(imports)
    return {"help_s": h, "import_s": i, "ratio": h / i, "runs": runs}


def first_request(runs: int = 7) -> dict:
    """Seconds from spawning `rlm ask file q -m openai/x --api-base URL` to the stub seeing the first request."""
    delays, walls, rcs = [], [], []
    with tempfile.TemporaryDirectory() as tmp, BenchStub({"*": ModelScript(default=FINAL_OK)}) as stub:
        doc = Path(tmp, "doc.txt")
        doc.write_text("The quick brown fox. " * 500)
        env = bench_env(Path(tmp, "home"))
        argv = [*rlm_argv(), "ask", str(doc), "what animal?", "-m", "openai/x", "--api-base", stub.url, "-q"]
        for _ in range(runs + 1):
            stub.reset()
            t0 = time.time()
            rcs.append(subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode)
            walls.append(time.time() - t0)
            delays.append(stub.chat()[0].received_at - t0)
    delays, walls = delays[1:], walls[1:]  # the first run warms caches
    return {"first_request_s": median(delays), "min_s": min(delays), "max_s": max(delays),
            "whole_run_s": median(walls), "runs": runs, "exit_codes": rcs}


def per_iteration(iterations: int = 20) -> dict:
    """Orchestration time per root iteration with a zero-latency stub: gap between consecutive root requests."""
    code = "n = globals().get('n', 0) + 1\nprint(n)\nif n >= %d: FINAL(str(n))" % iterations
    with tempfile.TemporaryDirectory() as tmp, BenchStub({"*": ModelScript(default=_fence(code))}) as stub:
        doc = Path(tmp, "doc.txt")
        doc.write_text("filler text. " * 1000)
        env = bench_env(Path(tmp, "home"))
        argv = [*rlm_argv(), "ask", str(doc), "count", "-m", "openai/x", "--api-base", stub.url, "-q",
                "--max-iterations", str(iterations + 2)]
        rc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        reqs = stub.chat()
    gaps = [b.received_at - a.answered_at for a, b in zip(reqs, reqs[1:])]
    return {"iterations": len(reqs), "per_iteration_s": median(gaps), "max_s": max(gaps) if gaps else float("nan"),
            "exit_code": rc}


def per_iteration_rlms(python: str, iterations: int = 20) -> dict:
    """The same gap measured on the official rlms (its REPL is exec() in-process: no sandbox at all)."""
    code = "n = globals().get('n', 0) + 1\nprint(n)"
    with BenchStub({"*": ModelScript(default=_fence(code))}) as stub:
        proc = subprocess.run([python, str(RLMS_PROBE), "turns", "--url", stub.url, "--iterations", str(iterations)],
                              capture_output=True, text=True, timeout=600)
        reqs = stub.chat("root")
    if proc.returncode != 0 or len(reqs) < 3:
        raise RuntimeError(f"rlms turns failed ({proc.returncode}): {proc.stderr[-400:]}")
    gaps = [b.received_at - a.answered_at for a, b in zip(reqs, reqs[1:])]
    return {"iterations": len(reqs), "per_iteration_s": median(gaps), "max_s": max(gaps)}


def per_iteration_pair(python: str | None, iterations: int = 20, rounds: int = 3) -> dict:
    """rlm and rlms per-turn orchestration, interleaved over `rounds` so load affects both alike."""
    ours, theirs = [], []
    for _ in range(rounds):
        ours.append(per_iteration(iterations))
        if python:
            theirs.append(per_iteration_rlms(python, iterations))
    pick = lambda runs: sorted(runs, key=lambda r: r["per_iteration_s"])[len(runs) // 2] if runs else None  # noqa: E731
    return {"rlm": pick(ours), "rlms": pick(theirs), "rounds": rounds,
            "rlm_all_ms": [round(r["per_iteration_s"] * 1e3, 2) for r in ours],
            "rlms_all_ms": [round(r["per_iteration_s"] * 1e3, 2) for r in theirs]}


# ---- REPL ----
def default_options():
    """The sandbox options `rlm ask` uses by default (--sandbox auto), confinement layers included."""
    from rlm_cli.sandbox import SandboxOptions

    try:
        from rlm_cli.sandbox.policy import spec_for_mode
    except ImportError:  # no confinement layers in this build
        return SandboxOptions()
    return SandboxOptions(confine=spec_for_mode("auto"))


def repl_roundtrip(n: int = 3000, code: str = "x = 1") -> dict:
    """Per-exec round trip of SubprocessSandbox.execute on a trivial block (host -> worker -> host)."""
    from rlm_cli.sandbox import SubprocessSandbox

    def handler(fn, args):  # not called by the trivial block
        return []

    with SubprocessSandbox("hello world", options=default_options()) as sb:
        t0 = time.perf_counter()
        sb.execute("pass", handler)
        start_s = time.perf_counter() - t0
        for _ in range(50):
            sb.execute(code, handler)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            res = sb.execute(code, handler)
            times.append(time.perf_counter() - t0)
        assert res.error is None, res.error
        layers = list(sb.layers)
    times.sort()
    return {"median_ms": median(times) * 1e3, "p95_ms": times[int(0.95 * len(times))] * 1e3,
            "mean_ms": sum(times) / len(times) * 1e3, "n": n, "worker_start_ms": start_s * 1e3, "layers": layers}


def llm_query_roundtrip(n: int = 300) -> dict:
    """A REPL block doing one llm_query answered by an in-process handler: the sub-call channel cost."""
    from rlm_cli.sandbox import SubprocessSandbox

    def handler(fn, args):
        return ["ok" for _ in args.get("prompts") or [1]]

    with SubprocessSandbox("hello", options=default_options()) as sb:
        sb.execute("r = llm_query('hi')", handler)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            sb.execute("r = llm_query('hi')", handler)
            times.append(time.perf_counter() - t0)
    return {"median_ms": median(times) * 1e3, "n": n}


# ---- big contexts ---------------------------------------------------------------------------------
def write_big_text(path: Path, mb: int, needles: int = 1000) -> int:
    """A `mb` MB ASCII file of filler lines with `needles` 'NEEDLE-<n>' markers spread evenly."""
    line = "The committee reviewed the quarterly figures and found nothing unusual in the ledger.\n"
    block = line * 12000  # ~1 MB
    total = mb * 1_000_000
    every = max(1, total // len(block) // needles)
    written, k, i = 0, 0, 0
    with open(path, "w", encoding="ascii") as f:
        while written < total:
            chunk = block if i % every else f"NEEDLE-{k:06d} is here.\n" + block[len(line):]
            if i % every == 0:
                k += 1
            chunk = chunk[: total - written]
            f.write(chunk)
            written += len(chunk)
            i += 1
    return k


def big_context(mb: int, tmpdir: str | None = None) -> dict:
    """`rlm ask` on an `mb` MB text file with a one-turn scripted model that runs a regex over the whole context."""
    with tempfile.TemporaryDirectory(dir=tmpdir) as tmp:
        doc = Path(tmp, f"ctx-{mb}mb.txt")
        t0 = time.perf_counter()
        expected = write_big_text(doc, mb)
        gen_s = time.perf_counter() - t0
        code = "import re\nFINAL(str(len(re.findall(r'NEEDLE-\\d+', context))))"
        script = Path(tmp, "model.json")
        script.write_text(json.dumps({"rules": [{"when": "", "reply": _fence(code)}]}))
        trace = Path(tmp, "trace.jsonl")
        env = bench_env(Path(tmp, "home"))
        argv = [*rlm_argv(), "ask", str(doc), "how many needles?", "-m", f"scripted/{script}", "--json",
                "--trace", str(trace), "--no-cache", "-q", "--exec-timeout", "600"]
        r = run_watched(argv, env)
        if r["rc"] != 0:
            raise RuntimeError(f"rlm ask on {mb} MB failed ({r['rc']}): {r['stderr'][-500:]}")
        answer = json.loads(r["stdout"])["answer"]
        events = [json.loads(line) for line in trace.read_text().splitlines()]
    t = {e["kind"]: e for e in events}
    code_end = t["code_end"]
    worker_and_load = code_end["t"] - t["code_start"]["t"] - code_end["data"]["duration_s"]
    size_mb = mb * 1_000_000 / 2**20
    return {
        "context_mb": mb, "file_gen_s": gen_s, "wall_s": r["wall_s"],
        "before_run_s": r["wall_s"] - t["run_end"]["t"],  # interpreter start + imports + ingestion + exit
        "worker_start_and_load_s": worker_and_load, "regex_pass_s": code_end["data"]["duration_s"],
        "host_rss_mb": r["host_rss_mb"], "worker_rss_mb": r["worker_rss_mb"],
        "rss_over_context": max(r["host_rss_mb"], r["worker_rss_mb"]) / size_mb,
        "sum_rss_over_context": (r["host_rss_mb"] + r["worker_rss_mb"]) / size_mb,
        "swapped_pages": r["swapped_pages"], "answer_ok": answer == str(expected), "answer": answer,
        "expected": str(expected),
    }


# ---- fan-out --------------------------------------------------------------------------------------
def fanout(concurrency: int, n: int = 64, latency: float = 1.0) -> dict:
    """64 llm_query_batched sub-calls against a sub model that takes `latency` s each, through `rlm ask`."""
    code = f"r = llm_query_batched(['item %d' % i for i in range({n})])\nFINAL(str(sum(x == 'done' for x in r)))"
    scripts = {"root": ModelScript(default=_fence(code)), "sub": ModelScript(default="done")}
    with tempfile.TemporaryDirectory() as tmp, BenchStub(scripts, latency_per_model={"sub": latency}) as stub:
        doc = Path(tmp, "doc.txt")
        doc.write_text("filler. " * 1000)
        env = bench_env(Path(tmp, "home"))
        argv = [*rlm_argv(), "ask", str(doc), "fan out", "-m", "openai/root", "--sub-model", "openai/sub",
                "--api-base", stub.url, "--concurrency", str(concurrency), "--json", "-q"]
        t0 = time.perf_counter()
        proc = subprocess.run(argv, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        subs = stub.chat("sub")
        in_flight = stub.server.max_in_flight
    if proc.returncode != 0:
        raise RuntimeError(f"fan-out run failed ({proc.returncode}): {proc.stderr[-400:]}")
    answer = json.loads(proc.stdout)["answer"]
    span = max(r.answered_at for r in subs) - min(r.received_at for r in subs)
    ideal = math.ceil(n / concurrency) * latency
    return {"concurrency": concurrency, "n": n, "latency_s": latency, "batch_s": span, "ideal_s": ideal,
            "ratio": span / ideal, "wall_s": wall, "max_in_flight": in_flight, "all_ok": answer == str(n)}


# ---- the official implementation (PyPI `rlms`) in its own venv -----------------------------------
RLMS_PROBE = Path(__file__).with_name("rlms_probe.py")


def rlms_repl(python: str, n: int = 3000) -> dict:
    out = subprocess.run([python, str(RLMS_PROBE), "repl", "--n", str(n)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def rlms_fanout(python: str, concurrency: int, n: int = 64, latency: float = 1.0) -> dict:
    """The same 64 x 1 s fan-out through rlms (its batch limit set to `concurrency`)."""
    code = (f"r = llm_query_batched(['item %d' % i for i in range({n})])\n"
            "answer['content'] = str(sum(x == 'done' for x in r))\nanswer['ready'] = True")
    scripts = {"root": ModelScript(default=_fence(code)), "sub": ModelScript(default="done")}
    with BenchStub(scripts, latency_per_model={"sub": latency}) as stub:
        t0 = time.perf_counter()
        proc = subprocess.run([python, str(RLMS_PROBE), "fanout", "--url", stub.url, "--concurrency", str(concurrency)],
                              capture_output=True, text=True, timeout=600)
        wall = time.perf_counter() - t0
        subs = stub.chat("sub")
        in_flight = stub.server.max_in_flight
    if proc.returncode != 0 or not subs:
        raise RuntimeError(f"rlms fan-out failed ({proc.returncode}): {proc.stderr[-400:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    span = max(r.answered_at for r in subs) - min(r.received_at for r in subs)
    ideal = math.ceil(n / concurrency) * latency
    return {"concurrency": concurrency, "n": n, "batch_s": span, "ideal_s": ideal, "ratio": span / ideal,
            "wall_s": wall, "process_wall_s": res["wall_s"], "max_in_flight": in_flight, "all_ok": res["answer"] == str(n),
            "sub_requests": len(subs), "version": res.get("version")}


# ---- ingestion ------------------------------------------------------------------------------------
def ingest_throughput(mb: int = 100) -> dict:
    """`rlm ingest FILE --json --no-cache` on an `mb` MB text file: MB/s including interpreter start."""
    with tempfile.TemporaryDirectory() as tmp:
        doc = Path(tmp, "ingest.txt")
        write_big_text(doc, mb)
        argv = [*rlm_argv(), "ingest", str(doc), "--json", "--no-cache"]
        r = run_watched(argv, bench_env(Path(tmp, "home")))
        if r["rc"] != 0:
            raise RuntimeError(f"rlm ingest failed ({r['rc']}): {r['stderr'][-300:]}")
    return {"mb": mb, "wall_s": r["wall_s"], "mb_per_s": mb / r["wall_s"], "rss_mb": r["host_rss_mb"]}
