"""Events: the engine's only output channel. Renderers, the JSON result and the trajectory are sinks."""
from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Protocol

# Event kinds (the `kind` field); data keys are documented next to each.
RUN_START = "run_start"  # run_id, question, context_chars, context_tokens?, sources, root_model, sub_model, limits
NODE_START = "node_start"  # question, context_chars, parent (node id or None)
ITERATION = "iteration"  # iteration, max_iterations
MODEL_START = "model_start"  # call_id, role (root|sub), model
MODEL_END = "model_end"  # call_id, role, model, prompt_tokens, completion_tokens, cost_usd, duration_s, status, error?, text?
CODE_START = "code_start"  # iteration, block, code
CODE_END = "code_end"  # iteration, block, output, error, duration_s, timed_out, restarted, has_final
SUBCALL_START = "subcall_start"  # call_id, fn (llm_query|rlm_query), batched, n, previews
SUBCALL_PROGRESS = "subcall_progress"  # call_id, done, total, failed
SUBCALL_END = "subcall_end"  # call_id, fn, n, failed, duration_s
NODE_END = "node_end"  # status (ok|no_answer|error|limit), answer, iterations
WARNING = "warning"  # message
RUN_END = "run_end"  # status, exit_code, answer, usage, cost_usd, duration_s, error?
INTERRUPTED = "interrupted"
FAILED = "failed"


@dataclass
class Event:
    kind: str
    node: str  # "r" for the root, "r.1", "r.1.3"... for child RLMs
    depth: int
    t: float  # seconds since the run started
    data: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Event":
        return cls(d["kind"], d.get("node", "r"), d.get("depth", 0), d.get("t", 0.0), d.get("data") or {})


class Sink(Protocol):
    def __call__(self, event: Event) -> None: ...


class EventBus:
    """Fans events out to sinks, in order, from any thread. A failing sink never breaks the run."""

    def __init__(self, sinks: list[Callable[[Event], None]] | None = None):
        self.sinks = list(sinks or [])
        self.t0 = time.monotonic()
        self._lock = threading.Lock()
        self.errors: list[str] = []

    def add(self, sink: Callable[[Event], None]) -> None:
        self.sinks.append(sink)

    def emit(self, kind: str, node: str = "r", depth: int = 0, **data) -> Event:
        with self._lock:
            event = Event(kind, node, depth, round(time.monotonic() - self.t0, 4), data)
            for sink in self.sinks:
                try:
                    sink(event)
                except Exception as exc:  # a display bug must not lose the answer
                    self.errors.append(f"{type(exc).__name__}: {exc}")
        return event
