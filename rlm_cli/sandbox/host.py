"""Host side of the REPL sandbox: a persistent worker subprocess per RLM node.

The worker (worker.py) runs model-written code; this module starts it with a scrubbed environment
in a private scratch directory, speaks JSON lines with it on dedicated pipes, serves its sub-calls
through a handler, enforces the hard per-exec timeout (kill the process group, restart, tell the
model), and cleans up on every exit path.

Confinement (docs/sandbox.md): `SandboxOptions.confine` is the spec from confine_host.spec_for_mode();
the worker applies Landlock/seccomp itself (confine.py), the host wraps it in bubblewrap or
sandbox-exec when the spec says so, and every message from the worker is validated and capped here.
A worker must be started and closed by the same host thread: PR_SET_PDEATHSIG and bwrap's
--die-with-parent fire when the thread that spawned the worker exits.
"""
from __future__ import annotations

import atexit
import json
import os
import queue
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from ..evidence.claims import claims_from
from ..threads import get, start_daemon
from . import trust
from .trust import CallRefused

WORKER = Path(__file__).with_name("worker.py")
MAX_MESSAGE_BYTES = 256 * 1024 * 1024  # one message from the worker (sub-contexts travel inline)
MAX_BATCH = 1024  # prompts in one batched call
INBOX_MESSAGES = 2  # parsed messages buffered from the worker (the reader waits: back-pressure on its pipe)
ENV_ALLOW = ("LANG", "LC_ALL", "LC_CTYPE", "TZ")
SCRATCH_PREFIX, CTX_PREFIX = "rlm-scratch-", "rlm-ctx-"  # + "<host pid>-": the janitor's owner check

# handler(fn, args) -> list of result strings; raises CallRefused for a per-call error.
CallHandler = Callable[[str, dict], list]


@dataclass
class SandboxOptions:
    exec_timeout: float = 60.0  # soft timeout in the worker; the host kills at +grace
    grace: float = 3.0
    max_output_chars: int = 10_000
    memory_mb: int = 4096  # RLIMIT_AS for the worker (on top of the context it holds)
    file_mb: int = 1024  # RLIMIT_FSIZE
    cpu_seconds: int = 3600
    confine: dict | None = None  # layers for confine.py; None = process isolation only
    start_timeout: float = 30.0
    open_files: int = 256  # RLIMIT_NOFILE
    max_message_mb: int = MAX_MESSAGE_BYTES >> 20  # one message from the worker
    max_batch: int = MAX_BATCH  # prompts/questions in one call
    max_sub_prompts: int = 100_000  # prompts + child questions over the sandbox's lifetime
    max_final_chars: int = 1_000_000  # a longer FINAL answer is cut (with a warning)
    max_prompt_chars: int = 4_000_000  # one llm_query prompt; larger ones are refused
    max_question_chars: int = 100_000  # one rlm_query question; larger ones are refused

    @property
    def caps(self) -> trust.Caps:
        """What the host accepts from one worker message (trust.py)."""
        return trust.Caps(output_chars=self.max_output_chars, final_chars=self.max_final_chars,
                          prompt_chars=self.max_prompt_chars, question_chars=self.max_question_chars,
                          batch=self.max_batch)


@dataclass
class ExecResult:
    stdout: str = ""
    error: str | None = None
    final: str | None = None
    has_final: bool = False
    notes: list[str] = field(default_factory=list)
    timed_out: bool = False
    restarted: bool = False
    duration_s: float = 0.0
    evidence: list = field(default_factory=list)  # evidence.Claim items FINAL carried (unverified here)
    warnings: list[str] = field(default_factory=list)  # for the user (e.g. the answer was cut), not the model

    def render(self) -> str:
        """What the model is shown for this block."""
        parts = []
        if self.stdout.strip():
            parts.append(self.stdout.rstrip("\n"))
        if self.error:
            parts.append(self.error)
        parts.extend(f"Note: {n}" for n in self.notes)
        return "\n".join(parts) if parts else "(no output)"


