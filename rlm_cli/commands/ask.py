"""`rlm ask [SOURCES]... QUESTION`: ingest, run the RLM, print the answer."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from .. import defaults
from ..errors import ExitStatus, LimitExceeded, RLMError, UsageError
from . import options as O


def register(app: typer.Typer) -> None:
    app.command(
        "ask",
        help="Answer QUESTION about SOURCES (files, directories, or '-' for stdin; stdin is read when no source is given).",
        no_args_is_help=True,
    )(ask)


def ask(
    ctx: typer.Context,
    args: List[str] = typer.Argument(..., metavar="[SOURCES]... QUESTION", help="Files or directories to read ('-' = stdin), then the question."),
    profile: O.Profile = None,
    config: O.Config = None,
    model: O.Model = None,
    sub_model: O.SubModel = None,
    api_base: O.ApiBase = None,
    json_out: O.Json = False,
    fmt: Annotated[O.Format, typer.Option("--format", help="Output format.")] = O.Format.text,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write the answer (or JSON) to FILE atomically.")] = None,
    quiet: O.Quiet = False,
    verbose: O.Verbose = False,
    max_iterations: O.MaxIterations = None,
    max_depth: O.MaxDepth = None,
    max_calls: O.MaxCalls = None,
    max_cost: O.MaxCost = None,
    max_tokens: O.MaxTokens = None,
    timeout: O.Timeout = None,
    exec_timeout: O.ExecTimeout = defaults.EXEC_TIMEOUT,
    concurrency: O.Concurrency = None,
    sandbox: O.Sandbox = O.SandboxMode.auto,
    evidence: O.Evidence = O.EvidenceMode.optional,
    include: O.Include = [],  # noqa: B006 (typer copies it)
    exclude: O.Exclude = [],  # noqa: B006
    password: O.Password = None,
    pdf_engine: O.PdfEngine = "auto",
    no_cache: O.NoCache = False,
    response_cache: O.ResponseCache = False,
    cache_sampled: O.CacheSampled = False,
    no_prompt_cache: O.NoPromptCache = False,
    no_reread: O.NoReread = False,
    ocr: O.Ocr = O.OcrMode.auto,
    max_download: O.MaxDownload = None,
    trace: O.Trace = None,
    estimate: Annotated[bool, typer.Option("--estimate", "--dry-run",
                                           help="Print a cost/time estimate range and exit; nothing is sent.")] = False,
    color: O.ColorOpt = O.Color.auto,
    continue_latest: O.Continue = False,
    conversation: O.ConversationName = None,
    conversation_max_cost: O.ConversationMaxCost = None) -> int:
    from .ask_run import run_ask

    params = dict(locals())
    if not args:
        raise UsageError("missing QUESTION")
    _check_question(args[-1])
    opts = O.ask_options(params, sources=args[:-1], question=args[-1])
    from ..env import of

    return run_ask(opts, of(ctx))


def _check_question(question: str) -> None:
    """The last argument is the question: when it names an existing file or directory, the question
    was most likely forgotten (`rlm ask notes.txt today.txt` would ask "today.txt")."""
    import os

    if question not in ("-", "") and "\n" not in question and len(question) < 4096 and os.path.exists(question):
        raise UsageError(f"the last argument, {question!r}, is a file, not a question",
                         hint=f'put the question last: rlm ask ... {question} "Your question?"')


__all__ = ["register", "ask", "ExitStatus", "LimitExceeded", "RLMError"]
