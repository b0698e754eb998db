"""The `rlm` command: a Typer app, its sub-command registrations, and the one error boundary.

Keep imports here cheap: `rlm --help` must not import litellm, openai, pypdf or docx.
"""
from __future__ import annotations

import os
import sys
from typing import Optional

import typer

from . import __version__
from .env import Env
from .errors import ExitStatus, RLMError

app = typer.Typer(
    name="rlm",
    help="Answer questions about documents far larger than a model's context window (Recursive Language Models).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rlm {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(None, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """rlm: ask questions about huge documents. See `rlm ask --help`."""


def _register() -> None:
    from .commands import ask

    ask.register(app)
    for name in ("chat", "batch", "conversations", "ingest", "config_cmd", "logs", "doctor", "mcp_cmd"):
        try:
            module = __import__(f"rlm_cli.commands.{name}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"rlm_cli.commands.{name}":
                raise
            continue
        module.register(app)


_register()


def main(argv: list[str] | None = None, env: Env | None = None) -> int:
    """Entry point. The one error boundary: every failure becomes one line on stderr and an ExitStatus."""
    from . import redact

    env = env or Env()
    redact.register_environment(env.environ)
    _quiet_library_warnings()
    verbose = any(a in ("-v", "--verbose") for a in (argv if argv is not None else sys.argv[1:]))
    command = typer.main.get_command(app)
    from .completion import preempt

    code = preempt(command, argv if argv is not None else sys.argv[1:], env)
    if code is not None:
        return code
    try:
        rv = command.main(args=argv, prog_name="rlm", standalone_mode=False, obj=env)
        code = int(rv) if isinstance(rv, int) else ExitStatus.OK
        if code == ExitStatus.INTERRUPTED:  # Typer turns Ctrl-C into Exit(130) on its own
            _error(env, "interrupted")
    except RLMError as exc:
        _error(env, redact.redact(exc.message), redact.redact(exc.hint) if exc.hint else None)
        code = exc.exit_status
    except KeyboardInterrupt:
        _error(env, "interrupted")
        code = ExitStatus.INTERRUPTED
    except Exception as exc:
        code = _click_exit(exc, env)
        if code is None:  # a bug: say so, without leaking secrets
            if verbose:
                import traceback

                from .ui.sanitize import clean

                env.stderr.write(clean(redact.redact("".join(traceback.format_exception(exc)))))
            _error(env, redact.redact(f"internal error: {type(exc).__name__}: {exc}"),
                   None if verbose else "run with -v for the traceback")
            code = ExitStatus.ERROR
    try:
        env.stdout.flush()
    except BrokenPipeError:  # `rlm ask ... | head -1`: the reader left; do not complain at exit
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), env.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
    except ValueError:
        pass
    return int(code)


def _quiet_library_warnings() -> None:
    """Third-party deprecation chatter (pydantic via litellm) is not the user's problem."""
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"pydantic(\..*)?")


def _click_exit(exc: Exception, env: Env) -> int | None:
    """Map Click's (or Typer's vendored Click's) control-flow exceptions; None if `exc` is not one."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "Exit" in names and hasattr(exc, "exit_code"):
        if exc.exit_code == ExitStatus.INTERRUPTED:
            _error(env, "interrupted")
        return int(exc.exit_code)
    if "Abort" in names:
        _error(env, "interrupted")
        return int(ExitStatus.INTERRUPTED)
    if "ClickException" in names:
        exc.show(file=env.stderr)
        return int(ExitStatus.USAGE) if "UsageError" in names else int(getattr(exc, "exit_code", 1))
    return None


def _error(env: Env, message: str, hint: str | None = None) -> None:
    """One line each (a file name holding a newline or an escape sequence cannot forge or paint lines)."""
    from .ui.sanitize import one_line

    env.stderr.write(f"rlm: error: {one_line(message)}\n")
    if hint:
        env.stderr.write(f"rlm: hint: {one_line(hint)}\n")
    env.stderr.flush()


def run() -> None:  # console script
    code = main()
    _exit(code)


def _exit(code: int) -> None:
    """Exit without waiting on background imports (litellm, the Router build): run the exit handlers
    and flush, then leave at once. Interpreter shutdown with a daemon thread mid-import is slow (up to
    ~1 s) and can abort the process after the answer was printed."""
    import atexit
    import threading

    busy = [t for t in threading.enumerate() if t.daemon and t.is_alive() and t.name.startswith("rlm-")]
    if not busy:
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
