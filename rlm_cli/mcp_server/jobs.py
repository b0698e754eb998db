"""The work behind the MCP tools, synchronous (run in worker threads by the server): open or continue a
conversation over checked sources, ask, report progress from the run's events, stop when cancelled,
and keep the server-wide spending cap."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace

from .. import events as ev
from ..errors import LimitExceeded, UsageError
from ..runs import RunOptions
from .roots import Roots


@dataclass
class ServerOptions:
    """What the user set when starting `rlm mcp` (a client can only narrow it)."""

    roots: Roots
    models: dict = field(default_factory=dict)  # profile, config, model, sub_model, api_base
    run: RunOptions = field(default_factory=RunOptions)  # per-call defaults and ceilings (max_cost...)
    total_cost: float | None = None  # server-wide cap in USD, over every call since the start


class Spending:
    """The server-wide cap: each call reserves its own cap out of what is left, and gives back what it
    did not spend, so concurrent calls cannot overshoot it together."""

    def __init__(self, total: float | None):
        self.total, self.spent, self.reserved = total, 0.0, 0.0
        self._lock = threading.Lock()

    def reserve(self, wanted: float | None) -> float | None:
        with self._lock:
            if self.total is None:
                return wanted
            left = self.total - self.spent - self.reserved
            if left <= 0:
                raise LimitExceeded(f"this server's spending cap of ${self.total:g} is used up "
                                    f"(spent ${self.spent:.4f}, ${self.reserved:.4f} held by running calls)")
            cap = left if wanted is None else min(wanted, left)
            self.reserved += cap
            return cap

    def settle(self, reserved: float | None, spent: float) -> None:
        with self._lock:
            if self.total is not None and reserved is not None:
                self.reserved -= reserved
            self.spent += spent


@dataclass
class Budget:
    """What one call asks for (never above the server's own limits)."""

    max_cost: float | None = None
    max_iterations: int | None = None
    timeout: float | None = None

    def within(self, o: RunOptions) -> RunOptions:
        def lower(mine, theirs):
            return theirs if mine is None else mine if theirs is None else min(mine, theirs)

        return replace(o, max_cost=lower(self.max_cost, o.max_cost),
                       max_iterations=lower(self.max_iterations, o.max_iterations), timeout=lower(self.timeout, o.timeout))


class Progress:
    """Run events -> short progress messages, handed to `send(step, message)` (from any thread)."""

    def __init__(self, send):
        self.send, self.step = send, 0
        self._lock = threading.Lock()

    def __call__(self, e: ev.Event) -> None:
        message = _describe(e)
        if message is None:
            return
        with self._lock:
            self.step += 1
            step = self.step
        try:
            self.send(step, message)
        except Exception:  # noqa: BLE001 - a client gone or a closed loop must not break the run
            pass


def _describe(e: ev.Event) -> str | None:
    d = e.data
    where = "" if e.depth == 0 else f"child {e.node}: "
    if e.kind == ev.ITERATION:
        return f"{where}iteration {d.get('iteration')}/{d.get('max_iterations')}"
    if e.kind == ev.SUBCALL_START:
        return f"{where}{d.get('fn')}: {d.get('n')} prompt(s)"
    if e.kind == ev.SUBCALL_PROGRESS and d.get("total", 0) > 1:
        return f"{where}sub-calls {d.get('done')}/{d.get('total')}"
    if e.kind == ev.MODEL_END and e.depth == 0 and d.get("role") == "root":
        totals = d.get("totals") or {}
        return f"{totals.get('calls', 0)} calls, ${totals.get('cost_usd', 0.0):.4f} so far"
    return None


class AskJob:
    """One `ask` call. `run()` in a worker thread; `cancel()` from the event loop's thread."""

    def __init__(self, options: ServerOptions, spending: Spending, question: str, sources: list[str],
                 conversation: str | None, profile: str | None, budget: Budget, progress: Progress | None = None):
        self.o, self.spending, self.question = options, spending, question
        self.sources, self.conversation, self.profile = sources, conversation, profile
        self.budget, self.progress = budget, progress
        self.conv = None
        self.cancelled = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> dict:
        from ..ui.output import result_object

        if not self.question.strip():
            raise UsageError("the question is empty")
        run_options = self.budget.within(self.o.run)
        reserved = self.spending.reserve(run_options.max_cost)
        spent = 0.0
        try:
            conv = self._open(replace(run_options, max_cost=reserved))
            try:
                result = conv.ask(self.question, sinks=[self.progress] if self.progress else [])
                spent = result.usage.cost_usd
            finally:
                self._close()
        finally:
            self.spending.settle(reserved, spent)
        return result_object(result)

    def cancel(self) -> None:
        self.cancelled.set()
        with self._lock:
            conv = self.conv
        if conv is not None:
            conv.cancel()

    def _open(self, run_options: RunOptions):
        from ..config import resolve
        from ..conversation.inputs import Reading
        from ..conversation.opening import Request, open_conversation

        sources = self.o.roots.check_all(self.sources)
        if self.conversation:
            self._check_stored(self.conversation)
        models = dict(self.o.models)
        if self.profile:
            models.update(profile=self.profile, model=None, sub_model=None)
        if not self.conversation and not sources:
            raise UsageError("no sources given: name files, directories (or URLs, if allowed) to ask about")
        req = Request(sources=sources, reading=Reading(), models=models, name=self.conversation, stdin=None,
                      stdin_isatty=True)

        def resolve_models(chosen: dict):
            return resolve(profile=chosen.get("profile"), config_path=chosen.get("config"), model=chosen.get("model"),
                           sub_model=chosen.get("sub_model"), api_base=chosen.get("api_base"))

        conv = open_conversation(req, run_options, resolve_models)
        with self._lock:
            self.conv = conv
        if self.cancelled.is_set():  # cancelled while the sources were read
            conv.cancel()
        return conv

    def _check_stored(self, name: str) -> None:
        """A conversation continued over MCP re-reads its sources: they must be inside the roots too."""
        from ..conversation.store import Store

        store = Store()
        if store.exists(name):
            for group in store.load(name).inputs:
                self.o.roots.check_all([s for s in group.get("specs", []) if s != "-"])

    def _close(self) -> None:
        with self._lock:
            conv, self.conv = self.conv, None
        if conv is not None:
            conv.close()


def ingest(options: ServerOptions, sources: list[str], preview_chars: int = 0) -> dict:
    """What the model would see for `sources`: per-source characters, tokens, pages, warnings, and the
    first `preview_chars` characters of the context."""
    from ..commands.ingest import count_tokens
    from ..conversation.inputs import Reading, load

    if not sources:
        raise UsageError("no sources given")
    ctx = load(options.roots.check_all(sources), Reading())
    texts = [ctx.text[s.start:s.end] for s in ctx.sources]
    tokens, exact = count_tokens(texts)
    rows = [{"name": s.name, "kind": s.kind, "chars": s.chars, "tokens": n, "pages": len(s.pages),
             "warnings": list(s.warnings)} for s, n in zip(ctx.sources, tokens)]
    out = {"sources": rows, "total": {"sources": len(rows), "chars": len(ctx.text), "tokens": sum(tokens)},
           "tokens_exact": exact, "warnings": list(ctx.warnings)}
    if preview_chars > 0:
        out["preview"] = ctx.text[:min(preview_chars, 20_000)]
    return out
