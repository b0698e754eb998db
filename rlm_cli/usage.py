"""Usage accounting over the whole recursion tree, and the budgets checked before every model call."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from .errors import BudgetSpent, LimitExceeded


@dataclass
class ModelUsage:
    calls: int = 0  # requests sent (answers from the response cache are not calls)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cached_tokens: int = 0  # of prompt_tokens: read from the provider's prompt cache
    cache_write_tokens: int = 0  # of prompt_tokens: written to the provider's prompt cache
    cache_hits: int = 0  # answers taken from rlm's response cache (--cache): no request, no cost

    def as_dict(self) -> dict:
        return {"calls": self.calls, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "cost_usd": round(self.cost_usd, 6),
                "cached_tokens": self.cached_tokens, "cache_write_tokens": self.cache_write_tokens,
                "cache_hits": self.cache_hits}


@dataclass
class Limits:
    max_iterations: int = 20
    max_depth: int = 1
    max_calls: int | None = None  # model calls over the whole tree (root + sub + children)
    max_cost: float | None = None  # USD
    max_tokens: int | None = None  # prompt + completion tokens over the whole tree
    timeout: float | None = None  # wall seconds for the run


@dataclass
class Usage:
    """Thread-safe totals; children and batched calls add to the same object."""

    by_model: dict[str, ModelUsage] = field(default_factory=dict)
    sub_calls: int = 0  # llm_query/rlm_query prompts served
    max_depth_reached: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, model: str, prompt_tokens: int, completion_tokens: int, cost_usd: float, *,
               cached_tokens: int = 0, cache_write_tokens: int = 0) -> None:
        with self._lock:
            u = self.by_model.setdefault(model, ModelUsage())
            u.calls += 1
            u.prompt_tokens += prompt_tokens
            u.completion_tokens += completion_tokens
            u.cost_usd += cost_usd
            u.cached_tokens += cached_tokens
            u.cache_write_tokens += cache_write_tokens

    def record_hit(self, model: str) -> None:
        """An answer from the response cache: counted, but no call, no tokens, no cost."""
        with self._lock:
            self.by_model.setdefault(model, ModelUsage()).cache_hits += 1

    def count_sub_calls(self, n: int) -> None:
        with self._lock:
            self.sub_calls += n

    def reach_depth(self, depth: int) -> None:
        with self._lock:
            self.max_depth_reached = max(self.max_depth_reached, depth)

    @property
    def calls(self) -> int:
        return sum(u.calls for u in self.by_model.values())

    @property
    def tokens(self) -> int:
        return sum(u.prompt_tokens + u.completion_tokens for u in self.by_model.values())

    @property
    def cached_tokens(self) -> int:
        return sum(u.cached_tokens for u in self.by_model.values())

    @property
    def cache_hits(self) -> int:
        return sum(u.cache_hits for u in self.by_model.values())

    @property
    def cost_usd(self) -> float:
        return sum(u.cost_usd for u in self.by_model.values())

    def as_dict(self) -> dict:
        return {name: u.as_dict() for name, u in sorted(self.by_model.items())}


class Budget:
    """Checks the limits against the usage. `check()` before every model call."""

    def __init__(self, limits: Limits, usage: Usage, shared=None):
        self.limits = limits
        self.usage = usage
        self.shared = shared  # a SharedBudget (or its Ray proxy) over many runs: checked and charged too
        self.started = time.monotonic()
        self._reserved = 0  # calls admitted but not yet recorded (parallel batches)
        self._lock = threading.Lock()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining_time(self) -> float | None:
        if self.limits.timeout is None:
            return None
        return self.limits.timeout - self.elapsed()

    def check(self) -> None:
        reason = self.exceeded()
        if reason:
            raise LimitExceeded(reason)
        if self.shared is not None:
            self.shared.check()

    def exceeded(self) -> str | None:
        lim, u = self.limits, self.usage
        if lim.timeout is not None and self.elapsed() >= lim.timeout:
            return f"time limit of {lim.timeout:g} s reached"
        if lim.max_calls is not None and u.calls + self._reserved >= lim.max_calls:
            return f"call limit of {lim.max_calls} model calls reached"
        if lim.max_cost is not None and u.cost_usd >= lim.max_cost:
            return f"cost limit of ${lim.max_cost:g} reached (spent ${u.cost_usd:.4f})"
        if lim.max_tokens is not None and u.tokens >= lim.max_tokens:
            return f"token limit of {lim.max_tokens:,} reached"
        return None

    def admit(self) -> None:
        """Check and reserve one call slot atomically (so a parallel batch cannot overshoot max_calls);
        then the same in the shared budget, if any."""
        with self._lock:
            reason = self.exceeded()
            if reason:
                raise LimitExceeded(reason)
            self._reserved += 1
        if self.shared is not None:
            try:
                self.shared.admit()
            except BaseException:
                self.release(shared=False)
                raise

    def release(self, shared: bool = True) -> None:
        with self._lock:
            self._reserved -= 1
        if shared and self.shared is not None:
            self.shared.release()

    def record(self, model: str, prompt_tokens: int, completion_tokens: int, cost_usd: float, **cache) -> None:
        """A finished call: into this run's usage (with its prompt-cache counts) and the shared budget's."""
        self.usage.record(model, prompt_tokens, completion_tokens, cost_usd, **cache)
        if self.shared is not None:
            self.shared.record(model, prompt_tokens, completion_tokens, cost_usd)

    def summary(self) -> dict:
        lim, u = self.limits, self.usage
        left = {}
        if lim.max_calls is not None:
            left["calls"] = max(lim.max_calls - u.calls, 0)
        if lim.max_cost is not None:
            left["cost_usd"] = round(max(lim.max_cost - u.cost_usd, 0.0), 6)
        if lim.max_tokens is not None:
            left["tokens"] = max(lim.max_tokens - u.tokens, 0)
        if lim.timeout is not None:
            left["seconds"] = round(max(lim.timeout - self.elapsed(), 0.0), 1)
        return left


class SharedBudget:
    """One model-call gate and one budget (calls, tokens, cost) shared by many runs, e.g. a batch's
    tasks. A run given one (RunConfig.shared) holds `gate` around each model call and is charged here
    as well as in its own Budget; once spent, every run's next call raises BudgetSpent. Thread-safe.
    (The Ray engine gives workers a proxy with the same methods, backed by one actor.)"""

    def __init__(self, limits: Limits | None = None, concurrency: int = 8):
        self.limits = limits or Limits()
        self.usage = Usage()
        self.gate = threading.BoundedSemaphore(max(concurrency, 1))
        self._budget = Budget(Limits(max_calls=self.limits.max_calls, max_cost=self.limits.max_cost,
                                     max_tokens=self.limits.max_tokens), self.usage)

    def exceeded(self) -> str | None:
        reason = self._budget.exceeded()
        return f"the batch's {reason}" if reason else None

    def check(self) -> None:
        reason = self.exceeded()
        if reason:
            raise BudgetSpent(reason)

    def admit(self) -> None:
        try:
            self._budget.admit()
        except LimitExceeded as exc:
            raise BudgetSpent(f"the batch's {exc}") from None

    def release(self) -> None:
        self._budget.release()

    def record(self, model: str, prompt_tokens: int, completion_tokens: int, cost_usd: float) -> None:
        self.usage.record(model, prompt_tokens, completion_tokens, cost_usd)

    def totals(self) -> dict:
        u = self.usage
        return {"calls": u.calls, "tokens": u.tokens, "cost_usd": round(u.cost_usd, 6)}
