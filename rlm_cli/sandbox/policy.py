"""Host side of sandbox confinement: what this machine supports, and the spec for `--sandbox MODE`.

`spec_for_mode(mode)` returns the confinement spec handed to the worker (see confine.py) plus the
host-side wrappers (bubblewrap on Linux, sandbox-exec on macOS) and one-line `notices` for the CLI
to print. `describe()` (report.py) lists the layers for `rlm doctor`. Capabilities are probed once
per process (the bubblewrap and namespace probes, which start a process each, are also cached on disk).

Linux layers: Landlock + seccomp always when available; then bubblewrap when usable, else the
worker's own namespaces (user/mnt/pid/ipc/net/uts, confine.enter_namespaces) when the kernel allows
unprivileged user namespaces.

Modes: auto = strongest available (degrades with a notice); strict = refuse (SandboxError) unless
file and network isolation are in force; basic = process isolation only, with a loud warning.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import SandboxError

PKG = Path(__file__).resolve().parent
MODES = ("auto", "strict", "basic")
SYSTEM_RO = ("/usr", "/lib", "/lib64", "/lib32", "/etc/ld.so.cache", "/etc/localtime", "/dev/urandom", "/dev/zero")
SYSTEM_RW = ("/dev/null",)
PROBE_VERSION = 3
BASIC_WARNING = ("WARNING: --sandbox basic: model-written code runs with process isolation only and CAN read "
                 "your files and use the network")


@dataclass
class Caps:
    system: str
    landlock_abi: int = 0
    seccomp: bool = False
    seccomp_detail: str = ""
    seccomp_notify: bool = False  # SECCOMP_RET_USER_NOTIF + FLAG_CONTINUE (Linux >= 5.5): the kernel thread cap
    bwrap: str | None = None  # path when usable
    bwrap_detail: str = ""
    namespaces: bool = False  # the worker can make its own user/mnt/pid/ipc/net namespaces
    namespaces_detail: str = ""
    sandbox_exec: str | None = None


_caps: Caps | None = None


def capabilities(refresh: bool = False) -> Caps:
    """Probe once per process: Landlock ABI, seccomp filter support, usable bwrap, sandbox-exec."""
    global _caps
    if _caps is None or refresh:
        _caps = _probe()
    return _caps


def _probe() -> Caps:
    system = platform.system()
    caps = Caps(system=system)
    if system == "Linux":
        from . import confine

        try:
            caps.landlock_abi = confine.landlock_abi()
        except (OSError, AttributeError):
            caps.landlock_abi = 0
        caps.seccomp, caps.seccomp_detail = _probe_seccomp(confine)
        caps.seccomp_notify = caps.seccomp and _action_available(confine, 0x7FC00000) and _kernel_at_least(5, 5)
        caps.bwrap, caps.bwrap_detail = _probe_bwrap()
        caps.namespaces, caps.namespaces_detail = _probe_namespaces()
    elif system == "Darwin":
        caps.sandbox_exec = shutil.which("sandbox-exec") or (
            "/usr/bin/sandbox-exec" if os.path.exists("/usr/bin/sandbox-exec") else None)
    return caps


def _probe_seccomp(confine) -> tuple[bool, str]:
    import ctypes

    from . import seccomp_bpf, syscalls

    machine = platform.machine()
    if machine not in syscalls.TABLES:
        return False, f"no syscall table for {machine}"
    if not _action_available(confine, seccomp_bpf.RET_ERRNO):
        return False, f"seccomp filters unavailable ({os.strerror(ctypes.get_errno())})"
    n = sum(1 for name in seccomp_bpf.POLICY if name in syscalls.TABLES[machine])
    return True, f"allowlist of {n} syscalls for {machine}, default EPERM"


def _action_available(confine, action: int) -> bool:
    import ctypes

    from . import syscalls

    nr = syscalls.TABLES.get(platform.machine(), {}).get("seccomp")
    value = ctypes.c_uint32(action)
    return nr is not None and confine._lib().syscall(ctypes.c_long(nr), ctypes.c_uint(2), ctypes.c_uint(0),
                                                      ctypes.byref(value)) == 0  # SECCOMP_GET_ACTION_AVAIL


def _kernel_at_least(major: int, minor: int) -> bool:
    try:
        got = tuple(int(x) for x in platform.release().split("-")[0].split(".")[:2])
    except ValueError:
        return False
    return got >= (major, minor)


# ---- bubblewrap ---------------------------------------------------------------------------------------
def _probe_bwrap() -> tuple[str | None, str]:
    path = shutil.which("bwrap")
    if not path:
        return None, "bwrap not installed"
    st = os.stat(path)
    return tuple(_cached_probe("bwrap", f"{path}:{st.st_mtime_ns}", lambda: _run_bwrap_probe(path)))


def _probe_namespaces() -> tuple[bool, str]:
    if not os.path.exists("/proc/self/ns/user"):
        return False, "no user namespaces in this kernel"
    return tuple(_cached_probe("namespaces", "", _run_namespace_probe))


def _cached_probe(name: str, key: str, run) -> list:
    """Run a probe that starts a process once per machine+Python+uid; the result is kept on disk."""
    key = f"v{PROBE_VERSION}:{key}:{platform.release()}:{sys.executable}:{os.getuid()}"
    cache = _read_probe_cache()
    entry = cache.get(name) or {}
    if entry.get("key") == key:
        return entry.get("result")
    result = list(run())
    cache[name] = {"key": key, "result": result}
    _write_probe_cache(cache)
    return result


def _cache_file() -> Path:
    from ..paths import cache_dir

    return cache_dir() / "sandbox-probe.json"


def _read_probe_cache() -> dict:
    try:
        data = json.loads(_cache_file().read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_probe_cache(data: dict) -> None:
    try:
        path = _cache_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def _run_namespace_probe() -> tuple[bool, str]:
    import tempfile

    scratch = tempfile.mkdtemp(prefix="rlm-nsprobe-")
    try:
        proc = subprocess.run([sys.executable, "-I", "-S", "-B", str(PKG / "confine.py"), scratch],
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"namespace probe failed to run: {exc}"
    finally:
        os.rmdir(scratch)
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        return False, f"unprivileged user namespaces not usable here: {err[-1] if err else f'exit {proc.returncode}'}"
    return True, proc.stdout.decode().strip()


def _run_bwrap_probe(path: str) -> tuple[str | None, str]:
    argv = bwrap_argv(path, scratch=None, ro_paths=ro_paths(), env={}) + [os.path.realpath(sys.executable), "-I", "-S", "-c", "pass"]
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"bwrap failed to start: {exc}"
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        return None, f"bwrap not usable here: {err[-1] if err else f'exit status {proc.returncode}'}"
    return path, f"{path}: new user/pid/net/ipc/uts/cgroup namespaces, read-only minimal view"


def bwrap_argv(path: str, scratch: str | None, ro_paths: list[str], env: dict, rw_paths: tuple = ()) -> list[str]:
    """bwrap wrapper: all namespaces, no env, only the listed paths visible (same paths as outside)."""
    argv = [path, "--unshare-all", "--die-with-parent", "--new-session", "--clearenv", "--cap-drop", "ALL",
            "--hostname", "rlm-sandbox", "--dev", "/dev"]
    for p in ro_paths:
        if p.startswith("/dev/"):
            continue  # --dev provides null, zero, urandom
        if os.path.islink(p) and os.path.dirname(p) == "/":
            argv += ["--symlink", os.readlink(p), p]
        elif os.path.exists(p):
            argv += ["--ro-bind", p, p]
    for p in rw_paths:
        if not p.startswith("/dev/") and os.path.exists(p):
            argv += ["--bind", p, p]
    if scratch:
        argv += ["--bind", scratch, scratch, "--chdir", scratch]
    for k, v in env.items():
        argv += ["--setenv", k, v]
    return argv + ["--"]


# ---- paths --------------------------------------------------------------------------------------------
def ro_paths() -> list[str]:
    """What the worker may read: the standard library (not the venv or prefix around it, which may hold a
    project's .env), the Python's own shared libraries, system libraries, the worker's own files."""
    if platform.system() != "Linux":
        return _prefix_paths() + _own_files() + [p for p in SYSTEM_RO if os.path.exists(p)]
    paths: list[str] = []
    for p in python_paths():
        if p not in paths and not any(p.startswith(q.rstrip("/") + "/") for q in paths):
            paths.append(p)
    return paths + _own_files() + [p for p in SYSTEM_RO if os.path.exists(p) and p not in paths]


def python_paths() -> list[str]:
    """What `python -I -S` needs after start: the stdlib, lib-dynload, the interpreter binary (bwrap starts
    it) and the shared libraries beside the stdlib (libpython, a bundled libffi); never the venv."""
    import sysconfig

    stdlib = os.path.realpath(os.path.dirname(os.__file__))
    out = [stdlib, os.path.join(stdlib, "lib-dynload"), os.path.realpath(sysconfig.get_config_var("DESTSHARED") or stdlib),
           os.path.realpath(sys.executable)]
    lib = os.path.dirname(stdlib)
    if not any(lib == s or lib.startswith(s + "/") for s in SYSTEM_RO):  # /usr/lib is readable as a whole anyway
        try:
            out += sorted(os.path.join(lib, f) for f in os.listdir(lib) if ".so" in f)
        except OSError:
            pass
    return [p for p in dict.fromkeys(out) if os.path.exists(p) and p != "/"]


def _own_files() -> list[str]:
    return [str(PKG / f) for f in ("worker.py", "worker_io.py", "worker_state.py", "confine.py", "helpers.py", "counting.py")]


def _prefix_paths() -> list[str]:
    paths: list[str] = []
    exe = os.path.realpath(sys.executable)
    for p in (sys.base_prefix, sys.prefix, sys.exec_prefix, sys.base_exec_prefix, os.path.dirname(exe)):
        for q in (p, os.path.realpath(p)):
            if q in ("", "/"):
                q = os.path.dirname(os.__file__)
            if q not in paths:
                paths.append(q)
    return [p for p in paths if not any(q != p and p.startswith(q.rstrip("/") + "/") for q in paths)]


# ---- modes ----------------------------------------------------------------------------------------------
def spec_for_mode(mode: str = "auto") -> dict | None:
    if mode not in MODES:
        from ..errors import UsageError

        raise UsageError(f"--sandbox must be one of {', '.join(MODES)} (got {mode!r})")
    caps = capabilities()
    spec: dict = {"mode": mode, "layers": [], "bwrap": None, "sandbox_exec": None, "rss_watchdog": False,
                  "ro_paths": ro_paths(), "rw_paths": [p for p in SYSTEM_RW if os.path.exists(p)],
                  "required": [], "notices": []}
    if caps.system == "Linux":
        spec["layers"].append("pdeathsig")
    if mode == "basic":
        spec["notices"].append(BASIC_WARNING)
        spec["rss_watchdog"] = caps.system == "Darwin"
        return spec
    if caps.system == "Linux":
        _linux_layers(spec, caps)
    elif caps.system == "Darwin" and caps.sandbox_exec:
        spec["sandbox_exec"] = caps.sandbox_exec
        spec["rss_watchdog"] = True
    elif caps.system == "Darwin":
        spec["rss_watchdog"] = True
    missing = [k for k in ("file", "network") if not _isolates(spec, k)]
    if mode == "strict":
        if missing:
            raise SandboxError(f"--sandbox strict: no {' or '.join(missing)} isolation available on this machine "
                               f"({_why(caps)})", hint="run `rlm doctor` to see the sandbox layers; use --sandbox auto to run anyway")
        spec["required"] = ["file", "network"]
    elif missing:
        spec["notices"].append(f"WARNING: no {' or '.join(missing)} isolation on this machine ({_why(caps)}): "
                               "model-written code runs with process isolation only")
    return spec


def _linux_layers(spec: dict, caps: Caps) -> None:
    if caps.landlock_abi >= 1:
        spec["layers"].append("landlock")
    if caps.seccomp:
        spec["layers"].append("seccomp")
        spec["thread_notify"] = caps.seccomp_notify
    if caps.bwrap:
        spec["bwrap"] = caps.bwrap
    elif caps.namespaces:
        spec["layers"].append("namespaces")
    elif shutil.which("bwrap"):
        spec["notices"].append(f"sandbox: {caps.bwrap_detail}; {caps.namespaces_detail}; using Landlock+seccomp only")


def _isolates(spec: dict, kind: str) -> bool:
    if spec.get("bwrap") or spec.get("sandbox_exec"):
        return True
    if kind == "file":
        return "landlock" in spec["layers"]
    return "seccomp" in spec["layers"] or "namespaces" in spec["layers"]  # Landlock alone covers TCP only


def missing_isolation(required: list[str], layers: list[str]) -> list[str]:
    """Which required isolation kinds the layers the worker reported do NOT provide."""
    wrapped = "bwrap" in layers or "sandbox-exec" in layers
    have = {"file": wrapped or "landlock-fs" in layers, "network": wrapped or "seccomp" in layers or "ns-net" in layers}
    return [k for k in required if not have.get(k, False)]


def _why(caps: Caps) -> str:
    if caps.system == "Linux":
        parts = ["Landlock unavailable" if caps.landlock_abi < 1 else "",
                 "" if caps.seccomp else caps.seccomp_detail, "" if caps.bwrap else caps.bwrap_detail,
                 "" if caps.namespaces or caps.bwrap else caps.namespaces_detail]
        return "; ".join(p for p in parts if p) or "unknown"
    if caps.system == "Darwin":
        return "sandbox-exec not found"
    return f"no sandbox support for {caps.system}"


def describe() -> list[tuple[str, bool, str]]:
    """(layer, active, detail) for `rlm doctor`: the layers `--sandbox auto` uses on this machine."""
    from .report import describe_layers

    return describe_layers()


def caps_dict() -> dict:
    return asdict(capabilities())


# ---- macOS ----------------------------------------------------------------------------------------------
def macos_profile(spec: dict) -> str:
    """A deny-by-default sandbox-exec profile (UNTESTED: written from Apple's SBPL documentation)."""
    def q(p: str) -> str:
        return json.dumps(os.path.realpath(p))

    ro = " ".join(f"(subpath {q(p)})" for p in spec.get("ro_paths", []) if os.path.isdir(p))
    ro_files = " ".join(f"(literal {q(p)})" for p in spec.get("ro_paths", []) if os.path.isfile(p))
    scratch = q(spec["scratch"])
    return "\n".join([
        "(version 1)",
        "(deny default)",
        f"(allow process-exec (literal {q(sys.executable)}))",
        "(allow file-read-metadata)",
        f"(allow file-read* {ro} {ro_files} (subpath \"/System\") (subpath \"/usr/lib\") "
        f"(subpath {q(spec['context_dir'])}) (literal \"/dev/urandom\") (literal \"/dev/null\"))",
        f"(allow file-read* file-write* (subpath {scratch}) (literal \"/dev/null\"))",
        "(allow sysctl-read)",
        "(allow signal (target self))",
        "(deny network*)",
        "(deny process-fork)",
    ])


def rss_mb(pid: int) -> float | None:
    """Resident set size of `pid` in MB via ps (used by the macOS watchdog), None if gone."""
    try:
        out = subprocess.run(["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True, timeout=5).stdout
        return int(out.strip()) / 1024 if out.strip() else None
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None
