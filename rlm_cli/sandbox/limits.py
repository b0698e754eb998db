"""Host-side limits that hold across workers: the run's memory budget, the scratch quota watcher,
and cleanup that removes whatever a worker left behind (including directories it made unreadable).

MemoryPool: every live worker of one run holds a share of ``run_memory_mb`` as its RLIMIT_AS. The
first worker (the root's REPL) gets ``memory_mb``; every worker started while another is live (a
child RLM's REPL) gets ``child_memory_mb``. A worker that does not fit waits for a sibling to close,
then is refused (MemoryBudgetExceeded, which the engine reports to the model as that sub-call's error).

ThreadSupervisor: the kernel side of the thread cap. The worker's seccomp filter sends every clone()
that would make a thread to this host thread (SECCOMP_RET_USER_NOTIF); it lets the call continue only
while the worker has fewer than `limit` threads (read from /proc), else the call fails with EAGAIN.
Unlike the worker's own count, ctypes cannot get around it; unlike RLIMIT_NPROC it holds for root.

ScratchWatch: where scratch is not a size-capped tmpfs (no mount namespace), a host thread checks the
scratch directory's disk use and entry count every ``interval`` seconds and kills the worker past the
quota; RLIMIT_FSIZE bounds each file meanwhile.
"""
from __future__ import annotations

import errno
import os
import select
import shutil
import socket
import stat
import struct
import tempfile
import threading
import time
from pathlib import Path

from ..errors import BackendError

MIN_WORKER_MB = 256
SCRATCH_PREFIX, CTX_PREFIX = "rlm-scratch-", "rlm-ctx-"  # + "<host pid>-": the janitor's owner check
_swept = False


class MemoryBudgetExceeded(BackendError):
    """No room in the run's memory budget for one more REPL (a per-sub-call error, not fatal)."""


class MemoryPool:
    def __init__(self, total_mb: int):
        self.total_mb = total_mb
        self.held: dict[int, int] = {}  # token -> MB
        self.cond = threading.Condition()
        self._tokens = 0

    def free_mb(self) -> int:
        return self.total_mb - sum(self.held.values())

    def reserve(self, first_mb: int, other_mb: int, wait_s: float) -> tuple[int, int]:
        """(token, MB granted). The first live worker gets first_mb, later ones other_mb."""
        deadline = time.monotonic() + wait_s
        with self.cond:
            while True:
                want = min(first_mb if not self.held else other_mb, self.total_mb)
                if want <= self.free_mb() and want >= min(MIN_WORKER_MB, self.total_mb):
                    self._tokens += 1
                    self.held[self._tokens] = want
                    return self._tokens, want
                left = deadline - time.monotonic()
                if left <= 0 or not threading.main_thread().is_alive():  # do not hold up interpreter exit
                    raise MemoryBudgetExceeded(
                        f"no memory left for another REPL: {len(self.held)} live REPLs of this run hold "
                        f"{sum(self.held.values())} MB of its {self.total_mb} MB budget; start fewer sub-RLMs at once")
                self.cond.wait(min(left, 0.5))

    def release(self, token: int | None) -> None:
        if token is None:
            return
        with self.cond:
            if self.held.pop(token, None) is not None:
                self.cond.notify_all()


# ---- thread cap (seccomp user notification) --------------------------------------------------------------
NOTIF_RECV, NOTIF_SEND = 0xC0502100, 0xC0182101  # SECCOMP_IOCTL_NOTIF_RECV / _SEND (struct sizes 80 and 24)
FLAG_CONTINUE = 1


