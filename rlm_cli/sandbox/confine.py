"""Worker-side confinement: the REPL worker locks itself in before any model code runs.

Loaded by path from worker.py (``python -I -S``): standard library and ctypes only. Two steps, in
this order:

``enter_namespaces(spec, keep_fds)`` (layer "namespaces", before the context is read): new user,
mount, pid, ipc, net and uts namespaces made by the worker itself (no bubblewrap), where the kernel
allows unprivileged user namespaces. The process forks once: the parent stays outside as a small
launcher that only waits for its child and exits with its status; the child is pid 1 of the new pid
namespace and carries on. In the mount namespace scratch becomes a tmpfs capped at
``scratch_mb``/``max_files`` and /dev/shm a small capped tmpfs; in the pid namespace pid_max is
lowered to ``max_tasks`` (Linux >= 6.14: a kernel cap on threads that also holds for root).

``apply(spec)`` (layers "pdeathsig", "landlock", "seccomp"): PR_SET_PDEATHSIG; all capabilities
dropped; PR_SET_NO_NEW_PRIVS; Landlock read-only beneath ``ro_paths``, read-write beneath scratch
and ``rw_paths``, no TCP (ABI >= 4), no signals or abstract sockets outside (ABI >= 6); then the
seccomp allowlist, compiled on the host (seccomp_bpf.py) and passed in ``spec["seccomp_filter"]``: the
worker only writes its own pid where the program holds OWN_PID. Returns the names of the layers in
force. A requested layer that cannot be applied raises ConfineError; the host decides whether that is
fatal.
"""
from __future__ import annotations

import ctypes
import os
import signal
import struct

PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_FILTER_FLAG_NEW_LISTENER = 1, 1, 8
SYS_SECCOMP = {"x86_64": 317, "aarch64": 277}
SYS_CAPSET = {"x86_64": 126, "aarch64": 91}
OWN_PID, JEQ = 0x7FFFFFFE, 0x15  # seccomp_bpf.OWN_PID: the placeholder the host compiles in
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x20000, 0x4000000, 0x8000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
NS_FLAGS = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWUTS
NS_LAYERS = ["ns-user", "ns-mnt", "ns-pid", "ns-ipc", "ns-net", "ns-uts"]
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 0x4000, 1 << 18
PID_MAX_MIN = 301  # the kernel refuses a smaller pid_max
SHM_MB = 16

# Landlock ABI constants (linux/landlock.h)
LL_CREATE_RULESET_VERSION, LL_RULE_PATH_BENEATH = 1, 1
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_MAKE_CHAR, FS_MAKE_SOCK, FS_MAKE_BLOCK = 1 << 6, 1 << 9, 1 << 11
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1, 2
SCOPE_ABSTRACT_UNIX, SCOPE_SIGNAL = 1, 2
FILE_ONLY = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV


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
        _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")
        if os.getppid() == 1 and not spec.get("bwrap"):
            os._exit(0)  # the host died before we set it
        active.append("pdeathsig")
    program = _program(spec) if "seccomp" in layers else None  # before Landlock: nothing to read later
    if "landlock" in layers or "seccomp" in layers:
        drop_capabilities()
        _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    if "landlock" in layers:
        active += landlock(spec)
    if program is not None:
        notify_fd = spec.get("notify_fd")
        seccomp(program, notify_fd)
        active += ["seccomp", "seccomp-threads"] if notify_fd is not None else ["seccomp"]
    return active


def _program(spec: dict) -> bytes:
    code = spec.get("seccomp_filter")
    if not code:
        raise ConfineError("no seccomp program in the spec")
    return with_pid(bytes.fromhex(code), os.getpid())


def with_pid(code: bytes, pid: int) -> bytes:
    """The host's program with this worker's pid where it holds OWN_PID (JEQ constants only)."""
    out = bytearray(code)
    for i in range(0, len(out), 8):
        op, _, _, k = struct.unpack_from("=HBBI", out, i)
        if op == JEQ and k == OWN_PID:
            struct.pack_into("=I", out, i + 4, pid)
    return bytes(out)


