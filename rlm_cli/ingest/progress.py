"""A Rich progress bar for ingestion, drawn on a stderr Console.

It appears only when ingestion has already taken more than `delay` seconds and the console is a
terminal, so quick runs and pipes/cron jobs (non-TTY stderr) see nothing. The bar is transient:
it disappears when ingestion ends. Nested starts (the pages of one PDF, the OCR of its scans,
a download, inside a run over several files) get their own line under the outer bar; a unit of
"bytes" is shown as MB downloaded (and the total, when the server announced it).
"""
from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class _Task:
    total: int
    unit: str
    description: str
    done: int = 0
    id: object = None


def _amount(t: _Task) -> str:
    if t.unit == "bytes":
        done = f"{t.done / 1e6:,.1f}"
        return f"{done}/{t.total / 1e6:,.1f} MB" if t.total else f"{done} MB"
    return f"{t.done:,}/{t.total:,} {t.unit}" if t.total else f"{t.done:,} {t.unit}"


class RichProgress:
    """ProgressSink drawing a Rich bar on `console` (a rich.console.Console on stderr)."""

    def __init__(self, console, *, delay: float = 1.0, force: bool = False):
        self.console = console
        self.delay = delay
        self.enabled = force or bool(getattr(console, "is_terminal", False))
        self._bar = None
        self._stack: list[_Task] = []
        self._t0 = 0.0

    def start(self, total: int, unit: str, description: str) -> None:
        if not self._stack:
            self._t0 = time.monotonic()
        self._stack.append(_Task(int(total or 0), unit, description))

    def advance(self, n: int = 1) -> None:
        if not self._stack:
            return
        task = self._stack[-1]
        task.done += n
        if not self.enabled:
            return
        if self._bar is None:
            if time.monotonic() - self._t0 < self.delay or (task.total and task.done >= task.total and len(self._stack) == 1):
                return
            self._open()
        for t in self._stack:
            if t.id is None:
                t.id = self._bar.add_task(t.description, total=t.total or None, completed=t.done, amount=_amount(t))
        self._bar.update(task.id, completed=task.done, amount=_amount(task))

    def _open(self) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[amount]}"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self._bar.start()

    @property
    def shown(self) -> bool:
        return self._bar is not None

    def finish(self) -> None:
        if self._stack:
            task = self._stack.pop()
            if self._bar is not None and task.id is not None:
                self._bar.remove_task(task.id)
        if not self._stack and self._bar is not None:
            self._bar.stop()
            self._bar = None


class Nested:
    """Wraps the run's sink for one item of a multi-source run: forwards everything, and closes
    whatever the item's reader left open (readers need not call finish)."""

    def __init__(self, sink):
        self.sink = sink
        self.open = 0

    def start(self, total: int, unit: str, description: str) -> None:
        self.open += 1
        self.sink.start(total, unit, description)

    def advance(self, n: int = 1) -> None:
        if self.open:
            self.sink.advance(n)

    def finish(self) -> None:
        if self.open:
            self.open -= 1
            self.sink.finish()

    def close(self) -> None:
        while self.open:
            self.finish()
