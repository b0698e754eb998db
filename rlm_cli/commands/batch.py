"""`rlm batch TASKS` / `rlm batch --questions FILE SOURCES...`: many tasks, resumable, local or on Ray."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from .. import defaults
from . import options as O


class ResultFormat(str, Enum):
    jsonl = "jsonl"
    csv = "csv"


class EngineName(str, Enum):
    local = "local"
    ray = "ray"


BatchMaxCalls = Annotated[Optional[int], typer.Option("--max-calls", min=1, help="Model calls over the whole batch.")]
BatchMaxCost = Annotated[Optional[float], typer.Option("--max-cost", min=0, help="USD over the whole batch: no task starts once spent.")]
BatchMaxTokens = Annotated[Optional[int], typer.Option("--max-tokens", min=1, help="Tokens over the whole batch.")]
TaskTimeout = Annotated[Optional[float], typer.Option("--timeout", min=0.1, help="Wall-clock limit for each task, in seconds.")]


def register(app: typer.Typer) -> None:
    app.command(
        "batch",
        help="Answer many questions over many documents: TASKS is a JSONL or CSV file (id, sources, question), or "
             "--questions FILE SOURCES... asks every question about every source. Results are appended to -o FILE "
             "as each task ends; rerunning the same command resumes.",
        no_args_is_help=True,
    )(batch)


def batch(
    ctx: typer.Context,
    args: List[str] = typer.Argument(None, metavar="TASKS | SOURCES...",
                                     help="The task file ('-': stdin), or with --questions the sources (files, directories, globs, URLs)."),
    questions: Annotated[Optional[Path], typer.Option("--questions", metavar="FILE",
                                                      help="One question per line: every question is asked about every source.")] = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", metavar="FILE",
                                                   help="Results file (JSONL, or CSV): appended per task; the same file resumes.")] = None,
    fmt: Annotated[Optional[ResultFormat], typer.Option("--format", help="Results format [default: csv for *.csv, else jsonl].")] = None,
    parallel: Annotated[int, typer.Option("--parallel", "-j", min=1, help="Tasks run at once.")] = defaults.BATCH_PARALLEL,
    engine: Annotated[EngineName, typer.Option("--engine", help="local: threads in this process; ray: Ray tasks (extra [ray]).")] = EngineName.local,
    ray_address: Annotated[Optional[str], typer.Option(
        "--ray-address", metavar="ADDR", help="Ray cluster to join (e.g. ray://head:10001 or auto); default: start a local Ray.")] = None,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Run again the tasks whose saved result is a failure.")] = False,
    rerun_changed: Annotated[bool, typer.Option(
        "--rerun-changed", help="Run again the tasks whose question or sources changed since their result.")] = False,
    profile: O.Profile = None,
    config: O.Config = None,
    model: O.Model = None,
    sub_model: O.SubModel = None,
    api_base: O.ApiBase = None,
    quiet: O.Quiet = False,
    max_iterations: O.MaxIterations = None,
    max_depth: O.MaxDepth = None,
    max_calls: BatchMaxCalls = None,
    max_cost: BatchMaxCost = None,
    max_tokens: BatchMaxTokens = None,
    timeout: TaskTimeout = None,
    exec_timeout: O.ExecTimeout = defaults.EXEC_TIMEOUT,
    concurrency: Annotated[Optional[int], typer.Option("--concurrency", min=1, help=(
        f"Model calls in flight over the whole batch [default: {defaults.CONCURRENCY}].") )] = None,
    sandbox: O.Sandbox = O.SandboxMode.auto,
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
    color: O.ColorOpt = O.Color.auto) -> int:
    from ..env import of
    from .batch_run import BatchOptions, run_batch

    params = dict(locals())
    opts = BatchOptions.from_params(params)
    return run_batch(opts, of(ctx))
