"""The RLM engine: the model writes code, the sandbox runs it, sub-calls recurse, FINAL submits.

One `Run` holds what the whole recursion tree shares (model, budgets, usage, events, the
concurrency gate); `Run.node()` is one RLM (root or child) with its own sandbox and loop.
"""
from __future__ import annotations

import itertools
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from . import events as ev
from . import prompts
from .context import Context
from .errors import BackendError, ContextOverflow, LimitExceeded, RLMError
from .backends.scripted import Model, approx_tokens
from .parsing import code_blocks
from .sandbox import CallRefused, SandboxOptions, SubprocessSandbox
from .sandbox.trust import allowed_model, check_prompt
from .usage import Budget, Limits, Usage


@dataclass
class RunConfig:
    root_model: str
    sub_model: str | None = None
    limits: Limits = field(default_factory=Limits)
    concurrency: int = 8
    sandbox: SandboxOptions = field(default_factory=SandboxOptions)
    sub_window_tokens: int | None = None  # refuse sub-prompts larger than this (None: from the model info)
    root_window_tokens: int | None = None  # compact the root conversation past 80% of this (None: model info)
    count_tokens: object = None  # callable(str) -> int; default approx chars/4
    sub_models: tuple = ()  # further models llm_query(model=...) may name (the profile's sub_models); no others

    @property
    def sub(self) -> str:
        return self.sub_model or self.root_model


@dataclass
class RunResult:
    run_id: str
    answer: str | None
    status: str  # ok | limit | error | interrupted
    iterations: int
    usage: Usage
    duration_s: float
    error: str | None = None


EXACT_COUNT_CHARS = 400_000
OMITTED = "[earlier turn omitted to fit the model's context window; the REPL still holds every variable it created]"


class Cancelled(RLMError):
    """The run was stopped (Ctrl-C or a failure elsewhere in the tree); raised in the other nodes."""


class NoAnswer(LimitExceeded):
    """A node used all its iterations without FINAL."""