def drop_capabilities() -> None:
    """Empty effective, permitted and inheritable sets (matters when the host runs as root)."""
    header = struct.pack("=Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    data = ctypes.create_string_buffer(24)  # two zeroed __user_cap_data_struct
    nr = SYS_CAPSET.get(os.uname().machine)
    if nr is not None:
        _check(int(_lib().syscall(nr, ctypes.c_char_p(header), data)), "capset")


# ---- namespaces (no bubblewrap) ---------------------------------------------------------------------
def enter_namespaces(spec: dict, keep_fds: tuple = ()) -> list[str]:
    """Unshare, map ids, fork (the parent becomes the launcher and never returns), set up mounts."""
    libc = _lib()
    uid, gid = os.getuid(), os.getgid()
    _check(libc.unshare(NS_FLAGS), "unshare(user, mnt, pid, ipc, net, uts)")
    try:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    except OSError as exc:
        raise ConfineError(f"user namespace id maps: {exc}") from None
    child = os.fork()
    if child:
        _launcher(child, keep_fds)
    _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")
    active = list(NS_LAYERS)
    _mount(None, "/", None, MS_REC | MS_PRIVATE, None)
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    if spec.get("scratch_mb"):
        opts = f"size={int(spec['scratch_mb'])}m,nr_inodes={int(spec.get('max_files') or 10000)},mode=0700,uid={uid},gid={gid}"
        _mount("tmpfs", spec["scratch"], "tmpfs", flags, opts)
        os.chdir(spec["scratch"])  # the cwd still named the directory underneath
        active.append("scratch-tmpfs")
    if os.path.isdir("/dev/shm"):
        _mount("tmpfs", "/dev/shm", "tmpfs", flags, f"size={SHM_MB}m,nr_inodes=256,mode=0700,uid={uid},gid={gid}")
        active.append("shm-tmpfs")
    if spec.get("max_tasks") and pid_max_per_namespace():
        try:
            _write("/proc/sys/kernel/pid_max", str(max(PID_MAX_MIN, int(spec["max_tasks"]))))
            active.append("pid-max")
        except OSError:
            pass
    drop_capabilities()  # the mounts are done: nothing more needs them
    return active


def pid_max_per_namespace() -> bool:
    """Linux >= 6.14 keeps one pid_max per pid namespace. Before that the file is global, and a worker
    whose uid is the host's root could still write it from inside its user namespace: never try."""
    try:
        major, minor = (int(x) for x in os.uname().release.split("-")[0].split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (6, 14)


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _enc(s: str | None) -> bytes | None:
    return None if s is None else s.encode()


def _mount(source, target, fstype, flags: int, data) -> None:
    rc = _lib().mount(_enc(source), _enc(target), _enc(fstype), ctypes.c_ulong(flags), _enc(data))
    _check(rc, f"mount({fstype or 'private'} on {target})")


def _launcher(child: int, keep_fds: tuple) -> None:
    """Outside the pid namespace: hold nothing the child needs, wait, exit as the child did."""
    for fd in keep_fds:
        try:
            os.close(fd)
        except OSError:
            pass
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            os._exit(1)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


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
class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def seccomp(code: bytes, notify_fd: int | None = None) -> None:
    """Install the program. With notify_fd (a unix socket to the host), new threads go to the host's
    supervisor (seccomp user notification): the listener fd is sent over that socket, then closed here."""
    nr = SYS_SECCOMP.get(os.uname().machine)
    if nr is None:
        raise ConfineError(f"no seccomp support for {os.uname().machine}")
    buf = ctypes.create_string_buffer(code, len(code))
    prog = _SockFprog(len(code) // 8, ctypes.cast(buf, ctypes.c_void_p))
    # one thread here, so TSYNC (which NEW_LISTENER excludes) is not needed when notifying
    flags = SECCOMP_FILTER_FLAG_NEW_LISTENER if notify_fd is not None else SECCOMP_FILTER_FLAG_TSYNC
    rc = int(_lib().syscall(ctypes.c_long(nr), ctypes.c_uint(SECCOMP_SET_MODE_FILTER), ctypes.c_uint(flags),
                            ctypes.byref(prog)))
    _check(rc, "seccomp(SECCOMP_SET_MODE_FILTER)")
    if notify_fd is None:
        if rc > 0:  # TSYNC: the id of a thread that could not be synchronised
            raise ConfineError(f"seccomp: thread {rc} could not be synchronised")
        return
    import _socket

    sock = _socket.socket(fileno=notify_fd)
    try:
        sock.sendmsg([b"L"], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack("i", rc))])
    finally:
        sock.close()
        os.close(rc)


def probe_namespaces(scratch: str) -> None:
    """`python -I -S confine.py DIR`: prints the layers and exits 0 iff enter_namespaces works here
    (run once by policy.py, result cached; the caller removes DIR)."""
    layers = enter_namespaces({"scratch": scratch, "scratch_mb": 1, "max_files": 16, "max_tasks": 400})
    print(" ".join(layers), flush=True)


if __name__ == "__main__":
    import sys

    probe_namespaces(sys.argv[1])
