"""Worker-side confinement: the REPL worker locks itself in with Landlock and a seccomp filter.

Loaded by path from worker.py (``python -I -S``), so standard library and ctypes only. ``apply(spec)``
applies the layers named in ``spec["layers"]`` (any of "landlock", "seccomp", "pdeathsig") and
returns the names of the layers now in force, e.g. ``["landlock-fs", "landlock-net",
"landlock-scope", "seccomp"]``. A requested layer that cannot be applied raises ConfineError: the host
decides whether that is fatal (strict) or a notice (auto).

Landlock (syscalls 444-446): read-only access beneath the paths in ``spec["ro_paths"]`` (Python
prefix, system libraries, the worker's own files, the context dir), read-write beneath
``spec["scratch"]``, nothing else; no TCP bind/connect (ABI >= 4); no signals to or abstract unix
sockets of processes outside the domain (ABI >= 6).

seccomp: a hand-written BPF program (x86_64 and aarch64) that denies new processes (fork, vfork,
clone without CLONE_THREAD, clone3 -> ENOSYS so glibc falls back to clone), execve/execveat, all
socket() calls and socketpair() except AF_UNIX, ptrace, mount and friends, namespaces, bpf,
io_uring, keyrings, kexec, perf, userfaultfd, process_vm_*, pidfd signalling, kill/tgkill/
rt_*sigqueueinfo aimed at any pid but our own, and seccomp()/prctl(PR_SET_SECCOMP) themselves.
Threads keep working.
"""
from __future__ import annotations

import ctypes
import errno
import os
import struct

PR_SET_PDEATHSIG = 1
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1

# Landlock ABI constants (linux/landlock.h)
LL_CREATE_RULESET_VERSION = 1
LL_RULE_PATH_BENEATH = 1
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_REMOVE_DIR, FS_REMOVE_FILE, FS_MAKE_CHAR, FS_MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
FS_MAKE_REG, FS_MAKE_SOCK, FS_MAKE_FIFO, FS_MAKE_BLOCK = 1 << 8, 1 << 9, 1 << 10, 1 << 11
FS_MAKE_SYM, FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 12, 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1, 2
SCOPE_ABSTRACT_UNIX, SCOPE_SIGNAL = 1, 2
FILE_ONLY = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV

SYSCALLS = {  # machine -> (audit arch, {name: nr}); "fork"/"vfork" do not exist on aarch64
    "x86_64": (0xC000003E, dict(
        fork=57, vfork=58, execve=59, execveat=322, clone=56, clone3=435, ptrace=101, mount=165, umount2=166,
        unshare=272, setns=308, bpf=321, io_uring_setup=425, io_uring_enter=426, io_uring_register=427,
        keyctl=250, add_key=248, request_key=249, kexec_load=246, kexec_file_load=320, perf_event_open=298,
        userfaultfd=323, process_vm_readv=310, process_vm_writev=311, seccomp=317, prctl=157, kill=62,
        tkill=200, tgkill=234, rt_sigqueueinfo=129, rt_tgsigqueueinfo=297, socket=41, socketpair=53,
        pivot_root=155, chroot=161, pidfd_send_signal=424, pidfd_getfd=438, open_tree=428, move_mount=429,
        fsopen=430, fsconfig=431, fsmount=432, fspick=433, mount_setattr=442, init_module=175,
        finit_module=313, delete_module=176, reboot=169, swapon=167, swapoff=168, name_to_handle_at=303,
        open_by_handle_at=304, kcmp=312, acct=163, process_madvise=440, syslog=103, quotactl=179,
        vhangup=153, settimeofday=164, clock_settime=227, sethostname=170, setdomainname=171, iopl=172,
        ioperm=173, lookup_dcookie=212,
    )),
    "aarch64": (0xC00000B7, dict(  # untested here
        execve=221, execveat=281, clone=220, clone3=435, ptrace=117, mount=40, umount2=39, unshare=97,
        setns=268, bpf=280, io_uring_setup=425, io_uring_enter=426, io_uring_register=427, keyctl=219,
        add_key=217, request_key=218, kexec_load=104, kexec_file_load=294, perf_event_open=241,
        userfaultfd=282, process_vm_readv=270, process_vm_writev=271, seccomp=277, prctl=167, kill=129,
        tkill=130, tgkill=131, rt_sigqueueinfo=138, rt_tgsigqueueinfo=240, socket=198, socketpair=199,
        pivot_root=41, chroot=51, pidfd_send_signal=424, pidfd_getfd=438, open_tree=428, move_mount=429,
        fsopen=430, fsconfig=431, fsmount=432, fspick=433, mount_setattr=442, init_module=105,
        finit_module=273, delete_module=106, reboot=142, swapon=224, swapoff=225, name_to_handle_at=264,
        open_by_handle_at=265, kcmp=272, acct=89, process_madvise=440, syslog=116, quotactl=60, vhangup=58,
        settimeofday=170, clock_settime=112, sethostname=161, setdomainname=162, lookup_dcookie=18,
    )),
}
ALWAYS_DENIED = (
    "fork", "vfork", "execve", "execveat", "ptrace", "mount", "umount2", "unshare", "setns", "bpf",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "keyctl", "add_key", "request_key", "kexec_load",
    "kexec_file_load", "perf_event_open", "userfaultfd", "process_vm_readv", "process_vm_writev", "seccomp",
    "tkill", "socket", "pivot_root", "chroot", "pidfd_send_signal", "pidfd_getfd", "open_tree", "move_mount",
    "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "init_module", "finit_module", "delete_module",
    "reboot", "swapon", "swapoff", "name_to_handle_at", "open_by_handle_at", "kcmp", "acct", "process_madvise",
    "syslog", "quotactl", "vhangup", "settimeofday", "clock_settime", "sethostname", "setdomainname", "iopl",
    "ioperm", "lookup_dcookie",
)
OWN_PID_ONLY = ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")  # arg0 must be our pid
CLONE_THREAD = 0x10000
AF_UNIX = 1

