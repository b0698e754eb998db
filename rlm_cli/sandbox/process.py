"""One REPL worker process: scratch layout, argv (confinement spec, bwrap/sandbox-exec wrapper), pipes,
its reader thread and queue, the host-side watchers (thread supervisor, scratch quota, macOS RSS), and
kill + cleanup. Used by host.SubprocessSandbox, which owns the protocol and the timeouts."""
from __future__ import annotations

import json
import os
import platform
import queue
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..threads import get, sigint_blocked, start_daemon
from . import trust
from .limits import SCRATCH_PREFIX, ScratchWatch, ThreadSupervisor, force_rmtree

if TYPE_CHECKING:
    from .host import SandboxOptions

WORKER = Path(__file__).with_name("worker.py")
ENV_ALLOW = ("LANG", "LC_ALL", "LC_CTYPE", "TZ")
INBOX_MESSAGES = 2  # parsed messages buffered from the worker (the reader waits: back-pressure on its pipe)


class WorkerDied(Exception):
    pass


class ExecWallTimeout(TimeoutError):
    """One block ran past exec_wall_timeout, the time its sub-calls took included."""


class _Process:
    """One worker process with its own pipes, reader thread and queue.

    Layout: <tmp>/rlm-scratch-<host pid>-XXXX/ (0700, removed on kill) holds `work/` (the worker's
    cwd, HOME and TMPDIR: "scratch"; a capped tmpfs inside the worker's own mount namespace, which the
    host cannot see), `output` (fds 1/2 of the worker, read back after each exec) and `state.pkl` (where
    the worker pickles its variables for a conversation, state.py). The two files are made by the host
    and are the only paths outside scratch the worker may write; they keep their inode (Landlock's
    rule and bwrap's bind name that inode)."""

    def __init__(self, ctx_dir: Path, opts: SandboxOptions):
        self.token, self.memory_mb = opts.pool().reserve(opts.memory_mb, min(opts.child_memory_mb, opts.memory_mb),
                                                         opts.memory_wait)
        self.pool = opts.pool()
        self.watch: ScratchWatch | None = None
        try:
            self.root = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
            self.scratch = self.root / "work"
            self.scratch.mkdir(mode=0o700)
            self._spawn(ctx_dir, opts)
        except BaseException:
            self.pool.release(self.token)
            if hasattr(self, "root"):
                force_rmtree(self.root)
            raise
        self.inbox: queue.Queue = queue.Queue(maxsize=INBOX_MESSAGES)
        self.closed = threading.Event()
        self.violation: str | None = None
        self.reader = start_daemon(self._read, name=f"rlm-worker-{self.proc.pid}")
        if opts.confine and opts.confine.get("rss_watchdog"):
            start_daemon(self._watch_rss, self.memory_mb, name=f"rlm-rss-{self.proc.pid}")
        if "namespaces" not in ((opts.confine or {}).get("layers") or []) and opts.scratch_mb:
            self.watch = ScratchWatch(self.scratch, opts.scratch_mb << 20, opts.max_files,
                                      lambda: self.proc.poll() is None, self._over_quota)
            with sigint_blocked():
                self.watch.start()

    def _spawn(self, ctx_dir: Path, opts: SandboxOptions) -> None:
        self.max_line = opts.max_message_mb << 20
        self.wrapper: str | None = None
        raw, self.state_file = self.root / "output", self.root / "state.pkl"
        for path in (raw, self.state_file):
            path.touch(mode=0o600)  # before argv: bwrap binds a file only if it exists
        p2c_r, p2c_w = os.pipe()
        c2p_r, c2p_w = os.pipe()
        spec = opts.confine or {}
        notify = socket.socketpair() if spec.get("thread_notify") and "seccomp" in (spec.get("layers") or []) else None
        env = {k: os.environ[k] for k in ENV_ALLOW if k in os.environ}
        env.update(HOME=str(self.scratch), TMPDIR=str(self.scratch), PATH="/usr/bin:/bin", PYTHONIOENCODING="utf-8")
        argv = self._argv(ctx_dir, opts, p2c_r, c2p_w, raw, env, notify[1].fileno() if notify else None)
        passed = (p2c_r, c2p_w) + ((notify[1].fileno(),) if notify else ())
        try:
            with open(raw, "ab") as out:
                self.proc = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, cwd=self.scratch, env=env,
                    pass_fds=passed, start_new_session=True, close_fds=True,
                )
        except BaseException:
            for fd in (p2c_w, c2p_r):
                os.close(fd)
            if notify:
                notify[0].close()
            raise
        finally:
            os.close(p2c_r)
            os.close(c2p_w)
            if notify:
                notify[1].close()
        self.wfd = p2c_w
        os.set_blocking(p2c_w, False)  # a worker that stops reading cannot block the host (send's timeout)
        self.rfile = os.fdopen(c2p_r, "rb", buffering=1 << 16)
        if notify:  # the kernel side of the thread cap: answers every new thread of the worker
            with sigint_blocked():
                ThreadSupervisor(notify[0], opts.max_threads + 4, lambda: self.proc.poll() is None).start()

    def _argv(self, ctx_dir: Path, opts: SandboxOptions, fd_in: int, fd_out: int, raw: Path, env: dict,
              notify_fd: int | None) -> list[str]:
        argv = [
            os.path.realpath(sys.executable), "-I", "-S", "-B", str(WORKER),  # the interpreter, not a venv around it
            "--in", str(fd_in), "--out", str(fd_out),
            "--context", str(ctx_dir / "context.txt"), "--sources", str(ctx_dir / "sources.json"),
            "--raw-output", str(raw), "--max-output", str(opts.max_output_chars),
            "--soft-timeout", str(opts.exec_timeout), "--memory-mb", str(self.memory_mb),
            "--file-mb", str(opts.file_mb), "--cpu-seconds", str(opts.cpu_seconds),
            "--open-files", str(opts.open_files), "--max-threads", str(opts.max_threads),
        ]
        spec = opts.confine
        if spec is None:
            return argv
        layers = list(spec.get("layers") or [])
        ro = list(spec.get("ro_paths") or []) + [str(ctx_dir)]
        rw = list(spec.get("rw_paths") or []) + [str(raw), str(self.state_file)]
        worker_spec = {"layers": layers, "scratch": str(self.scratch), "context_dir": str(ctx_dir), "ro_paths": ro,
                       "rw_paths": rw, "bwrap": bool(spec.get("bwrap")), "notify_fd": notify_fd}
        if "seccomp" in layers:
            from .seccomp_bpf import program_for

            worker_spec["seccomp_filter"] = program_for(platform.machine(), notify_fd is not None)
        if "namespaces" in layers:
            worker_spec.update(scratch_mb=opts.scratch_mb, max_files=opts.max_files, max_tasks=opts.max_threads + 16)
            worker_spec["rw_paths"] = rw + ["/dev/shm"]  # a 16 MB tmpfs of its own (POSIX semaphores)
        if "namespaces" in layers:  # in its own user namespace RLIMIT_NPROC counts that namespace's tasks only
            argv += ["--nproc", str(opts.max_threads + 8)]
        argv += ["--confine", json.dumps(worker_spec)]
        if spec.get("bwrap"):
            from .policy import bwrap_argv

            self.wrapper = "bwrap"
            return bwrap_argv(spec["bwrap"], str(self.scratch), ro, env, tuple(rw)) + argv
        if spec.get("sandbox_exec"):
            from .policy import macos_profile

            self.wrapper = "sandbox-exec"
            profile = macos_profile(dict(spec, scratch=str(self.scratch), context_dir=str(ctx_dir), ro_paths=ro))
            return [spec["sandbox_exec"], "-p", profile] + argv
        return argv

    def _over_quota(self, message: str) -> None:
        self.violation = message  # read by recv() when the reader reports the channel closed
        self._signal_group()

    def _watch_rss(self, limit_mb: int) -> None:
        """macOS: RLIMIT_AS is not enforced there, so the host kills a worker that grows past the limit."""
        from .policy import rss_mb

        while self.proc.poll() is None:
            rss = rss_mb(self.proc.pid)
            if rss is not None and limit_mb and rss > limit_mb:
                self._put(self.inbox, trust.Violation(f"the REPL used {rss:.0f} MB, over the {limit_mb} MB limit"))
                self._signal_group()
                return
            time.sleep(0.5)

    def _read(self) -> None:
        inbox = self.inbox  # bound now: a replacement process has its own queue
        try:
            while True:
                line = self.rfile.readline(self.max_line + 1)
                if not line:
                    break
                if len(line) > self.max_line:
                    self._put(inbox, trust.Violation("message from the REPL exceeded the size cap"))
                    break
                try:
                    msg = trust.parse_message(line)
                except trust.Violation as exc:
                    self._put(inbox, exc)
                    break
                del line
                self._put(inbox, msg)
        except (OSError, ValueError, MemoryError):
            pass
        finally:
            try:
                self.rfile.close()  # the reader owns the read end: closing it from kill() could block on its lock
            except OSError:
                pass
        self._put(inbox, None)

    def _put(self, inbox: queue.Queue, item) -> None:
        """Queue a message, waiting while the host has not taken the previous ones (never after kill())."""
        while not self.closed.is_set():
            try:
                inbox.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def send(self, msg: dict, timeout: float) -> None:
        """Write one message; TimeoutError if the worker does not read it within `timeout` seconds."""
        data = (json.dumps(msg, ensure_ascii=False) + "\n").encode("utf-8", "surrogatepass")
        deadline = time.monotonic() + timeout
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.wfd, view):]
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError from None
                select.select([], [self.wfd], [], left)
            except OSError as exc:
                raise WorkerDied(f"the REPL process is gone ({exc.strerror})") from None

    def recv(self, timeout: float | None) -> dict:
        try:
            msg = get(self.inbox, timeout)  # in slices: Ctrl-C is noticed at once
        except queue.Empty:
            raise TimeoutError from None
        if msg is None:
            if self.violation:  # a host watcher killed it (quota): say why, not just "killed by SIGKILL"
                raise WorkerDied(self.violation)
            try:
                code = self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:  # it closed the channel but lives on
                code = None
            raise WorkerDied(_describe_exit(code))
        if isinstance(msg, trust.Violation):  # only the host's reader and watchdogs queue these
            raise WorkerDied(str(msg))
        return msg

    def _signal_group(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the worker leads its own session and group
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.kill()
        except OSError:
            pass

    def kill(self) -> None:
        self.closed.set()
        self._signal_group()  # also when the worker is gone: a forked straggler (basic mode) may remain
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        if self.watch is not None:
            self.watch.stopped.set()
        self.pool.release(self.token)
        self.token = None
        try:
            os.close(self.wfd)
        except OSError:
            pass
        # The read end is closed by the reader thread at EOF: once the worker is dead, unless a process that
        # escaped the group (possible only without seccomp) still holds the pipe. Never block on it here.
        self.reader.join(timeout=0.2)
        force_rmtree(self.root)

    def stop(self) -> None:
        try:
            self.send({"type": "exit"}, timeout=1)
            self.proc.wait(timeout=1)
        except (WorkerDied, TimeoutError, subprocess.TimeoutExpired):
            pass
        self.kill()


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "the REPL process closed its channel"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the REPL process was killed by {name}"
    return f"the REPL process exited with status {code}"
