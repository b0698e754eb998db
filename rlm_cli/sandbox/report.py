"""`rlm doctor`'s sandbox rows: every layer `--sandbox auto` would use here, on or off, and why."""
from __future__ import annotations

from ..errors import SandboxError
from .policy import Caps, capabilities, spec_for_mode

NAMESPACES = ("user", "mnt", "pid", "ipc", "net")


def describe_layers() -> list[tuple[str, bool, str]]:
    from .host import SandboxOptions

    caps, opts = capabilities(), SandboxOptions()
    rows = [("process", True, f"own session, allow-listed env, 0700 scratch as cwd+HOME; a block may run "
                              f"{opts.exec_timeout:g} s of its own time and {opts.wall_timeout():g} s in total"),
            ("rlimits", True, f"address space {opts.memory_mb} MB (root REPL) / {opts.child_memory_mb} MB (each "
                              f"child REPL) within {opts.run_memory_mb} MB per run; file {opts.file_mb} MB; "
                              f"{opts.open_files} fds; CPU {opts.cpu_seconds} s; no core; NPROC in a user ns only")]
    if caps.system == "Linux":
        rows += _landlock_rows(caps.landlock_abi)
        rows.append(("seccomp", caps.seccomp, caps.seccomp_detail))
        rows += _namespace_rows(caps)
        rows.append(("bwrap", caps.bwrap is not None, caps.bwrap_detail))
        rows += _limit_rows(caps, opts)
    elif caps.system == "Darwin":
        rows.append(("sandbox-exec", caps.sandbox_exec is not None,
                     "deny-default profile (untested)" if caps.sandbox_exec else "not found"))
        rows.append(("rss-watchdog", True, "host kills the worker above the memory limit (RLIMIT_AS is not enforced)"))
    try:
        spec_for_mode("strict")
        rows.append(("strict", True, "--sandbox strict can run here"))
    except SandboxError as exc:
        rows.append(("strict", False, str(exc)))
    return rows


def _landlock_rows(abi: int) -> list[tuple[str, bool, str]]:
    off = "not available in this kernel" if abi < 1 else f"needs Landlock ABI {{}} (kernel has {abi})"
    return [
        ("landlock-fs", abi >= 1, f"ABI {abi}: read-only stdlib+system libraries, read-write scratch, nothing else"
         if abi >= 1 else off),
        ("landlock-net", abi >= 4, "no TCP bind/connect" if abi >= 4 else off.format(4)),
        ("landlock-scope", abi >= 6, "no signals or abstract unix sockets outside the sandbox" if abi >= 6
         else off.format(6)),
    ]


def _namespace_rows(caps: Caps) -> list[tuple[str, bool, str]]:
    rows = []
    for ns in NAMESPACES:
        if caps.bwrap:
            rows.append((f"ns-{ns}", True, "made by bwrap"))
        elif caps.namespaces:
            rows.append((f"ns-{ns}", True, "made by the worker itself (no bwrap)"))
        else:
            rows.append((f"ns-{ns}", False, caps.namespaces_detail or "not probed"))
    return rows


def _limit_rows(caps: Caps, opts) -> list[tuple[str, bool, str]]:
    own_ns = caps.namespaces and not caps.bwrap
    pid_max = own_ns and "pid-max" in caps.namespaces_detail.split()
    kernel = [k for k, on in (("seccomp user notification (host answers each new thread)", caps.seccomp_notify),
                              ("pid_max of its own pid namespace", pid_max),
                              ("RLIMIT_NPROC in its user namespace (not for root)", own_ns)) if on]
    threads = f"{opts.max_threads} threads at once (counted in the worker); kernel caps: " + (
        ", ".join(kernel) if kernel else "none on this machine (ctypes can get past the count)")
    quota = f"{opts.scratch_mb} MB, {opts.max_files:,} files: " + (
        "a tmpfs in the worker's mount namespace" if own_ns else "checked by the host every 0.5 s")
    return [("thread-cap", True, threads), ("scratch-quota", True, quota)]
