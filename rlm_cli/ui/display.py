"""What rlm shows on stderr while it works. Chooses the sink: live tree (TTY), plain lines (-v / no TTY), or quiet.

Every sink has the same surface: `sink(event)`, `notice(msg)`, `error(msg)`, `finished(result)`, `close()`.
"""
from __future__ import annotations

import threading
import time

from .. import events as ev
from .. import redact
from .sanitize import one_line

_ANSI = {"red": "\x1b[31m", "yellow": "\x1b[33m", "green": "\x1b[32m", "dim": "\x1b[2m", "reset": "\x1b[0m"}
REFRESH_HZ = 8


def color_enabled(env, color: str, isatty: bool) -> bool:
    """--color always|never win; auto: a terminal, NO_COLOR unset or empty, TERM not dumb."""
    if color == "always":
        return True
    if color == "never":
        return False
    environ = getattr(env, "environ", {}) or {}
    if environ.get("NO_COLOR"):
        return False
    return isatty and environ.get("TERM", "") != "dumb"


class PlainLines:
    """One plain line per event with -v; otherwise only warnings, notices and errors (-q: errors only)."""

    def __init__(self, stream, verbose: bool, quiet: bool, color: bool = False):
        self.stream = stream
        self.verbose = verbose
        self.quiet = quiet
        self.color = color
        self._lock = threading.Lock()

    def _paint(self, text: str, style: str) -> str:
        return f"{_ANSI[style]}{text}{_ANSI['reset']}" if self.color else text

    def _write(self, line: str, style: str | None = None, prefix: str = "") -> None:
        """One line: `line` (text from models, documents, file names) made safe, then painted."""
        line = one_line(redact.redact(line))
        try:
            with self._lock:
                self.stream.write(prefix + (self._paint(line, style) if style else line) + "\n")
                self.stream.flush()
        except (OSError, ValueError):
            pass

    def __call__(self, event: ev.Event) -> None:
        if event.kind == ev.WARNING:
            if not self.quiet:
                self._write(f"rlm: warning: {event.data.get('message')}", "yellow")
            return
        if not self.verbose:
            return
        line = format_event(event)
        if line:
            self._write(f"{event.node:<6} {line}", prefix=self._paint(f"[{event.t:7.2f}s]", "dim") + " ")

    def notice(self, message: str) -> None:
        if not self.quiet:
            self._write(f"rlm: {message}")

    def error(self, message: str) -> None:
        self._write(f"rlm: error: {message}", "red")

    def finished(self, result: dict) -> None:
        if self.verbose:
            self._write(f"rlm: {result.get('status')} in {result.get('duration_s', 0):.2f} s, {result.get('calls', 0)} calls, "
                        f"{result.get('tokens', 0):,} tokens, ${result.get('cost_usd', 0):.4f}; "
                        f"trajectory {result.get('trajectory')}")

    def close(self) -> None:
        pass


