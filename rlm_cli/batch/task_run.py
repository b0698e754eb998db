"""One task, on whichever engine runs it (a local thread or a Ray worker): read its sources, run the
engine under the batch's shared gate and budget, and turn the RunResult into the record saved for it.

Everything here is picklable or rebuilt in the process that runs the task (Ray ships `TaskSettings`
to worker nodes and each worker resolves the models once)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from ..errors import BudgetSpent, ContextOverflow, ExitStatus, RLMError
from ..runs import RunOptions
from .tasks import Task, resolve_sources

# What the driver does with a finished task: save it (ok, failed), save it and stop the batch (fatal:
# a backend failure such as a bad key or a server down), or leave it to run again (pending: stopped
# by the spent batch budget or by Ctrl-C; nothing is saved for it).
OK, FAILED, FATAL, PENDING = "ok", "failed", "fatal", "pending"


@dataclass
class TaskSettings:
    """How every task runs (the same for all): models, per-task run options, how sources are read."""

    models: dict = field(default_factory=dict)  # profile, config, model, sub_model, api_base
    run: RunOptions = field(default_factory=RunOptions)
    reading: object = None  # conversation.inputs.Reading (without its progress sink)


@dataclass
class TaskOutcome:
    task_id: str
    kind: str  # OK | FAILED | FATAL | PENDING
    record: dict  # the results line: id, sources, then the `rlm ask --json` object


def run_task(task: Task, settings: TaskSettings, resolved, shared, on_run=None) -> TaskOutcome:
    """Never raises for the task's outcome (a missing file, a limit, a backend failure: a record)."""
    from ..conversation.inputs import Reading, load
    from ..runs import make_run

    t0 = time.monotonic()
    try:
        specs, unmatched = resolve_sources(task)
        if unmatched is not None:
            from ..errors import InputError

            raise InputError(unmatched, "no file matches")
        context = load(specs, settings.reading or Reading())
        shared.check()  # spent while this task was reading: do not start it
        run = make_run(resolved, settings.run, shared=shared)
    except Exception as exc:  # noqa: BLE001 - every failure before the run is this task's record
        return failed_record(task, resolved, exc, time.monotonic() - t0)
    if on_run is not None:
        on_run(task.id, run)
    result = run.execute(task.question, context)
    return outcome(task, result)


def outcome(task: Task, result) -> TaskOutcome:
    from ..ui.output import result_object

    record = {"id": task.id, "sources": list(task.sources), **result_object(result)}
    return TaskOutcome(task.id, kind_of(result), record)


def kind_of(result) -> str:
    exc = result.exception
    if result.status == "ok":
        return OK
    if result.status == "interrupted" or isinstance(exc, BudgetSpent):
        return PENDING
    if result.exit_code == ExitStatus.BACKEND and not isinstance(exc, ContextOverflow):
        return FATAL
    return FAILED


def failed_record(task: Task, resolved, exc: BaseException, duration: float) -> TaskOutcome:
    from ..engine.run import RunResult, new_run_id, outcome as run_outcome
    from ..redact import redact
    from ..usage import Usage

    status, code, error = run_outcome(exc)
    if isinstance(exc, RLMError) and exc.hint and status == "error":
        error = f"{error} ({exc.hint})"
    result = RunResult(new_run_id(), task.question, None, status, int(code), 0, Usage(), round(duration, 3),
                       resolved.root_model, resolved.sub_model, error=redact(error) if error else None, exception=exc)
    return outcome(task, result)


# ---- per process ---------------------------------------------------------------------------------------
_resolved: dict = {}
_resolve_lock = threading.Lock()


def resolve_once(models: dict, run: RunOptions):
    """The models of these settings, resolved once per Ray worker process (it runs many tasks)."""
    import json

    from ..commands.ask_run import resolve_with

    key = json.dumps(models, sort_keys=True, default=str) + f"/{run.concurrency}"
    with _resolve_lock:
        if key not in _resolved:
            resolved = resolve_with(models, run)
            resolved.backend.warm_up([resolved.root_model, resolved.sub_model])
            _resolved[key] = resolved
        return _resolved[key]
