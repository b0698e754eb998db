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
    status: str  # ok | limit | unsupported (evidence="required" and no verified evidence)
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
    conversation: str | None = None  # the conversation's id (persistent RLM, RLM.conversation)
    citations: list[dict] = field(default_factory=list)  # verified evidence: quote, source, location, start, end, verified
    supported: bool | None = None  # at least one citation verified (None: no answer)
    forced: bool | None = None  # the answer was forced at the iteration limit
    confidence: str | None = None  # verified | unverified | disputed | reread | forced
    model_answer: str | None = None  # the root model's own answer when `response` is the second reading

    @property
    def exit_status(self) -> ExitStatus:
        return {"ok": ExitStatus.OK, "unsupported": ExitStatus.UNSUPPORTED}.get(self.status, ExitStatus.LIMIT)

    def __str__(self) -> str:
        return self.response or ""


class RLM:
    """A configured Recursive Language Model. Thread-safe: one instance may answer many questions."""

    def __init__(self, backend: str = "openai", backend_kwargs: dict | None = None,
                 sub_backend_kwargs: dict | None = None, *, profile: str | None = None, config: str | None = None,
                 verbose: bool = False, max_iterations: int | None = None, max_depth: int | None = None,
                 max_calls: int | None = None, max_cost: float | None = None, max_tokens: int | None = None,
                 timeout: float | None = None, exec_timeout: float = defaults.EXEC_TIMEOUT,
                 concurrency: int | None = None, sandbox: str = "auto", save_trajectory: bool = True,
                 persistent: bool = False, cache: bool | None = None, prompt_cache: bool | None = None,
                 evidence: str = "optional", reread: bool = True):
        """`persistent=True`: every `completion` is a follow-up in one conversation (the REPL keeps its
        variables between calls; `close()` or `with RLM(...)` ends it). `cache=True`: the response cache
        (`--cache`); `prompt_cache=False`: no provider prompt-cache marks (`--no-prompt-cache`);
        `reread=False`: no second reading of the evidence (`--no-reread`)."""
        from .runs import RunOptions

        if sandbox not in ("auto", "strict", "basic"):
            raise UsageError(f"sandbox={sandbox!r}: use 'auto', 'strict' or 'basic'")
        if evidence not in ("optional", "required"):
            raise UsageError(f"evidence={evidence!r}: use 'optional' or 'required'")
        self.verbose = verbose
        self.options = RunOptions(max_iterations=max_iterations, max_depth=max_depth, max_calls=max_calls,
                                  max_cost=max_cost, max_tokens=max_tokens, timeout=timeout,
                                  exec_timeout=exec_timeout, concurrency=concurrency, sandbox=sandbox,
                                  trajectory=save_trajectory, cache=cache, prompt_cache=prompt_cache,
                                  evidence=evidence, reread=reread)
        if profile is not None or backend_kwargs is None:
            from . import config as cfg
            from .runs import concurrency as pick_concurrency

            self.resolved = cfg.resolve(profile=profile, config_path=config,
                                        concurrency=pick_concurrency(self.options, None))
        else:
            self.resolved = _from_kwargs(backend, backend_kwargs, sub_backend_kwargs, self.options)
        self.backend = self.resolved.backend
        self.root_model, self.sub_model = self.resolved.root_model, self.resolved.sub_model
        self.persistent = persistent
        self._session: "ConversationSession | None" = None

    # ---- answering ----------------------------------------------------------------------------------
    def completion(self, query: str, context: ContextArg = "", *, include: Sequence[str] = (),
                   exclude: Sequence[str] = (), password: str | None = None) -> RLMResult:
        """Answer `query` about `context` (text, a path, or a list of paths). Raises RLMError subclasses
        (InputError, BackendError, ...) on failure; a limit reached without an answer gives status "limit"."""
        from .runs import make_run

        if not isinstance(query, str) or not query.strip():
            raise UsageError("the query is empty")
        if self.persistent:
            if self._session is None:
                self._session = self.conversation(context, include=include, exclude=exclude, password=password)
            elif _given(context):
                self._session.add(context, include=include, exclude=exclude, password=password)
            return self._session.completion(query)
        ctx = load_context(context, include=include, exclude=exclude, password=password)
        run = make_run(self.resolved, self.options)
        collected: list[dict] = []
        for sink in self._sinks(collected):
            run.bus.add(sink)
        return _outcome(run.execute(query, ctx), collected)

    def conversation(self, context: ContextArg = "", *, name: str | None = None, max_cost: float | None = None,
                     max_tokens: int | None = None, max_calls: int | None = None, include: Sequence[str] = (),
                     exclude: Sequence[str] = (), password: str | None = None) -> "ConversationSession":
        """A conversation about `context`: `with rlm.conversation(context=...) as c: c.completion(q1);
        c.completion(q2)`. The REPL keeps its variables between questions. `name`: keep it on disk (the
        CLI can continue it: `rlm ask --conversation NAME`); `max_*`: caps for the whole conversation."""
        from .conversation import Conversation, Store

        ctx = load_context(context, include=include, exclude=exclude, password=password)
        store = meta = lock = None
        if name is not None:
            import contextlib

            from .conversation.inputs import context_sha256

            store = Store()
            meta = store.load(name) if store.exists(name) else store.create(name)
            lock = contextlib.ExitStack()
            lock.enter_context(store.lock(meta.id))
            if meta.context_sha256 and meta.context_sha256 != context_sha256(ctx):
                ctx.warnings.append(f"conversation '{name}': the context differs from its last question's")
            if not meta.inputs:  # so that `rlm ask --conversation NAME` can read the documents again
                meta.inputs = [_group(store, meta.id, context, ctx)]
                meta.models = self._models()
        caps = {"max_cost": max_cost, "max_tokens": max_tokens, "max_calls": max_calls}
        conv = Conversation(self.resolved, self.options, ctx, store=store, meta=meta, caps=caps, lock=lock)
        conv.remember_context()
        return ConversationSession(self, conv)

    def _models(self) -> dict:
        """The models, as `rlm ask` options (never a key)."""
        endpoint = getattr(self.backend, "endpoint", None)
        api_base = endpoint(self.root_model).api_base if endpoint else None
        return {"model": self.root_model, "sub_model": self.sub_model, "api_base": api_base}

    def close(self) -> None:
        """End the persistent conversation (if any): its REPL stops."""
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> "RLM":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    async def acompletion(self, query: str, context: ContextArg = "", **kwargs) -> RLMResult:
        """`completion` in a worker thread, so an event loop stays responsive (and can run several)."""
        import asyncio

        return await asyncio.to_thread(self.completion, query, context, **kwargs)

    def _sinks(self, collected: list[dict]) -> list:
        from . import redact

        sinks: list = [lambda event: collected.append(redact.redact_obj(event.to_dict()))]
        if self.verbose:
            from .ui.display import PlainLines

            sinks.append(PlainLines(sys.stderr, verbose=True, quiet=False))
        return sinks


