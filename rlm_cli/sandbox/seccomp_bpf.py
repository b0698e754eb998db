"""The worker's seccomp policy: a default-deny allowlist, compiled to a classic BPF program.

Compiled on the host (``program_for``) and handed to the worker, which only fills in its own pid where
the program says OWN_PID (confine.py) and installs it: the worker stays small and stdlib-only. The policy is
data (``POLICY``: syscall name -> Rule) and is written like Chromium's baseline policy and
Firecracker's seccompiler rules: everything not listed fails with EPERM; a few calls are allowed
only with harmless arguments (clone only for threads, prctl/ioctl/fcntl/futex only for a handful of
operations, kill/prlimit64/sched_*/getpriority only on the worker itself). ``compile_filter``
emits a binary search over the syscall number (about 2 log2(n) instructions per call, like
Chromium's bpf_dsl) so the filter costs nothing measurable; calls allowed without conditions are
also served from the kernel's seccomp action cache. ``allowlist_text`` renders the policy for
docs/sandbox.md (a test keeps the two identical).
"""
from __future__ import annotations

import errno
import struct

OWN = "own"  # the worker's own pid in the policy
OWN_PID = 0x7FFFFFFE  # ... in a compiled program: no pid is this large; the worker patches it (confine.py)

RET_KILL_PROCESS, RET_ALLOW, RET_ERRNO, RET_USER_NOTIF = 0x80000000, 0x7FFF0000, 0x00050000, 0x7FC00000
LD_W_ABS, JA, JEQ, JGE, JSET, AND_K, RET = 0x20, 0x05, 0x15, 0x35, 0x45, 0x54, 0x06
X32_BIT = 0x40000000


class Rule:
    """alts: alternatives, each a tuple of checks that must all hold (() = never allowed); otherwise: the
    errno when no alternative holds. (A plain class: typing.NamedTuple would cost the worker 4 ms to import.)"""

    __slots__ = ("alts", "otherwise", "note")

    def __init__(self, alts: tuple, otherwise: int = errno.EPERM, note: str = ""):
        self.alts, self.otherwise, self.note = alts, otherwise, note


ALLOW = Rule(((),))


def only(*checks, otherwise: int = errno.EPERM, note: str = "") -> Rule:
    return Rule((tuple(checks),), otherwise, note)


def any_of(*alts, otherwise: int = errno.EPERM, note: str = "") -> Rule:
    return Rule(tuple(tuple(a) for a in alts), otherwise, note)


def arg_in(i: int, *values) -> tuple:
    """The low 32 bits of argument i are one of values (the kernel reads these as int)."""
    return ("in", i, values)


def arg_is_null(i: int) -> tuple:
    return ("eq64", i, 0)


def arg_masked_in(i: int, mask: int, *values) -> tuple:
    return ("min", i, mask, values)


def arg_has_none(i: int, mask: int) -> tuple:
    return ("none", i, mask)


# ---- the policy ---------------------------------------------------------------------------------------
ALLOWED = (  # no argument checks: compute, read/write own fds, files (Landlock decides which), memory, time.
    # Not truncate(path): Landlock handles truncation only from ABI 3 on; ftruncate needs an fd opened for writing.
    "read write readv writev pread64 pwrite64 preadv pwritev preadv2 pwritev2 lseek close close_range dup dup2 dup3 "
    "open openat openat2 creat fstat newfstatat statx stat lstat access faccessat faccessat2 readlink readlinkat "
    "getdents getdents64 getcwd chdir fchdir statfs fstatfs mkdir mkdirat rmdir unlink unlinkat rename renameat "
    "renameat2 link linkat symlink symlinkat ftruncate fallocate fsync fdatasync fadvise64 readahead umask "
    "copy_file_range sendfile pipe pipe2 poll ppoll select pselect6 epoll_create epoll_create1 epoll_ctl epoll_wait "
    "epoll_pwait epoll_pwait2 sendto recvfrom sendmsg recvmsg shutdown getsockname getpeername getsockopt setsockopt "
    "brk mmap munmap mremap mprotect madvise msync nanosleep gettimeofday time setitimer getitimer alarm "
    "rt_sigaction rt_sigprocmask rt_sigreturn sigaltstack rt_sigpending rt_sigsuspend rt_sigtimedwait pause "
    "set_robust_list rseq set_tid_address sched_yield exit exit_group gettid getpid getppid arch_prctl "
    "map_shadow_stack restart_syscall getuid geteuid getgid getegid getresuid getresgid getgroups getpgrp "
    "getrlimit getrusage times sysinfo uname getrandom getcpu sched_get_priority_max sched_get_priority_min"
).split()

