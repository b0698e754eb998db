"""`rlm mcp`: serve rlm's tools (ask, ingest, follow-ups) to MCP clients over stdio or streamable HTTP."""
from __future__ import annotations

from typing import Annotated, List, Optional

import typer

from .. import defaults
from . import options as O


def register(app: typer.Typer) -> None:
    app.command("mcp", help="Serve rlm as an MCP server (tools: ask, ingest; follow-ups through ask's conversation id). "
                            "stdio by default (for Claude Desktop, Claude Code, Cursor); --http HOST:PORT for "
                            "streamable HTTP. Clients may only read inside the --root directories.")(mcp)


def mcp(
    ctx: typer.Context,
    root: Annotated[List[str], typer.Option("--root", metavar="DIR",
                                            help="Directory clients may read (repeatable) [default: the current directory].")] = [],  # noqa: B006
    http: Annotated[Optional[str], typer.Option("--http", metavar="HOST:PORT",
                                                help="Serve streamable HTTP at http://HOST:PORT/mcp instead of stdio "
                                                     "(a bare PORT binds 127.0.0.1).")] = None,
    allow_urls: Annotated[bool, typer.Option("--allow-urls", help="Let clients name http(s) URLs as sources (rlm then "
                                                                  "fetches what a client asks, including local addresses).")] = False,
    max_total_cost: Annotated[Optional[float], typer.Option("--max-total-cost", min=0, metavar="USD",
                                                            help="Spending cap for the whole server (every call).")] = None,
    max_parallel: Annotated[int, typer.Option("--max-parallel", min=1, help="Questions answered at once.")] = 4,
    profile: O.Profile = None,
    config: O.Config = None,
    model: O.Model = None,
    sub_model: O.SubModel = None,
    api_base: O.ApiBase = None,
    max_iterations: O.MaxIterations = None,
    max_depth: O.MaxDepth = None,
    max_calls: O.MaxCalls = None,
    max_cost: Annotated[Optional[float], typer.Option("--max-cost", min=0, metavar="USD",
                                                      help="Cap per call (a client may ask for less, never more).")] = None,
    max_tokens: O.MaxTokens = None,
    timeout: O.Timeout = None,
    exec_timeout: O.ExecTimeout = defaults.EXEC_TIMEOUT,
    concurrency: O.Concurrency = None,
    sandbox: O.Sandbox = O.SandboxMode.auto,
    response_cache: O.ResponseCache = False,
    cache_sampled: O.CacheSampled = False,
    no_prompt_cache: O.NoPromptCache = False,
    no_reread: O.NoReread = False,
) -> int:
    from ..mcp_server.app import serve
    from ..mcp_server.jobs import ServerOptions
    from ..mcp_server.roots import Roots

    opts = O.ask_options(dict(locals()), sources=[], question="")
    server = ServerOptions(Roots.of(list(root), allow_urls), models={
        "profile": opts.profile, "config": opts.config, "model": opts.model, "sub_model": opts.sub_model,
        "api_base": opts.api_base}, run=opts.run, total_cost=max_total_cost)
    _check_models(server)
    serve(server, http=_address(http), max_parallel=max_parallel)
    return 0


def _check_models(server) -> None:
    """Fail at start (not at the first call) when the configuration names no usable model."""
    from ..config import resolve

    m = server.models
    resolve(profile=m["profile"], config_path=m["config"], model=m["model"], sub_model=m["sub_model"], api_base=m["api_base"])


def _address(value: str | None) -> tuple[str, int] | None:
    from ..errors import UsageError

    if value is None:
        return None
    host, _, port = value.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--http {value}: expected HOST:PORT or PORT (e.g. 127.0.0.1:8765)")
    return host, int(port)
