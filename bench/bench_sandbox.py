"""Sandbox benchmark: worker start time and exec round trip per confinement layer.

    python -m bench.bench_sandbox              # timing table (targets: start < 100 ms, round trip < 2 ms, all layers on)
    python -m bench.bench_sandbox --matrix     # which single layer blocks each attack of tests/test_sandbox_attacks.py

The matrix runs the attack suite under one layer at a time. Attacks that would harm the machine
without seccomp (mount, ptrace of the host, unshare) are only run in configurations with seccomp.
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
    out: dict[str, dict | None] = {"none (no spec)": None, "basic": base}
    if caps.landlock_abi:
        out["+landlock"] = dict(base, layers=base["layers"] + ["landlock"])
    if caps.seccomp:
        out["+seccomp"] = dict(base, layers=base["layers"] + ["seccomp"])
    if caps.landlock_abi and caps.seccomp:
        out["+landlock+seccomp"] = dict(base, layers=base["layers"] + ["landlock", "seccomp"])
    if caps.bwrap:
        out["bwrap only"] = dict(base, bwrap=caps.bwrap)
        if caps.landlock_abi and caps.seccomp:
            out["all (bwrap+landlock+seccomp)"] = dict(base, bwrap=caps.bwrap, layers=base["layers"] + ["landlock", "seccomp"])
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


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--matrix", action="store_true", help="attack x layer matrix instead of timings")
    p.add_argument("--starts", type=int, default=20)
    p.add_argument("--execs", type=int, default=500)
    args = p.parse_args(argv)
    if sys.platform != "linux":
        print("note: only the process layer (and sandbox-exec on macOS) exists here")
    matrix(args) if args.matrix else timing(args)


if __name__ == "__main__":
    main()