class Run:
    def __init__(self, model: Model, config: RunConfig, bus: ev.EventBus | None = None, run_id: str | None = None):
        self.model = model
        self.config = config
        self.bus = bus or ev.EventBus()
        self.run_id = run_id or time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        self.usage = Usage()
        self.budget = Budget(config.limits, self.usage)
        self.gate = threading.BoundedSemaphore(max(config.concurrency, 1))
        self._ids = itertools.count(1)
        self._child_ids: dict[str, itertools.count] = {}
        self._id_lock = threading.Lock()
        self.root_iterations = 0
        self.cancelled = threading.Event()
        self.sources: list = []

    # ---- entry point ------------------------------------------------------------------------------
    def answer(self, question: str, context: Context) -> RunResult:
        t0 = time.monotonic()
        cfg = self.config
        self.sources = context.sources
        self.bus.emit(ev.RUN_START, run_id=self.run_id, wall_time=time.time(), question=question, context_chars=len(context.text),
                      sources=[s.as_dict() | {"pages": len(s.pages)} for s in context.sources],
                      root_model=cfg.root_model, sub_model=cfg.sub, limits=_limits_dict(cfg.limits),
                      concurrency=cfg.concurrency)
        try:
            answer = self.node(question, context.text, [s.as_dict() for s in context.sources], depth=0, node_id="r")
            status, error = "ok", None
        except LimitExceeded as exc:
            answer, status, error = None, "limit", str(exc)
            raise
        except BaseException as exc:
            self.cancel()
            answer, status, error = None, "interrupted" if isinstance(exc, KeyboardInterrupt) else "error", str(exc)
            raise
        finally:
            self.result = RunResult(self.run_id, answer, status, self.root_iterations, self.usage,
                                    time.monotonic() - t0, error)
        return self.result

    # ---- one RLM node -----------------------------------------------------------------------------
    def node(self, question: str, text: str, sources: list[dict], depth: int, node_id: str) -> str:
        cfg, emit = self.config, self._emitter(node_id, depth)
        self.usage.reach_depth(depth)
        info = prompts.PromptInfo(
            question=question, context_chars=len(text), context_tokens=self._context_tokens(text), sources=sources,
            max_iterations=cfg.limits.max_iterations, max_output=cfg.sandbox.max_output_chars, depth=depth,
            max_depth=cfg.limits.max_depth, sub_window_chars=(self._sub_window() or 100_000) * 4,
        )
        messages = [{"role": "system", "content": prompts.system_prompt(info)},
                    {"role": "user", "content": prompts.first_message(info, self._budget_text())}]
        emit(ev.NODE_START, question=question, context_chars=len(text), parent=node_id.rsplit(".", 1)[0] if depth else None)
        sandbox = SubprocessSandbox(text, sources, cfg.sandbox)
        handler = self._handler(node_id, depth)
        iteration = 0
        try:
            for iteration in range(1, cfg.limits.max_iterations + 1):
                if depth == 0:
                    self.root_iterations = iteration
                emit(ev.ITERATION, iteration=iteration, max_iterations=cfg.limits.max_iterations)
                final = self._turn(messages, sandbox, handler, emit, iteration, depth)
                if final is not None:
                    emit(ev.NODE_END, status="ok", answer=final, iterations=iteration)
                    return final
            if messages[-1]["role"] == "user":  # one user message per turn (some providers insist)
                messages[-1] = {"role": "user", "content": messages[-1]["content"] + "\n\n" + prompts.LAST_CHANCE}
            else:
                messages.append({"role": "user", "content": prompts.LAST_CHANCE})
            final = self._turn(messages, sandbox, handler, emit, iteration + 1, depth, last=True)
            if final is not None:
                emit(ev.NODE_END, status="ok", answer=final, iterations=iteration)
                return final
            raise NoAnswer(f"no answer after {cfg.limits.max_iterations} iterations (raise --max-iterations)")
        except LimitExceeded as exc:
            emit(ev.NODE_END, status="limit", answer=None, iterations=iteration, error=str(exc))
            raise
        except BaseException as exc:
            status = "interrupted" if isinstance(exc, (KeyboardInterrupt, Cancelled)) else "error"
            emit(ev.NODE_END, status=status, answer=None, iterations=iteration, error=str(exc) or type(exc).__name__)
            raise
        finally:
            sandbox.close()

    def _turn(self, messages, sandbox, handler, emit, iteration, depth, last=False) -> str | None:
        """One model reply and the execution of its code blocks. Returns the answer if FINAL ran."""
        cfg = self.config
        self._fit_history(messages)
        reply = self._complete(cfg.root_model, messages, emit, role="root")
        messages.append({"role": "assistant", "content": reply})
        blocks = code_blocks(reply)
        if not blocks:
            if not last:
                messages.append({"role": "user", "content": prompts.NO_CODE.format(
                    turn=iteration + 1, max_iterations=cfg.limits.max_iterations)})
            return None
        outputs = []
        for i, code in enumerate(blocks, 1):
            emit(ev.CODE_START, iteration=iteration, block=i, code=code)
            res = sandbox.execute(code, handler)
            shown = res.render()
            emit(ev.CODE_END, iteration=iteration, block=i, output=shown, error=res.error, duration_s=round(res.duration_s, 4),
                 timed_out=res.timed_out, restarted=res.restarted, has_final=res.has_final)
            for warning in res.warnings:
                emit(ev.WARNING, message=warning)
            if res.has_final:
                return res.final if res.final is not None else ""
            self.budget.check()  # a fatal sub-call refusal ends the run here
            outputs.append((i, shown))
            if res.restarted:
                break  # later blocks would run against a fresh REPL without the earlier state
        if not last:
            messages.append({"role": "user", "content": prompts.outputs_message(
                outputs, iteration + 1, cfg.limits.max_iterations, self._budget_text())})
        return None

    # ---- model calls --------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop the whole tree: every node's next model call raises Cancelled."""
        self.cancelled.set()

    def _complete(self, model: str, messages: list[dict], emit, role: str, subcall: int | None = None) -> str:
        if self.cancelled.is_set():
            raise Cancelled("the run was cancelled")
        self.budget.admit()
        call_id = next(self._ids)
        try:
            with self.gate:
                emit(ev.MODEL_START, call_id=call_id, role=role, model=model, subcall=subcall)
                try:
                    c = self.model.complete(model, messages, timeout=self._call_timeout())
                except Exception as exc:
                    emit(ev.MODEL_END, call_id=call_id, role=role, model=model, subcall=subcall, status="error", error=str(exc),
                         prompt_tokens=0, completion_tokens=0, cost_usd=0.0, duration_s=0.0)
                    raise
            self.usage.record(model, c.prompt_tokens, c.completion_tokens, c.cost_usd)
        finally:
            self.budget.release()
        emit(ev.MODEL_END, call_id=call_id, role=role, model=model, subcall=subcall, status="ok", prompt_tokens=c.prompt_tokens,
             completion_tokens=c.completion_tokens, cost_usd=c.cost_usd, duration_s=round(c.duration_s, 4),
             text=c.text, totals=self._totals())
        return c.text

    def _call_timeout(self) -> float | None:
        left = self.budget.remaining_time()
        return None if left is None else max(left, 1.0)

    # ---- sub-calls from the REPL --------------------------------------------------------------------
    def _handler(self, node_id: str, depth: int):
        def handle(fn: str, args: dict) -> list[str]:
            batched = bool(args.get("batched"))
            emit = self._emitter(node_id, depth)
            call_id = next(self._ids)
            if fn == "llm_query":
                items = [(p,) for p in args["prompts"]]
                one = lambda p: self._llm_query(p, args.get("model"), emit, call_id)  # noqa: E731
            else:
                items = list(zip(args["questions"], args["contexts"]))
                one = lambda q, c: self._rlm_query(q, c, node_id, depth, call_id)  # noqa: E731
            emit(ev.SUBCALL_START, call_id=call_id, fn=fn, batched=batched, n=len(items),
                 previews=[str(it[0])[:200] for it in items[:8]])
            self.usage.count_sub_calls(len(items))
            t0 = time.monotonic()
            results = self._fan_out(one, items, emit, call_id, single=not batched)
            failed = sum(1 for r in results if r.startswith("Error:"))
            emit(ev.SUBCALL_END, call_id=call_id, fn=fn, n=len(items), failed=failed,
                 duration_s=round(time.monotonic() - t0, 4), previews=[r[:200] for r in results[:8]])
            return results

        return handle

    def _fan_out(self, one, items, emit, call_id, single: bool) -> list[str]:
        """Run items in parallel (bounded by --concurrency), results in order, one error string per failure."""
        def safe(item):
            try:
                return one(*item)
            except (ContextOverflow, NoAnswer) as exc:
                if single:
                    raise CallRefused(str(exc)) from None
                return f"Error: {exc}"
            except BackendError as exc:
                if single:
                    raise CallRefused(str(exc)) from None
                return f"Error: {exc}"
            except LimitExceeded as exc:
                raise CallRefused(f"run stopped: {exc}", fatal=True) from None

        if len(items) == 1:
            return [safe(items[0])]
        results: list[str | None] = [None] * len(items)
        done, fatal = 0, None
        workers = min(len(items), max(self.config.concurrency, 1))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rlm-batch")
        try:
            futures = {pool.submit(safe, it): i for i, it in enumerate(items)}
            for fut in _as_completed(futures):
                i = futures[fut]
                try:
                    results[i] = fut.result()
                except CallRefused as exc:
                    fatal = fatal or exc
                    results[i] = f"Error: {exc}"
                done += 1
                emit(ev.SUBCALL_PROGRESS, call_id=call_id, done=done, total=len(items))
        except BaseException:
            self.cancel()  # e.g. Ctrl-C: stop the siblings still running instead of waiting for them
            raise
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        if fatal is not None and fatal.fatal:
            raise fatal
        return [r or "" for r in results]

    def _llm_query(self, prompt: str, model: str | None, emit, subcall: int | None = None) -> str:
        model = allowed_model(model, self.config.sub, (self.config.root_model, *self.config.sub_models))
        check_prompt(prompt, self.config.sandbox.max_prompt_chars)
        window = self._sub_window()
        if window is not None:
            n = self._count(prompt)
            if n > window:
                raise ContextOverflow(
                    f"prompt of {n:,} tokens is larger than the sub model's window ({window:,} tokens): split it into smaller chunks")
        return self._complete(model, [{"role": "user", "content": prompt}], emit, role="sub", subcall=subcall)

    def _rlm_query(self, question: str, sub_context: str, parent: str, depth: int, subcall: int | None = None) -> str:
        if depth + 1 > self.config.limits.max_depth:
            prompt = f"{question}\n\n{sub_context}" if sub_context else question
            return self._llm_query(prompt, None, self._emitter(parent, depth), subcall)
        with self._id_lock:
            counter = self._child_ids.setdefault(parent, itertools.count(1))
            child_id = f"{parent}.{next(counter)}"
        sources = [{"name": f"<sub-context of {parent}>", "kind": "text", "start": 0, "end": len(sub_context), "pages": []}]
        return self.node(question, sub_context, sources, depth + 1, child_id)

    # ---- helpers ------------------------------------------------------------------------------------
    def _emitter(self, node_id: str, depth: int):
        bus = self.bus

        def emit(kind: str, **data):
            bus.emit(kind, node_id, depth, **data)

        return emit

    def _tokenizer_ready(self) -> bool:
        """Whether exact counts are cheap now; if not, start loading the tokenizer in the background
        (~0.1-0.2 s) so that the first model request does not wait for it."""
        counter = self.config.count_tokens
        if counter and not getattr(counter, "ready", lambda: True)():
            getattr(counter, "prefetch", lambda: None)()
            return False
        return True

    def _context_tokens(self, text: str) -> int:
        """The context's size for the prompt: exact if the tokenizer is loaded, else estimated."""
        return self._count(text) if self._tokenizer_ready() else approx_tokens(text)

    def _count(self, text: str) -> int:
        """Tokens in `text`: exact up to EXACT_COUNT_CHARS, else extrapolated from evenly spread samples
        (tokenizing a 100 MB context would take longer than the whole run's overhead)."""
        counter = self.config.count_tokens
        if not counter:
            return approx_tokens(text)
        from .tokens import sampled_count

        return sampled_count(counter, text, EXACT_COUNT_CHARS)[0]

    def _sub_window(self) -> int | None:
        if self.config.sub_window_tokens is not None:
            return self.config.sub_window_tokens
        return self._window(self.config.sub)

    def _window(self, model: str) -> int | None:
        from .backends.router import Endpoint, context_window

        endpoint = getattr(self.model, "endpoint", None)
        return context_window(endpoint(model) if endpoint else Endpoint(model))

    def _fit_history(self, messages: list[dict]) -> None:
        """Keep the root conversation inside the root model's window: replace the oldest turns'
        replies and REPL outputs by a stub (the REPL keeps every variable, so nothing is lost there).
        The system prompt, the question and the last two turns always stay."""
        window = self.config.root_window_tokens or self._window(self.config.root_model)
        if not window:
            return
        budget = int(window * 0.8)
        count = self._count if self._tokenizer_ready() else approx_tokens
        sizes = [count(m["content"]) for m in messages]
        i = 2  # messages[0] system, [1] the question; then assistant/user pairs
        while sum(sizes) > budget and i < len(messages) - 4:
            if not messages[i]["content"].startswith(OMITTED[:20]):
                messages[i] = {"role": messages[i]["role"], "content": OMITTED}
                sizes[i] = count(OMITTED)
            i += 1

    def _budget_text(self) -> str:
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

    def _totals(self) -> dict:
        u = self.usage
        return {"calls": u.calls, "tokens": u.tokens, "cost_usd": round(u.cost_usd, 6), "elapsed_s": round(self.budget.elapsed(), 3)}


def _as_completed(futures):
    from concurrent.futures import as_completed

    return as_completed(futures)


def _limits_dict(limits: Limits) -> dict:
    return {k: v for k, v in vars(limits).items() if v is not None}


__all__ = ["Run", "RunConfig", "RunResult", "NoAnswer", "RLMError"]
