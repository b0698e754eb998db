"""`rlm chat [SOURCES]...`: a conversation on a terminal (line editing, the live tree per question,
commands), or one question per line from a pipe with one answer per question on stdout."""
from __future__ import annotations

from typing import List

import typer

from .. import defaults
from . import options as O


def register(app: typer.Typer) -> None:
    app.command("chat", help="Ask follow-up questions about SOURCES in one conversation (the REPL keeps its variables). "
                             "On a terminal: an interactive session (/help for commands); from a pipe: one question per "
                             "line, one answer per question on stdout.")(chat)


def chat(
    ctx: typer.Context,
    sources: List[str] = typer.Argument(None, metavar="[SOURCES]...", help="Files, directories or URLs to talk about."),
    profile: O.Profile = None,
    config: O.Config = None,
    model: O.Model = None,
    sub_model: O.SubModel = None,
    api_base: O.ApiBase = None,
    json_out: O.Json = False,
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
    color: O.ColorOpt = O.Color.auto,
    continue_latest: O.Continue = False,
    conversation: O.ConversationName = None,
    conversation_max_cost: O.ConversationMaxCost = None,
) -> int:
    from ..env import of
    from .chat_run import run_chat

    opts = O.ask_options(dict(locals()), sources=list(sources or []), question="")
    return run_chat(opts, of(ctx))
