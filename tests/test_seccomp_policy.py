"""The seccomp allowlist as a program: decisions on both architectures (run in a small BPF interpreter,
so aarch64 is checked on any machine), the syscall tables against libseccomp, and the docs' copy."""
from __future__ import annotations

import errno
import re
import struct
from pathlib import Path

import pytest

from rlm_cli.sandbox import seccomp_bpf as sb
from rlm_cli.sandbox import syscalls

ROOT = Path(__file__).resolve().parent.parent
PID = 4242
ALLOW, KILL, NOTIFY = sb.RET_ALLOW, sb.RET_KILL_PROCESS, sb.RET_USER_NOTIF


def errno_ret(e: int) -> int:
    return sb.RET_ERRNO | e


def run_bpf(prog: bytes, nr: int, arch: int, args=(0, 0, 0, 0, 0, 0)) -> int:
    """Classic BPF as the kernel runs it on struct seccomp_data (only the opcodes the compiler emits)."""
    args = (list(args) + [0] * 6)[:6]
    data = struct.pack("=iIQ6Q", nr, arch, 0, *[a & 0xFFFFFFFFFFFFFFFF for a in args])
    ins = [struct.unpack_from("=HBBI", prog, i) for i in range(0, len(prog), 8)]
    assert len(ins) <= 4096
    pc, acc = 0, 0
    for _ in range(100_000):
        code, jt, jf, k = ins[pc]
        pc += 1
        if code == sb.LD_W_ABS:
            acc = struct.unpack_from("=I", data, k)[0]
        elif code == sb.AND_K:
            acc &= k
        elif code == sb.JA:
            pc += k
        elif code in (sb.JEQ, sb.JGE, sb.JSET):
            hit = acc == k if code == sb.JEQ else acc >= k if code == sb.JGE else bool(acc & k)
            pc += jt if hit else jf
        elif code == sb.RET:
            return k
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
    raise AssertionError("the program did not return")


ARCHS = sorted(syscalls.TABLES)


@pytest.fixture(params=ARCHS)
def arch(request):
    machine = request.param
    prog = sb.compile_filter(PID, machine, syscalls.TABLES, syscalls.AUDIT_ARCH)
    nr = syscalls.TABLES[machine]
    audit = syscalls.AUDIT_ARCH[machine]
    return lambda name, *args: run_bpf(prog, nr[name] if isinstance(name, str) else name, audit, args or (0,) * 6)


def test_every_unconditional_call_is_allowed_and_nothing_else(arch, request):
    machine = request.node.callspec.params["arch"]
    table = syscalls.TABLES[machine]
    listed = set(table.values())
    for name, rule in sb.POLICY.items():
        if rule is sb.ALLOW and name in table:
            assert arch(name) == ALLOW, name
    for nr in range(0, 600):  # every number the policy does not name is denied
        if nr not in listed:
            assert arch(nr) == errno_ret(errno.EPERM), nr


THREAD = 0x3D0F00  # glibc's pthread_create flags