def thread_count(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Threads:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


class ThreadSupervisor(threading.Thread):
    """Receives the worker's seccomp listener over `sock`, then answers each new-thread request."""

    def __init__(self, sock: socket.socket, limit: int, alive):
        super().__init__(name="rlm-thread-cap", daemon=True)
        self.sock, self.limit, self.alive = sock, limit, alive
        self.refused = 0

    def run(self) -> None:
        try:
            _, fds, _, _ = socket.recv_fds(self.sock, 1, 1)
        except OSError:
            fds = []
        finally:
            self.sock.close()
        if not fds:
            return  # the worker died before confining itself
        listener = fds[0]
        try:
            poller = select.poll()
            poller.register(listener, select.POLLIN)
            while self.alive():
                for _, ev in poller.poll(500):
                    if ev & select.POLLIN:
                        self._answer(listener)
                    elif ev & (select.POLLHUP | select.POLLERR | select.POLLNVAL):
                        return
        finally:
            os.close(listener)

    def _answer(self, listener: int) -> None:
        import fcntl

        buf = bytearray(80)
        try:
            fcntl.ioctl(listener, NOTIF_RECV, buf)
        except OSError:
            return  # the caller went away meanwhile
        call_id, pid = struct.unpack_from("=QI", buf)
        n = thread_count(pid)
        ok = n is not None and n < self.limit
        self.refused += not ok
        resp = bytearray(struct.pack("=QqiI", call_id, 0, 0 if ok else -errno.EAGAIN, FLAG_CONTINUE if ok else 0))
        try:
            fcntl.ioctl(listener, NOTIF_SEND, resp)
        except OSError:
            pass


# ---- scratch quota (no tmpfs) ---------------------------------------------------------------------------
def dir_usage(root: Path, stop_after: int) -> tuple[int, int]:
    """(bytes on disk, entries) beneath root, without following symlinks; unreadable dirs are opened up."""
    total, entries, stack = 0, 0, [str(root)]
    while stack:
        path = stack.pop()
        try:
            it = os.scandir(path)
        except PermissionError:
            _open_up(path)
            try:
                it = os.scandir(path)
            except OSError:
                continue
        except OSError:
            continue
        with it:
            for entry in it:
                entries += 1
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                total += st.st_blocks * 512
                if stat.S_ISDIR(st.st_mode):
                    stack.append(entry.path)
                if entries > stop_after:
                    return total, entries
    return total, entries


class ScratchWatch(threading.Thread):
    """Polls scratch; calls `over(message)` once when it grows past max_bytes or max_entries."""

    def __init__(self, root: Path, max_bytes: int, max_entries: int, alive, over, interval: float = 0.5):
        super().__init__(name="rlm-scratch-watch", daemon=True)
        self.root, self.max_bytes, self.max_entries = root, max_bytes, max_entries
        self.alive, self.over, self.interval = alive, over, interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval) and self.alive():
            used, entries = dir_usage(self.root, self.max_entries)
            if used > self.max_bytes or entries > self.max_entries:
                what = (f"{used >> 20} MB" if used > self.max_bytes else f"{entries:,} files")
                self.over(f"the REPL's scratch directory grew past its quota ({what}; limits "
                          f"{self.max_bytes >> 20} MB, {self.max_entries:,} files)")
                return


# ---- cleanup -----------------------------------------------------------------------------------------
def _open_up(path: str) -> None:
    """chmod u+rwx a directory the worker created unreadable, never following a symlink."""
    try:
        fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            os.chmod(f"/proc/self/fd/{fd}", 0o700)  # the magic link names this very inode
    except OSError:
        pass
    finally:
        os.close(fd)


def force_rmtree(root: Path) -> None:
    """Remove root and everything beneath it, opening up directories made unreadable or read-only."""
    root = str(root)
    if not os.path.lexists(root):
        return
    _open_up(root)
    stack = [root]
    while stack:
        path = stack.pop()
        try:
            with os.scandir(path) as it:
                subdirs = [e.path for e in it if e.is_dir(follow_symlinks=False)]
        except OSError:
            continue
        for sub in subdirs:
            _open_up(sub)
        stack.extend(subdirs)
    shutil.rmtree(root, ignore_errors=True)


def sweep_stale(tmp: str | None = None) -> int:
    """Remove rlm-scratch-<pid>-* / rlm-ctx-<pid>-* dirs whose owner process is gone (once per process)."""
    global _swept
    if _swept and tmp is None:
        return 0
    _swept = True
    removed = 0
    base = Path(tmp or tempfile.gettempdir())
    try:
        entries = list(base.iterdir())
    except OSError:
        return 0
    for path in entries:
        for prefix in (SCRATCH_PREFIX, CTX_PREFIX):
            owner = path.name[len(prefix):].split("-", 1)[0] if path.name.startswith(prefix) else ""
            if owner.isdigit() and not _alive(int(owner)):
                try:
                    if path.is_dir() and not path.is_symlink() and path.stat().st_uid == os.getuid():
                        force_rmtree(path)
                        removed += 1
                except OSError:
                    pass
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
