"""Attack suite: hostile model code against the real worker, real syscalls.

Every attack runs in a fresh sandbox under each confinement configuration this machine supports
("all": bwrap + Landlock + seccomp; "landlock+seccomp": the default Linux layer without
namespaces). Each must be blocked, reported back to the model as an error (or, for output floods,
truncated), leave no trace outside scratch, and leave the sandbox answering `FINAL(...)` afterwards.
The table in docs/sandbox.md lists the same attacks with the layer that stops each.
"""
from __future__ import annotations

import os
import signal
import socket
import sys
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from rlm_cli.sandbox import policy as confine_host
from rlm_cli.sandbox import ExecResult, SandboxOptions, SubprocessSandbox

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the attack suite needs Linux confinement layers")

FAKE_KEY = "sk-attack-FAKE-0123456789abcdef"
SECRET = "SECRET-PRIVATE-KEY-MATERIAL-42"
WORKER = str(Path(confine_host.PKG) / "worker.py")


# ---- targets the attacks aim at (created by the host, outside the worker's scratch) --------------------
@dataclass
class Targets:
    root: Path
    secret: Path
    host_home_key: Path
    rlm_config: Path
    outside_write: Path
    tcp_port: int
    udp_port: int
    unix_path: str
    host_pid: int
    tcp_hits: list
    udp_hits: list
    unix_hits: list
    usr1_hits: list

    def fmt(self, code: str) -> str:
        return textwrap.dedent(code).format(
            secret=self.secret, home_key=self.host_home_key, rlm_config=self.rlm_config, outside=self.outside_write,
            tcp_port=self.tcp_port, udp_port=self.udp_port, unix_path=self.unix_path, host_pid=self.host_pid,
            worker=WORKER, root=self.root,
        )


def _serve_tcp(sock: socket.socket, hits: list) -> None:
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        hits.append(1)
        conn.close()


def _serve_udp(sock: socket.socket, hits: list) -> None:
    while True:
        try:
            hits.append(sock.recv(100))
        except OSError:
            return


def make_targets(root: Path) -> tuple[Targets, Callable]:
    """Secrets, listeners and paths outside scratch; returns (targets, stop)."""
    secret = root / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text(SECRET)
    home_key = root / "home" / ".ssh" / "id_rsa"
    home_key.parent.mkdir(parents=True)
    home_key.write_text(f"-----BEGIN OPENSSH PRIVATE KEY-----\n{SECRET}\n")
    rlm_config = root / "rlm_home" / "config" / "config.yaml"
    rlm_config.parent.mkdir(parents=True)
    rlm_config.write_text(f"api_key: {FAKE_KEY}\n")
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(16)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    unix_path = str(root / "agent.sock")
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(unix_path)
    unix.listen(4)
    t = Targets(root, secret, home_key, rlm_config, root / "outside" / "pwned.txt", tcp.getsockname()[1],
                udp.getsockname()[1], unix_path, os.getpid(), [], [], [], [])
    for sock, fn, hits in ((tcp, _serve_tcp, t.tcp_hits), (udp, _serve_udp, t.udp_hits), (unix, _serve_tcp, t.unix_hits)):
        threading.Thread(target=fn, args=(sock, hits), daemon=True).start()
    return t, lambda: [sock.close() for sock in (tcp, udp, unix)]


@pytest.fixture(scope="module")
def targets(tmp_path_factory):
    t, stop = make_targets(tmp_path_factory.mktemp("attack-targets"))
    yield t
    stop()


# ---- the sandboxes under test -----------------------------------------------------------------------------
CONFIGS = ["all", "landlock+seccomp", "namespaces"]


