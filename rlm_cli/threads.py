"""Helper threads that never receive Ctrl-C, and waits that Ctrl-C can always interrupt.

A process-wide SIGINT is delivered to any thread that does not block it. CPython runs the handler in
the main thread, but a main thread blocked in a long `queue.get(timeout=...)` only wakes when the
signal lands on it. So every helper thread blocks SIGINT (threads inherit the mask of the thread that
starts them), and the main thread waits in short slices.
"""
from __future__ import annotations

import contextlib
import queue
import signal
import threading
import time

SLICE = 0.1  # seconds: the longest a Ctrl-C waits to be noticed in a sliced wait


@contextlib.contextmanager
def sigint_blocked():
    """Threads started inside this block (and their descendants) never receive SIGINT."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def start_daemon(target, *args, name: str) -> threading.Thread:
    """A daemon thread with SIGINT blocked."""
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    with sigint_blocked():
        thread.start()
    return thread


def get(q: queue.Queue, timeout: float | None):
    """`q.get(timeout=timeout)` in slices, so Ctrl-C interrupts it at once. Raises queue.Empty."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = SLICE if deadline is None else min(SLICE, deadline - time.monotonic())
        if left <= 0:
            raise queue.Empty
        try:
            return q.get(timeout=left)
        except queue.Empty:
            continue


def call_abandonable(fn, *args, name: str = "rlm-call", **kwargs):
    """Run `fn` in a daemon helper thread and wait for it in slices. On Ctrl-C the caller stops
    waiting at once (the helper is abandoned: a daemon thread never holds up the exit)."""
    if threading.current_thread() is not threading.main_thread():
        return fn(*args, **kwargs)  # only the main thread receives KeyboardInterrupt
    box: queue.Queue = queue.Queue(maxsize=1)

    def work():
        try:
            box.put((True, fn(*args, **kwargs)))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            box.put((False, exc))

    start_daemon(work, name=name)
    ok, value = get(box, None)
    if ok:
        return value
    raise value


@contextlib.contextmanager
def stopping_notice(notice):
    """While the block runs, Ctrl-C first says "stopping…" (at once, through `notice`), then raises
    KeyboardInterrupt as usual. Only in the main thread (signal handlers can be set only there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        try:
            notice("stopping…")
        except Exception:  # noqa: BLE001 - the interrupt matters more than the notice
            pass
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
