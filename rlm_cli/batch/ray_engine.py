"""The Ray engine (extra [ray]): each task a Ray task (ingestion, sandbox and model calls run on the
worker node), the batch's model-call gate and budget held by one small actor, the results file, the
resume logic and the progress on the driver. Without an address a local Ray instance starts with
--parallel logical CPUs (tasks mostly wait on the model, so a CPU here is a slot, not a core)."""
from __future__ import annotations

import threading

from ..errors import BudgetSpent, UsageError
from .task_run import FAILED, TaskOutcome, TaskSettings
from .tasks import Task


def _ray():
    try:
        import ray
    except ImportError:
        raise UsageError("--engine ray needs Ray", hint="pip install 'rlm-cli[ray]'") from None
    return ray


class BudgetActor:
    """The batch's SharedBudget and gate, in one process for the whole cluster. Async, so a call
    waiting for the gate does not block the others."""

    def __init__(self, limits, concurrency: int):
        import asyncio

        from ..usage import SharedBudget

        self.shared = SharedBudget(limits, concurrency)
        self.gate = asyncio.Semaphore(max(concurrency, 1))

    async def acquire(self) -> None:
        await self.gate.acquire()

    async def release_gate(self) -> None:
        self.gate.release()

    async def admit(self) -> str | None:
        try:
            self.shared.admit()
        except BudgetSpent as exc:
            return str(exc)
        return None

    async def finish(self, call: tuple | None) -> None:
        """A call ended: its usage recorded (if it succeeded) and its reservation released at once."""
        if call is not None:
            self.shared.record(*call)
        self.shared.release()

    async def exceeded(self) -> str | None:
        return self.shared.exceeded()

    async def totals(self) -> dict:
        return self.shared.totals()


class RayShared:
    """A worker's view of the actor, with SharedBudget's surface (what the engine's Budget calls)."""

    def __init__(self, actor):
        self.actor = actor
        self.gate = _Gate(actor)
        self._pending = threading.local()  # record() then release() come from the same thread

    def exceeded(self) -> str | None:
        return _ray().get(self.actor.exceeded.remote())

    def check(self) -> None:
        reason = self.exceeded()
        if reason:
            raise BudgetSpent(reason)

    def admit(self) -> None:
        reason = _ray().get(self.actor.admit.remote())
        if reason:
            raise BudgetSpent(reason)

    def record(self, model: str, prompt_tokens: int, completion_tokens: int, cost_usd: float) -> None:
        self._pending.call = (model, prompt_tokens, completion_tokens, cost_usd)

    def release(self) -> None:
        call, self._pending.call = getattr(self._pending, "call", None), None
        self.actor.finish.remote(call)


class _Gate:
    def __init__(self, actor):
        self.actor = actor

    def __enter__(self):
        _ray().get(self.actor.acquire.remote())
        return self

    def __exit__(self, *exc) -> None:
        self.actor.release_gate.remote()


def remote_task(task: Task, settings: TaskSettings, actor) -> TaskOutcome:
    """What a Ray worker runs for one task."""
    from .task_run import FATAL, failed_record, resolve_once, run_task

    try:
        resolved = resolve_once(settings.models, settings.run)
    except Exception as exc:  # noqa: BLE001 - e.g. the profile's config or a key missing on this node
        out = failed_record(task, _names(settings), exc, 0.0)
        out.kind = FATAL  # every task on this node would fail the same way: stop the batch
        return out
    return run_task(task, settings, resolved, RayShared(actor))


class RayEngine:
    def __init__(self, settings: TaskSettings, limits, concurrency: int, parallel: int, address: str | None):
        ray = _ray()
        self.settings, self.parallel = settings, max(parallel, 1)
        self.started_ray = not ray.is_initialized()
        if self.started_ray:
            import logging

            kwargs = {"address": address} if address else {"num_cpus": self.parallel}
            ray.init(**kwargs, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                     configure_logging=True)
        self.actor = ray.remote(BudgetActor).options(max_concurrency=1000).remote(limits, concurrency)
        self.remote = ray.remote(num_cpus=1, max_retries=2)(remote_task)
        self.refs: dict = {}  # ObjectRef -> Task

    def submit(self, task: Task) -> None:
        self.refs[self.remote.remote(task, self.settings, self.actor)] = task

    def wait(self, timeout: float) -> list[TaskOutcome]:
        ray = _ray()
        if not self.refs:
            return []
        ready, _ = ray.wait(list(self.refs), num_returns=len(self.refs), timeout=timeout)
        return [self._get(ref) for ref in ready]

    def _get(self, ref) -> TaskOutcome:
        ray = _ray()
        task = self.refs.pop(ref)
        try:
            return ray.get(ref)
        except ray.exceptions.RayError as exc:  # the worker died (e.g. out of memory) past its retries
            from .task_run import failed_record

            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            out = failed_record(task, _names(self.settings), RuntimeError(f"the Ray task failed: {first}"), 0.0)
            out.kind = FAILED
            return out

    def in_flight(self) -> int:
        return len(self.refs)

    def spent(self) -> str | None:
        return _ray().get(self.actor.exceeded.remote())

    def totals(self) -> dict:
        return _ray().get(self.actor.totals.remote())

    def cancel(self) -> None:
        ray = _ray()
        for ref in list(self.refs):
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - already finished, or the cluster is gone
                pass
        self.refs.clear()

    def close(self) -> None:
        if self.started_ray:
            _ray().shutdown()
            self.started_ray = False


class _names:
    """Model names for a record made on the driver (the worker's resolved models are not here)."""

    def __init__(self, settings: TaskSettings):
        self.root_model = settings.models.get("model") or ""
        self.sub_model = settings.models.get("sub_model") or self.root_model