def _config_spec(name: str) -> dict:
    """all: bwrap + Landlock + seccomp; landlock+seccomp: no bwrap, no namespaces; namespaces: the worker's own
    user/mnt/pid/ipc/net namespaces + Landlock + seccomp, no bwrap."""
    caps = confine_host.capabilities()
    missing = [layer for layer, ok in (("Landlock", caps.landlock_abi >= 1), ("seccomp", caps.seccomp)) if not ok]
    if name == "all" and not caps.bwrap:
        missing.append(f"bwrap ({caps.bwrap_detail})")
    if name == "namespaces" and not caps.namespaces:
        missing.append(f"namespaces ({caps.namespaces_detail})")
    if missing:
        pytest.skip(f"layer unavailable on this machine: {', '.join(missing)}")
    spec = confine_host.spec_for_mode("strict")
    spec["layers"] = [x for x in spec["layers"] if x != "namespaces"]
    if name != "all":
        spec["bwrap"] = None
    if name == "namespaces":
        spec["layers"].append("namespaces")
    return spec


def box_factory(request, monkeypatch):
    """Body of the `make_box` fixture (also used by tests/test_sandbox_confine.py and test_sandbox_limits.py)."""
    spec = _config_spec(request.param)
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)  # the host holds a key; the worker must never see it
    boxes = []

    def make(**over) -> SubprocessSandbox:
        opts = dict(exec_timeout=0.6, grace=0.4, memory_mb=512, file_mb=16, max_output_chars=2000,
                    max_message_mb=4, max_sub_prompts=50, confine=spec)
        opts.update(over)
        box = SubprocessSandbox("public context text", None, SandboxOptions(**opts))
        boxes.append(box)
        box.start()
        return box

    make.config = request.param
    yield make
    for box in boxes:
        box.close()


@pytest.fixture(params=CONFIGS)
def make_box(request, monkeypatch):
    yield from box_factory(request, monkeypatch)


def echo(fn: str, args: dict) -> list[str]:
    items = args.get("prompts") or args.get("questions")
    return [f"answer to {p[:20]}" for p in items]


def descendants(pid: int) -> set[int]:
    """Host-side view of every process below `pid` (forked children would show up here)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


# ---- the attacks -------------------------------------------------------------------------------------------
def leaked(res: ExecResult, *needles: str) -> bool:
    text = res.render() + (res.final or "")
    return any(n in text for n in needles)


def blocked(*needles: str) -> Callable:
    """The attack raised an error in the REPL and none of the needles reached the model."""
    def check(res: ExecResult, t: Targets) -> None:
        assert res.error, f"attack was not reported as an error: {res.render()!r}"
        assert not res.restarted, f"the worker died instead of getting an error: {res.error}"
        assert not leaked(res, SECRET, FAKE_KEY, *needles), res.render()
    return check


def no_connection(hits_attr: str) -> Callable:
    def check(res: ExecResult, t: Targets) -> None:
        assert res.error, res.render()
        time.sleep(0.05)
        assert getattr(t, hits_attr) == [], f"{hits_attr}: the listener was reached"
    return check


def restarted(res: ExecResult, t: Targets) -> None:
    assert res.error and (res.restarted or res.timed_out), res.render()


def stopped_or_ignored(res: ExecResult, t: Targets) -> None:
    """SIGSTOP to itself: the hard timeout kills the worker, or (pid 1 of its own pid namespace) the kernel ignores it."""
    assert (res.error and (res.restarted or res.timed_out)) or res.error is None, res.render()


def syscall_failed(res: ExecResult, t: Targets) -> None:
    assert res.error and "denied by the sandbox: rc=-1" in res.error, res.render()


def not_written(res: ExecResult, t: Targets) -> None:
    assert res.error, res.render()
    assert not t.outside_write.exists()


@dataclass
class Attack:
    name: str
    code: str
    check: Callable
    layer: str  # the layer(s) that stop it (documented in docs/sandbox.md)


CTYPES_PRELUDE = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def sys_(*a):
    rc = libc.syscall(*a)
    if rc < 0:
        raise PermissionError(f"denied by the sandbox: rc={{rc}} errno={{ctypes.get_errno()}}")
    return rc
"""

