"""A Conversation: its sources, one REPL worker whose variables survive between questions, the
exchange so far and its usage. `rlm ask -c`, `rlm chat`, the Python API (and later batch and MCP) all
run questions through this one object; each question is an ordinary run of the engine."""
from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path

from ..context import Context
from ..errors import LimitExceeded
from ..runs import RunOptions, limits, make_run, run_config
from ..sandbox import state
from .preamble import preamble
from .store import Exchange, Meta, Store, new_id

CAP_KEYS = ("max_calls", "max_cost", "max_tokens")
SPENT = {"max_calls": "calls", "max_cost": "cost_usd", "max_tokens": "tokens"}


class Conversation:
    def __init__(self, resolved, options: RunOptions, context: Context, *, store: Store | None = None,
                 meta: Meta | None = None, caps: dict | None = None, lock=None):
        self.resolved, self.options, self.context = resolved, options, context
        self.store = store
        self.meta = meta or Meta(new_id())
        self.caps = {k: v for k, v in (caps or {}).items() if k in CAP_KEYS and v is not None}  # whole conversation
        self.box = None
        self.last_state = state.StateReport()
        self._tmp = None if store is not None else Path(tempfile.mkdtemp(prefix="rlm-conversation-"))
        self._lock = lock  # held (an ExitStack) until close(): one process per stored conversation
        self._run = None  # the run of the question being asked (for cancel())
        self._cancelled = False

    @property
    def id(self) -> str:
        return self.meta.id

    @property
    def state_file(self) -> Path:
        return self.store.state_path(self.id) if self.store is not None else self._tmp / state.STATE_FILE

    # ---- asking ---------------------------------------------------------------------------------------
    def ask(self, question: str, sinks=()):
        """Run `question` as a root node over this conversation's REPL; returns the RunResult."""
        lim = self._question_limits()
        run = make_run(self.resolved, self.options, limits=lim)
        for sink in sinks:
            run.bus.add(sink)
        box = self.repl()
        told = preamble(self.meta.exchanges, state.variables(box) if self.meta.exchanges else [],
                        self.last_state.skipped, run.config.root_window_tokens)
        self._run, self._cancelled = run, False
        try:
            result = run.execute(question, self.context, sandbox=box, preamble=told, conversation=self.id)
        finally:
            self._run = None
        self._record(result)
        return result

    def cancel(self) -> None:
        """Stop the question being asked, from another thread (an MCP client's cancellation): no model
        call starts after this, a running code block is killed, and the REPL goes back to the variables
        saved after the last question that finished."""
        self._cancelled = True
        run, box = self._run, self.box
        if run is not None:
            run.cancel()
        if box is not None:
            box.interrupt()

    def _question_limits(self):
        """The run's limits, lowered to what is left of the conversation-wide caps."""
        lim = limits(self.options, self.resolved.limits)
        for key, cap in self.caps.items():
            left = cap - self.meta.usage.get(SPENT[key], 0)
            if left <= 0:
                raise LimitExceeded(f"conversation '{self.id}': its {key.replace('max_', '')} cap of {cap:g} is spent")
            current = getattr(lim, key)
            setattr(lim, key, left if current is None else min(current, left))
        return lim

    def _record(self, result) -> None:
        u = result.usage
        self.meta.exchanges.append(Exchange(result.question, result.answer, result.status, result.run_id,
                                            result.trajectory_path, round(u.cost_usd, 6), u.tokens, u.calls))
        for key, value in (("calls", u.calls), ("tokens", u.tokens), ("cost_usd", u.cost_usd)):
            self.meta.usage[key] = round(self.meta.usage.get(key, 0) + value, 6)
        if self._cancelled:  # cancelled: the REPL may have been killed mid-block; the saved variables stay
            self.close_repl(graceful=False)
        elif self.box is not None and self.box.busy:  # stopped mid-block: back to the last saved variables
            self._fresh_repl()
        else:
            self.save_state()
        self._persist()

    # ---- the REPL ------------------------------------------------------------------------------------
    def repl(self):
        """The conversation's worker, started on first use with the variables saved last time."""
        if self.box is None:
            from ..sandbox import SubprocessSandbox

            options = run_config(self.resolved, self.options).sandbox
            self.box = SubprocessSandbox(self.context.text, [s.as_dict() for s in self.context.sources], options)
            if self.state_file.is_file():
                self._restore()  # (waits for the worker: it unpickles the saved variables)
            else:
                self.box.launch()  # ready by the time the first model reply has code to run
        return self.box

    def _restore(self) -> None:
        if self.state_file.is_file():
            report = state.load(self.box, self.state_file)
            kept = set(report.saved)
            lost = [(n, why) for n, why in self.last_state.skipped if n not in kept]
            self.last_state = dataclasses.replace(report, skipped=lost + report.skipped)

    def _fresh_repl(self) -> None:
        self.close_repl(graceful=False)
        self.repl()

    def save_state(self) -> state.StateReport:
        if self.box is None or self.box.proc is None:
            return self.last_state
        self.last_state = state.save(self.box, self.state_file)
        self.meta.state = {"saved": self.last_state.saved, "skipped": self.last_state.skipped,
                           "bytes": self.last_state.bytes, "error": self.last_state.error}
        return self.last_state

    def variables(self) -> list[state.VarInfo]:
        return state.variables(self.repl())

    def reset(self) -> None:
        """A fresh REPL: every variable dropped (the exchange so far is kept)."""
        self.close_repl(graceful=False)
        self.state_file.unlink(missing_ok=True)
        self.last_state = state.StateReport()
        self.meta.state = {}
        self._persist()

    def add(self, more: Context, group: dict | None = None) -> None:
        """More sources: the context grows at its end (offsets the variables hold stay valid); the
        worker is restarted over the new context with the variables carried over. `group`: how to
        read them again (conversation.inputs), recorded for a later process."""
        self.save_state()
        self.close_repl()
        self.context = self.context.concat(more)
        if group is not None:
            self.meta.inputs.append(group)
        self.remember_context()
        self._persist()

    def remember_context(self) -> None:
        from .inputs import context_sha256

        self.meta.sources = [s.name for s in self.context.sources]
        self.meta.context_sha256 = context_sha256(self.context)

    def rename(self, name: str) -> None:
        if self.store is not None:
            self.store.rename(self.meta, name)

    def use(self, resolved, models: dict | None = None) -> None:
        """Other models for the next questions (`/model NAME`)."""
        self.resolved = resolved
        self.meta.models.update(models or {})
        self._persist()

    # ---- the end -------------------------------------------------------------------------------------
    def close_repl(self, graceful: bool = True) -> None:
        if self.box is not None:
            box, self.box = self.box, None
            box.close(graceful=graceful)

    def close(self) -> None:
        try:
            self.close_repl()
        finally:
            if self._tmp is not None:
                shutil.rmtree(self._tmp, ignore_errors=True)
            if self._lock is not None:
                self._lock.close()

    def __enter__(self) -> "Conversation":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _persist(self) -> None:
        if self.store is not None:
            self.store.save(self.meta)
