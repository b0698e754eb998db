"""Sandbox benchmark: worker start time and exec round trip per confinement layer.

    python -m bench.bench_sandbox              # timing table (targets: start < 100 ms, round trip < 2 ms, all layers on)
    python -m bench.bench_sandbox --matrix     # which single layer blocks each attack of tests/test_sandbox_attacks.py
    python -m bench.bench_sandbox --against ../main --rounds 5   # this checkout vs another, runs interleaved

Configurations: each layer alone and together; with seccomp on, the host's thread supervisor (seccomp user
notification) runs too, as in `--sandbox auto`; "namespaces" is the worker's own user/mnt/pid/ipc/net
namespaces (no bwrap). The matrix runs the attack suite under one layer at a time. Attacks that would harm
the machine without seccomp (mount, ptrace of the host, unshare) are only run in configurations with seccomp.
`--against` alternates whole runs of this module in the two checkouts (the machine's load drifts: a
comparison of two runs made minutes apart says little) and prints, per row, the median over rounds of
each round's median, with the smallest round median in brackets.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rlm_cli.sandbox import policy as confine_host
from rlm_cli.sandbox import SandboxOptions, SubprocessSandbox

ROOT = Path(__file__).resolve().parent.parent
UNSAFE_WITHOUT_SECCOMP = ("ptrace the host", "ctypes: mount a tmpfs", "ctypes: unshare a user namespace",
                          "ctypes: raw execve syscall")


def configs() -> dict[str, dict | None]:
    caps = confine_host.capabilities()
    base = confine_host.spec_for_mode("basic")
    base["notices"] = []
    ll, sc = caps.landlock_abi >= 1, caps.seccomp
    out: dict[str, dict | None] = {"none (no spec)": None, "basic": base}

    def cfg(layers: list, **extra) -> dict:
        notify = {"thread_notify": caps.seccomp_notify} if "seccomp" in layers else {}
        return dict(base, layers=base["layers"] + layers, **notify, **extra)

    if ll:
        out["+landlock"] = cfg(["landlock"])
    if sc:
        out["+seccomp"] = cfg(["seccomp"])
    if ll and sc:
        out["+landlock+seccomp"] = cfg(["landlock", "seccomp"])
    if caps.bwrap:
        out["bwrap only"] = cfg([], bwrap=caps.bwrap)
        if ll and sc:
            out["all (bwrap+landlock+seccomp)"] = cfg(["landlock", "seccomp"], bwrap=caps.bwrap)
    if caps.namespaces:
        out["namespaces only"] = cfg(["namespaces"])
        if ll and sc:
            out["namespaces+landlock+seccomp"] = cfg(["landlock", "seccomp", "namespaces"])
    return out


def echo(fn: str, args: dict) -> list[str]:
    return ["ok"] * len(args.get("prompts") or args.get("questions"))


def time_config(spec: dict | None, starts: int, execs: int) -> tuple[float, float, float, list[str]]:
    start_ms = []
    for _ in range(starts):
        box = SubprocessSandbox("x" * 1000, None, SandboxOptions(confine=spec))
        t0 = time.perf_counter()
        box.start()
        start_ms.append((time.perf_counter() - t0) * 1000)
        box.close()
    box = SubprocessSandbox("x" * 1000, None, SandboxOptions(confine=spec))
    box.start()
    for _ in range(20):
        box.execute("1", echo)
    rt, sub = [], []
    for _ in range(execs):
        t0 = time.perf_counter()
        box.execute("x = 1", echo)
        rt.append((time.perf_counter() - t0) * 1000)
    for _ in range(execs // 5):
        t0 = time.perf_counter()
        box.execute("llm_query('q')", echo)
        sub.append((time.perf_counter() - t0) * 1000)
    layers = box.layers
    box.close()
    return statistics.median(start_ms), statistics.median(rt), statistics.median(sub), layers


def timing(args) -> None:
    print(f"{'layers':32} {'start ms':>9} {'exec rt ms':>11} {'llm_query rt ms':>16}  reported layers")
    for name, spec in configs().items():
        start, rt, sub, layers = time_config(spec, args.starts, args.execs)
        print(f"{name:32} {start:9.1f} {rt:11.3f} {sub:16.3f}  {','.join(layers) or '-'}")
    print(f"(median of {args.starts} starts and {args.execs} execs; targets with all layers: start < 100 ms, round trip < 2 ms)")


def matrix(args) -> None:
    spec = importlib.util.spec_from_file_location("attack_suite", ROOT / "tests" / "test_sandbox_attacks.py")
    suite = importlib.util.module_from_spec(spec)
    sys.modules["attack_suite"] = suite
    spec.loader.exec_module(suite)
    os.environ["OPENAI_API_KEY"] = suite.FAKE_KEY  # the host holds a key, as in the tests
    cfgs = {k: v for k, v in configs().items() if k != "none (no spec)"}
    print("| attack | " + " | ".join(cfgs) + " |")
    print("|---|" + "---|" * len(cfgs))
    for attack in suite.ATTACKS:
        cells = []
        for cfg in cfgs.values():
            if attack.name in UNSAFE_WITHOUT_SECCOMP and "seccomp" not in cfg["layers"]:
                cells.append("(not run)")
                continue
            cells.append(_cell(suite, attack, cfg))
        print(f"| {attack.name} | " + " | ".join(cells) + " |", flush=True)


def _cell(suite, attack, cfg) -> str:
    root = Path(tempfile.mkdtemp(prefix="rlm-bench-attack-"))
    targets, stop = suite.make_targets(root)
    opts = SandboxOptions(exec_timeout=0.6, grace=0.4, memory_mb=512, file_mb=16, max_output_chars=2000,
                          max_message_mb=4, max_sub_prompts=50, confine=cfg)
    box = SubprocessSandbox("public context text", None, opts)
    try:
        box.start()
        suite.run_attack(box, attack, targets)
        return "blocked"
    except AssertionError:
        return "**NOT blocked**"
    finally:
        box.close()
        stop()
        shutil.rmtree(root, ignore_errors=True)
        Path(tempfile.gettempdir(), "rlm-pwned-by-attack").unlink(missing_ok=True)


def against(args) -> None:
    import re
    import subprocess

    runs: dict[str, dict[str, list]] = {"other": {}, "this": {}}
    for _ in range(args.rounds):
        for name, cwd in (("other", args.against), ("this", str(ROOT))):
            out = subprocess.run([sys.executable, "-m", "bench.bench_sandbox", "--starts", str(args.starts), "--execs",
                                  str(args.execs)], cwd=cwd, capture_output=True, text=True).stdout
            for line in out.splitlines()[1:]:
                m = re.match(r"(.+?)\s{2,}([\d.]+)\s+([\d.]+)\s+([\d.]+)", line)
                if m:
                    runs[name].setdefault(m.group(1).strip(), []).append([float(x) for x in m.groups()[1:]])
    print(f"{'layers':30} {'start ms other':>15} {'start ms this':>15} {'rt ms other':>13} {'rt ms this':>13} "
          f"{'llm ms other':>13} {'llm ms this':>13}")
    for row, mine in runs["this"].items():
        theirs = runs["other"].get(row, [])
        cells = [_stat(xs, i) for i in range(3) for xs in (theirs, mine)]
        print(f"{row:30} " + " ".join(f"{c:>{w}}" for c, w in zip(cells, (15, 15, 13, 13, 13, 13))))
    print(f"(median over {args.rounds} interleaved rounds of each round's median [smallest round median]; "
          f"other = {args.against})")


def _stat(rounds: list, i: int) -> str:
    if not rounds:
        return "-"
    values = [r[i] for r in rounds]
    fmt = ".1f" if i == 0 else ".3f"
    return f"{statistics.median(values):{fmt}} [{min(values):{fmt}}]"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--matrix", action="store_true", help="attack x layer matrix instead of timings")
    p.add_argument("--against", metavar="CHECKOUT", help="compare with another checkout of rlm, runs interleaved")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--starts", type=int, default=20)
    p.add_argument("--execs", type=int, default=500)
    args = p.parse_args(argv)
    if sys.platform != "linux":
        print("note: only the process layer (and sandbox-exec on macOS) exists here")
    if args.against:
        against(args)
    else:
        matrix(args) if args.matrix else timing(args)


if __name__ == "__main__":
    main()
