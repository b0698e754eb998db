"""The local engine: --parallel worker threads in this process, each running one task at a time
(its sandbox started and closed by that thread), one SharedBudget for the model-call gate and the
batch budget. Threads are daemons with SIGINT blocked: Ctrl-C reaches the driver, which cancels the
runs in flight and does not wait for them."""
from __future__ import annotations

import queue
import threading

from ..threads import get, start_daemon
from .task_run import FAILED, TaskOutcome, TaskSettings, run_task
from .tasks import Task


class LocalEngine:
    def __init__(self, settings: TaskSettings, resolved, shared, parallel: int):
        self.settings, self.resolved, self.shared = settings, resolved, shared
        self.parallel = max(parallel, 1)
        self._todo: queue.Queue = queue.Queue()
        self._done: queue.Queue = queue.Queue()
        self._runs: dict = {}  # task id -> its Run, while it runs (to cancel it)
        self._lock = threading.Lock()
        self._threads = 0
        self._in_flight = 0

    def submit(self, task: Task) -> None:
        self._in_flight += 1
        if self._threads < min(self._in_flight, self.parallel):
            self._threads += 1
            start_daemon(self._worker, name=f"rlm-batch-task-{self._threads}")
        self._todo.put(task)

    def _worker(self) -> None:
        while True:
            task = self._todo.get()
            if task is None:
                return
            try:
                out = run_task(task, self.settings, self.resolved, self.shared, on_run=self._started)
            except BaseException as exc:  # noqa: BLE001 - a bug in one task must not hang the batch
                out = crashed(task, self.resolved, exc)
            with self._lock:
                self._runs.pop(task.id, None)
            self._done.put(out)

    def _started(self, task_id: str, run) -> None:
        with self._lock:
            self._runs[task_id] = run

    def wait(self, timeout: float) -> list[TaskOutcome]:
        try:
            outs = [get(self._done, timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                outs.append(self._done.get_nowait())
            except queue.Empty:
                break
        self._in_flight -= len(outs)
        return outs

    def in_flight(self) -> int:
        return self._in_flight

    def spent(self) -> str | None:
        return self.shared.exceeded()

    def totals(self) -> dict:
        return self.shared.totals()

    def cancel(self) -> None:
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            run.cancel()
        self.close()

    def close(self) -> None:
        for _ in range(self._threads):
            self._todo.put(None)
        self._threads = 0


def crashed(task: Task, resolved, exc: BaseException) -> TaskOutcome:
    """The record of a task whose runner itself failed (a bug): an internal error, saved."""
    from .task_run import failed_record

    out = failed_record(task, resolved, exc, 0.0)
    out.kind = FAILED
    return out