def _short(text, n: int = 80) -> str:
    text = " ".join(str(text if text is not None else "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


def format_event(e: ev.Event) -> str | None:
    """The -v line for an event (None: the event has no line of its own)."""
    d = e.data
    fmt = _FORMATS.get(e.kind)
    return fmt(e, d) if fmt else None


def _fmt_model_end(e, d) -> str:
    extra = f" error: {_short(d.get('error'))}" if d.get("status", "ok") != "ok" else ""
    if d.get("cached"):
        return f"{d.get('role', '?')} call {d.get('model', '?')}: answered from the response cache"
    if d.get("cached_tokens"):
        extra += f" ({d['cached_tokens']:,} prompt tokens from the provider's cache)"
    return (f"{d.get('role', '?')} call {d.get('model', '?')}: {d.get('prompt_tokens', 0):,}+"
            f"{d.get('completion_tokens', 0):,} tokens, ${d.get('cost_usd') or 0:.4f}, {d.get('duration_s') or 0:.2f} s{extra}")


def _fmt_code_end(e, d) -> str:
    status = "timeout" if d.get("timed_out") else ("error" if d.get("error") else "ok")
    final = ", FINAL" if d.get("has_final") else ""
    return f"exec {status} in {d.get('duration_s') or 0:.3f} s{final}: {_short(d.get('output'))}"


def _fmt_subcall_start(e, d) -> str:
    name = f"{d.get('fn')}{'_batched' if d.get('batched') else ''}"
    first = (d.get("previews") or [""])[0]
    return f"{name} x{d.get('n')}: {_short(first, 60)}"


def _fmt_stop(e, d) -> str:
    status = d.get("status") or e.kind
    tail = f" ({_short(d.get('error'))})" if d.get("error") else ""
    return (f"{e.kind}: {status} in {d.get('duration_s') or e.t:.2f} s, {d.get('calls', 0)} calls, "
            f"{d.get('tokens', 0):,} tokens, ${d.get('cost_usd') or 0:.4f}{tail}")


_FORMATS = {
    ev.RUN_START: lambda e, d: (f"run {d.get('run_id')}: {_short(d.get('question'))} ({d.get('context_chars', 0):,} chars, "
                                f"root {d.get('root_model')}, sub {d.get('sub_model')})"),
    ev.NODE_START: lambda e, d: (f"child RLM: {_short(d.get('question'))} ({d.get('context_chars', 0):,} chars)"
                                 if e.depth else None),
    ev.ITERATION: lambda e, d: f"iteration {d.get('iteration')}/{d.get('max_iterations')}",
    ev.MODEL_END: _fmt_model_end,
    ev.CODE_START: lambda e, d: f"exec block {d.get('block')}: {_short(d.get('code'))}",
    ev.CODE_END: _fmt_code_end,
    ev.SUBCALL_START: _fmt_subcall_start,
    ev.SUBCALL_END: lambda e, d: (f"{d.get('fn')} x{d.get('n')} done in {d.get('duration_s') or 0:.2f} s "
                                  f"({d.get('failed', 0)} failed)"),
    ev.NODE_END: lambda e, d: (f"node {d.get('status')} after {d.get('iterations')} iterations"
                               + (f": {_short(d.get('answer'), 60)}" if d.get("answer") is not None else "")
                               + (f" ({_short(d.get('error'))})" if d.get("error") else "")),
    ev.RUN_END: _fmt_stop,
    ev.INTERRUPTED: _fmt_stop,
    ev.FAILED: _fmt_stop,
}


class LiveTree:
    """The live Rich tree on a terminal. Events only fold into the state (under its lock); a Rich Live
    thread redraws at REFRESH_HZ, so drawing never slows the run."""

    shows_answer = True  # its final frame has the answer panel

    def __init__(self, console, refresh_hz: float = REFRESH_HZ):
        from rich.live import Live

        from .tree import RenderOptions, TreeState

        self.console = console
        self._offset: float | None = None
        self.state = TreeState(RenderOptions.for_live(clock=self._clock))
        self.live = Live(self.state, console=console, auto_refresh=True, refresh_per_second=refresh_hz,
                         transient=False, redirect_stdout=False, redirect_stderr=False, vertical_overflow="crop")
        self._started = False
        self._stopped = False
        self._lock = threading.Lock()

    def _clock(self) -> float:
        return 0.0 if self._offset is None else time.monotonic() - self._offset

    def __call__(self, event: ev.Event) -> None:
        if self._offset is None:
            self._offset = time.monotonic() - event.t
        self.state.apply(event)
        if event.kind in (ev.RUN_END, ev.INTERRUPTED, ev.FAILED):
            self._stop()
        elif not self._started:
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._started or self._stopped:
                return
            self._started = True
            self.live.start()

    def _stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            if self._started:
                self.live.stop()  # draws the final frame (tree, footer, answer panel) and leaves it
            else:
                self.console.print(self.state)

    def notice(self, message: str) -> None:
        self.console.print(f"rlm: {one_line(redact.redact(message))}", style="dim", markup=False, highlight=False)

    def error(self, message: str) -> None:
        self._stop()
        self.console.print(f"rlm: error: {one_line(redact.redact(message))}", style="red", markup=False, highlight=False)

    def finished(self, result: dict) -> None:
        self._stop()
        if result.get("run_id"):
            run_id = one_line(result["run_id"])
            self.console.print(f"run {run_id}: rlm logs show {run_id}", style="dim",
                               markup=False, highlight=False)

    def close(self) -> None:
        self._stop()


def _console(env, color: bool):
    from rich.console import Console

    return Console(file=env.stderr, force_terminal=True, color_system="auto" if color else None,
                   no_color=not color, highlight=False, emoji=False,
                   _environ={k: v for k, v in (getattr(env, "environ", None) or {}).items()
                             if k in ("COLUMNS", "LINES", "TERM", "COLORTERM")})


def make_display(env, *, quiet: bool = False, verbose: bool = False, color: str = "auto"):
    """Live tree on a terminal; plain lines otherwise or with -v; only errors with -q."""
    tty = bool(getattr(env, "stderr_isatty", False))
    use_color = color_enabled(env, color, tty)
    term = (getattr(env, "environ", None) or {}).get("TERM", "")
    if quiet or verbose or not tty or term == "dumb":
        return PlainLines(env.stderr, verbose=verbose and not quiet, quiet=quiet, color=use_color)
    return LiveTree(_console(env, use_color))