ATTACKS = [
    Attack("read a secret file outside scratch", "print(open('{secret}').read())", blocked(), "Landlock / bwrap view"),
    Attack("read ~/.ssh/id_rsa of the user", "print(open('{home_key}').read())", blocked(), "Landlock / bwrap view"),
    Attack("read the user's rlm config dir", "import os\nprint(os.listdir('{root}/rlm_home/config'))\nprint(open('{rlm_config}').read())",
           blocked("config.yaml"), "Landlock / bwrap view"),
    Attack("list the filesystem root and /home", "import os\nprint(os.listdir('/'), os.listdir('/home'), os.listdir('/root'))",
           blocked("etc"), "Landlock / bwrap view"),
    Attack("read /etc/shadow", "print(open('/etc/shadow').read())", blocked("root:"), "Landlock / bwrap view"),
    Attack("API key from the environment", "import os\nprint(os.environ['OPENAI_API_KEY'])", blocked(), "allow-listed env"),
    Attack("API key from /proc/<host pid>/environ", "print(open('/proc/{host_pid}/environ', 'rb').read())", blocked(),
           "Landlock (no /proc) / bwrap (no /proc, pid ns)"),
    Attack("host memory via /proc/<host pid>/mem", "f = open('/proc/{host_pid}/mem', 'rb')", blocked(), "Landlock / bwrap"),
    Attack("symlink out of scratch", "import os\nos.symlink('{root}/outside', 'link')\nprint(open('link/secret.txt').read())",
           blocked(), "Landlock (checks the resolved path) / bwrap view"),
    Attack("hard link a secret into scratch", "import os\nos.link('{secret}', 'stolen')\nprint(open('stolen').read())",
           blocked(), "Landlock / bwrap view"),
    Attack("write outside scratch", "open('{outside}', 'w').write('pwned')", not_written, "Landlock / bwrap view"),
    Attack("escape scratch with a relative path", "import os\nos.chdir('..')\nopen('rlm-pwned-by-attack', 'w').write('x')",
           blocked(), "Landlock / bwrap (tmpfs /tmp)"),
    Attack("open the worker's own code for writing", "open('{worker}', 'r+b')", blocked(), "Landlock (read-only) / bwrap ro-bind"),
    Attack("TCP connect to 127.0.0.1", "import socket\nsocket.create_connection(('127.0.0.1', {tcp_port}), timeout=1)",
           no_connection("tcp_hits"), "seccomp (socket) + Landlock TCP + bwrap netns"),
    Attack("UDP send to 127.0.0.1", "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.sendto(b'x', ('127.0.0.1', {udp_port}))",
           no_connection("udp_hits"), "seccomp (socket) + bwrap netns"),
    Attack("TCP connect to an outside address", "import socket\nsocket.create_connection(('10.255.255.1', 80), timeout=1)",
           blocked(), "seccomp (no socket is created, no packet leaves) + Landlock TCP + bwrap netns"),
    Attack("UDP DNS query to an outside address", "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.sendto(b'x', ('8.8.8.8', 53))",
           blocked(), "seccomp + bwrap netns"),
    Attack("listen on a TCP port", "import socket\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen()", blocked(),
           "seccomp + Landlock TCP bind + bwrap netns"),
    Attack("connect to a host unix socket (docker/ssh-agent style)", "import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect('{unix_path}')",
           no_connection("unix_hits"), "seccomp (socket) + bwrap view"),
    Attack("raw/packet socket", "import socket\nsocket.socket(socket.AF_PACKET, socket.SOCK_RAW)", blocked(), "seccomp + bwrap"),
    Attack("subprocess.run", "import subprocess\nprint(subprocess.run(['id'], capture_output=True).stdout)", blocked("uid="),
           "seccomp (fork/clone/execve) + Landlock (no execute right)"),
    Attack("os.fork", "import os\npid = os.fork()\nif pid == 0:\n    os._exit(0)\nprint('forked', pid)", blocked("forked"),
           "seccomp (fork)"),
    Attack("os.posix_spawn", "import os\nos.posix_spawn('/bin/sh', ['sh', '-c', 'id'], {{}})", blocked(), "seccomp (clone without CLONE_THREAD) + Landlock (no execute right)"),
    Attack("os.execv", "import os\nos.execv('/bin/sh', ['sh', '-c', 'id'])", blocked(), "seccomp (execve) + Landlock (no execute right)"),
    Attack("fork bomb (bounded so a regression cannot take the machine down)",
           "import os, time\nn = 0\nfor i in range(200):\n    if os.fork() == 0:\n        time.sleep(20)\n        os._exit(0)\n    n += 1\nprint('children', n)",
           blocked("children"), "seccomp (fork), bwrap pid ns"),
    Attack("30 GB allocation", "b = bytearray(30 * 1024**3)", blocked(), "RLIMIT_AS"),
    Attack("10 GB file in scratch", "with open('big', 'wb') as f:\n    for i in range(10 * 1024):\n        f.write(b'x' * 1024**2)",
           blocked(), "RLIMIT_FSIZE (EFBIG)"),
    Attack("100 MB raw write to fd 1", "import os\ndata = memoryview(b'x' * 100_000_000)\nwhile data:\n    data = data[os.write(1, data):]", blocked(), "RLIMIT_FSIZE on the capture file"),
    Attack("os.kill of the host pid", "import os, signal\nos.kill({host_pid}, signal.SIGUSR1)", blocked(),
           "seccomp (kill: own pid only) + Landlock signal scope + bwrap pid ns"),
    Attack("kill(-1) every process of the user", "import os\nos.kill(-1, 0)", blocked(), "seccomp (kill: own pid only)"),
    Attack("ptrace the host", CTYPES_PRELUDE + "sys_(101, 16, {host_pid}, 0, 0)", syscall_failed, "seccomp (ptrace) + Landlock"),
    Attack("ctypes: raw fork syscall", CTYPES_PRELUDE + "print('child', sys_(57))", syscall_failed, "seccomp"),
    Attack("ctypes: raw clone syscall (SIGCHLD, no CLONE_THREAD)", CTYPES_PRELUDE + "print('child', sys_(56, 17, 0, 0, 0, 0))",
           syscall_failed, "seccomp (clone flags)"),
    Attack("ctypes: raw socket syscall AF_INET", CTYPES_PRELUDE + "print('fd', sys_(41, 2, 1, 0))", syscall_failed, "seccomp"),
    Attack("ctypes: raw execve syscall", CTYPES_PRELUDE + "sys_(59, b'/bin/sh', None, None)", syscall_failed, "seccomp"),
    Attack("ctypes: unshare a user namespace", CTYPES_PRELUDE + "sys_(272, 0x10000000)", syscall_failed, "seccomp"),
    Attack("ctypes: mount a tmpfs", CTYPES_PRELUDE + "sys_(165, b'none', b'/tmp', b'tmpfs', 0, None)", syscall_failed, "seccomp"),
    Attack("ctypes: io_uring_setup", CTYPES_PRELUDE + "buf = ctypes.create_string_buffer(120)\nsys_(425, 8, buf)", syscall_failed, "seccomp"),
    Attack("re-apply a looser seccomp filter via prctl", CTYPES_PRELUDE + textwrap.dedent("""
        import struct
        allow = struct.pack('=HBBI', 0x06, 0, 0, 0x7fff0000)
        buf = ctypes.create_string_buffer(allow, 8)
        class Prog(ctypes.Structure):
            _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]
        prog = Prog(1, ctypes.cast(buf, ctypes.c_void_p))
        libc.prctl(38, 1, 0, 0, 0)
        rc = libc.prctl(22, 2, ctypes.byref(prog))
        if rc != 0:
            raise PermissionError(f"denied by the sandbox: rc={{rc}}")
        """), syscall_failed, "seccomp (prctl PR_SET_SECCOMP)"),
    Attack("re-apply a looser seccomp filter via seccomp() and open a socket", CTYPES_PRELUDE + textwrap.dedent("""
        import struct, socket
        allow = struct.pack('=HBBI', 0x06, 0, 0, 0x7fff0000)
        buf = ctypes.create_string_buffer(allow, 8)
        class Prog(ctypes.Structure):
            _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]
        try:
            sys_(317, 1, 0, ctypes.byref(Prog(1, ctypes.cast(buf, ctypes.c_void_p))))
        finally:
            socket.create_connection(('127.0.0.1', {tcp_port}), timeout=1)
        """), no_connection("tcp_hits"), "seccomp (seccomp syscall; a stacked filter cannot loosen anyway)"),
    Attack("forge protocol messages on the channel fds",
           "import os\nfor fd in range(3, 1024):\n    try:\n        os.write(fd, b'garbage not json\\n')\n    except OSError:\n        pass",
           restarted, "host: message validation (worker restarted)"),
    Attack("ignore SIGALRM to defeat the soft timeout", "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass",
           restarted, "host hard timeout (kill the group, restart)"),
    Attack("swallow the soft timeout exception", "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass",
           restarted, "host hard timeout"),
    Attack("SIGSTOP itself", "import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)", stopped_or_ignored,
           "host hard timeout / ignored by pid 1 of its own pid ns"),
    Attack("block SIGALRM with a signal mask", "import signal\nsignal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGALRM}})\nwhile True:\n    pass",
           restarted, "host hard timeout"),
    Attack("huge sub-call batch", "llm_query_batched(['x'] * 5000)", blocked(), "host: batch cap"),
    Attack("sub-call flood past the per-sandbox cap", "for i in range(200):\n    llm_query(f'q{{i}}')", blocked(), "host: total sub-call cap"),
    Attack("oversized message to the host", "llm_query('x' * (5 * 1024 * 1024))", restarted, "host: message size cap"),
]