RET_KILL_PROCESS = 0x80000000
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
LD_W_ABS, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06


class ConfineError(Exception):
    pass


_libc = None


def _lib():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
        _libc.prctl.restype = ctypes.c_int
    return _libc


def _check(rc: int, what: str) -> int:
    if rc < 0:
        err = ctypes.get_errno()
        raise ConfineError(f"{what}: {os.strerror(err)} (errno {err})")
    return rc


def apply(spec: dict) -> list[str]:
    layers = list(spec.get("layers") or [])
    active: list[str] = []
    if not layers:
        return active
    libc = _lib()
    if "pdeathsig" in layers:
        _check(libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")
        if os.getppid() == 1 and not spec.get("bwrap"):
            os._exit(0)  # the host died before we set it
        active.append("pdeathsig")
    if "landlock" in layers or "seccomp" in layers:
        _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    if "landlock" in layers:
        active += landlock(spec)
    if "seccomp" in layers:
        seccomp(os.getpid())
        active.append("seccomp")
    return active


# ---- Landlock ---------------------------------------------------------------------------------------
def landlock_abi() -> int:
    rc = _lib().syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(LL_CREATE_RULESET_VERSION))
    return int(rc) if rc > 0 else 0


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _fs_rights(abi: int) -> int:
    rights = (1 << 13) - 1  # ABI 1: EXECUTE .. MAKE_SYM
    if abi >= 2:
        rights |= FS_REFER
    if abi >= 3:
        rights |= FS_TRUNCATE
    if abi >= 5:
        rights |= FS_IOCTL_DEV
    return rights


def landlock(spec: dict) -> list[str]:
    abi = landlock_abi()
    if abi < 1:
        raise ConfineError("Landlock is not available in this kernel")
    handled_fs = _fs_rights(abi)
    handled_net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0
    scoped = SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL if abi >= 6 else 0
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    attr = ctypes.create_string_buffer(struct.pack("=QQQ", handled_fs, handled_net, scoped)[:size], size)
    libc = _lib()
    ruleset = _check(int(libc.syscall(444, attr, ctypes.c_size_t(size), ctypes.c_uint32(0))), "landlock_create_ruleset")
    try:
        read = FS_READ_FILE | FS_READ_DIR
        write = handled_fs & ~(FS_EXECUTE | FS_MAKE_CHAR | FS_MAKE_BLOCK | FS_MAKE_SOCK | FS_IOCTL_DEV)
        for path in spec.get("ro_paths") or []:
            _add_rule(ruleset, path, read)
        for path in spec.get("rw_paths") or []:
            _add_rule(ruleset, path, write)
        _add_rule(ruleset, spec["scratch"], write)
        _check(int(libc.syscall(446, ctypes.c_int(ruleset), ctypes.c_uint32(0))), "landlock_restrict_self")
    finally:
        os.close(ruleset)
    active = ["landlock-fs"]
    if handled_net:
        active.append("landlock-net")
    if scoped:
        active.append("landlock-scope")
    return active


