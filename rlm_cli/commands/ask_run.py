"""The work behind `rlm ask`, kept apart from the option declarations so `--help` stays cheap.

It only configures a run and consumes it: resolve the models, read the sources, check where the
answer goes, then `Run.execute` (which owns the run) and deliver the result."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ExitStatus, UsageError
from ..runs import RunOptions


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
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    password: str | None = None
    pdf_engine: str = "auto"
    use_cache: bool = True
    color: str = "auto"
    estimate: bool = False
    run: RunOptions = field(default_factory=RunOptions)


def run_ask(o: AskOptions, env=None) -> int:
    from ..env import Env
    from .delivery import check_writable

    env = env or Env()
    if not o.question.strip():
        raise UsageError("the question is empty")
    if o.output and not o.estimate:
        check_writable(o.output)  # before any model call: a bad -o is a usage error, not lost work
    resolved = resolve(o)
    display = make_display(o, env)
    for notice in resolved.notices:
        display.notice(notice)
    context = ingest(o, env)
    if o.estimate:
        from ..estimate import estimate
        from ..runs import limits

        env.stdout.write(estimate(resolved, context, limits(o.run, resolved.limits)))
        return int(ExitStatus.OK)
    resolved.backend.warm_up([resolved.root_model, resolved.sub_model])  # imports start now, off the path
    return execute(o, env, resolved, context, display)


def execute(o: AskOptions, env, resolved, context, display) -> int:
    from ..runs import make_run
    from ..threads import stopping_notice
    from .delivery import deliver

    run = make_run(resolved, o.run)
    for notice in (run.config.sandbox.confine or {}).get("notices", []):
        display.notice(notice)
    run.bus.add(display)
    try:
        with stopping_notice(display.notice):
            result = run.execute(o.question, context)
        return deliver(result, display, env, fmt=o.fmt, output=o.output)
    finally:
        display.close()


def resolve(o: AskOptions):
    from .. import config
    from ..runs import concurrency

    return config.resolve(profile=o.profile, config_path=o.config, model=o.model, sub_model=o.sub_model,
                          api_base=o.api_base, concurrency=concurrency(o.run, None))


def ingest(o: AskOptions, env):
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


def make_display(o: AskOptions, env):
    from ..ui.display import make_display as make

    return make(env, quiet=o.quiet, verbose=o.verbose, color=o.color)