def run_attack(box: SubprocessSandbox, attack: Attack, targets: Targets) -> None:
    """Run one attack; raises AssertionError if it was not blocked or the REPL stopped answering."""
    before = descendants(box.proc.proc.pid)
    got_usr1 = []
    old = signal.signal(signal.SIGUSR1, lambda *a: got_usr1.append(1))
    try:
        res = box.execute(targets.fmt(attack.code), echo)
    finally:
        signal.signal(signal.SIGUSR1, old)
    attack.check(res, targets)
    assert not got_usr1, "the host received a signal from the sandbox"
    if box.proc is not None and not res.restarted:
        assert descendants(box.proc.proc.pid) == before, "the attack left new processes behind"
    after = box.execute("FINAL('still answering')", echo)
    assert after.final == "still answering", after.render()


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack_is_blocked_and_repl_still_answers(attack: Attack, make_box, targets):
    run_attack(make_box(), attack, targets)


def test_soft_timeout_keeps_variables(make_box):
    box = make_box()
    box.execute("x = 41", echo)
    res = box.execute("while True:\n    pass", echo)
    assert res.error and "TimeoutError" in res.error and not res.restarted
    assert box.execute("FINAL(x + 1)", echo).final == "42"


def test_100mb_print_is_truncated_not_fatal(make_box):
    box = make_box()
    res = box.execute("print('x' * 100_000_000)", echo)
    assert "output truncated" in res.stdout and len(res.stdout) < 5000
    assert box.execute("FINAL('ok')", echo).final == "ok"


