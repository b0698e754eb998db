"""Events: the engine's only output channel. Renderers, the JSON result and the trajectory are sinks."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

# Event kinds (the `kind` field).
RUN_START = "run_start"
NODE_START = "node_start"
ITERATION = "iteration"
MODEL_START = "model_start"
MODEL_END = "model_end"
CODE_START = "code_start"
CODE_END = "code_end"
SUBCALL_START = "subcall_start"
SUBCALL_PROGRESS = "subcall_progress"
SUBCALL_END = "subcall_end"
NODE_END = "node_end"
WARNING = "warning"
RUN_END = "run_end"  # terminal: answered (status ok; unsupported with --evidence required) or stopped by a limit
INTERRUPTED = "interrupted"  # terminal: Ctrl-C
FAILED = "failed"  # terminal: backend failure, bad input met mid-run, or a bug

TERMINAL = (RUN_END, INTERRUPTED, FAILED)  # exactly one per run, always the last event

_TOTALS = ("calls", "tokens", "cost_usd", "duration_s")
# kind -> (data keys always present, keys that may be present). tests/test_events.py checks every event
# the engine emits against this table; trajectories, `rlm logs` and --json consumers rely on it.
SCHEMA: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    RUN_START: (("run_id", "wall_time", "question", "context_chars", "sources", "root_model", "sub_model", "limits",
                 "concurrency"), ("conversation",)),
    NODE_START: (("question", "context_chars", "parent"), ()),
    ITERATION: (("iteration", "max_iterations"), ()),
    MODEL_START: (("call_id", "role", "model", "subcall"), ()),
    MODEL_END: (("call_id", "role", "model", "subcall", "status", "prompt_tokens", "completion_tokens", "cost_usd",
                 "duration_s"), ("text", "totals", "error", "cached_tokens", "cache_write_tokens", "cached")),
    CODE_START: (("iteration", "block", "code"), ()),
    CODE_END: (("iteration", "block", "output", "error", "duration_s", "timed_out", "restarted", "has_final"), ()),
    SUBCALL_START: (("call_id", "fn", "batched", "n", "previews"), ()),
    SUBCALL_PROGRESS: (("call_id", "done", "total"), ()),
    SUBCALL_END: (("call_id", "fn", "n", "failed", "duration_s", "previews"), ()),
    NODE_END: (("status", "answer", "iterations"), ("error", "citations", "forced")),
    WARNING: (("message",), ()),
    RUN_END: (("status", "exit_code", "answer", "error", "usage") + _TOTALS,
              ("cache_hits", "citations", "supported", "forced", "confidence", "model_answer")),
    INTERRUPTED: (("error", "exit_code") + _TOTALS, ("cache_hits",)),
    FAILED: (("error", "exit_code") + _TOTALS, ("cache_hits",)),
}


@dataclass
class Event:
    kind: str
    node: str  # "r" for the root, "r.1", "r.1.3"... for child RLMs
    depth: int
    t: float  # seconds since the run started
    data: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "node": self.node, "depth": self.depth, "t": self.t, "data": self.data}

    @classmethod
    def from_dict(cls, d: dict) -> "Event":
        return cls(d["kind"], d.get("node", "r"), d.get("depth", 0), d.get("t", 0.0), d.get("data") or {})


class Sink(Protocol):
    def __call__(self, event: Event) -> None: ...


class EventBus:
    """Fans events out to sinks, in order, from any thread. A failing sink never breaks the run."""

    def __init__(self, sinks: list[Sink] | None = None):
        self.sinks = list(sinks or [])
        self.t0 = time.monotonic()
        self._lock = threading.Lock()
        self.errors: list[str] = []
        self.closed = False

    def add(self, sink: Sink) -> None:
        self.sinks.append(sink)

    def close(self) -> None:
        """The run is over: later events (a sub-call still finishing after Ctrl-C) are dropped."""
        with self._lock:
            self.closed = True

    def emit(self, kind: str, node: str = "r", depth: int = 0, **data) -> Event:
        with self._lock:
            event = Event(kind, node, depth, round(time.monotonic() - self.t0, 4), data)
            if self.closed:
                return event
            for sink in self.sinks:
                try:
                    sink(event)
                except Exception as exc:  # a display bug must not lose the answer
                    self.errors.append(f"{type(exc).__name__}: {exc}")
        return event
