"""The Python API: the same engine as `rlm ask`, for programs.

    from rlm_cli import RLM

    rlm = RLM(backend="openai", backend_kwargs={"model_name": "gpt-4o-mini"})
    result = rlm.completion(query="Who signed the lease?", context=Path("contracts/"))
    print(result.response, result.cost, result.usage)

A `str` context is the text itself; a `pathlib.Path` (or a list of paths) is read like the CLI's
SOURCES (files, directories, PDF, DOCX). See docs/api.md.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any, Sequence, Union

from . import defaults
from .errors import ExitStatus, UsageError

ContextArg = Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]], Any]

# backend name -> LiteLLM provider prefix put in front of `model_name` (None: model_name as given).
BACKEND_PREFIX = {
    "openai": "openai", "vllm": "openai", "openai_compatible": "openai", "azure_openai": "azure",
    "anthropic": "anthropic", "gemini": "gemini", "openrouter": "openrouter", "ollama": "ollama",
    "local": "local", "scripted": "scripted", "litellm": None,
}
_ENDPOINT_KEYS = ("model_name", "api_base", "base_url", "api_key", "input_cost_per_token",
                  "output_cost_per_token", "max_input_tokens", "backend")


@dataclass
class RLMResult:
    """What `RLM.completion` returns. `response` is None when a limit stopped the run (status "limit")."""

    response: str | None
    status: str  # ok | limit
    run_id: str
    usage: dict  # per model: calls, prompt_tokens, completion_tokens, cost_usd
    cost: float  # USD over the whole tree
    trajectory: list[dict] = field(default_factory=list)  # the run's events, as in the trajectory file
    iterations: int = 0
    calls: int = 0
    sub_calls: int = 0
    tokens: int = 0
    duration_s: float = 0.0
    root_model: str = ""
    sub_model: str = ""
    error: str | None = None
    trajectory_path: str | None = None

    @property
    def exit_status(self) -> ExitStatus:
        return ExitStatus.OK if self.status == "ok" else ExitStatus.LIMIT

    def __str__(self) -> str:
        return self.response or ""


class RLM:
    """A configured Recursive Language Model. Thread-safe: one instance may answer many questions."""

    def __init__(self, backend: str = "openai", backend_kwargs: dict | None = None,
                 sub_backend_kwargs: dict | None = None, *, profile: str | None = None, config: str | None = None,
                 verbose: bool = False, max_iterations: int | None = None, max_depth: int | None = None,
                 max_calls: int | None = None, max_cost: float | None = None, max_tokens: int | None = None,
                 timeout: float | None = None, exec_timeout: float = defaults.EXEC_TIMEOUT,
                 concurrency: int | None = None, sandbox: str = "auto", save_trajectory: bool = True):
        from .runs import RunOptions

        if sandbox not in ("auto", "strict", "basic"):
            raise UsageError(f"sandbox={sandbox!r}: use 'auto', 'strict' or 'basic'")
        self.verbose = verbose
        self.options = RunOptions(max_iterations=max_iterations, max_depth=max_depth, max_calls=max_calls,
                                  max_cost=max_cost, max_tokens=max_tokens, timeout=timeout,
                                  exec_timeout=exec_timeout, concurrency=concurrency, sandbox=sandbox,
                                  trajectory=save_trajectory)
        if profile is not None or backend_kwargs is None:
            from . import config as cfg
            from .runs import concurrency as pick_concurrency

            self.resolved = cfg.resolve(profile=profile, config_path=config,
                                        concurrency=pick_concurrency(self.options, None))
        else:
            self.resolved = _from_kwargs(backend, backend_kwargs, sub_backend_kwargs, self.options)
        self.backend = self.resolved.backend
        self.root_model, self.sub_model = self.resolved.root_model, self.resolved.sub_model

    # ---- answering ----------------------------------------------------------------------------------
    def completion(self, query: str, context: ContextArg = "", *, include: Sequence[str] = (),
                   exclude: Sequence[str] = (), password: str | None = None) -> RLMResult:
        """Answer `query` about `context` (text, a path, or a list of paths). Raises RLMError subclasses
        (InputError, BackendError, ...) on failure; a limit reached without an answer gives status "limit"."""
        from .runs import make_run

        if not isinstance(query, str) or not query.strip():
            raise UsageError("the query is empty")
        ctx = load_context(context, include=include, exclude=exclude, password=password)
        run = make_run(self.resolved, self.options)
        collected: list[dict] = []
        self._add_sinks(run, collected)
        result = run.execute(query, ctx)
        if result.status == "interrupted":
            raise KeyboardInterrupt
        if result.status == "error":
            raise result.exception
        return _result(result, collected)

    async def acompletion(self, query: str, context: ContextArg = "", **kwargs) -> RLMResult:
        """`completion` in a worker thread, so an event loop stays responsive (and can run several)."""
        import asyncio

        return await asyncio.to_thread(self.completion, query, context, **kwargs)

    def _add_sinks(self, run, collected: list[dict]) -> None:
        from . import redact

        run.bus.add(lambda event: collected.append(redact.redact_obj(event.to_dict())))
        if self.verbose:
            from .ui.display import PlainLines

            run.bus.add(PlainLines(sys.stderr, verbose=True, quiet=False))


# ---- helpers --------------------------------------------------------------------------------------
def _from_kwargs(backend: str, kwargs: dict, sub_kwargs: dict | None, options):
    from .backends.router import LLMBackend
    from .config import Resolved
    from .runs import concurrency

    root = _endpoint(backend, kwargs)
    sub = _endpoint(sub_kwargs.get("backend", backend), sub_kwargs) if sub_kwargs else root
    n = concurrency(options, None)
    llm = LLMBackend({root.model: root, sub.model: sub}, default_api_base=root.api_base, concurrency=n)
    return Resolved(llm, root.model, sub.model, concurrency=n)


def _endpoint(backend: str, kwargs: dict):
    from .backends.router import Endpoint

    if backend not in BACKEND_PREFIX:
        raise UsageError(f"backend={backend!r}: unknown backend (use one of {', '.join(sorted(BACKEND_PREFIX))})")
    name = kwargs.get("model_name")
    if not name:
        raise UsageError(f"backend_kwargs for {backend!r} need 'model_name'")
    prefix = BACKEND_PREFIX[backend]
    model = name if prefix is None or name.startswith(prefix + "/") else f"{prefix}/{name}"
    params = {k: v for k, v in kwargs.items() if k not in _ENDPOINT_KEYS}
    return Endpoint(model, api_base=kwargs.get("api_base") or kwargs.get("base_url"), api_key=kwargs.get("api_key"),
                    params=params, input_cost_per_token=kwargs.get("input_cost_per_token"),
                    output_cost_per_token=kwargs.get("output_cost_per_token"),
                    max_input_tokens=kwargs.get("max_input_tokens"))


def load_context(context: ContextArg, *, include=(), exclude=(), password=None):
    """str -> the text itself; Path or list of paths -> read like the CLI's SOURCES; a Context as is."""
    from .context import Context

    if isinstance(context, Context):
        return context
    if isinstance(context, str):
        return Context.from_text(context)
    if isinstance(context, os.PathLike):
        paths = [os.fspath(context)]
    elif isinstance(context, (list, tuple)) and all(isinstance(p, (str, os.PathLike)) for p in context):
        paths = [os.fspath(p) for p in context]
    else:
        raise UsageError(f"context: expected str, a path or a list of paths, not {type(context).__name__}")
    if not paths:
        raise UsageError("context: the list of paths is empty")
    from .ingest import load_sources

    return load_sources(paths, include=list(include), exclude=list(exclude), password=password)




def _result(r, collected: list[dict]) -> RLMResult:
    u = r.usage
    return RLMResult(response=r.answer, status=r.status, run_id=r.run_id, usage=u.as_dict(), cost=round(u.cost_usd, 6),
                     trajectory=list(collected), iterations=r.iterations, calls=u.calls, sub_calls=u.sub_calls,
                     tokens=u.tokens, duration_s=r.duration_s, root_model=r.root_model, sub_model=r.sub_model,
                     error=r.error, trajectory_path=r.trajectory_path)


__all__ = ["RLM", "RLMResult", "load_context"]
