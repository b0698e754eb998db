"""The batch loop, the same for every engine: start tasks while fewer than --parallel are in flight
and the shared budget is not spent, save each result as it arrives, stop starting new ones after a
backend failure, and on Ctrl-C abandon the tasks in flight (nothing is saved for them; they run again
on resume). Ends with a summary line and the batch's exit status."""
from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from typing import Protocol

from ..errors import ExitStatus
from .plan import Plan
from .task_run import FAILED, FATAL, OK, PENDING, TaskOutcome
from .tasks import Task

SLICE = 0.1  # seconds: the longest Ctrl-C waits to be noticed


class Engine(Protocol):
    """Runs tasks somewhere: a local thread pool (local.py) or Ray (ray_engine.py)."""

    def submit(self, task: Task) -> None: ...
    def wait(self, timeout: float) -> list[TaskOutcome]: ...  # the tasks that ended since the last call
    def in_flight(self) -> int: ...
    def spent(self) -> str | None: ...  # why the shared budget stops new tasks, if it does
    def totals(self) -> dict: ...  # calls, tokens, cost_usd over the batch so far
    def cancel(self) -> None: ...  # abandon the tasks in flight
    def close(self) -> None: ...  # stop its threads, or the Ray instance it started


@dataclass
class Summary:
    answered: int = 0
    failed: int = 0  # saved with an error or a limit in this run
    codes: collections.Counter = field(default_factory=collections.Counter)  # exit codes of failed tasks
    pending: int = 0  # stopped (budget, Ctrl-C) or never started: nothing saved
    abandoned: int = 0  # in flight at Ctrl-C
    stopped_by: str | None = None  # why no new task started: the budget's reason, or the backend failure
    backend_failure: bool = False
    interrupted: bool = False
    started: float = field(default_factory=time.monotonic)

    @property
    def saved(self) -> int:
        return self.answered + self.failed


def drive(plan: Plan, engine: Engine, results, progress, parallel: int) -> Summary:
    s = Summary()
    todo = collections.deque(plan.todo)
    progress.start(plan.total, plan.done + plan.failed)
    try:
        while todo or engine.in_flight():
            _feed(todo, engine, parallel, s, progress)
            if not engine.in_flight():
                break
            for out in engine.wait(SLICE):
                _record(out, results, progress, engine, s)
    except KeyboardInterrupt:
        s.interrupted = True
        s.abandoned = engine.in_flight()
        engine.cancel()
    s.pending += len(todo) + s.abandoned
    return s


def _feed(todo, engine: Engine, parallel: int, s: Summary, progress) -> None:
    while todo and s.stopped_by is None and engine.in_flight() < parallel:
        reason = engine.spent()
        if reason:
            s.stopped_by = reason
            progress.notice(f"batch: {reason}: no new task starts ({len(todo)} left for the next run)")
            return
        engine.submit(todo.popleft())


def _record(out: TaskOutcome, results, progress, engine: Engine, s: Summary) -> None:
    if out.kind == PENDING:
        s.pending += 1
        return
    results.append(out.record)
    if out.kind == OK:
        s.answered += 1
    else:
        s.failed += 1
        s.codes[int(out.record.get("exit_code") or 1)] += 1
    progress.task_done(out, engine.totals())
    if out.kind == FATAL and s.stopped_by is None:
        s.backend_failure = True
        s.stopped_by = str(out.record.get("error") or "backend failure")
        progress.error(f"batch stopped: {s.stopped_by} (task '{out.task_id}'); rerun with --retry-failed once the "
                       "backend is fixed")


def exit_status(s: Summary, plan: Plan) -> int:
    """0 when every task of the list has an answer; else the first that applies, over this run's
    results and the failures saved earlier: 130 interrupted, 4 a backend failure (one stopped the
    batch, or a task's own), 5 limits (the batch budget left tasks undone, or a task hit its own
    limit), 3 a task's input could not be read, 1 another task failure."""
    codes = s.codes + plan.failed_codes
    if s.interrupted:
        return int(ExitStatus.INTERRUPTED)
    if s.backend_failure or codes.get(int(ExitStatus.BACKEND)):
        return int(ExitStatus.BACKEND)
    if s.pending or codes.get(int(ExitStatus.LIMIT)):
        return int(ExitStatus.LIMIT)
    if codes.get(int(ExitStatus.INPUT)):
        return int(ExitStatus.INPUT)
    return int(ExitStatus.ERROR) if +codes else int(ExitStatus.OK)


def summary_line(s: Summary, plan: Plan, totals: dict, where: str) -> str:
    parts = [f"{s.answered} answered", f"{s.failed} failed"]
    if plan.done or plan.failed:
        parts.append(f"skipped {plan.done} answered and {plan.failed} failed earlier")
    if s.pending:
        parts.append(f"{s.pending} left for the next run")
    cost = f"${totals.get('cost_usd', 0):.4f}, {totals.get('tokens', 0):,} tokens, {totals.get('calls', 0):,} calls"
    head = "batch interrupted" if s.interrupted else "batch"
    line = f"{head}: {', '.join(parts)}; {cost} in {time.monotonic() - s.started:.1f} s; results in {where}"
    if s.interrupted:
        were = "was" if s.abandoned == 1 else "were"
        line += (f" ({s.saved} saved in this run; the {s.abandoned} in flight {were} not saved: rerun the same "
                 "command to resume)")
    return line


__all__ = ["drive", "exit_status", "summary_line", "Summary", "Engine", "OK", "FAILED", "FATAL", "PENDING"]
