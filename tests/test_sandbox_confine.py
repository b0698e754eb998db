"""Attack classes 2, 3 and 4 of issue 11, against the real worker in every configuration (7 and 8 are in
tests/test_sandbox_limits.py), and the stdlib work that must keep running under the allowlist.

Each attack makes the raw syscalls through ctypes `syscall()` (so the kernel's answer is tested, not
Python's wrapper) and each test asserts what is observable OUTSIDE the sandbox: file modes, owners,
times and xattrs of decoy files; the host's own limits, priority, affinity and scheduler; the SysV
IPC tables, /dev/shm and /dev/mqueue of the host; the worker's descriptors and thread count as
/proc shows them to the host; what is left on disk after cleanup. The configurations are those of
tests/test_sandbox_attacks.py: all layers (bwrap), Landlock + seccomp only, and the worker's own
namespaces without bwrap.
"""
from __future__ import annotations

import json
import os
import platform
import resource
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rlm_cli.sandbox import SubprocessSandbox
from tests.test_sandbox_attacks import CONFIGS, _config_spec, descendants, echo, box_factory

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the confinement layers are Linux only")


@pytest.fixture(params=CONFIGS)
def make_box(request, monkeypatch):
    yield from box_factory(request, monkeypatch)

NR = {  # syscall numbers the attacks call directly (-1: absent on that architecture)
    "x86_64": dict(chmod=90, fchmod=91, fchmodat=268, fchmodat2=452, chown=92, fchown=93, lchown=94, fchownat=260,
                   utime=132, utimes=235, futimesat=261, utimensat=280, setxattr=188, lsetxattr=189, fsetxattr=190,
                   removexattr=197, prlimit64=302, setrlimit=160, setpriority=141, sched_setaffinity=203,
                   sched_setscheduler=144, ioprio_set=251, prctl=157, shmget=29, msgget=68, semget=64, mq_open=240,
                   memfd_create=319, inotify_init1=294, fanotify_init=300, fcntl=72, mknodat=259, flock=73, truncate=76),
    "aarch64": dict(chmod=-1, fchmod=52, fchmodat=53, fchmodat2=452, chown=-1, fchown=55, lchown=-1, fchownat=54,
                    utime=-1, utimes=-1, futimesat=-1, utimensat=88, setxattr=5, lsetxattr=6, fsetxattr=7,
                    removexattr=14, prlimit64=261, setrlimit=164, setpriority=140, sched_setaffinity=122,
                    sched_setscheduler=119, ioprio_set=30, prctl=167, shmget=194, msgget=186, semget=190, mq_open=180,
                    memfd_create=279, inotify_init1=26, fanotify_init=262, fcntl=25, mknodat=33, flock=32, truncate=45),
}
PRELUDE = """
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
NR = {nr!r}
results = {{}}
def call(label, name, *args):
    if NR[name] < 0:
        return
    rc = libc.syscall(NR[name], *args)
    results[label] = [rc, ctypes.get_errno()]
"""
EPILOGUE = "\nprint('RESULTS ' + json.dumps(results))\n"
IPC_KEYS = (0x524C4D31, 0x524C4D32, 0x524C4D33)


def run_calls(box: SubprocessSandbox, body: str, **fmt) -> dict:
    code = PRELUDE.format(nr=NR[platform.machine()]) + textwrap.dedent(body).format(**fmt) + EPILOGUE
    res = box.execute(code, echo)
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULTS ")]
    assert line, res.render()
    return json.loads(line[0][8:])


def assert_all_failed(results: dict) -> None:
    got_through = {k: v for k, v in results.items() if v[0] != -1}
    assert not got_through, f"these calls succeeded inside the sandbox: {got_through}"
    assert results, "no call was made"


def worker_pids(box: SubprocessSandbox) -> set[int]:
    return {box.proc.proc.pid} | descendants(box.proc.proc.pid)


