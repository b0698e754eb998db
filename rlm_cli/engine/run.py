"""A run: what the whole recursion tree shares (model, budgets, usage, events, the call gate), and its
lifecycle: context warnings, RUN_START, the root node, exactly one terminal event, a complete result."""
from __future__ import annotations

import itertools
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

from .. import defaults
from .. import events as ev
from ..backends.base import Model
from ..errors import ExitStatus, LimitExceeded, RLMError
from ..sandbox import Sandbox, SandboxOptions
from ..tokens import Approx, TokenCounter
from ..usage import Budget, Limits, SharedBudget, Usage

# (context text, sources, options) -> a Sandbox; None: a SubprocessSandbox
SandboxFactory = Callable[[str, list, SandboxOptions], Sandbox]


@dataclass
class RunConfig:
    root_model: str
    sub_model: str | None = None
    limits: Limits = field(default_factory=Limits)
    concurrency: int = defaults.CONCURRENCY
    sandbox: SandboxOptions = field(default_factory=SandboxOptions)
    sub_window_tokens: int | None = None  # refuse sub-prompts larger than this (resolved before the run)
    root_window_tokens: int | None = None  # compact the root conversation past COMPACT_AT of this
    tokens: TokenCounter = field(default_factory=Approx)
    sandbox_factory: SandboxFactory | None = None
    evidence: str = "optional"  # optional | required: an answer without verified evidence ends as "unsupported"
    reread: bool = True  # a second reading of the evidence by the sub model (evidence/reread.py)
    prompt_cache: bool = False  # root turns ask the backend to make their prefix cacheable (provider prompt cache)
    responses: object | None = None  # a response_cache.ResponseCache (--cache): get(model, messages) / put(...)
    sub_models: tuple = ()  # further models llm_query(model=...) may name (the profile's sub_models); no others
    shared: SharedBudget | None = None  # a gate and budget shared with other runs (a batch); None: this run's own

    @property
    def sub(self) -> str:
        return self.sub_model or self.root_model


@dataclass
class RunResult:
    """Everything a front end needs about a finished run, whatever its outcome."""

    run_id: str
    question: str
    answer: str | None
    status: str  # ok | unsupported | limit | error | interrupted
    exit_code: int
    iterations: int
    usage: Usage
    duration_s: float
    root_model: str
    sub_model: str
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # source names, for citations
    trajectory_path: str | None = None
    conversation: str | None = None  # the conversation's id, for a question asked in one
    citations: list = field(default_factory=list)  # evidence.Citation, verified against the context
    forced: bool = False  # the answer was forced at the iteration limit (the last-chance turn)
    disputed: str | None = None  # why the answer's evidence does not bear it out (node.Node._reread)
    model_answer: str | None = None  # the root model's own answer, when `answer` is the second reading instead
    exception: BaseException | None = field(default=None, repr=False)  # what stopped it (not serialised)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def labels(self) -> dict:
        """supported / forced / confidence (evidence.assess), and model_answer, for an answered run; {}
        without an answer."""
        from ..evidence import assess
        from .repeats import echoes_question

        if self.answer is None:
            return {}
        return assess(self.citations, self.forced, answers=not echoes_question(self.answer, self.question),
                      disputed=self.disputed is not None, reread=self.model_answer is not None) | {
            "model_answer": self.model_answer}


class Cancelled(RLMError):
    """The run was stopped (Ctrl-C or a failure elsewhere in the tree); raised in the other nodes."""


class NoAnswer(LimitExceeded):
    """A node used all its iterations without FINAL."""