CLONE_REQUIRED = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000  # VM FS FILES SIGHAND THREAD SYSVSEM
CLONE_ALLOWED = CLONE_REQUIRED | 0x80000 | 0x100000 | 0x200000 | 0x400000 | 0x1000000  # TLS, tid pointers, DETACHED
FUTEX_OPS = (0, 1, 3, 4, 5, 9, 10)  # WAIT WAKE REQUEUE CMP_REQUEUE WAKE_OP WAIT_BITSET WAKE_BITSET (no PI futexes)
FUTEX_FLAGS = 128 | 256  # FUTEX_PRIVATE_FLAG, FUTEX_CLOCK_REALTIME
PRCTL_OPTIONS = (2, 3, 7, 15, 16, 21, 23, 30, 39, 42, 51, 56, 61)  # GET_PDEATHSIG GET_DUMPABLE GET_KEEPCAPS SET_NAME
# GET_NAME GET_SECCOMP CAPBSET_READ GET_TIMERSLACK GET_NO_NEW_PRIVS GET_THP_DISABLE SVE_GET_VL GET_TAGGED_ADDR_CTRL
# PAC_GET_ENABLED_KEYS
PR_SET_VMA = 0x53564D41  # glibc names its malloc arenas (PR_SET_VMA_ANON_NAME = 0)
IOCTLS = (0x5401, 0x5413, 0x541B, 0x5421, 0x5450, 0x5451)  # TCGETS TIOCGWINSZ FIONREAD FIONBIO FIONCLEX FIOCLEX
FCNTLS = (0, 1, 2, 3, 4, 5, 6, 7, 36, 37, 38, 1030, 1032)  # DUPFD GETFD SETFD GETFL SETFL GETLK SETLK SETLKW
# OFD_GETLK OFD_SETLK OFD_SETLKW DUPFD_CLOEXEC GETPIPE_SZ (no F_SETOWN/F_SETSIG: no signals to others; no F_NOTIFY)
SELF_ONLY = only(arg_in(0, 0, OWN), note="pid 0 or its own pid")

POLICY: dict[str, Rule] = {name: ALLOW for name in ALLOWED}
POLICY.update({
    "clone": only(arg_has_none(0, ~CLONE_ALLOWED & 0xFFFFFFFF), arg_masked_in(0, CLONE_REQUIRED, CLONE_REQUIRED),
                  note="threads only: CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM set, no namespace/ptrace/vfork flags"),
    "clone3": Rule((), errno.ENOSYS, "ENOSYS, so glibc falls back to clone, whose flags a filter can read"),
    "futex": only(arg_masked_in(1, ~FUTEX_FLAGS & 0xFFFFFFFF, *FUTEX_OPS), note="no priority-inheritance ops"),
    "kill": only(arg_in(0, OWN), note="its own pid only"),
    "tgkill": only(arg_in(0, OWN), note="its own thread group only"),
    "rt_sigqueueinfo": only(arg_in(0, OWN), note="its own pid only"),
    "rt_tgsigqueueinfo": only(arg_in(0, OWN), note="its own thread group only"),
    "prlimit64": only(arg_in(0, 0, OWN), arg_is_null(2), note="read its own limits only (new_limit NULL)"),
    "getpriority": only(arg_in(0, 0), arg_in(1, 0, OWN), note="PRIO_PROCESS, itself only"),
    "setpriority": only(arg_in(0, 0), arg_in(1, 0, OWN), note="PRIO_PROCESS, itself only"),
    "getpgid": SELF_ONLY, "getsid": SELF_ONLY,
    "socketpair": only(arg_in(0, 1), note="AF_UNIX only (asyncio's self-pipe); socket() itself is denied"),
    "prctl": any_of([arg_in(0, *PRCTL_OPTIONS)], [arg_in(0, PR_SET_VMA), arg_is_null(1)],
                    note="PR_SET_NAME, PR_SET_VMA(anon name) and read-only PR_GET_* options; no PDEATHSIG/DUMPABLE/"
                         "SECCOMP/NO_NEW_PRIVS/MM/PTRACER/CHILD_SUBREAPER changes"),
    "ioctl": only(arg_in(1, *IOCTLS), otherwise=errno.ENOTTY, note="TCGETS TIOCGWINSZ FIONREAD FIONBIO FIONCLEX FIOCLEX; "
                                                                    "anything else ENOTTY"),
    "fcntl": only(arg_in(1, *FCNTLS), note="dup, fd flags, file status flags, record locks, F_GETPIPE_SZ; no "
                                            "F_SETOWN/F_SETSIG/F_NOTIFY/F_SETLEASE/seals"),
    "clock_gettime": only(arg_has_none(0, 0x80000000), note="static clocks only (no other process's CPU clock)"),
    "clock_getres": only(arg_has_none(0, 0x80000000), note="static clocks only"),
    "clock_nanosleep": only(arg_has_none(0, 0x80000000), note="static clocks only"),
})
for _name in ("sched_getaffinity", "sched_setaffinity", "sched_getparam", "sched_setparam", "sched_getscheduler",
              "sched_setscheduler", "sched_getattr", "sched_setattr", "sched_rr_get_interval"):
    POLICY[_name] = SELF_ONLY


