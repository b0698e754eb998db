"""What rlm shows on stderr while it works. Chooses the sink: live tree (TTY), plain lines (-v), or quiet."""
from __future__ import annotations

from . import events as ev
from . import secrets


class PlainLines:
    """One plain line per event (used with -v, and whenever stderr is not a terminal)."""

    def __init__(self, stream, verbose: bool, quiet: bool):
        self.stream = stream
        self.verbose = verbose
        self.quiet = quiet

    def _write(self, line: str) -> None:
        try:
            self.stream.write(secrets.redact(line) + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def __call__(self, event: ev.Event) -> None:
        if event.kind == ev.WARNING and not self.quiet:
            self._write(f"rlm: warning: {event.data.get('message')}")
            return
        if not self.verbose:
            return
        line = format_event(event)
        if line:
            self._write(f"[{event.t:7.2f}s] {event.node:<6} {line}")

    def notice(self, message: str) -> None:
        if not self.quiet:
            self._write(f"rlm: {message}")

    def error(self, message: str) -> None:
        self._write(f"rlm: error: {message}")

    def finished(self, result: dict) -> None:
        if self.verbose:
            self._write(f"rlm: {result['status']} in {result['duration_s']:.2f} s, {result['calls']} calls, "
                        f"{result['tokens']:,} tokens, ${result['cost_usd']:.4f}; trajectory {result['trajectory']}")

    def close(self) -> None:
        pass


def _short(text, n: int = 80) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


def format_event(e: ev.Event) -> str | None:
    d = e.data
    if e.kind == ev.RUN_START:
        return f"run {d['run_id']}: {_short(d['question'])} ({d['context_chars']:,} chars, root {d['root_model']}, sub {d['sub_model']})"
    if e.kind == ev.NODE_START and e.depth:
        return f"child RLM: {_short(d['question'])} ({d['context_chars']:,} chars)"
    if e.kind == ev.ITERATION:
        return f"iteration {d['iteration']}/{d['max_iterations']}"
    if e.kind == ev.MODEL_END:
        extra = f" error: {_short(d.get('error'))}" if d.get("status") != "ok" else ""
        return (f"{d['role']} call {d['model']}: {d['prompt_tokens']:,}+{d['completion_tokens']:,} tokens, "
                f"${d['cost_usd']:.4f}, {d['duration_s']:.2f} s{extra}")
    if e.kind == ev.CODE_START:
        return f"exec block {d['block']}: {_short(d['code'])}"
    if e.kind == ev.CODE_END:
        status = "timeout" if d.get("timed_out") else ("error" if d.get("error") else "ok")
        return f"exec {status} in {d['duration_s']:.3f} s: {_short(d.get('output'))}"
    if e.kind == ev.SUBCALL_START:
        return f"{d['fn']}{' batch' if d.get('batched') else ''} x{d['n']}"
    if e.kind == ev.SUBCALL_END:
        return f"{d['fn']} x{d['n']} done in {d['duration_s']:.2f} s ({d['failed']} failed)"
    if e.kind == ev.NODE_END:
        return f"node {d['status']} after {d['iterations']} iterations"
    if e.kind in (ev.RUN_END, ev.FAILED, ev.INTERRUPTED):
        return f"{e.kind}: {d.get('status', '')} {_short(d.get('error') or '')}".rstrip()
    return None


def make_display(env, *, quiet: bool = False, verbose: bool = False, color: str = "auto"):
    return PlainLines(env.stderr, verbose=verbose, quiet=quiet)