def proc_field(pid: int, name: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return ""


# ---- class 2: file metadata -----------------------------------------------------------------------------
@pytest.fixture
def decoy(tmp_path):
    path = tmp_path / "outside" / "decoy.bin"
    path.parent.mkdir()
    path.write_bytes(b"decoy")
    os.chmod(path, 0o600)
    os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    os.setxattr(path, "user.keep", b"1")
    return path


def _metadata(path: Path) -> tuple:
    st = os.lstat(path)
    return st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_atime_ns, sorted(
        (k, os.getxattr(path, k)) for k in os.listxattr(path))


def test_file_metadata_outside_scratch_cannot_change(make_box, decoy):
    box = make_box()
    ctx = box.ctx_dir / "context.txt"  # the host's copy of the document: readable by the worker
    before = {p: _metadata(p) for p in (decoy, ctx, decoy.parent)}
    results = run_calls(box, """
        d, ctx, AT = b'{decoy}', b'{ctx}', -100
        fd = os.open(ctx, os.O_RDONLY)
        call('chmod', 'chmod', d, 0o4777); call('fchmodat', 'fchmodat', AT, d, 0o777)
        call('fchmodat2', 'fchmodat2', AT, d, 0o777, 0); call('fchmod ctx', 'fchmod', fd, 0o644)
        call('chmod dir', 'chmod', b'{parent}', 0o777)
        call('chown', 'chown', d, 65534, 65534); call('lchown', 'lchown', d, 65534, 65534)
        call('fchownat', 'fchownat', AT, d, 65534, 65534, 0); call('fchown ctx', 'fchown', fd, 65534, 65534)
        times = (ctypes.c_long * 4)(0, 0, 0, 0)
        call('utimensat', 'utimensat', AT, d, times, 0); call('utimensat now', 'utimensat', AT, d, None, 0)
        call('utimes', 'utimes', d, None); call('utime', 'utime', d, None); call('futimesat', 'futimesat', AT, d, None)
        cap = b'\\x01\\x00\\x00\\x02' + b'\\xff' * 16
        call('setxattr', 'setxattr', d, b'user.pwned', b'x', 1, 0)
        call('setxattr capability', 'setxattr', d, b'security.capability', cap, len(cap), 0)
        call('lsetxattr', 'lsetxattr', d, b'user.pwned', b'x', 1, 0)
        call('fsetxattr ctx', 'fsetxattr', fd, b'user.pwned', b'x', 1, 0)
        call('removexattr', 'removexattr', d, b'user.keep')
        call('truncate', 'truncate', d, 0)  # content, but outside Landlock before ABI 3
        call('flock ctx', 'flock', fd, 2 | 4)  # LOCK_EX|LOCK_NB on a file the host reads
        for label, fn in [('os.chmod', lambda: os.chmod(d, 0o777)), ('os.utime', lambda: os.utime(d, (0, 0))),
                          ('os.chown', lambda: os.chown(d, 65534, 65534)), ('os.setxattr', lambda: os.setxattr(d, 'user.py', b'1'))]:
            try:
                fn()
                results[label] = [0, 0]
            except OSError as exc:
                results[label] = [-1, exc.errno]
    """, decoy=decoy, ctx=ctx, parent=decoy.parent)
    assert_all_failed(results)
    assert {p: _metadata(p) for p in (decoy, ctx, decoy.parent)} == before


def test_scratch_files_can_be_made_but_not_retouched(make_box):
    """What the worker can still do to modes: create restrictive files and dirs; it cannot chmod them later."""
    box = make_box()
    res = box.execute("import os\nos.mkdir('zero', 0)\nopen('f', 'w').write('x')\ntry:\n    os.chmod('f', 0o777)\n"
                      "except PermissionError:\n    print('chmod denied')\nprint(oct(os.stat('zero').st_mode & 0o777))", echo)
    assert res.error is None and "chmod denied" in res.stdout and "0o0" in res.stdout, res.render()


# ---- class 3: process control -------------------------------------------------------------------------------
def _host_state() -> tuple:
    libc_ioprio = _ioprio_get()
    return (resource.getrlimit(resource.RLIMIT_CPU), resource.getrlimit(resource.RLIMIT_FSIZE),
            resource.getrlimit(resource.RLIMIT_CORE), os.getpriority(os.PRIO_PROCESS, 0), os.sched_getaffinity(0),
            os.sched_getscheduler(0), libc_ioprio)


def _ioprio_get() -> int:
    import ctypes

    nr = {"x86_64": 252, "aarch64": 31}[platform.machine()]
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.syscall(nr, 1, 0)  # IOPRIO_WHO_PROCESS, this process


def test_process_control_of_the_host_is_denied(make_box):
    box = make_box()
    before = _host_state()
    limits_before = {pid: Path(f"/proc/{pid}/limits").read_text() for pid in worker_pids(box)}
    results = run_calls(box, """
        host = {host}
        one = (ctypes.c_ulong * 2)(1, 1)
        huge = (ctypes.c_ulong * 2)(2**62, 2**62)
        call('prlimit CPU host', 'prlimit64', host, 0, ctypes.byref(one), None)
        call('prlimit FSIZE host', 'prlimit64', host, 1, ctypes.byref(one), None)
        call('prlimit CORE host', 'prlimit64', host, 4, ctypes.byref(huge), None)
        call('prlimit raise own AS', 'prlimit64', 0, 9, ctypes.byref(huge), None)
        call('prlimit raise own NOFILE', 'prlimit64', 0, 7, ctypes.byref(huge), None)
        call('setrlimit AS', 'setrlimit', 9, ctypes.byref(huge))
        call('setrlimit lower CPU', 'setrlimit', 0, ctypes.byref(one))
        call('setpriority host', 'setpriority', 0, host, 19)
        call('setpriority user', 'setpriority', 2, 0, 19)
        call('setpriority group', 'setpriority', 1, 0, 19)
        mask = (ctypes.c_ulong * 16)()
        mask[0] = 1
        call('sched_setaffinity host', 'sched_setaffinity', host, ctypes.sizeof(mask), mask)
        param = ctypes.c_int(0)
        call('sched_setscheduler host', 'sched_setscheduler', host, 5, ctypes.byref(param))
        call('ioprio_set host', 'ioprio_set', 1, host, 3 << 13)
        call('ioprio_set user', 'ioprio_set', 3, os.getuid(), 3 << 13)
        call('PR_SET_PDEATHSIG 0', 'prctl', 1, 0, 0, 0, 0)
        call('PR_SET_DUMPABLE', 'prctl', 4, 1, 0, 0, 0)
        call('PR_SET_CHILD_SUBREAPER', 'prctl', 36, 1, 0, 0, 0)
        call('PR_SET_PTRACER any', 'prctl', 0x59616D61, ctypes.c_ulong(2**64 - 1), 0, 0, 0)
        call('PR_SET_MM', 'prctl', 35, 1, 0, 0, 0)
        call('PR_SET_SECCOMP', 'prctl', 22, 0, 0, 0, 0)
    """, host=os.getpid())
    assert_all_failed(results)
    assert _host_state() == before
    assert {pid: Path(f"/proc/{pid}/limits").read_text() for pid in worker_pids(box)} == limits_before


HOST_SCRIPT = """
import json, os, sys, time
from rlm_cli.sandbox import SandboxOptions, SubprocessSandbox
spec = json.loads(os.environ["RLM_TEST_SPEC"])
box = SubprocessSandbox("c", None, SandboxOptions(confine=spec, exec_timeout=5))
res = box.execute(sys.argv[1], lambda fn, args: [])
print(json.dumps({"pid": box.proc.proc.pid, "out": res.stdout, "error": res.error}), flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.slow  # a few seconds each (runs in CI's slow pass: .ci/run)
def test_worker_cannot_outlive_a_killed_host(config, tmp_path):
    """PR_SET_PDEATHSIG 0 (and setsid) inside, then the host is SIGKILLed: every worker process must go."""
    spec = _config_spec(config)
    code = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "print('pdeathsig', libc.prctl(1, 0, 0, 0, 0), 'setsid', libc.setsid())")
    host = subprocess.Popen([sys.executable, "-c", HOST_SCRIPT, code], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, RLM_TEST_SPEC=json.dumps(spec), TMPDIR=str(tmp_path)))
    try:
        info = json.loads(host.stdout.readline())
        assert "pdeathsig -1 setsid -1" in info["out"], info
        pids = {info["pid"]} | descendants(info["pid"])
    finally:
        host.kill()
        host.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in pids):
        time.sleep(0.05)
    assert not [p for p in pids if Path(f"/proc/{p}").exists()], "a worker process outlived its host"


# ---- class 4: IPC and watching ---------------------------------------------------------------------------
def _sysv_keys() -> set[int]:
    keys = set()
    for kind in ("msg", "shm", "sem"):
        try:
            lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
        except OSError:
            continue
        keys |= {int(line.split()[0]) & 0xFFFFFFFF for line in lines if line.strip()}
    return keys


def _ipcs() -> str:
    try:
        return subprocess.run(["ipcs"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _fd_kinds(box: SubprocessSandbox) -> list[str]:
    kinds = []
    for pid in worker_pids(box):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                kinds.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                pass
    return kinds


def test_ipc_and_watching_leave_nothing_on_the_host(make_box, tmp_path):
    box = make_box()
    got = []
    olds = {sig: signal.signal(sig, lambda *a: got.append(a[0])) for sig in (signal.SIGUSR1, signal.SIGIO)}
    try:
        _ipc_attack(box)
        time.sleep(0.1)
    finally:
        for sig, old in olds.items():
            signal.signal(sig, old)
    assert not got, f"the host received signals {got} from the sandbox (F_SETOWN/F_SETSIG/F_NOTIFY)"


def _ipc_attack(box: SubprocessSandbox) -> None:
    shm_before = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    mq_before = set(os.listdir("/dev/mqueue")) if os.path.isdir("/dev/mqueue") else set()
    results = run_calls(box, """
        k1, k2, k3 = {keys}
        call('msgget', 'msgget', k1, 0o1000 | 0o666)
        call('msgget private', 'msgget', 0, 0o1000 | 0o666)
        call('shmget 64 MB', 'shmget', k2, 64 << 20, 0o1000 | 0o600)
        call('semget', 'semget', k3, 1, 0o1000 | 0o600)
        call('mq_open', 'mq_open', b'rlm-attack-mq', os.O_CREAT | os.O_RDWR, 0o600, None)
        call('memfd_create', 'memfd_create', b'grow', 0)
        call('inotify_init1', 'inotify_init1', 0)
        call('fanotify_init', 'fanotify_init', 0, 0)
        dirfd = os.open('.', os.O_RDONLY | os.O_DIRECTORY)
        call('fcntl F_SETOWN host', 'fcntl', dirfd, 8, {host})
        call('fcntl F_SETSIG', 'fcntl', dirfd, 10, 10)
        call('fcntl F_NOTIFY', 'fcntl', dirfd, 1026, 0x8000003F)
        open('trigger', 'w').close()  # a directory change: dnotify would signal the owner (the host)
        call('fcntl F_SETLEASE', 'fcntl', dirfd, 1024, 0)
        call('mknodat fifo', 'mknodat', -100, b'fifo', 0o10600, 0)
        try:
            with open('/dev/shm/rlm-attack-shm', 'wb') as f:
                f.write(b'x' * (32 << 20))
            results['/dev/shm 32 MB'] = [0, 0]
        except OSError as exc:
            results['/dev/shm 32 MB'] = [-1, exc.errno]
    """, keys=IPC_KEYS, host=os.getpid())
    assert_all_failed(results)
    assert not set(IPC_KEYS) & _sysv_keys(), "a SysV IPC object of the sandbox exists on the host"
    assert not any(f"0x{k:08x}" in _ipcs() for k in IPC_KEYS)
    if os.path.isdir("/dev/shm"):
        assert set(os.listdir("/dev/shm")) == shm_before
    if os.path.isdir("/dev/mqueue"):
        assert set(os.listdir("/dev/mqueue")) == mq_before
    leaked = [k for k in _fd_kinds(box) if any(w in k for w in ("memfd:", "inotify", "fanotify"))]
    assert not leaked, leaked


# ---- what must keep working under the allowlist --------------------------------------------------------------
STDLIB_WORK = """
import re, json, collections, math, itertools, threading, asyncio, decimal, datetime, statistics, textwrap, difflib
import unicodedata, zlib, hashlib, base64, random, heapq, bisect, functools, string, csv, io, tempfile, pathlib
import shutil, glob, fnmatch, time, pickle, struct, array, html, urllib.parse, gzip, bz2, lzma, uuid, secrets
import sqlite3, os, mmap, ctypes, resource, signal
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
out = []
with ThreadPoolExecutor(8) as ex:
    out.append(sum(ex.map(lambda x: x * x, range(100))))
async def main():
    await asyncio.sleep(0.01)
    return 'async'
out.append(asyncio.run(main()))
os.makedirs('d/e', exist_ok=True)
pathlib.Path('d/e/f.txt').write_text('hello')
shutil.copyfile('d/e/f.txt', 'd/g.txt')
out.append(sorted(glob.glob('d/**', recursive=True)))
with tempfile.TemporaryDirectory() as td:
    open(os.path.join(td, 'x'), 'w').write('x')
with tempfile.NamedTemporaryFile('w', delete=False) as tf:
    tf.write('y')
os.unlink(tf.name)
db = sqlite3.connect('file.db')
db.execute('create table t(x)')
db.execute('insert into t values (42)')
db.commit()
out.append(db.execute('select x from t').fetchone()[0])
db.close()
out.append(len(gzip.compress(b'x' * 1000)) > 0 and lzma.decompress(lzma.compress(b'ok')) == b'ok' and bz2.decompress(bz2.compress(b'z')) == b'z')
out.append(str(datetime.datetime(2024, 1, 1).astimezone().year))
out.append(time.process_time() >= 0 and time.thread_time() >= 0 and time.monotonic() > 0)
out.append(len(str(uuid.uuid4())) + len(secrets.token_hex(4)) + len(os.urandom(4)))
out.append(hashlib.sha256(b'x').hexdigest()[:8])
out.append(os.cpu_count() is not None and resource.getrlimit(resource.RLIMIT_AS)[0] > 0)
out.append(sys.stdout.isatty() if (sys := __import__('sys')) else None)
with open('m', 'wb') as f:
    f.write(b'\\0' * 4096)
with open('m', 'r+b') as f:
    mm = mmap.mmap(f.fileno(), 0)
    mm[0] = 1
    mm.close()
out.append(ET.fromstring('<a><b>1</b></a>').find('b').text)
t = threading.Timer(0.01, lambda: None)
t.start()
t.join()
os.rename('file.db', 'file2.db')
shutil.rmtree('d')
out.append(sorted(os.listdir('.')))
FINAL(json.dumps(out))
"""


def test_common_stdlib_work_under_the_allowlist(make_box):
    box = make_box(exec_timeout=20, memory_mb=2048)
    res = box.execute(STDLIB_WORK, echo)
    assert res.error is None, res.render()
    out = json.loads(res.final)
    assert out[0] == 328350 and out[1] == "async" and out[3] == 42 and out[-2] == "1", out
    assert out[2] == ["d/", "d/e", "d/e/f.txt", "d/g.txt"] and "file2.db" in out[-1], out