# ---- compiler -----------------------------------------------------------------------------------------
class _Asm:
    """Instructions with symbolic targets for JA; conditional jumps only ever skip a few instructions."""

    def __init__(self):
        self.code: list = []
        self.labels: dict[str, int] = {}
        self.n = 0

    def label(self) -> str:
        self.n += 1
        return f"L{self.n}"

    def place(self, label: str) -> None:
        self.labels[label] = len(self.code)

    def op(self, code: int, k: int = 0, jt: int = 0, jf: int = 0) -> None:
        self.code.append((code, k, jt, jf))

    def ja(self, label: str) -> None:
        self.code.append((JA, label, 0, 0))

    def assemble(self) -> bytes:
        out = []
        for i, (code, k, jt, jf) in enumerate(self.code):
            if code == JA:
                k = self.labels[k] - (i + 1)
            out.append(struct.pack("=HBBI", code, jt, jf, k & 0xFFFFFFFF))
        return b"".join(out)


def _lo(i: int) -> int:
    return 16 + 8 * i  # offsetof(struct seccomp_data, args[i]); little-endian: the low word first


def _emit_in(asm: _Asm, values: tuple, fail: str) -> None:
    for j, v in enumerate(values):
        asm.op(JEQ, v, jt=len(values) - j, jf=0)
    asm.ja(fail)


def _emit_check(asm: _Asm, check: tuple, pid: int, fail: str) -> None:
    kind, i = check[0], check[1]
    asm.op(LD_W_ABS, _lo(i))
    if kind == "in":
        _emit_in(asm, tuple(pid if v == OWN else v for v in check[2]), fail)
    elif kind == "min":
        asm.op(AND_K, check[2])
        _emit_in(asm, check[3], fail)
    elif kind == "none":
        asm.op(JSET, check[2], jt=0, jf=1)
        asm.ja(fail)
    elif kind == "eq64":
        _emit_in(asm, (check[2] & 0xFFFFFFFF,), fail)
        asm.op(LD_W_ABS, _lo(i) + 4)
        _emit_in(asm, (check[2] >> 32,), fail)
    else:
        raise ValueError(f"unknown check {kind!r}")


def _emit_rule(asm: _Asm, rule: Rule, pid: int, allow: int) -> None:
    for alt in rule.alts:
        nxt = asm.label()
        for check in alt:
            _emit_check(asm, check, pid, nxt)
        asm.op(RET, allow)
        asm.place(nxt)
    asm.op(RET, RET_ERRNO | rule.otherwise)