def _add_rule(ruleset: int, path: str, access: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a path missing on this system needs no rule
    try:
        if not os.path.isdir(path):
            access &= FILE_ONLY
        rule = _PathBeneath(access, fd)
        rc = int(_lib().syscall(445, ctypes.c_int(ruleset), ctypes.c_int(LL_RULE_PATH_BENEATH), ctypes.byref(rule),
                                ctypes.c_uint32(0)))
        _check(rc, f"landlock_add_rule({path})")
    finally:
        os.close(fd)


# ---- seccomp ----------------------------------------------------------------------------------------
def _stmt(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k & 0xFFFFFFFF)


def _arg_lo(i: int) -> int:
    return 16 + 8 * i  # offsetof(struct seccomp_data, args[i]), little-endian low word


def build_filter(pid: int, machine: str | None = None) -> bytes:
    machine = machine or os.uname().machine
    if machine not in SYSCALLS:
        raise ConfineError(f"no seccomp syscall table for {machine}")
    arch, nr = SYSCALLS[machine]
    eperm = RET_ERRNO | errno.EPERM
    prog = [_stmt(LD_W_ABS, 4), _stmt(JEQ, arch, 1, 0), _stmt(RET, RET_KILL_PROCESS), _stmt(LD_W_ABS, 0)]
    if machine == "x86_64":  # x32 ABI syscalls alias the ones we check
        prog += [_stmt(JGE, 0x40000000, 0, 1), _stmt(RET, eperm)]
    for name in ALWAYS_DENIED:
        if name in nr:
            prog += [_stmt(JEQ, nr[name], 0, 1), _stmt(RET, eperm)]
    prog += [_stmt(JEQ, nr["clone3"], 0, 1), _stmt(RET, RET_ERRNO | errno.ENOSYS)]  # glibc falls back to clone
    # blocks below each end in RET on every path, so the accumulator still holds nr when skipped
    prog += [_stmt(JEQ, nr["clone"], 0, 4), _stmt(LD_W_ABS, _arg_lo(0)), _stmt(JSET, CLONE_THREAD, 0, 1),
             _stmt(RET, RET_ALLOW), _stmt(RET, eperm)]
    prog += [_stmt(JEQ, nr["socketpair"], 0, 4), _stmt(LD_W_ABS, _arg_lo(0)), _stmt(JEQ, AF_UNIX, 0, 1),
             _stmt(RET, RET_ALLOW), _stmt(RET, eperm)]
    prog += [_stmt(JEQ, nr["prctl"], 0, 4), _stmt(LD_W_ABS, _arg_lo(0)), _stmt(JEQ, PR_SET_SECCOMP, 0, 1),
             _stmt(RET, eperm), _stmt(RET, RET_ALLOW)]
    for name in OWN_PID_ONLY:
        prog += [_stmt(JEQ, nr[name], 0, 4), _stmt(LD_W_ABS, _arg_lo(0)), _stmt(JEQ, pid, 0, 1),
                 _stmt(RET, RET_ALLOW), _stmt(RET, eperm)]
    prog.append(_stmt(RET, RET_ALLOW))
    return b"".join(prog)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def seccomp(pid: int) -> None:
    code = build_filter(pid)
    buf = ctypes.create_string_buffer(code, len(code))
    prog = _SockFprog(len(code) // 8, ctypes.cast(buf, ctypes.c_void_p))
    nr = SYSCALLS[os.uname().machine][1]["seccomp"]
    rc = int(_lib().syscall(ctypes.c_long(nr), ctypes.c_uint(SECCOMP_SET_MODE_FILTER),
                            ctypes.c_uint(SECCOMP_FILTER_FLAG_TSYNC), ctypes.byref(prog)))
    _check(rc, "seccomp(SECCOMP_SET_MODE_FILTER)")
    if rc > 0:  # TSYNC: the id of a thread that could not be synchronised
        raise ConfineError(f"seccomp: thread {rc} could not be synchronised")