class ConversationSession:
    """Questions in one conversation through the Python API (see `RLM.conversation`). One at a time."""

    def __init__(self, rlm: RLM, conv):
        import threading

        self.rlm, self.conv = rlm, conv
        self._lock = threading.Lock()

    @property
    def id(self) -> str:
        return self.conv.id

    def completion(self, query: str) -> RLMResult:
        if not isinstance(query, str) or not query.strip():
            raise UsageError("the query is empty")
        with self._lock:
            collected: list[dict] = []
            result = self.conv.ask(query, sinks=self.rlm._sinks(collected))
        return _outcome(result, collected)

    def add(self, context: ContextArg, **kwargs) -> None:
        """More documents for the next questions (the variables are kept)."""
        with self._lock:
            self.conv.add(load_context(context, **kwargs))

    def variables(self) -> list[dict]:
        """The REPL's variables: name, type and size (never their content)."""
        return [{"name": v.name, "type": v.type, "size": v.size} for v in self.conv.variables()]

    def reset(self) -> None:
        """A fresh REPL: every variable dropped."""
        self.conv.reset()

    @property
    def usage(self) -> dict:
        return dict(self.conv.meta.usage)

    def close(self) -> None:
        self.conv.close()

    def __enter__(self) -> "ConversationSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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




def _group(store, cid: str, context, ctx) -> dict:
    """How a later process reads this context again: its paths, or (for text) a copy kept with it."""
    if isinstance(context, str):
        return {"specs": ["-"], "stdin": store.keep_stdin(cid, ctx.text, 1)}
    paths = [context] if isinstance(context, os.PathLike) else list(context)
    return {"specs": [os.path.abspath(os.fspath(p)) for p in paths]}


def _given(context) -> bool:
    return not (isinstance(context, str) and context == "")


def _outcome(result, collected: list[dict]) -> RLMResult:
    """The RLMResult, or the exception the run ended with (interrupted: KeyboardInterrupt)."""
    if result.status == "interrupted":
        raise KeyboardInterrupt
    if result.status == "error":
        raise result.exception
    return _result(result, collected)


def _result(r, collected: list[dict]) -> RLMResult:
    u = r.usage
    return RLMResult(response=r.answer, status=r.status, run_id=r.run_id, usage=u.as_dict(), cost=round(u.cost_usd, 6),
                     trajectory=list(collected), iterations=r.iterations, calls=u.calls, sub_calls=u.sub_calls,
                     tokens=u.tokens, duration_s=r.duration_s, root_model=r.root_model, sub_model=r.sub_model,
                     error=r.error, trajectory_path=r.trajectory_path, conversation=r.conversation,
                     citations=[c.as_json() for c in r.citations], **r.labels)


__all__ = ["RLM", "RLMResult", "ConversationSession", "load_context"]