class Sandbox(Protocol):
    """A persistent REPL over one context. Used as a context manager by the engine."""

    def execute(self, code: str, handler: CallHandler) -> ExecResult: ...
    def close(self, graceful: bool = True) -> None: ...
    def __enter__(self) -> "Sandbox": ...
    def __exit__(self, exc_type, *exc) -> None: ...


class WorkerDied(Exception):
    pass


class _Process:
    """One worker process with its own pipes, reader thread and queue."""

    def __init__(self, ctx_dir: Path, opts: SandboxOptions):
        self.scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
        os.chmod(self.scratch, 0o700)
        self.max_line = opts.max_message_mb << 20
        self.wrapper: str | None = None
        raw = self.scratch / ".output"
        p2c_r, p2c_w = os.pipe()
        c2p_r, c2p_w = os.pipe()
        env = {k: os.environ[k] for k in ENV_ALLOW if k in os.environ}
        env.update(HOME=str(self.scratch), TMPDIR=str(self.scratch), PATH="/usr/bin:/bin", PYTHONIOENCODING="utf-8")
        argv = self._argv(ctx_dir, opts, p2c_r, c2p_w, raw, env)
        try:
            with open(raw, "ab") as out:
                self.proc = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, cwd=self.scratch, env=env,
                    pass_fds=(p2c_r, c2p_w), start_new_session=True, close_fds=True,
                )
        except BaseException:
            for fd in (p2c_w, c2p_r):
                os.close(fd)
            shutil.rmtree(self.scratch, ignore_errors=True)
            raise
        finally:
            os.close(p2c_r)
            os.close(c2p_w)
        self.wfd = p2c_w
        os.set_blocking(p2c_w, False)  # a worker that stops reading cannot block the host (send's timeout)
        self.rfile = os.fdopen(c2p_r, "rb", buffering=1 << 16)
        self.inbox: queue.Queue = queue.Queue(maxsize=INBOX_MESSAGES)
        self.closed = threading.Event()
        self.reader = start_daemon(self._read, name=f"rlm-worker-{self.proc.pid}")
        if opts.confine and opts.confine.get("rss_watchdog"):
            start_daemon(self._watch_rss, opts.memory_mb, name=f"rlm-rss-{self.proc.pid}")

    def _argv(self, ctx_dir: Path, opts: SandboxOptions, fd_in: int, fd_out: int, raw: Path, env: dict) -> list[str]:
        argv = [
            sys.executable, "-I", "-S", "-B", str(WORKER),
            "--in", str(fd_in), "--out", str(fd_out),
            "--context", str(ctx_dir / "context.txt"), "--sources", str(ctx_dir / "sources.json"),
            "--raw-output", str(raw), "--max-output", str(opts.max_output_chars),
            "--soft-timeout", str(opts.exec_timeout), "--memory-mb", str(opts.memory_mb),
            "--file-mb", str(opts.file_mb), "--cpu-seconds", str(opts.cpu_seconds),
            "--open-files", str(opts.open_files),
        ]
        spec = opts.confine
        if spec is None:
            return argv
        ro = list(spec.get("ro_paths") or []) + [str(ctx_dir)]
        worker_spec = {k: spec[k] for k in ("layers", "rw_paths") if k in spec}
        if spec.get("bwrap"):  # bwrap's /dev/shm is private: allow POSIX semaphores (multiprocessing.pool.ThreadPool)
            worker_spec["rw_paths"] = list(worker_spec.get("rw_paths") or []) + ["/dev/shm"]
        worker_spec.update(scratch=str(self.scratch), context_dir=str(ctx_dir), ro_paths=ro, bwrap=bool(spec.get("bwrap")))
        argv += ["--confine", json.dumps(worker_spec)]
        if spec.get("bwrap"):
            from .policy import bwrap_argv

            self.wrapper = "bwrap"
            return bwrap_argv(spec["bwrap"], str(self.scratch), ro, env, tuple(spec.get("rw_paths") or ())) + argv
        if spec.get("sandbox_exec"):
            from .policy import macos_profile

            self.wrapper = "sandbox-exec"
            profile = macos_profile(dict(spec, scratch=str(self.scratch), context_dir=str(ctx_dir), ro_paths=ro))
            return [spec["sandbox_exec"], "-p", profile] + argv
        return argv

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
            try:
                code = self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:  # it closed the channel but lives on
                code = None
            raise WorkerDied(_describe_exit(code))
        if isinstance(msg, trust.Violation):  # only the host's reader and watchdog queue these
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
        try:
            os.close(self.wfd)
        except OSError:
            pass
        # The read end is closed by the reader thread at EOF: once the worker is dead, unless a process that
        # escaped the group (possible only without seccomp) still holds the pipe. Never block on it here.
        self.reader.join(timeout=0.2)
        shutil.rmtree(self.scratch, ignore_errors=True)

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


