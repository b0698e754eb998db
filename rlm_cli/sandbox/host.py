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
import shutil
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from ..evidence.claims import claims_from
from . import trust
from .limits import CTX_PREFIX, MemoryPool, sweep_stale  # noqa: F401 (sweep_stale re-exported)
from .process import ExecWallTimeout, WorkerDied, _Process
from .trust import CallRefused

MAX_MESSAGE_BYTES = 256 * 1024 * 1024  # one message from the worker (sub-contexts travel inline)
MAX_BATCH = 1024  # prompts in one batched call

_POOL_LOCK = threading.Lock()

# handler(fn, args) -> list of result strings; raises CallRefused for a per-call error.
CallHandler = Callable[[str, dict], list]


@dataclass
class SandboxOptions:
    exec_timeout: float = 60.0  # soft timeout in the worker (sub-call time excluded); the host kills at +grace
    grace: float = 3.0
    exec_wall_timeout: float | None = None  # one block's total time, sub-calls included (None: 10 x exec_timeout)
    max_output_chars: int = 10_000
    memory_mb: int = 4096  # RLIMIT_AS of the first live worker of a run (the root's REPL)
    child_memory_mb: int = 512  # RLIMIT_AS of each worker started while another of the run is live
    run_memory_mb: int = 8192  # all live workers of one run together (shared through this options object)
    memory_wait: float = 60.0  # how long a worker waits for room in run_memory_mb before its sub-call fails
    file_mb: int = 1024  # RLIMIT_FSIZE
    scratch_mb: int = 1024  # scratch quota: tmpfs size in the worker's mount namespace, else a host watcher
    max_files: int = 10_000  # scratch quota: files and directories
    max_threads: int = 64  # threads model code may run at once
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
    memory_pool: MemoryPool | None = field(default=None, repr=False, compare=False)  # made on first use

    @property
    def caps(self) -> trust.Caps:
        """What the host accepts from one worker message (trust.py)."""
        return trust.Caps(output_chars=self.max_output_chars, final_chars=self.max_final_chars,
                          prompt_chars=self.max_prompt_chars, question_chars=self.max_question_chars,
                          batch=self.max_batch)

    def pool(self) -> MemoryPool:
        with _POOL_LOCK:
            if self.memory_pool is None:
                self.memory_pool = MemoryPool(self.run_memory_mb)
            return self.memory_pool

    def wall_timeout(self) -> float:
        return self.exec_wall_timeout if self.exec_wall_timeout else 10 * self.exec_timeout


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


class SubprocessSandbox:
    """A persistent REPL in a child process over `context`. Starts lazily, restarts after a kill."""

    def __init__(self, context: str, sources: list[dict] | None = None, options: SandboxOptions | None = None):
        self.opts = options or SandboxOptions()
        sweep_stale()
        self.ctx_dir = Path(tempfile.mkdtemp(prefix=f"{CTX_PREFIX}{os.getpid()}-"))
        os.chmod(self.ctx_dir, 0o700)
        self.proc: _Process | None = None
        self._launched: _Process | None = None  # spawned by launch(), not yet seen ready
        self._starting: _Process | None = None  # start() is waiting for its ready message
        self._interrupted = False  # interrupt() killed the worker: do not restart it at once
        self._handover = threading.Lock()  # launched -> starting, against interrupt() from another thread
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

    def launch(self) -> None:
        """Spawn the worker without waiting for it: it gets ready while the first model call is out."""
        if self.proc is None and self._launched is None:
            proc = _Process(self.ctx_dir, self.opts)
            with self._handover:
                self._launched = proc

    def start(self) -> None:
        if self.proc is not None:
            return
        with self._handover:
            proc, self._launched = self._launched, None
            self._starting = proc  # interrupt() and close() reach it while it gets ready
        if proc is None:
            proc = _Process(self.ctx_dir, self.opts)
            with self._handover:
                self._starting, stop = proc, self._interrupted
            if stop:  # interrupted while it was spawned
                proc._signal_group()
        try:
            ready = proc.recv(self.opts.start_timeout)
        except (TimeoutError, WorkerDied) as exc:
            proc.kill()
            from ..errors import SandboxError

            raise SandboxError(f"the REPL worker did not start: {exc or 'timeout'}") from None
        finally:
            self._starting = None
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
        self._interrupted = False  # (an interrupt before this request has already stopped its run)
        self.start()
        t0 = time.monotonic()
        self.busy = True  # stays True if Ctrl-C leaves the worker mid-block (a conversation then restarts it)
        try:
            result = self._exchange(code, handler)
        except TimeoutError as exc:
            self._restart()
            if isinstance(exc, ExecWallTimeout):
                what = f"ran past {self.opts.wall_timeout():g} s in total, sub-calls included (the limit for one block)"
            else:
                what = f"ran past the {self.opts.exec_timeout:g} s limit and did not stop"
            result = ExecResult(
                error=f"TimeoutError: the code {what}; the REPL was killed and restarted. All your variables were "
                "lost (context and the functions are available again).",
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
        self._interrupted = False
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
        budget = wait  # worker time: the time sub-calls take is not counted here...
        wall_end = time.monotonic() + self.opts.wall_timeout() + self.opts.grace  # ... but counts here
        while True:
            t0 = time.monotonic()
            try:
                msg = proc.recv(timeout=max(min(budget, wall_end - t0), 0.01))
            except TimeoutError:
                raise (ExecWallTimeout if time.monotonic() >= wall_end else TimeoutError) from None
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
                reply = self._serve(msg, handler)
                if time.monotonic() >= wall_end:
                    raise ExecWallTimeout
                proc.send(reply, timeout=wait)
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
        """From any thread: kill the worker's process group now, also while it is still starting. A running
        block ends as if the worker had died (its variables lost; a fresh worker starts at the next block,
        not at once); the caller stops the run (Run.cancel)."""
        with self._handover:
            self._interrupted = True
            launched, self._launched = self._launched, None
            running = (self.proc, self._starting)
        if launched is not None:  # spawned, never waited for: gone, and the next start spawns afresh
            launched.kill()
        for proc in running:  # a block running, or start() waiting for ready (it then raises)
            if proc is not None:
                proc._signal_group()

    def _restart(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc = None
        self.restarts += 1
        if self._interrupted:  # killed by interrupt(): the run is being stopped; a later execute starts afresh
            self._interrupted = False
            return
        self.start()

    def close(self, graceful: bool = True) -> None:
        """Stop the worker (asked to exit, or killed at once when `graceful` is False) and remove its files."""
        try:
            for attr in ("_launched", "_starting"):
                proc = getattr(self, attr)
                if proc is not None:
                    setattr(self, attr, None)
                    proc.kill()
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


@atexit.register
def _close_all() -> None:
    for box in list(_LIVE):
        try:
            box.close()
        except Exception:
            pass