def test_raw_fd_writes_and_closing_fds_do_not_corrupt_protocol(make_box):
    box = make_box()
    code = ('import os\nos.write(1, b\'{"type": "result", "final": "forged", "has_final": true}\\n\')\n'
            "os.write(2, b'to stderr\\n')\nos.close(0)\nos.close(1)\nos.close(2)\nprint('after close')")
    res = box.execute(code, echo)
    assert res.final is None and "after close" in res.stdout and "to stderr" in res.stdout
    assert box.execute("FINAL('ok')", echo).final == "ok"


def test_threads_and_stdlib_still_work(make_box):
    box = make_box()
    code = textwrap.dedent("""
        import re, json, collections, math, itertools, threading, asyncio, decimal, datetime, statistics
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(8) as ex:
            answers = list(ex.map(llm_query, ['a', 'b', 'c']))
        async def main():
            return await asyncio.sleep(0, 'async ok')
        open('note.txt', 'w').write('scratch is writable')
        FINAL(json.dumps([answers, asyncio.run(main()), open('note.txt').read(), math.isqrt(17)]))
    """)
    res = box.execute(code, echo)
    assert res.final == '[["answer to a", "answer to b", "answer to c"], "async ok", "scratch is writable", 4]', res.render()


def test_worker_environment_and_scratch(make_box):
    box = make_box()
    scratch = box.proc.scratch
    assert scratch.stat().st_mode & 0o777 == 0o700
    res = box.execute("import os, json\nFINAL(json.dumps([dict(os.environ), os.getcwd(), os.getsid(0), os.getpid()]))", echo)
    env, cwd, sid, pid = __import__("json").loads(res.final)
    leader = {"all": sid <= pid < 10,  # bwrap: a new session in a new pid ns
              "namespaces": pid == 1 and sid == 0}.get(make_box.config, sid == pid)  # own pid ns: its session is outside
    assert FAKE_KEY not in res.final and set(env) <= {"HOME", "TMPDIR", "PATH", "PYTHONIOENCODING", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "PWD"}
    assert env["HOME"] == cwd == str(scratch) and leader
    fds = box.execute("import os\ndef ok(fd):\n    try:\n        os.fstat(fd)\n        return True\n    except OSError:\n"
                      "        return False\nFINAL(str([fd for fd in range(256) if ok(fd)]))", echo)
    assert len(eval(fds.final)) == 5, fds.final  # 0-2 and the two protocol pipes: nothing else inherited