class SubprocessSandbox:
    """A persistent REPL in a child process over `context`. Starts lazily, restarts after a kill."""

    def __init__(self, context: str, sources: list[dict] | None = None, options: SandboxOptions | None = None):
        self.opts = options or SandboxOptions()
        sweep_stale()
        self.ctx_dir = Path(tempfile.mkdtemp(prefix=f"{CTX_PREFIX}{os.getpid()}-"))
        os.chmod(self.ctx_dir, 0o700)
        self.proc: _Process | None = None
        self.layers: list[str] = []
        self.restarts = 0
        self.busy = False
        self.sub_prompts = 0
        self._seq = 0
        _LIVE.add(self)
        try:
            self._write_context(context, sources or [{"name": "<context>", "kind": "text", "start": 0, "end": len(context), "pages": []}])
        except BaseException:
            self.close()
            raise

    def _write_context(self, context: str, sources: list[dict]) -> None:
        path = self.ctx_dir / "context.txt"
        with open(path, "w", encoding="utf-8", errors="surrogateescape", newline="") as f:
            step = 1 << 24  # write in 16M-char slices: never a second full copy in memory
            for i in range(0, len(context), step):
                f.write(context[i:i + step])
        os.chmod(path, 0o400)
        (self.ctx_dir / "sources.json").write_text(json.dumps(sources), encoding="utf-8")

    def start(self) -> None:
        if self.proc is not None:
            return
        proc = _Process(self.ctx_dir, self.opts)
        try:
            ready = proc.recv(self.opts.start_timeout)
        except (TimeoutError, WorkerDied) as exc:
            proc.kill()
            from ..errors import SandboxError

            raise SandboxError(f"the REPL worker did not start: {exc or 'timeout'}") from None
        from ..errors import SandboxError

        if ready.get("type") != "ready":
            proc.kill()
            raise SandboxError("the REPL worker did not start: unexpected first message")
        if ready.get("confine_error"):
            proc.kill()
            raise SandboxError(f"sandbox confinement failed: {ready['confine_error']}")
        layers = list(ready.get("layers", [])) + ([proc.wrapper] if proc.wrapper else [])
        required = (self.opts.confine or {}).get("required") or []
        if required:
            from .policy import missing_isolation

            missing = missing_isolation(required, layers)
            if missing:
                proc.kill()
                raise SandboxError(f"--sandbox strict: {' and '.join(missing)} isolation is not in force "
                                   f"(active layers: {', '.join(layers) or 'none'})")
        self.layers = layers
        self.proc = proc

    def execute(self, code: str, handler: CallHandler) -> ExecResult:
        self.start()
        t0 = time.monotonic()
        self.busy = True  # stays True if Ctrl-C leaves the worker mid-block (a conversation then restarts it)
        try:
            result = self._exchange(code, handler)
        except TimeoutError:
            self._restart()
            limit = self.opts.exec_timeout
            result = ExecResult(
                error=f"TimeoutError: the code ran past the {limit:g} s limit and did not stop; the REPL was killed "
                "and restarted. All your variables were lost (context and the functions are available again).",
                timed_out=True, restarted=True,
            )
        except WorkerDied as exc:
            self._restart()
            result = ExecResult(
                error=f"Error: {exc}. The REPL was restarted and all your variables were lost "
                "(context and the functions are available again).",
                restarted=True,
            )
        result.duration_s = time.monotonic() - t0
        self.busy = False
        return result

    def control(self, msg: dict, timeout: float) -> dict:
        """A save / load / vars request (rlm_cli/sandbox/state.py). Nothing else is served meanwhile: a
        sub-call or a timeout kills and restarts the worker (WorkerDied / TimeoutError are raised)."""
        self.start()
        self._seq += 1
        deadline = time.monotonic() + timeout
        try:
            self.proc.send(dict(msg, seq=self._seq), timeout=timeout)
            while True:
                reply = self.proc.recv(timeout=max(deadline - time.monotonic(), 0.01))
                if reply.get("seq") == self._seq and str(reply.get("type", "")).startswith(msg["type"]):
                    return reply
                if reply.get("type") != "result":  # (a stale exec result is skipped)
                    raise WorkerDied(f"unexpected message {reply.get('type')!r} on the REPL channel")
        except (TimeoutError, WorkerDied):
            self._restart()
            raise

    def _exchange(self, code: str, handler: CallHandler) -> ExecResult:
        proc = self.proc
        self._seq += 1
        wait = self.opts.exec_timeout + self.opts.grace
        proc.send({"type": "exec", "code": code, "seq": self._seq}, timeout=wait)
        budget = wait  # worker time only: sub-calls pause the clock
        while True:
            t0 = time.monotonic()
            msg = proc.recv(timeout=max(budget, 0.01))
            budget -= time.monotonic() - t0
            kind = msg.get("type")
            if kind == "result":
                if msg.get("seq") != self._seq:
                    continue  # a stale or forged result: the real one is still to come
                try:
                    r = trust.check_result(msg, self.opts.caps)
                except trust.Violation as exc:
                    raise WorkerDied(str(exc)) from None
                return ExecResult(stdout=r.stdout, error=r.error, final=r.final, has_final=r.has_final,
                                  notes=r.notes, warnings=r.warnings,
                                  evidence=claims_from(msg.get("evidence")) if r.has_final else [])
            if kind == "call":
                proc.send(self._serve(msg, handler), timeout=wait)
            else:
                raise WorkerDied(f"unexpected message {str(kind)[:40]!r} on the REPL channel")

    def _serve(self, msg: dict, handler: CallHandler) -> dict:
        call_id = msg.get("id")
        reply = {"type": "reply", "id": call_id if type(call_id) is int else None}
        try:
            call = trust.check_call(msg.get("fn"), msg.get("args"), self.opts.caps)
            fn, n = call.fn, len(call.items)
            if self.sub_prompts + n > self.opts.max_sub_prompts:
                raise CallRefused(f"this REPL may make at most {self.opts.max_sub_prompts:,} sub-calls in total "
                                  f"({self.sub_prompts:,} made, {n:,} more asked)")
            self.sub_prompts += n
            results = handler(fn, call.args)
            if not isinstance(results, list) or len(results) != n:
                raise CallRefused(f"internal error: {fn} returned {len(results) if isinstance(results, list) else 'no'} "
                                  f"results for {n} prompts")
            reply["results"] = results
        except CallRefused as exc:
            reply.update(error=str(exc), fatal=exc.fatal)
        return reply

    def interrupt(self) -> None:
        """From any thread: kill the worker's process group now. A running block ends as if the worker had
        died (the REPL restarts, its variables lost); the caller stops the run (Run.cancel)."""
        proc = self.proc
        if proc is not None:
            proc._signal_group()

    def _restart(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc = None
        self.restarts += 1
        self.start()

    def close(self, graceful: bool = True) -> None:
        """Stop the worker (asked to exit, or killed at once when `graceful` is False) and remove its files."""
        try:
            if self.proc is not None:
                proc, self.proc = self.proc, None
                proc.stop() if graceful else proc.kill()
        finally:
            shutil.rmtree(self.ctx_dir, ignore_errors=True)
            _LIVE.discard(self)

    def __enter__(self) -> "SubprocessSandbox":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(graceful=exc_type is None)  # after Ctrl-C or an error, do not wait on the worker


# ---- cleanup on every exit path ----------------------------------------------------------------------
_LIVE: "weakref.WeakSet[SubprocessSandbox]" = weakref.WeakSet()
_swept = False


@atexit.register
def _close_all() -> None:
    for box in list(_LIVE):
        try:
            box.close()
        except Exception:
            pass


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
                        shutil.rmtree(path, ignore_errors=True)
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
