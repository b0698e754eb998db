"""Delivering a finished run: the answer or the JSON object to stdout or `-o FILE` (atomically), the
status line on stderr, and the exit status. Shared by `rlm ask`, `rlm chat` and `rlm batch`."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import ExitStatus, RLMError, UsageError


class OutputError(RLMError):
    """The answer could not be written where asked (it was saved elsewhere and named)."""


def check_writable(path: Path) -> None:
    """`-o FILE` must be writable before any model call is made."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"-o {path}: is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"-o {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"-o {path}: not writable")


def render(result, fmt: str) -> str | None:
    """The text for stdout / -o: the answer (text, markdown) or the JSON object; None: nothing."""
    from ..ui.output import result_object, to_json

    if fmt == "json":
        return to_json(result_object(result))
    if result.answer is None:
        return None
    if fmt == "markdown":
        return markdown(result.answer, result_object(result))
    return result.answer if result.answer.endswith("\n") else result.answer + "\n"


def deliver(result, display, env, *, fmt: str = "text", output: Path | None = None) -> int:
    """Write what the run produced and report its end; raise for failures (the CLI's error boundary
    prints them). Returns the exit status."""
    from ..ui.output import result_object

    text = render(result, fmt)
    obj = result_object(result)
    if result.status == "limit":
        display.error(f"{result.error}; partial trajectory saved to {obj['trajectory']}")
    if result.status == "unsupported":
        display.error(f"{result.error}" + (f"; it was not written to {output}" if output else ""))
    if text is not None and (result.ok or not output):
        if output and result.ok:
            write_output(output, text, result.run_id)
        elif not (fmt == "text" and getattr(display, "shows_answer", False) and same_terminal(env)):
            write_stdout(env, text, fmt == "json")  # (on one shared terminal the answer panel already shows it)
    display.finished(obj)
    if result.status in ("ok", "limit", "unsupported"):
        return int(result.exit_code)
    if result.status == "interrupted":
        raise KeyboardInterrupt
    raise result.exception if result.exception is not None else RLMError(result.error or "failed")


def write_output(path: Path, text: str, run_id: str) -> None:
    """Atomic write; if it fails after all (disk full, permissions changed mid-run), the answer is
    saved beside the run's trajectory and the error names that file."""
    from .. import paths
    from ..ui.output import write_atomic
    from ..ui.trajectory import runs_dir

    try:
        write_atomic(path, text)
    except (OSError, RLMError) as exc:
        saved = paths.ensure(runs_dir()) / f"{run_id}.answer"
        write_atomic(saved, text)
        cause = getattr(exc, "strerror", None) or str(exc)
        raise OutputError(f"{path}: cannot write the answer ({cause}); it was saved to {saved}") from None


def write_stdout(env, text: str, is_json: bool) -> None:
    """The answer (or JSON) on stdout: raw for a pipe or a file (they are data), sanitised for a terminal
    (no escape sequences or control characters; JSON keeps its value, C1 characters escaped)."""
    from ..env import isatty
    from ..ui.sanitize import clean, fix_unicode, terminal_json

    if isatty(env.stdout):
        text = terminal_json(text) if is_json else clean(text)
    env.stdout.write(fix_unicode(text))
    env.stdout.flush()


def same_terminal(env) -> bool:
    """stdout and stderr are the same terminal (not a pipe, not a file)."""
    try:
        out, err = env.stdout.fileno(), env.stderr.fileno()
        return os.isatty(out) and os.path.samestat(os.fstat(out), os.fstat(err))
    except (AttributeError, OSError, ValueError):
        return False


def markdown(answer: str, obj: dict) -> str:
    """The answer with its evidence as footnotes, then one line saying how it was made."""
    from ..ui.evidence_view import footnotes

    models = ", ".join(f"{m} ({_plural(u['calls'], 'call')})" for m, u in obj["usage"].items())
    return (f"{footnotes(answer, obj.get('citations') or []).rstrip()}\n\n---\n_Answered by rlm in {obj['duration_s']:.1f} s: "
            f"{_plural(obj['iterations'], 'iteration')}, {_plural(obj['sub_calls'], 'sub-call')}, "
            f"{obj['tokens']:,} tokens, ${obj['cost_usd']:.4f}; models: {models}; run {obj['run_id']}._\n")


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


__all__ = ["ExitStatus", "OutputError", "check_writable", "deliver", "render", "write_output"]