@pytest.mark.parametrize("name,args,want", [
    ("clone", (THREAD,), ALLOW),
    ("clone", (THREAD | 0x400000,), ALLOW),  # musl adds CLONE_DETACHED
    ("clone", (17,), errno_ret(errno.EPERM)),  # fork: SIGCHLD, no CLONE_VM
    ("clone", (0x4111,), errno_ret(errno.EPERM)),  # vfork: CLONE_VM|CLONE_VFORK|SIGCHLD
    ("clone", (THREAD | 0x10000000,), errno_ret(errno.EPERM)),  # + CLONE_NEWUSER
    ("clone", (THREAD | 0x2000,), errno_ret(errno.EPERM)),  # + CLONE_PTRACE
    ("clone", (THREAD | 17,), errno_ret(errno.EPERM)),  # an exit signal
    ("clone", (THREAD & ~0x10000,), errno_ret(errno.EPERM)),  # no CLONE_THREAD
    ("clone3", (), errno_ret(errno.ENOSYS)),
    ("kill", (PID, 9), ALLOW), ("kill", (1, 9), errno_ret(errno.EPERM)), ("kill", (0, 9), errno_ret(errno.EPERM)),
    ("kill", (-1, 9), errno_ret(errno.EPERM)), ("tgkill", (PID, 77, 6), ALLOW), ("tgkill", (99, 99, 9), errno_ret(errno.EPERM)),
    ("prlimit64", (0, 9, 0, 0x7FFF0000), ALLOW), ("prlimit64", (PID, 7, 0, 0x7FFF0000), ALLOW),
    ("prlimit64", (0, 9, 0x7FFF0000, 0), errno_ret(errno.EPERM)),
    ("prlimit64", (0, 9, 1 << 32, 0), errno_ret(errno.EPERM)),  # a pointer with only high bits set is not NULL
    ("prlimit64", (1, 0, 0, 0x7FFF0000), errno_ret(errno.EPERM)),
    ("getpriority", (0, 0), ALLOW), ("setpriority", (0, PID, 10), ALLOW),
    ("setpriority", (0, 1, 19), errno_ret(errno.EPERM)), ("setpriority", (2, 0, 19), errno_ret(errno.EPERM)),
    ("sched_setaffinity", (0, 8, 0x1000), ALLOW), ("sched_setaffinity", (1, 8, 0x1000), errno_ret(errno.EPERM)),
    ("sched_setscheduler", (77, 5, 0x1000), errno_ret(errno.EPERM)), ("sched_getaffinity", (PID, 8, 0x1000), ALLOW),
    ("prctl", (15, 0x1000), ALLOW), ("prctl", (16, 0x1000), ALLOW), ("prctl", (1, 0), errno_ret(errno.EPERM)),
    ("prctl", (4, 1), errno_ret(errno.EPERM)), ("prctl", (22, 2), errno_ret(errno.EPERM)),
    ("prctl", (38, 1), errno_ret(errno.EPERM)), ("prctl", (36, 1), errno_ret(errno.EPERM)),
    ("prctl", (0x53564D41, 0, 0x1000, 8, 0x2000), ALLOW), ("prctl", (0x53564D41, 1), errno_ret(errno.EPERM)),
    ("ioctl", (1, 0x5401, 0x1000), ALLOW), ("ioctl", (1, 0x5451), ALLOW),
    ("ioctl", (0, 0x5412, 0x1000), errno_ret(errno.ENOTTY)),  # TIOCSTI
    ("ioctl", (3, 0x40086602, 0x1000), errno_ret(errno.ENOTTY)),  # FS_IOC_SETFLAGS (chattr +i)
    ("fcntl", (3, 4, 0o4000), ALLOW), ("fcntl", (3, 6, 0x1000), ALLOW), ("fcntl", (3, 1030, 10), ALLOW),
    ("fcntl", (3, 8, 1), errno_ret(errno.EPERM)), ("fcntl", (3, 10, 10), errno_ret(errno.EPERM)),
    ("fcntl", (3, 1026, 0x3F), errno_ret(errno.EPERM)), ("fcntl", (3, 1024, 1), errno_ret(errno.EPERM)),
    ("futex", (0x1000, 0x80), ALLOW), ("futex", (0x1000, 0x189), ALLOW),  # WAIT_BITSET|PRIVATE|CLOCK_REALTIME
    ("futex", (0x1000, 6), errno_ret(errno.EPERM)), ("futex", (0x1000, 0x86), errno_ret(errno.EPERM)),  # LOCK_PI
    ("clock_gettime", (1, 0x1000), ALLOW), ("clock_gettime", (-6 & 0xFFFFFFFF, 0x1000), errno_ret(errno.EPERM)),
    ("socketpair", (1, 1, 0, 0x1000), ALLOW), ("socketpair", (2, 1, 0, 0x1000), errno_ret(errno.EPERM)),
    ("getpgid", (0,), ALLOW), ("getsid", (1,), errno_ret(errno.EPERM)),
])
def test_argument_filters(arch, name, args, want):
    assert arch(name, *args) == want


def test_foreign_architecture_kills_and_x32_is_denied():
    for machine in ARCHS:
        prog = sb.compile_filter(PID, machine, syscalls.TABLES, syscalls.AUDIT_ARCH)
        assert run_bpf(prog, 0, 0x40000003) == KILL  # i386 compat
    prog = sb.compile_filter(PID, "x86_64", syscalls.TABLES, syscalls.AUDIT_ARCH)
    assert run_bpf(prog, 0x40000000 | 1, syscalls.AUDIT_ARCH["x86_64"]) == errno_ret(errno.EPERM)  # x32 write


