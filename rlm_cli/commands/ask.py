"""`rlm ask [SOURCES]... QUESTION`: ingest, run the RLM, print the answer."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from .. import defaults
from ..completion import complete_profiles
from ..errors import ExitStatus, LimitExceeded, RLMError, UsageError


class Format(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


class Color(str, Enum):
    auto = "auto"
    always = "always"
    never = "never"


class SandboxMode(str, Enum):
    auto = "auto"
    strict = "strict"
    basic = "basic"


def register(app: typer.Typer) -> None:
    app.command(
        "ask",
        help="Answer QUESTION about SOURCES (files, directories, or '-' for stdin; stdin is read when no source is given).",
        no_args_is_help=True,
    )(ask)


def ask(
    ctx: typer.Context,
    args: List[str] = typer.Argument(..., metavar="[SOURCES]... QUESTION", help="Files or directories to read ('-' = stdin), then the question."),
    profile: Optional[str] = typer.Option(None, "-p", "--profile", envvar="RLM_PROFILE", help="Profile from the config file.",
                                          autocompletion=complete_profiles),
    config: Optional[Path] = typer.Option(None, "--config", envvar="RLM_CONFIG", help="Config file (LiteLLM format with an `rlm` section)."),
    model: Optional[str] = typer.Option(None, "-m", "--model", help="Root model, e.g. openai/gpt-4o-mini (overrides the profile)."),
    sub_model: Optional[str] = typer.Option(None, "--sub-model", help="Model for llm_query sub-calls (default: the profile's, else the root model)."),
    api_base: Optional[str] = typer.Option(None, "--api-base", help="Base URL for both models (any OpenAI-compatible server)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object (answer, usage, cost...) instead of the answer."),
    fmt: Format = typer.Option(Format.text, "--format", help="Output format."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write the answer (or JSON) to FILE atomically."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Print nothing on stderr but errors."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="One plain line per event on stderr; tracebacks on errors."),
    max_iterations: Optional[int] = typer.Option(None, "--max-iterations", min=1,
                                                 help=f"Root turns before a last request for an answer [default: {defaults.MAX_ITERATIONS}]."),
    max_depth: Optional[int] = typer.Option(None, "--max-depth", min=0,
                                            help=f"How deep rlm_query may recurse (0: plain sub-calls) [default: {defaults.MAX_DEPTH}]."),
    max_calls: Optional[int] = typer.Option(None, "--max-calls", min=1, help="Model calls over the whole tree."),
    max_cost: Optional[float] = typer.Option(None, "--max-cost", min=0, help="Stop when the run has cost this many USD."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", min=1, help="Tokens (prompt+completion) over the whole tree."),
    timeout: Optional[float] = typer.Option(None, "--timeout", min=0.1, help="Wall-clock limit for the run, in seconds."),
    exec_timeout: float = typer.Option(defaults.EXEC_TIMEOUT, "--exec-timeout", min=0.1, help="Limit for one code block in the REPL, in seconds."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", min=1, help=f"Parallel model calls [default: {defaults.CONCURRENCY}]."),
    sandbox: SandboxMode = typer.Option(SandboxMode.auto, "--sandbox",
                                        help="auto: strongest available; strict: refuse without file+network isolation; basic: process only."),
    include: List[str] = typer.Option([], "--include", help="Glob of files to read in directories (repeatable)."),
    exclude: List[str] = typer.Option([], "--exclude", help="Glob of files to skip in directories (repeatable)."),
    password: Optional[str] = typer.Option(None, "--password", help="Password for encrypted PDFs."),
    pdf_engine: str = typer.Option("auto", "--pdf-engine", help="auto | pdfium | pypdf."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not use the parse cache."),
    trace: Optional[Path] = typer.Option(None, "--trace", help="Also write the trajectory (JSON lines) to FILE."),
    estimate: bool = typer.Option(False, "--estimate", "--dry-run", help="Print a cost/time estimate range and exit; nothing is sent."),
    continue_latest: bool = typer.Option(False, "-c", "--continue",
                                         help="Follow up in the latest conversation: same documents (plus any SOURCES given), same REPL variables."),
    conversation: Optional[str] = typer.Option(None, "--conversation", "--cid", metavar="NAME",
                                               help="Continue the conversation NAME, or start it under that name."),
    conversation_max_cost: Optional[float] = typer.Option(None, "--conversation-max-cost", min=0, metavar="USD",
                                                          help="Cap for the whole conversation (kept with it), on top of --max-cost per question."),
    color: Color = typer.Option(Color.auto, "--color", help="Colour on stderr: auto (off when NO_COLOR is set or not a terminal), always, never."),
) -> int:
    from .ask_run import AskOptions, run_ask

    if not args:
        raise UsageError("missing QUESTION")
    from ..runs import RunOptions

    run = RunOptions(max_iterations=max_iterations, max_depth=max_depth, max_calls=max_calls, max_cost=max_cost,
                     max_tokens=max_tokens, timeout=timeout, exec_timeout=exec_timeout, concurrency=concurrency,
                     sandbox=sandbox.value, trace=trace)
    opts = AskOptions(
        sources=list(args[:-1]), question=args[-1], profile=profile, config=str(config) if config else None,
        model=model, sub_model=sub_model, api_base=api_base,
        fmt="json" if json_out else fmt.value, output=output, quiet=quiet, verbose=verbose,
        include=list(include), exclude=list(exclude), password=password,
        pdf_engine=pdf_engine, use_cache=not no_cache, color=color.value, estimate=estimate, run=run,
        continue_latest=continue_latest, conversation=conversation, conversation_max_cost=conversation_max_cost,
    )
    from ..env import of

    return run_ask(opts, of(ctx))


__all__ = ["register", "ask", "ExitStatus", "LimitExceeded", "RLMError"]