class Run:
    def __init__(self, model: Model, config: RunConfig, bus: ev.EventBus | None = None, run_id: str | None = None):
        self.model = model
        self.config = config
        self.bus = bus or ev.EventBus()
        self.run_id = run_id or new_run_id()
        self.usage = Usage()
        self.budget = Budget(config.limits, self.usage, shared=config.shared)
        self.gate = config.shared.gate if config.shared else threading.BoundedSemaphore(max(config.concurrency, 1))
        self.cancelled = threading.Event()
        self.root_iterations = 0
        self.warnings: list[str] = []
        self.trajectory_path: str | None = None
        self.conversation: str | None = None
        self._ids = itertools.count(1)
        self._child_ids: dict[str, itertools.count] = {}
        self._id_lock = threading.Lock()

    # ---- lifecycle --------------------------------------------------------------------------------
    def execute(self, question: str, context, *, sandbox: Sandbox | None = None, preamble: str = "",
                conversation: str | None = None) -> RunResult:
        """Answer `question` about `context` (a Context). Never raises for the run's outcome: a limit,
        a backend failure, Ctrl-C or a bug all end in one terminal event and a RunResult.
        `sandbox`: an open REPL to reuse (a conversation's); `preamble`: told to the root model first;
        `conversation`: the id of the conversation this question belongs to."""
        from .node import Node

        t0 = time.monotonic()
        self.warnings = warnings = list(context.warnings)  # nodes add theirs (e.g. an answer cut at its cap)
        for w in warnings:
            self.bus.emit(ev.WARNING, message=w)
        self.conversation = conversation
        self._start_event(question, context)
        answer, exc, root = None, None, None
        try:
            root = Node(self, question, context.text, [s.as_dict() for s in context.sources], depth=0, node_id="r",
                        sandbox=sandbox, preamble=preamble)
            answer = root.run()
        except BaseException as e:  # noqa: BLE001 - every outcome becomes a result
            exc = e
            if self.cancelled.is_set() and isinstance(e, Exception) and not isinstance(e, LimitExceeded):
                exc = Cancelled("the run was cancelled")  # cancelled from outside: e.g. its REPL worker was killed
            if not isinstance(e, LimitExceeded):
                self.cancel()
        responses = self.config.responses
        if responses is not None and responses.error:
            warnings.append(responses.error)
        result = self._result(question, answer, exc, time.monotonic() - t0, warnings,
                              [s.name for s in context.sources])
        if answer is not None and root is not None:
            self._label(result, root)
        self._end_event(result)
        self.bus.close()
        return result

    def _start_event(self, question: str, context) -> None:
        cfg = self.config
        self.bus.emit(ev.RUN_START, run_id=self.run_id, wall_time=time.time(), question=question,
                      context_chars=len(context.text),
                      sources=[s.as_dict() | {"pages": len(s.pages)} for s in context.sources],
                      root_model=cfg.root_model, sub_model=cfg.sub, limits=limits_dict(cfg.limits),
                      concurrency=cfg.concurrency, **({"conversation": self.conversation} if self.conversation else {}))

    def _result(self, question, answer, exc, duration, warnings, sources) -> RunResult:
        from ..redact import redact

        status, code, error = outcome(exc)
        return RunResult(self.run_id, question, answer, status, int(code), self.root_iterations, self.usage,
                         round(duration, 3), self.config.root_model, self.config.sub,
                         error=redact(error) if error else None, warnings=warnings, sources=sources,
                         trajectory_path=self.trajectory_path, conversation=self.conversation, exception=exc)

    def _label(self, r: RunResult, root) -> None:
        """Evidence and labels on an answered run: a forced or unsupported answer is warned about, and
        with --evidence required an unsupported one ends with status "unsupported" (exit 6)."""
        r.citations, r.forced, r.disputed = list(root.citations), root.forced, root.disputed
        r.model_answer = root.model_answer
        labels = r.labels
        notes = []
        if r.forced:
            notes.append("the answer was forced at the iteration limit: it is a best guess from partial work")
        if r.model_answer is not None:
            from ..evidence.verify import short

            notes.append(f'the model answered "{short(r.model_answer, 120)}", which a second reading of its evidence '
                         "contradicts: the answer given is that reading")
        elif r.disputed is not None:
            notes.append(f"{r.disputed}: the answer may not be what its evidence says")
        elif any(c.verified for c in r.citations) and not labels["supported"]:
            notes.append("the answer only repeats the question (its evidence does not count)")
        elif not labels["supported"]:
            tried = f" ({len(r.citations)} item(s) could not be verified)" if r.citations else ""
            notes.append(f"no verified evidence supports the answer{tried}")
            if self.config.evidence == "required":
                r.status, r.exit_code = "unsupported", int(ExitStatus.UNSUPPORTED)
                r.error = "the answer has no verified evidence (--evidence required)"
        for note in notes:
            r.warnings.append(note)
            self.bus.emit(ev.WARNING, message=note)

    def _end_event(self, r: RunResult) -> None:
        totals = self.totals() | {"duration_s": r.duration_s}
        if r.status in ("ok", "limit", "unsupported"):
            labels = {"citations": [c.as_event() for c in r.citations], **r.labels} if r.answer is not None else {}
            self.bus.emit(ev.RUN_END, status=r.status, exit_code=r.exit_code, answer=r.answer, error=r.error,
                          usage=self.usage.as_dict(), **totals, **labels)
        elif r.status == "interrupted":
            self.bus.emit(ev.INTERRUPTED, error="interrupted", exit_code=r.exit_code, **totals)
        else:
            self.bus.emit(ev.FAILED, error=r.error, exit_code=r.exit_code, **totals)

    def cancel(self) -> None:
        """Stop the whole tree: every node's next model call raises Cancelled."""
        self.cancelled.set()

    # ---- what nodes share ---------------------------------------------------------------------------
    def next_call_id(self) -> int:
        return next(self._ids)

    def child_id(self, parent: str) -> str:
        with self._id_lock:
            counter = self._child_ids.setdefault(parent, itertools.count(1))
            return f"{parent}.{next(counter)}"

    def emitter(self, node_id: str, depth: int):
        bus = self.bus

        def emit(kind: str, **data):
            bus.emit(kind, node_id, depth, **data)

        return emit

    def complete(self, model: str, messages: list[dict], emit, role: str, subcall: int | None = None) -> str:
        """One model call: cancellation and budget checked first, the concurrency gate held, usage
        recorded, MODEL_START/MODEL_END emitted. (Backends whose calls block in C without looking at
        signals run them with threads.call_abandonable, so Ctrl-C is never held up here.)"""
        if self.cancelled.is_set():
            raise Cancelled("the run was cancelled")
        cached = self._from_cache(model, messages, emit, role, subcall)
        if cached is not None:
            return cached
        self.budget.admit()
        call_id = self.next_call_id()
        extra = {"prompt_cache": True} if self.config.prompt_cache and role == "root" else {}
        try:
            with self.gate:
                emit(ev.MODEL_START, call_id=call_id, role=role, model=model, subcall=subcall)
                try:
                    c = self.model.complete(model, messages, timeout=self._call_timeout(), **extra)
                except BaseException as exc:
                    stopped = isinstance(exc, (KeyboardInterrupt, Cancelled))
                    emit(ev.MODEL_END, call_id=call_id, role=role, model=model, subcall=subcall,
                         status="interrupted" if stopped else "error",
                         error=str(exc) or type(exc).__name__, prompt_tokens=0, completion_tokens=0, cost_usd=0.0,
                         duration_s=0.0)
                    raise
            self.budget.record(model, c.prompt_tokens, c.completion_tokens, c.cost_usd,
                               cached_tokens=c.cached_tokens, cache_write_tokens=c.cache_write_tokens)
        finally:
            self.budget.release()
        if self.config.responses is not None:
            self.config.responses.put(model, messages, c.text)
        cache = {"cached_tokens": c.cached_tokens, "cache_write_tokens": c.cache_write_tokens} if (
            c.cached_tokens or c.cache_write_tokens) else {}
        emit(ev.MODEL_END, call_id=call_id, role=role, model=model, subcall=subcall, status="ok",
             prompt_tokens=c.prompt_tokens, completion_tokens=c.completion_tokens, cost_usd=c.cost_usd,
             duration_s=round(c.duration_s, 4), text=c.text, totals=self.totals(), **cache)
        if self.cancelled.is_set():  # cancelled while the call was out: its reply's code must not run
            raise Cancelled("the run was cancelled")
        return c.text

    def _from_cache(self, model: str, messages: list[dict], emit, role: str, subcall: int | None) -> str | None:
        """An answer from the response cache (--cache): no request, no cost; MODEL_END says `cached`."""
        responses = self.config.responses
        text = responses.get(model, messages) if responses is not None else None
        if text is None:
            return None
        call_id = self.next_call_id()
        self.usage.record_hit(model)
        emit(ev.MODEL_START, call_id=call_id, role=role, model=model, subcall=subcall)
        emit(ev.MODEL_END, call_id=call_id, role=role, model=model, subcall=subcall, status="ok", prompt_tokens=0,
             completion_tokens=0, cost_usd=0.0, duration_s=0.0, text=text, totals=self.totals(), cached=True)
        return text

    def _call_timeout(self) -> float | None:
        left = self.budget.remaining_time()
        return None if left is None else max(left, 1.0)

    def budget_text(self) -> str:
        left = self.budget.summary()
        parts = []
        if "calls" in left:
            parts.append(f"{left['calls']} model calls")
        if "cost_usd" in left:
            parts.append(f"${left['cost_usd']:.4f}")
        if "tokens" in left:
            parts.append(f"{left['tokens']:,} tokens")
        if "seconds" in left:
            parts.append(f"{left['seconds']:.0f} s")
        return ", ".join(parts)

    def totals(self) -> dict:
        u = self.usage
        return {"calls": u.calls, "tokens": u.tokens, "cost_usd": round(u.cost_usd, 6),
                "duration_s": round(self.budget.elapsed(), 3)} | ({"cache_hits": u.cache_hits} if u.cache_hits else {})


def outcome(exc: BaseException | None) -> tuple[str, ExitStatus, str | None]:
    """(status, exit code, error message) for what ended a run (None: it answered)."""
    if exc is None:
        return "ok", ExitStatus.OK, None
    if isinstance(exc, LimitExceeded):
        return "limit", ExitStatus.LIMIT, str(exc)
    if isinstance(exc, (KeyboardInterrupt, Cancelled)):
        return "interrupted", ExitStatus.INTERRUPTED, "interrupted"
    if isinstance(exc, RLMError):
        return "error", exc.exit_status, exc.message
    return "error", ExitStatus.ERROR, f"internal error: {type(exc).__name__}: {exc}"


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def limits_dict(limits: Limits) -> dict:
    return {k: v for k, v in vars(limits).items() if v is not None}
