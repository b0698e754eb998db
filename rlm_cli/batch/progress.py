"""What `rlm batch` shows on stderr: a Rich progress bar on a terminal (done / failed / cost so far /
ETA), one plain line per finished task otherwise, nothing but errors with -q. Task ids, questions and
errors come from files and models: every one is made a single clean line first."""
from __future__ import annotations

import re
import threading
import time

from .. import redact

_CONTROL = re.compile(r"(?:\x1b\[[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?|\x1b[^\[]?|[\x00-\x1f\x7f-\x9f\u2028\u2029])+")


def one_line(text, limit: int = 200) -> str:
    """Control characters and escape sequences removed, newlines folded, cut at `limit`."""
    s = _CONTROL.sub(" ", str(text if text is not None else "")).strip()
    s = re.sub(r"[\ud800-\udfff]", "\ufffd", s)
    return s if len(s) <= limit else s[: limit - 1] + "…"


class Plain:
    """No terminal: one line per finished task; -q: only failed tasks, errors and a summary if not all went well."""

    def __init__(self, stream, quiet: bool = False):
        self.stream, self.quiet = stream, quiet
        self.total = self.done = self.failed = 0
        self._lock = threading.Lock()

    def _write(self, line: str) -> None:
        try:
            with self._lock:
                self.stream.write(redact.redact(line) + "\n")
                self.stream.flush()
        except (OSError, ValueError):
            pass

    def start(self, total: int, skipped: int) -> None:
        self.total, self.done = total, skipped

    def task_done(self, outcome, totals: dict) -> None:
        self.done += 1
        rec = outcome.record
        failed = outcome.kind in ("failed", "fatal")
        self.failed += failed
        if self.quiet and not failed:
            return
        tail = f"error: {one_line(rec.get('error'))}" if failed else f"{rec.get('duration_s', 0):.1f} s, ${rec.get('cost_usd', 0):.4f}"
        self._write(f"rlm: batch: [{self.done}/{self.total}] {rec.get('status')} {one_line(outcome.task_id, 120)} ({tail})")

    def notice(self, message: str) -> None:
        if not self.quiet:
            self._write(f"rlm: {one_line(message, 400)}")

    def error(self, message: str) -> None:
        self._write(f"rlm: error: {one_line(message, 400)}")

    def summary(self, line: str, important: bool = False) -> None:
        """The closing line; with -q only when it matters (an interrupted batch says what was saved)."""
        if important or not self.quiet:
            self._write(f"rlm: {one_line(line, 1000)}")

    def close(self) -> None:
        pass


class Bar(Plain):
    """A terminal: a Rich progress bar; failures and notices printed above it."""

    def __init__(self, stream, color: bool = True):
        super().__init__(stream)
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.console = Console(file=stream, stderr=True, no_color=not color, highlight=False)
        self.progress = Progress(TextColumn("batch"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[extra]}"),
                                 TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=self.console,
                                 transient=False, refresh_per_second=4)
        self.bar = None
        self.t0 = time.monotonic()

    def start(self, total: int, skipped: int) -> None:
        super().start(total, skipped)
        self.progress.start()
        self.bar = self.progress.add_task("batch", total=total, completed=skipped, extra=self._extra({}))

    def _extra(self, totals: dict) -> str:
        return f"failed {self.failed} · ${totals.get('cost_usd', 0):.4f}"

    def task_done(self, outcome, totals: dict) -> None:
        self.done += 1
        failed = outcome.kind in ("failed", "fatal")
        self.failed += failed
        if failed:
            rec = outcome.record
            self.console.print(f"rlm: batch: {rec.get('status')} {one_line(outcome.task_id, 120)}: "
                               f"{redact.redact(one_line(rec.get('error')))}", markup=False, style="yellow", soft_wrap=True)
        self.progress.update(self.bar, completed=self.done, extra=self._extra(totals))

    def notice(self, message: str) -> None:
        self.console.print(f"rlm: {redact.redact(one_line(message, 400))}", markup=False, style="dim", soft_wrap=True)

    def error(self, message: str) -> None:
        self.console.print(f"rlm: error: {redact.redact(one_line(message, 400))}", markup=False, style="red", soft_wrap=True)

    def summary(self, line: str, important: bool = False) -> None:
        self.close()
        self.console.print(f"rlm: {redact.redact(one_line(line, 1000))}", markup=False, style="bold" if important else None,
                           soft_wrap=True)

    def close(self) -> None:
        if self.bar is not None:
            self.progress.stop()
            self.bar = None


def make(env, quiet: bool, color: str = "auto"):
    from ..ui.display import color_enabled

    if env.stderr_isatty and not quiet:
        return Bar(env.stderr, color=color_enabled(env, color, True))
    return Plain(env.stderr, quiet=quiet)