def test_every_available_layer_is_in_force(make_box):
    box = make_box()
    caps = confine_host.capabilities()
    want = {"landlock-fs", "seccomp", "pdeathsig"}
    if caps.landlock_abi >= 4:
        want.add("landlock-net")
    if caps.landlock_abi >= 6:
        want.add("landlock-scope")
    if make_box.config == "all":
        want.add("bwrap")
    assert want <= set(box.layers), box.layers


def test_scratch_removed_after_close_and_kill(make_box):
    box = make_box()
    scratch, ctx = box.proc.scratch, box.ctx_dir
    box.execute("import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True: pass", echo)
    assert not scratch.exists(), "the killed worker's scratch was left behind"
    new_scratch = box.proc.scratch
    box.close()
    assert not new_scratch.exists() and not ctx.exists()


def test_cli_answers_after_attacks(cli, script, tmp_path, targets, monkeypatch):
    """End to end: a scripted model attacks, sees the errors, then answers; exit 0 with --sandbox strict."""
    _config_spec("landlock+seccomp")
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    attack = targets.fmt("""
        import os, socket
        errors = []
        for name, fn in [("read", lambda: open('{secret}').read()), ("env", lambda: os.environ['OPENAI_API_KEY']),
                         ("tcp", lambda: socket.create_connection(('127.0.0.1', {tcp_port}), timeout=1)),
                         ("fork", os.fork), ("write", lambda: open('{outside}', 'w').write('x'))]:
            try:
                print(name, "LEAKED", fn())
            except Exception as exc:
                errors.append(f"{{name}}:{{type(exc).__name__}}")
        print("BLOCKED", " ".join(errors))
    """)
    model = script([
        {"turn": 1, "reply": f"```repl\n{attack}\n```"},
        {"turn": 2, "when": r"BLOCKED (read:\S+ env:KeyError tcp:\S+ fork:PermissionError write:\S+)",
         "reply": "```repl\nFINAL('all blocked: {1}')\n```"},
    ], default="```repl\nFINAL('something leaked')\n```")
    doc = tmp_path / "doc.txt"
    doc.write_text("some document")
    r = cli(["ask", doc, "What is in it?", "-m", model, "--sandbox", "strict", "--exec-timeout", "5"])
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("all blocked: read:") and "LEAKED" not in r.stdout, r.stdout
    assert not targets.outside_write.exists() and targets.tcp_hits == []


def test_sibling_repl_is_out_of_reach(make_box):
    """A child RLM's REPL must not read its parent's (or a sibling's) context or scratch."""
    victim, attacker = make_box(), make_box()
    victim.execute("open('notes.txt', 'w').write('victim notes')", echo)
    code = (f"import os\nfor p in ['{victim.ctx_dir}/context.txt', '{victim.proc.scratch}/notes.txt']:\n"
            "    try:\n        print('LEAK', open(p).read())\n    except OSError as exc:\n        print('denied', type(exc).__name__)\n"
            f"os.listdir('{victim.proc.scratch}')")
    res = attacker.execute(code, echo)
    assert res.error and "LEAK" not in res.stdout and res.stdout.count("denied") == 2, res.render()
    assert attacker.execute("FINAL('ok')", echo).final == "ok"
