"""A Rich progress bar for ingestion, drawn on a stderr Console.

It appears only when ingestion has already taken more than `delay` seconds and the console is a
terminal, so quick runs and pipes/cron jobs (non-TTY stderr) see nothing. The bar is transient:
it disappears when ingestion ends.
"""
from __future__ import annotations

import time


class RichProgress:
    """ProgressSink drawing a Rich bar on `console` (a rich.console.Console on stderr)."""

    def __init__(self, console, *, delay: float = 1.0, force: bool = False):
        self.console = console
        self.delay = delay
        self.enabled = force or bool(getattr(console, "is_terminal", False))
        self._bar = None
        self._task = None
        self._t0 = 0.0
        self._total = 0
        self._done = 0
        self._unit = ""
        self._desc = ""
        self._depth = 0

    def start(self, total: int, unit: str, description: str) -> None:
        self._depth += 1
        if self._depth > 1:  # nested (a PDF inside a multi-file run): keep the outer bar
            return
        self._t0 = time.monotonic()
        self._total, self._done, self._unit, self._desc = total, 0, unit, description

    def advance(self, n: int = 1) -> None:
        if self._depth > 1:
            return
        self._done += n
        if not self.enabled:
            return
        if self._bar is None:
            if time.monotonic() - self._t0 < self.delay or self._done >= self._total:
                return
            self._open()
        self._bar.update(self._task, completed=self._done)

    def _open(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(self._unit),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task(self._desc, total=self._total, completed=self._done)

    @property
    def shown(self) -> bool:
        return self._bar is not None

    def finish(self) -> None:
        if self._depth > 1:
            self._depth -= 1
            return
        self._depth = 0
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
