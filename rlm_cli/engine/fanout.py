"""Sub-calls in parallel: bounded by --concurrency, results in order, one error string per failure.

Workers are daemon threads with SIGINT blocked, and the caller waits in slices: on Ctrl-C the caller
stops waiting at once, cancels the run, and never joins the calls still in flight."""
from __future__ import annotations

import queue
import threading

from ..errors import BackendError, ContextOverflow, LimitExceeded
from ..sandbox import CallRefused
from ..threads import get, start_daemon
from .run import NoAnswer


def fan_out(one, items: list[tuple], concurrency: int, progress, cancel, single: bool) -> list[str]:
    """`one(*item)` for every item; `progress(done)` after each; `cancel()` on Ctrl-C. A budget that runs
    out is fatal for the REPL call (CallRefused(fatal=True)); other failures become "Error: ..." strings
    (or a CallRefused for a single, unbatched call)."""
    if len(items) == 1:
        return [_safe(one, items[0], single)]
    done: queue.Queue = queue.Queue()
    todo: queue.Queue = queue.Queue()
    for i, item in enumerate(items):
        todo.put((i, item))
    stop = threading.Event()

    def worker():
        while not stop.is_set():
            try:
                i, item = todo.get_nowait()
            except queue.Empty:
                return
            try:
                done.put((i, _safe(one, item, single), None))
            except CallRefused as exc:
                done.put((i, f"Error: {exc}", exc))
            except BaseException as exc:  # noqa: BLE001 - Cancelled, or a bug: re-raised by the caller
                done.put((i, None, exc))

    for k in range(min(len(items), max(concurrency, 1))):
        start_daemon(worker, name=f"rlm-batch-{k}")
    try:
        return _collect(done, len(items), progress)
    except BaseException:
        stop.set()
        cancel()  # e.g. Ctrl-C: stop the siblings still running instead of waiting for them
        raise


def _collect(done: queue.Queue, n: int, progress) -> list[str]:
    results: list[str] = [""] * n
    fatal = None
    for count in range(1, n + 1):
        i, text, exc = get(done, None)
        if text is None:
            raise exc
        results[i] = text
        if exc is not None and exc.fatal:
            fatal = fatal or exc
        progress(count)
    if fatal is not None:
        raise fatal
    return results


def _safe(one, item: tuple, single: bool) -> str:
    try:
        return one(*item)
    except (ContextOverflow, NoAnswer, BackendError) as exc:
        if single:
            raise CallRefused(str(exc)) from None
        return f"Error: {exc}"
    except LimitExceeded as exc:
        raise CallRefused(f"run stopped: {exc}", fatal=True) from None