def _emit_tree(asm: _Asm, entries: list, deny: str) -> None:
    """Binary search on the syscall number (in the accumulator); leaves jump to their rule's label."""
    if len(entries) <= 3:
        for nr, target in entries:
            asm.op(JEQ, nr, jt=0, jf=1)
            asm.ja(target)
        asm.ja(deny)
        return
    mid = len(entries) // 2
    right = asm.label()
    asm.op(JGE, entries[mid][0], jt=0, jf=1)
    asm.ja(right)
    _emit_tree(asm, entries[:mid], deny)
    asm.place(right)
    _emit_tree(asm, entries[mid:], deny)


def compile_filter(pid: int, machine: str, tables: dict, audit_arch: dict, notify: tuple = ()) -> bytes:
    """The BPF program for `machine` with OWN = pid. Wrong architecture (a 32-bit compat call) kills.
    Calls named in `notify` that pass their rule go to the user-space supervisor (SECCOMP_RET_USER_NOTIF)
    instead of being allowed outright: the host's thread cap (host.py) answers each new thread."""
    if machine not in tables:
        raise ValueError(f"no seccomp syscall table for {machine}")
    nr_of = tables[machine]
    asm = _Asm()
    deny, allow = asm.label(), asm.label()
    asm.op(LD_W_ABS, 4)
    asm.op(JEQ, audit_arch[machine], jt=1, jf=0)
    asm.op(RET, RET_KILL_PROCESS)
    asm.op(LD_W_ABS, 0)
    if machine == "x86_64":  # x32 syscall numbers alias the 64-bit ones: refuse them all
        asm.op(JGE, X32_BIT, jt=0, jf=1)
        asm.ja(deny)
    blocks = {name: asm.label() for name, rule in POLICY.items() if rule is not ALLOW and name in nr_of}
    entries = sorted((nr_of[name], allow if rule is ALLOW else blocks[name])
                     for name, rule in POLICY.items() if name in nr_of)
    _emit_tree(asm, entries, deny)
    asm.place(allow)
    asm.op(RET, RET_ALLOW)
    asm.place(deny)
    asm.op(RET, RET_ERRNO | errno.EPERM)
    for name, label in blocks.items():
        asm.place(label)
        _emit_rule(asm, POLICY[name], pid, RET_USER_NOTIF if name in notify else RET_ALLOW)
    return asm.assemble()


_programs: dict = {}


def program_for(machine: str, notify: bool) -> str:
    """The program as hex for the worker's spec, with OWN_PID where the worker's pid goes (compiled once)."""
    key = (machine, notify)
    if key not in _programs:
        from .syscalls import AUDIT_ARCH, TABLES

        _programs[key] = compile_filter(OWN_PID, machine, TABLES, AUDIT_ARCH, ("clone",) if notify else ()).hex()
    return _programs[key]


# ---- documentation ------------------------------------------------------------------------------------
def allowlist_text(tables: dict) -> str:
    """The policy as Markdown (embedded in docs/sandbox.md; a test checks they match)."""
    archs = sorted(tables)
    lines = ["Counts: " + ", ".join(f"{a} {sum(1 for n in POLICY if n in tables[a])} syscalls" for a in archs)
             + " (calls absent on an architecture are simply not there).", "",
             "Allowed without argument checks:", ""]
    names = sorted(n for n, r in POLICY.items() if r is ALLOW)
    lines.append(" ".join(f"`{n}`" + _only_on(n, tables, archs) for n in names))
    lines += ["", "Allowed only with these arguments (otherwise EPERM unless noted):", ""]
    for name in sorted(n for n, r in POLICY.items() if r is not ALLOW):
        lines.append(f"- `{name}`{_only_on(name, tables, archs)}: {POLICY[name].note}")
    lines += ["", "Everything else fails with EPERM (a 32-bit compat call kills the worker; x32 calls: EPERM)."]
    return "\n".join(lines)


def _only_on(name: str, tables: dict, archs: list) -> str:
    have = [a for a in archs if name in tables[a]]
    return "" if len(have) == len(archs) else f" ({', '.join(have)} only)"


if __name__ == "__main__":  # python -m rlm_cli.sandbox.seccomp_bpf: the block docs/sandbox.md embeds
    from rlm_cli.sandbox.syscalls import TABLES

    print(allowlist_text(TABLES))