def test_notify_mode_sends_only_thread_clones_to_the_supervisor():
    prog = sb.compile_filter(PID, "x86_64", syscalls.TABLES, syscalls.AUDIT_ARCH, notify=("clone",))
    audit = syscalls.AUDIT_ARCH["x86_64"]
    assert run_bpf(prog, 56, audit, (THREAD, 0, 0, 0, 0, 0)) == NOTIFY
    assert run_bpf(prog, 56, audit, (17, 0, 0, 0, 0, 0)) == errno_ret(errno.EPERM)
    assert run_bpf(prog, 0, audit) == ALLOW


def test_no_denied_family_slipped_into_the_allowlist():
    forbidden = ("execve execveat fork vfork socket connect bind listen accept accept4 ptrace mount umount2 unshare setns "
                 "chmod fchmod fchmodat fchmodat2 chown fchown lchown fchownat utime utimes utimensat futimesat setxattr "
                 "lsetxattr fsetxattr removexattr lremovexattr fremovexattr shmget shmat shmctl msgget msgsnd msgrcv "
                 "msgctl semget semop semctl mq_open memfd_create inotify_init inotify_init1 inotify_add_watch "
                 "fanotify_init fanotify_mark setrlimit bpf io_uring_setup userfaultfd perf_event_open keyctl "
                 "process_vm_readv process_vm_writev pidfd_open pidfd_getfd kcmp ioprio_set mknod mknodat flock "
                 "setsid setpgid setuid setgid setresuid setgroups capset personality seccomp mlock mbind "
                 "move_pages migrate_pages membarrier").split()
    assert not set(forbidden) & set(sb.POLICY)


def test_syscall_numbers_match_libseccomp():
    seccomp = pytest.importorskip("pyseccomp", reason="pyseccomp (libseccomp) not installed")
    try:
        arch_ids = {"x86_64": seccomp.Arch.X86_64, "aarch64": seccomp.Arch.AARCH64}
        for machine, table in syscalls.TABLES.items():
            for name, nr in table.items():
                assert seccomp.resolve_syscall(arch_ids[machine], name) == nr, (machine, name)
    except OSError as exc:  # the shared library itself is missing
        pytest.skip(f"libseccomp not loadable: {exc}")


def test_docs_list_the_allowlist_as_built():
    """docs/sandbox.md embeds allowlist_text(); change the policy and the docs together."""
    doc = (ROOT / "docs" / "sandbox.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- allowlist:begin -->\n(.*?)\n<!-- allowlist:end -->", doc, re.S)
    assert m, "docs/sandbox.md has no <!-- allowlist:begin --> ... <!-- allowlist:end --> block"
    assert m.group(1).strip() == sb.allowlist_text(syscalls.TABLES).strip(), (
        "the seccomp allowlist changed: paste `python -m rlm_cli.sandbox.seccomp_bpf` into docs/sandbox.md")


def test_the_worker_writes_its_pid_into_the_host_compiled_program():
    from rlm_cli.sandbox import confine

    template = bytes.fromhex(sb.program_for("x86_64", notify=False))
    prog = confine.with_pid(template, PID)
    audit, nr = syscalls.AUDIT_ARCH["x86_64"], syscalls.TABLES["x86_64"]
    assert run_bpf(prog, nr["kill"], audit, (PID, 9)) == ALLOW
    assert run_bpf(prog, nr["kill"], audit, (sb.OWN_PID, 9)) == errno_ret(errno.EPERM)
    assert run_bpf(template, nr["kill"], audit, (PID, 9)) == errno_ret(errno.EPERM)
    assert prog == sb.compile_filter(PID, "x86_64", syscalls.TABLES, syscalls.AUDIT_ARCH)


@pytest.mark.parametrize("release,per_ns", [("6.18.44-fc-v669", True), ("6.14.0", True), ("6.13.12-arch1", False),
                                             ("6.8.0-45-generic", False), ("5.15.0-1057-azure", False), ("weird", False)])
def test_pid_max_is_only_written_where_it_is_per_namespace(monkeypatch, release, per_ns):
    """Before Linux 6.14 pid_max is global: a worker running as the host's root must never lower it."""
    import os

    from rlm_cli.sandbox import confine

    real = os.uname()
    fake = type("U", (), {"release": release, "machine": real.machine, "sysname": real.sysname})()
    monkeypatch.setattr(confine.os, "uname", lambda: fake)
    assert confine.pid_max_per_namespace() is per_ns
