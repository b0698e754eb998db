"""The work behind `rlm ask`, kept apart from the option declarations so `--help` stays cheap.

It only configures a run and consumes it: resolve the models, read the sources, check where the
answer goes, then `Run.execute` (which owns the run) and deliver the result."""
from __future__ import annotations

from ..errors import ExitStatus, UsageError
from ..runs import RunOptions
from .options import AskOptions


def run_ask(o: AskOptions, env=None) -> int:
    from ..env import Env
    from .delivery import check_writable

    env = env or Env()
    if not o.question.strip():
        raise UsageError("the question is empty")
    if o.estimate:
        return estimate(o, env)
    if o.output:
        check_writable(o.output)  # before any model call: a bad -o is a usage error, not lost work
    display = make_display(o, env)
    try:
        conv = open_conversation(o, env, display)
        try:
            return ask(o, env, conv, display)
        finally:
            conv.close()
    finally:
        display.close()


def ask(o: AskOptions, env, conv, display) -> int:
    from ..runs import confine_notices
    from ..threads import stopping_notice
    from .delivery import deliver

    for notice in confine_notices(o.run):
        display.notice(notice)
    for note in conv.resolved.backend.warm_up([conv.resolved.root_model, conv.resolved.sub_model]) or []:
        display.notice(note)  # (imports and model loading start now, in the background)
    with stopping_notice(display.notice):
        result = conv.ask(o.question, sinks=[display])
    return deliver(result, display, env, fmt=o.fmt, output=o.output)


def open_conversation(o: AskOptions, env, display, *, stdin: bool = True):
    """The conversation this command line asks for (`stdin`: False when stdin carries questions)."""
    from ..conversation.opening import Request, open_conversation as open_

    req = Request(sources=list(o.sources), reading=reading(o, env), models=models(o),
                  continue_latest=o.continue_latest, name=o.conversation, caps={"max_cost": o.conversation_max_cost},
                  stdin=env.stdin if stdin else None, stdin_isatty=env.stdin_isatty if stdin else True)

    def resolve_models(chosen: dict):
        resolved = resolve_with(chosen, o.run)
        for notice in resolved.notices:
            display.notice(notice)
        return resolved

    return open_(req, o.run, resolve_models)


def estimate(o: AskOptions, env) -> int:
    from ..conversation.inputs import load
    from ..estimate import estimate as text
    from ..runs import limits

    resolved = resolve_with(models(o), o.run)
    context = load(list(o.sources) or ["-"], reading(o, env), stdin=env.stdin)
    from ..runs import prompt_caching

    env.stdout.write(text(resolved, context, limits(o.run, resolved.limits), prompt_caching(o.run, resolved)))
    return int(ExitStatus.OK)


def models(o: AskOptions) -> dict:
    return {"profile": o.profile, "config": o.config, "model": o.model, "sub_model": o.sub_model, "api_base": o.api_base}


def resolve_with(chosen: dict, run: RunOptions):
    from .. import config
    from ..runs import concurrency

    return config.resolve(profile=chosen.get("profile"), config_path=chosen.get("config"), model=chosen.get("model"),
                          sub_model=chosen.get("sub_model"), api_base=chosen.get("api_base"),
                          concurrency=concurrency(run, None))


def reading(o: AskOptions, env):
    from ..conversation.inputs import Reading

    progress = None
    if env.stderr_isatty and not o.quiet:
        from rich.console import Console

        from ..ingest.progress import RichProgress

        progress = RichProgress(Console(file=env.stderr, stderr=True, no_color="NO_COLOR" in env.environ))
    return Reading(include=list(o.include), exclude=list(o.exclude), pdf_engine=o.pdf_engine, use_cache=o.use_cache,
                   password=o.password, progress=progress, ocr=o.ocr, max_download=o.max_download)


def make_display(o: AskOptions, env):
    from ..ui.display import make_display as make

    return make(env, quiet=o.quiet, verbose=o.verbose, color=o.color)
