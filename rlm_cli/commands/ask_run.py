"""The work behind `rlm ask`, kept apart from the option declarations so `--help` stays cheap."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .. import events as ev
from ..errors import ExitStatus, LimitExceeded, RLMError, UsageError


@dataclass
class AskOptions:
    sources: list[str]
    question: str
    profile: str | None = None
    config: str | None = None
    model: str | None = None
    sub_model: str | None = None
    api_base: str | None = None
    fmt: str = "text"
    output: Path | None = None
    quiet: bool = False
    verbose: bool = False
    max_iterations: int | None = None
    max_depth: int | None = None
    max_calls: int | None = None
    max_cost: float | None = None
    max_tokens: int | None = None
    timeout: float | None = None
    exec_timeout: float = 60.0
    concurrency: int | None = None
    sandbox: str = "auto"
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    password: str | None = None
    pdf_engine: str = "auto"
    use_cache: bool = True
    trace: Path | None = None
    color: str = "auto"
    estimate: bool = False


def run_ask(o: AskOptions, env=None) -> int:
    from ..env import Env

    env = env or Env()
    if not o.question.strip():
        raise UsageError("the question is empty")
    resolved = _resolve(o)
    if not o.estimate:
        resolved.backend.warm_up([resolved.root_model, resolved.sub_model])  # litellm import starts now, off the path
    display = _display(o, env)
    for notice in resolved.notices:
        display.notice(notice)
    context = _ingest(o, env)
    if o.estimate:
        from ..estimate import estimate

        env.stdout.write(estimate(resolved, context, _limits(o, resolved)))
        return int(ExitStatus.OK)
    run = _make_run(o, resolved)
    for notice in (run.config.sandbox.confine or {}).get("notices", []):
        display.notice(notice)
    sinks = _sinks(o, run, display)
    try:
        return _execute(o, env, run, context, sinks, display)
    finally:
        for sink in sinks:
            getattr(sink, "close", lambda: None)()


def _resolve(o: AskOptions):
    from .. import config

    return config.resolve(profile=o.profile, config_path=o.config, model=o.model, sub_model=o.sub_model,
                          api_base=o.api_base, concurrency=o.concurrency or 8)


def _ingest(o: AskOptions, env):
    from ..ingest import load_sources

    sources = list(o.sources)
    if not sources:
        if env.stdin_isatty:
            raise UsageError("no SOURCES given and stdin is a terminal: pass files, or pipe text into rlm")
        sources = ["-"]
    progress = None
    if env.stderr_isatty and not o.quiet:
        from rich.console import Console

        from ..ingest.progress import RichProgress

        progress = RichProgress(Console(file=env.stderr, stderr=True, no_color="NO_COLOR" in env.environ))
    return load_sources(sources, stdin=env.stdin, include=o.include, exclude=o.exclude, password=o.password,
                        pdf_engine=o.pdf_engine, use_cache=o.use_cache, progress=progress)


def _limits(o: AskOptions, resolved):
    from ..usage import Limits

    d = resolved.limits
    pick = lambda flag, key, default: flag if flag is not None else d.get(key, default)  # noqa: E731
    return Limits(
        max_iterations=pick(o.max_iterations, "max_iterations", 20), max_depth=pick(o.max_depth, "max_depth", 1),
        max_calls=pick(o.max_calls, "max_calls", None), max_cost=pick(o.max_cost, "max_cost", None),
        max_tokens=pick(o.max_tokens, "max_tokens", None), timeout=pick(o.timeout, "timeout", None),
    )


def _make_run(o: AskOptions, resolved):
    from ..engine import Run, RunConfig
    from ..sandbox import SandboxOptions
    from ..tokens import count_tokens

    concurrency = o.concurrency or resolved.concurrency or 8
    sandbox = SandboxOptions(exec_timeout=o.exec_timeout, confine=_confine_spec(o.sandbox))
    config = RunConfig(resolved.root_model, resolved.sub_model, _limits(o, resolved), concurrency, sandbox,
                       count_tokens=count_tokens, sub_models=tuple(getattr(resolved, "sub_models", ())))
    return Run(resolved.backend, config)


def _confine_spec(mode: str) -> dict | None:
    try:
        from ..sandbox.policy import spec_for_mode
    except ImportError:  # confinement layers not available in this build: process isolation only
        return None
    return spec_for_mode(mode)


def _display(o: AskOptions, env):
    from ..ui.display import make_display

    return make_display(env, quiet=o.quiet, verbose=o.verbose, color=o.color)


def _sinks(o: AskOptions, run, display) -> list:
    from ..ui.trajectory import TrajectoryWriter

    traj = TrajectoryWriter(run.run_id)
    sinks = [traj]
    if o.trace:
        sinks.append(TrajectoryWriter.to_file(o.trace))
    sinks.append(display)
    for sink in sinks:
        run.bus.add(sink)
    run.trajectory_path = traj.path
    return sinks


def _execute(o: AskOptions, env, run, context, sinks, display) -> int:
    warnings = list(context.warnings)
    for w in warnings:
        run.bus.emit(ev.WARNING, message=w)
    run.bus.add(_collect_warnings(warnings))  # the run's own warnings (e.g. an answer cut at its cap) join --json's
    try:
        result = run.answer(o.question, context)
    except LimitExceeded as exc:
        return _finish(o, env, run, display, None, "limit", ExitStatus.LIMIT, str(exc), warnings)
    except KeyboardInterrupt:
        run.bus.emit(ev.INTERRUPTED, **_totals(run))
        raise
    except RLMError as exc:
        run.bus.emit(ev.FAILED, error=exc.message, exit_code=int(exc.exit_status), **_totals(run))
        if o.fmt == "json" and not o.output:  # scripts get an object with the status even on failure
            _print_json(o, env, run, None, "error", exc.exit_status, exc.message, warnings)
        raise
    except BaseException as exc:
        run.bus.emit(ev.FAILED, error=f"{type(exc).__name__}: {exc}", exit_code=int(ExitStatus.ERROR), **_totals(run))
        raise
    return _finish(o, env, run, display, result.answer, "ok", ExitStatus.OK, None, warnings)


def _collect_warnings(into: list):
    def sink(event) -> None:
        if event.kind == ev.WARNING:
            into.append(str(event.data.get("message")))

    return sink


def _finish(o, env, run, display, answer, status, code, error, warnings) -> int:
    from ..ui.output import to_json, write_atomic

    run.bus.emit(ev.RUN_END, status=status, exit_code=int(code), answer=answer, error=error,
                 usage=run.usage.as_dict(), **_totals(run))
    obj = _result(o, run, answer, status, code, error, warnings)
    if o.fmt == "json":
        text = to_json(obj)
    elif answer is None:
        text = None
    elif o.fmt == "markdown":
        text = _markdown(answer, obj)
    else:
        text = answer if answer.endswith("\n") else answer + "\n"
    if code != ExitStatus.OK:
        display.error(f"{error}; partial trajectory saved to {obj['trajectory']}")
    if text is not None and not (o.output and code != ExitStatus.OK):
        if o.output:
            write_atomic(o.output, text)  # raw answer: a file is data (docs/output.md)
        elif not (o.fmt == "text" and getattr(display, "shows_answer", False) and _same_terminal(env)):
            _write_stdout(env, text, o.fmt == "json")  # (on one shared terminal the answer panel already shows it)
    display.finished(obj)
    return int(code)


def _result(o, run, answer, status, code, error, warnings) -> dict:
    """The --json object for this run (errors redacted like every other output)."""
    from .. import redact
    from ..ui.output import citations, result_object

    return result_object(run=run, answer=answer, question=o.question, status=status, exit_code=code,
                         error=redact.redact(error) if error else error,
                         trajectory=getattr(run, "trajectory_path", None), warnings=warnings,
                         citations=citations(answer, [s.name for s in run.sources]))


def _print_json(o, env, run, answer, status, code, error, warnings) -> None:
    from ..ui.output import to_json

    _write_stdout(env, to_json(_result(o, run, answer, status, code, error, warnings)), True)


def _write_stdout(env, text: str, is_json: bool) -> None:
    """The answer (or JSON) on stdout: raw bytes for a pipe or a file, sanitised for a terminal
    (no escape sequences or control characters; JSON keeps its value, C1 characters escaped)."""
    from ..env import isatty
    from ..ui.sanitize import clean, fix_unicode, terminal_json

    if isatty(env.stdout):
        text = terminal_json(text) if is_json else clean(text)
    env.stdout.write(fix_unicode(text))
    env.stdout.flush()



def _same_terminal(env) -> bool:
    """stdout and stderr are the same terminal (not a pipe, not a file)."""
    import os

    try:
        out, err = env.stdout.fileno(), env.stderr.fileno()
        return os.isatty(out) and os.path.samestat(os.fstat(out), os.fstat(err))
    except (AttributeError, OSError, ValueError):
        return False


def _markdown(answer: str, obj: dict) -> str:
    models = ", ".join(f"{m} ({u['calls']} calls)" for m, u in obj["usage"].items())
    return (f"{answer.rstrip()}\n\n---\n_Answered by rlm in {obj['duration_s']:.1f} s: {obj['iterations']} iterations, "
            f"{obj['sub_calls']} sub-calls, {obj['tokens']:,} tokens, ${obj['cost_usd']:.4f}; models: {models}; "
            f"run {obj['run_id']}._\n")


def _totals(run) -> dict:
    u = run.usage
    return {"calls": u.calls, "tokens": u.tokens, "cost_usd": round(u.cost_usd, 6), "duration_s": round(run.budget.elapsed(), 3)}
