"""The worker's plumbing (loaded by path from worker.py; standard library only): the control-flow
exceptions, the bounded output buffer, the JSON-lines channel to the host, the soft exec timer and
the thread cap."""
from __future__ import annotations

import io
import json
import os
import signal
import threading


class Submitted(BaseException):
    """Raised by FINAL to stop the block; BaseException so `except Exception` does not swallow it."""


class FatalCall(BaseException):
    """The host refused a sub-call because a budget ran out: the run is over."""


class ExecTimeout(BaseException):
    """The soft per-exec timeout fired inside the worker (variables are kept)."""


class BoundedText(io.TextIOBase):
    """A text stream that keeps the head and tail of what is written, counting the rest."""

    def __init__(self, limit: int):
        self.limit = max(limit, 0)
        self.head: list[str] = []
        self.head_len = 0
        self.tail = ""
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, s) -> int:
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        n = len(s)
        room = self.limit * 2 // 3 - self.head_len
        if room > 0:
            self.head.append(s[:room])
            self.head_len += min(n, room)
            s = s[room:]
        if s:
            keep = self.limit // 3
            merged = self.tail + s
            self.dropped += max(len(merged) - keep, 0)
            self.tail = merged[-keep:] if keep else ""
        return n

    def getvalue(self) -> str:
        text = "".join(self.head)
        if self.dropped:
            text += f"\n... [output truncated: {self.dropped:,} characters omitted] ...\n"
        return text + self.tail


class Channel:
    """JSON lines over two pipes. A lock makes calls from threads in model code safe."""

    def __init__(self, fd_in: int, fd_out: int):
        self.rfile = os.fdopen(fd_in, "rb", buffering=1 << 16)
        self.wfd = fd_out
        self.lock = threading.Lock()
        self.next_id = 0

    def send(self, msg: dict) -> None:
        data = (json.dumps(msg, ensure_ascii=False) + "\n").encode("utf-8", "surrogatepass")
        view = memoryview(data)
        while view:
            n = os.write(self.wfd, view)
            view = view[n:]

    def recv(self) -> dict:
        line = self.rfile.readline()
        if not line:
            os._exit(0)  # host is gone
        return json.loads(line)


class Timer:
    """The soft exec timeout. Paused while the worker waits on the host for a sub-call."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.remaining = 0.0
        if seconds > 0:
            signal.signal(signal.SIGALRM, self._fire)

    def _fire(self, signum, frame):
        raise ExecTimeout()

    def start(self) -> None:
        if self.seconds > 0:
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def pause(self) -> None:
        if self.seconds > 0:
            self.remaining = signal.setitimer(signal.ITIMER_REAL, 0)[0]

    def resume(self) -> None:
        if self.seconds > 0 and self.remaining > 0:
            signal.setitimer(signal.ITIMER_REAL, self.remaining)

    def stop(self) -> None:
        if self.seconds > 0:
            signal.setitimer(signal.ITIMER_REAL, 0)


class ThreadCap:
    """At most `limit` threads of model code at once (threading, concurrent.futures, _thread). ctypes can get
    past this count; the host's seccomp supervisor (limits.ThreadSupervisor) is the kernel-side cap."""

    def __init__(self, limit: int):
        self.limit, self.live, self.lock = limit, 0, threading.Lock()

    def install(self) -> None:
        import _thread

        for mod, name in ((_thread, "start_new_thread"), (_thread, "start_joinable_thread"),
                          (threading, "_start_new_thread"), (threading, "_start_joinable_thread")):
            if getattr(mod, name, None) is not None:
                setattr(mod, name, self._wrap(getattr(mod, name)))

    def _count(self, n: int) -> None:
        with self.lock:
            if n > 0 and self.live >= self.limit:
                raise RuntimeError(f"can't start new thread: the REPL allows at most {self.limit} threads at once")
            self.live += n

    def _wrap(self, original):
        def start(function, *args, **kwargs):
            def run(*a, **k):
                try:
                    return function(*a, **k)
                finally:
                    self._count(-1)

            self._count(1)
            try:
                return original(run, *args, **kwargs)
            except BaseException:
                self._count(-1)
                raise

        return start
