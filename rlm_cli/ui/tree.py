"""The recursion tree as state folded from events (the live display and `rlm logs show` render it: tree_view.py).

`TreeState.apply(event)` is cheap (dict look-ups, no rendering) and safe from any thread; `__rich__`
builds the Rich objects (tree_view.Builder) under the same lock, bounded by the collapse options, so a live display can
refresh from its own thread while the run keeps emitting events.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable

from .. import events as ev

@dataclass
class RenderOptions:
    live: bool = False  # collapse finished child RLMs and old iterations; bound the height
    show_timings: bool = True  # False: no durations (deterministic text for tests)
    spinner: bool = True  # animated spinner on running items (else "…")
    keep_iterations: int | None = None  # show only the last N iterations of a node in full
    batch_items: int = 3  # items of a batch shown before "… N more"
    code_lines: int = 8
    output_lines: int = 3
    clock: Callable[[], float] | None = None  # seconds since the run started, for running items
    max_height: int | None = None  # live: keep the first line and the last lines within this height

    @classmethod
    def for_live(cls, **kw) -> "RenderOptions":
        return cls(live=True, keep_iterations=2, **kw)


@dataclass
class Call:
    call_id: int
    role: str
    model: str
    t0: float
    status: str = "running"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    duration_s: float | None = None
    text: str = ""
    error: str | None = None
    cached_tokens: int = 0  # read from the provider's prompt cache
    cached: bool = False  # answered by rlm's response cache (no request)


@dataclass
class SubCall:
    call_id: int
    fn: str
    batched: bool
    n: int
    t0: float
    previews: list = field(default_factory=list)
    results: list = field(default_factory=list)
    done: int = 0
    failed: int = 0
    status: str = "running"
    duration_s: float | None = None
    calls: list = field(default_factory=list)  # sub-model Calls
    children: list = field(default_factory=list)  # child Nodes (rlm_query)


@dataclass
class Block:
    block: int
    code: str
    t0: float
    status: str = "running"
    output: str = ""
    error: str | None = None
    duration_s: float | None = None
    timed_out: bool = False
    restarted: bool = False
    has_final: bool = False
    subcalls: list = field(default_factory=list)


@dataclass
class Iteration:
    n: int
    max_n: int
    t0: float
    t1: float | None = None
    call: Call | None = None
    blocks: list = field(default_factory=list)
    loose: list = field(default_factory=list)  # sub-calls outside a code block (should not happen)
    last_chance: bool = False


@dataclass
class Node:
    id: str
    depth: int
    question: str
    context_chars: int
    t0: float
    status: str = "running"
    t1: float | None = None
    answer: str | None = None
    error: str | None = None
    model: str = ""
    iterations: list = field(default_factory=list)
    calls: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    open_block: Block | None = None
    open_sub: SubCall | None = None


class TreeState:
    """Everything the tree shows, folded from events. Thread-safe; render with `rich` (it is `__rich__`)."""

    def __init__(self, options: RenderOptions | None = None):
        self.options = options or RenderOptions()
        self.lock = threading.RLock()
        self.run: dict = {}
        self.root: Node | None = None
        self.nodes: dict[str, Node] = {}
        self.calls: dict[int, Call] = {}
        self.subs: dict[int, SubCall] = {}
        self.warnings: list[str] = []
        self.status = "running"
        self.answer: str | None = None
        self.error: str | None = None
        self.citations: list[dict] = []  # the run's evidence (RUN_END), as event dicts
        self.labels: dict = {}  # supported / forced / confidence (RUN_END)
        self.calls_total = 0
        self.cache_hits = 0  # answers from the response cache
        self.tokens_total = 0
        self.cost_total = 0.0
        self.last_t = 0.0
        self.duration_s: float | None = None
        self.events = 0

    @classmethod
    def from_events(cls, events, options: RenderOptions | None = None) -> "TreeState":
        state = cls(options)
        for e in events:
            state.apply(e)
        return state

    # ---- folding --------------------------------------------------------------------------------
    def __call__(self, event: ev.Event) -> None:
        self.apply(event)

    def apply(self, e: ev.Event) -> None:
        handler = _HANDLERS.get(e.kind)
        with self.lock:
            self.events += 1
            self.last_t = max(self.last_t, e.t)
            if handler is not None:
                handler(self, e, e.data)

    def _run_start(self, e, d):
        self.run = dict(d)

    def _node_start(self, e, d):
        node = Node(e.node, e.depth, str(d.get("question", "")), int(d.get("context_chars") or 0), e.t)
        self.nodes[e.node] = node
        parent = self.nodes.get(d.get("parent") or "")
        if parent is None:
            if self.root is None:
                self.root = node
            return
        sub = parent.open_sub
        if sub is None:  # no open rlm_query: hang it on the parent's current block
            sub = SubCall(-1, "rlm_query", False, 1, e.t)
            self._attach_sub(parent, sub)
            parent.open_sub = sub
        sub.children.append(node)

    def _iteration(self, e, d):
        node = self.nodes.get(e.node)
        if node is not None:
            node.iterations.append(Iteration(int(d.get("iteration", len(node.iterations) + 1)),
                                             int(d.get("max_iterations", 0)), e.t))

    def _current_iteration(self, node: Node, t: float) -> Iteration:
        if not node.iterations:
            node.iterations.append(Iteration(1, 0, t))
        return node.iterations[-1]

    def _model_start(self, e, d):
        node = self.nodes.get(e.node)
        call = Call(int(d.get("call_id", -1)), str(d.get("role", "")), str(d.get("model", "")), e.t)
        self.calls[call.call_id] = call
        if node is None:
            return
        if call.role == "root":
            node.model = call.model
            it = self._current_iteration(node, e.t)
            if it.call is not None:  # the last-chance turn has no iteration event
                prev = it
                it = Iteration(prev.n + 1, prev.max_n, e.t, last_chance=True)
                node.iterations.append(it)
            it.call = call
        elif node.open_sub is not None:
            node.open_sub.calls.append(call)
        else:
            self._current_iteration(node, e.t).loose.append(call)

    def _model_end(self, e, d):
        call = self.calls.get(int(d.get("call_id", -1)))
        if call is None:
            return
        status = d.get("status", "ok")
        call.status = status if status in ("ok", "interrupted") else "error"
        call.prompt_tokens = int(d.get("prompt_tokens") or 0)
        call.completion_tokens = int(d.get("completion_tokens") or 0)
        call.cost_usd = float(d.get("cost_usd") or 0.0)
        call.duration_s = d.get("duration_s")
        call.text = str(d.get("text") or "")
        call.error = d.get("error")
        call.cached_tokens = int(d.get("cached_tokens") or 0)
        call.cached = bool(d.get("cached"))
        node = self.nodes.get(e.node)
        tokens = call.prompt_tokens + call.completion_tokens
        if call.cached:
            self.cache_hits += 1
        elif call.status == "ok":
            self.calls_total += 1
            if node is not None:
                node.calls += 1
        self.tokens_total += tokens
        self.cost_total += call.cost_usd
        if node is not None:
            node.tokens += tokens
            node.cost_usd += call.cost_usd

    def _code_start(self, e, d):
        node = self.nodes.get(e.node)
        if node is None:
            return
        block = Block(int(d.get("block", 1)), str(d.get("code", "")), e.t)
        self._current_iteration(node, e.t).blocks.append(block)
        node.open_block = block

    def _code_end(self, e, d):
        node = self.nodes.get(e.node)
        block = node.open_block if node else None
        if block is None:
            return
        block.output = str(d.get("output") or "")
        block.error = d.get("error")
        block.duration_s = d.get("duration_s")
        block.timed_out = bool(d.get("timed_out"))
        block.restarted = bool(d.get("restarted"))
        block.has_final = bool(d.get("has_final"))
        block.status = "timeout" if block.timed_out else ("error" if block.error else "ok")
        node.open_block = None
        it = self._current_iteration(node, e.t)
        it.t1 = e.t

    def _attach_sub(self, node: Node, sub: SubCall) -> None:
        if node.open_block is not None:
            node.open_block.subcalls.append(sub)
        else:
            self._current_iteration(node, sub.t0).loose.append(sub)

    def _subcall_start(self, e, d):
        node = self.nodes.get(e.node)
        if node is None:
            return
        sub = SubCall(int(d.get("call_id", -1)), str(d.get("fn", "")), bool(d.get("batched")), int(d.get("n") or 0),
                      e.t, previews=list(d.get("previews") or []))
        self.subs[sub.call_id] = sub
        self._attach_sub(node, sub)
        node.open_sub = sub

    def _subcall_progress(self, e, d):
        sub = self.subs.get(int(d.get("call_id", -1)))
        if sub is not None:
            sub.done = max(sub.done, int(d.get("done") or 0))
            sub.failed = int(d.get("failed") or sub.failed)

    def _subcall_end(self, e, d):
        sub = self.subs.get(int(d.get("call_id", -1)))
        if sub is None:
            return
        sub.done = sub.n
        sub.failed = int(d.get("failed") or 0)
        sub.duration_s = d.get("duration_s")
        sub.results = list(d.get("previews") or [])
        sub.status = "error" if sub.failed and sub.failed == sub.n else "ok"
        node = self.nodes.get(e.node)
        if node is not None and node.open_sub is sub:
            node.open_sub = None

    def _node_end(self, e, d):
        node = self.nodes.get(e.node)
        if node is None:
            return
        node.status = str(d.get("status") or "ok")
        node.answer = d.get("answer")
        node.error = d.get("error")
        node.t1 = e.t
        if node.iterations and node.iterations[-1].t1 is None:
            node.iterations[-1].t1 = e.t

    def _warning(self, e, d):
        self.warnings.append(str(d.get("message", "")))

    def _run_end(self, e, d):
        self.status = str(d.get("status") or "ok")
        self.answer = d.get("answer")
        self.error = d.get("error")
        self.citations = [c for c in d.get("citations") or [] if isinstance(c, dict)]
        self.labels = {k: d[k] for k in ("supported", "forced", "confidence", "model_answer") if k in d}
        self.duration_s = d.get("duration_s", e.t)
        self._settle(e.t, "error" if self.status not in ("ok", "unsupported") else "ok")

    def _stopped(self, e, d):
        self.status = "interrupted" if e.kind == ev.INTERRUPTED else "error"
        self.error = d.get("error") or ("interrupted" if e.kind == ev.INTERRUPTED else "failed")
        if e.kind == ev.INTERRUPTED:  # nodes unwound by Ctrl-C ended with status error and no message
            for node in self.nodes.values():
                if node.status == "error" and not node.error:
                    node.status = "interrupted"
        self.duration_s = d.get("duration_s", e.t)
        self._settle(e.t, self.status)

    def _settle(self, t: float, status: str) -> None:
        """Mark whatever is still running as stopped (the run is over)."""
        for node in self.nodes.values():
            if node.status == "running":
                node.status, node.t1 = status, t
            for it in node.iterations:
                it.t1 = it.t1 if it.t1 is not None else t
                for block in it.blocks:
                    if block.status == "running":
                        block.status = status
                    for sub in block.subcalls:
                        if sub.status == "running":
                            sub.status = status
        for call in self.calls.values():
            if call.status == "running":
                call.status = status

    # ---- reading --------------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.status != "running"

    def now(self) -> float:
        clock = self.options.clock
        if self.finished or clock is None:
            return self.last_t
        return max(clock(), self.last_t)

    def __rich__(self):
        from .tree_view import Builder

        with self.lock:
            return Builder(self).build()


_HANDLERS = {
    ev.RUN_START: TreeState._run_start,
    ev.NODE_START: TreeState._node_start,
    ev.ITERATION: TreeState._iteration,
    ev.MODEL_START: TreeState._model_start,
    ev.MODEL_END: TreeState._model_end,
    ev.CODE_START: TreeState._code_start,
    ev.CODE_END: TreeState._code_end,
    ev.SUBCALL_START: TreeState._subcall_start,
    ev.SUBCALL_PROGRESS: TreeState._subcall_progress,
    ev.SUBCALL_END: TreeState._subcall_end,
    ev.NODE_END: TreeState._node_end,
    ev.WARNING: TreeState._warning,
    ev.RUN_END: TreeState._run_end,
    ev.INTERRUPTED: TreeState._stopped,
    ev.FAILED: TreeState._stopped,
}


# the view's helpers, re-exported for the HTML report and older imports
from .tree_view import ICONS, STYLES, fmt_duration, fmt_tokens, short  # noqa: E402,F401
