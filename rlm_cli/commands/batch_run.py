"""The work behind `rlm batch` (kept apart from the option declarations so `--help` stays cheap):
the task list, the results file and what is left to do, then the engine's loop, a summary line and
the exit status."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from .. import defaults
from ..errors import UsageError
from .options import AskOptions, ask_options


@dataclass
class BatchOptions:
    args: list[str] = field(default_factory=list)  # TASKS, or with --questions the SOURCES
    questions: str | None = None
    output: Path | None = None
    fmt: str | None = None  # jsonl | csv (None: from -o's suffix)
    parallel: int = defaults.BATCH_PARALLEL
    engine: str = "local"
    ray_address: str | None = None
    retry_failed: bool = False
    rerun_changed: bool = False
    batch_limits: dict = field(default_factory=dict)  # max_calls, max_cost, max_tokens over the batch
    concurrency: int = defaults.CONCURRENCY  # the batch's model-call gate
    common: AskOptions = field(default_factory=lambda: AskOptions([], ""))  # models, reading, per-task run options

    @classmethod
    def from_params(cls, params: dict) -> "BatchOptions":
        g = params.get
        batch_limits = {k: g(k) for k in ("max_calls", "max_cost", "max_tokens")}
        per_task = dict(params, max_calls=None, max_cost=None, max_tokens=None, quiet=True, json_out=False)
        common = ask_options(per_task, sources=[], question="")
        common.quiet = bool(g("quiet"))
        return cls(list(g("args") or []), str(g("questions")) if g("questions") else None, g("output"),
                   g("fmt").value if g("fmt") else None, g("parallel") or defaults.BATCH_PARALLEL, g("engine").value,
                   g("ray_address"), bool(g("retry_failed")), bool(g("rerun_changed")), batch_limits,
                   g("concurrency") or defaults.CONCURRENCY, common)


def run_batch(o: BatchOptions, env) -> int:
    from ..batch import progress as P
    from ..batch.results import fmt_for

    tasks = task_list(o, env)
    fmt = fmt_for(o.output, o.fmt)
    results = open_results(o, env, fmt)
    try:
        show = P.make(env, o.common.quiet, o.common.color)
        try:
            return _run(o, env, tasks, results, show)
        finally:
            show.close()
    finally:
        results.close()


def task_list(o: BatchOptions, env):
    from ..batch.tasks import cross_product, read_tasks

    if o.questions:
        return cross_product(o.questions, o.args)
    if len(o.args) != 1:
        raise UsageError("give one TASKS file (JSONL or CSV), or --questions FILE SOURCES..."
                         if not o.args else f"one TASKS file expected, got {len(o.args)} arguments (--questions FILE "
                         "asks every question about every source)")
    return read_tasks(o.args[0], stdin=env.stdin)


def open_results(o: BatchOptions, env, fmt: str):
    from ..batch.results import ResultsFile, StreamResults
    from .delivery import check_writable

    if o.output is None:
        from ..env import _isatty

        return StreamResults(env.stdout, fmt, terminal=_isatty(env.stdout))
    check_writable(o.output)
    inputs = ([o.questions] if o.questions else []) + ([o.args[0]] if o.args and not o.questions else [])
    for name in inputs:
        if name != "-" and Path(name).exists() and o.output.exists() and Path(name).samefile(o.output):
            raise UsageError(f"-o {o.output}: that is the {'questions' if name == o.questions else 'task'} file")
    return ResultsFile(o.output, fmt)


def _run(o: BatchOptions, env, tasks, results, show) -> int:
    from ..batch.driver import drive, exit_status, summary_line
    from ..batch.plan import plan
    from ..threads import stopping_notice

    existing = results.open()
    where = str(o.output) if o.output else "stdout"
    if existing.repaired:
        show.notice(f"{where}: cut off a partial last record ({existing.repaired} bytes) left by an interrupted run; "
                    "that task runs again")
    if existing.unreadable:
        show.notice(f"{where}: {existing.unreadable} unreadable records ignored")
    p = plan(tasks.tasks, existing, retry_failed=o.retry_failed, rerun_changed=o.rerun_changed, results_name=where)
    results.drop(p.rerun)
    if not p.todo:
        show.notice(f"batch: nothing to do: {p.done} of {p.total} tasks answered, {p.failed} failed "
                    f"(--retry-failed runs those again); results in {where}")
        from ..batch.driver import Summary

        return exit_status(Summary(), p)
    engine = make_engine(o, env, show)
    try:
        with stopping_notice(show.notice):
            summary = drive(p, engine, results, show, o.parallel)
        totals = engine.totals() if not summary.interrupted else _safe_totals(engine)
    finally:
        engine.close()
    code = exit_status(summary, p)
    show.summary(summary_line(summary, p, totals, where), important=code != 0)
    return code


def _safe_totals(engine) -> dict:
    try:
        return engine.totals()
    except Exception:  # noqa: BLE001 - a summary without figures beats none
        return {}


def make_engine(o: BatchOptions, env, show):
    from ..batch.task_run import TaskSettings
    from ..runs import confine_notices
    from .ask_run import models, reading, resolve_with

    settings = TaskSettings(models(o.common), o.common.run, dataclasses.replace(reading(o.common, env), progress=None))
    resolved = resolve_with(settings.models, settings.run)  # errors in the configuration show here, once
    for notice in [*resolved.notices, *confine_notices(o.common.run)]:
        show.notice(notice)
    if o.engine == "ray":
        from ..batch.ray_engine import RayEngine

        return RayEngine(settings, batch_limits(o), o.concurrency, o.parallel, o.ray_address)
    from ..batch.local import LocalEngine
    from ..usage import SharedBudget

    resolved.backend.warm_up([resolved.root_model, resolved.sub_model])
    return LocalEngine(settings, resolved, SharedBudget(batch_limits(o), o.concurrency), o.parallel)


def batch_limits(o: BatchOptions):
    from ..usage import Limits

    return Limits(**{k: v for k, v in o.batch_limits.items() if v is not None})
