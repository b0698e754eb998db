"""`rlm logs list | show | prune`: the saved trajectories (one JSONL file per run)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

logs_app = typer.Typer(help="Saved runs (trajectories): list, re-render, export, prune.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(logs_app, name="logs")


def _env(ctx: typer.Context):
    from ..env import of

    return of(ctx)


@logs_app.command("list", help="Recent runs, newest first: time, status, cost, calls, question.")
def list_runs(
    ctx: typer.Context,
    limit: int = typer.Option(20, "-n", "--limit", min=1, help="How many runs to show."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per line instead of a table."),
) -> int:
    import json
    import time

    from ..ui import trajectory

    from ..ui.sanitize import one_line

    env = _env(ctx)
    infos = [trajectory.run_info(p) for p in reversed(trajectory.run_files()[-limit:])]
    if json_out:
        _emit(env, None, "".join(json.dumps(info.as_dict(), ensure_ascii=False) + "\n" for info in infos), is_json=True)
        return 0
    if not infos:
        env.stderr.write(f"rlm: no saved runs in {trajectory.runs_dir()}\n")
        return 0
    rows = [("RUN", "STARTED", "STATUS", "COST", "CALLS", "QUESTION")]
    for i in infos:
        rows.append((one_line(i.run_id), time.strftime("%Y-%m-%d %H:%M", time.localtime(i.started)), one_line(i.status),
                     f"${i.cost_usd:.4f}", str(i.calls), _one_line(i.question, 60)))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]) - 1)]
    for r in rows:
        env.stdout.write("  ".join(v.ljust(w) for v, w in zip(r, widths)) + "  " + r[-1] + "\n")
    return 0


def _one_line(text: str, n: int) -> str:
    from ..ui.sanitize import one_line

    text = " ".join(one_line(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


@logs_app.command("show", help="Re-render a saved run (RUN_ID, an id prefix, 'latest', or a .jsonl path) as the tree.")
def show(
    ctx: typer.Context,
    run: str = typer.Argument("latest", metavar="RUN_ID|latest"),
    json_out: bool = typer.Option(False, "--json", help="Dump the events as JSON lines."),
    html: bool = typer.Option(False, "--html", help="Write one self-contained HTML page of the run."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write to FILE (atomically) instead of stdout."),
    collapse: bool = typer.Option(False, "--collapse", help="Collapse old iterations and finished children, as live."),
    color: str = typer.Option("auto", "--color", help="auto | always | never."),
    width: Optional[int] = typer.Option(None, "--width", min=40, help="Width of the tree (default: the terminal's)."),
) -> int:
    import json

    from ..ui import trajectory
    from ..errors import InputError, UsageError

    if json_out and html:
        raise UsageError("--json and --html are exclusive")
    env = _env(ctx)
    path = trajectory.find_run(run)
    try:
        events = trajectory.read_events(path)
    except OSError as exc:
        raise InputError(str(path), f"cannot read trajectory ({exc.strerror})") from None
    if json_out:
        text = "".join(json.dumps(e.to_dict(), ensure_ascii=False) + "\n" for e in events)
    elif html:
        from ..ui.html_report import render_html
        from ..ui.tree import TreeState

        text = render_html(TreeState.from_events(events))
    else:
        text = None
    if text is not None:
        _emit(env, output, text, is_json=json_out)
        return 0
    _show_tree(env, events, output, collapse, color, width, running=trajectory.is_running(path))
    return 0


def _emit(env, output: Optional[Path], text: str, is_json: bool = False) -> None:
    """To FILE as is; to stdout as is for a pipe, sanitised for a terminal (a trajectory holds model text)."""
    from ..env import isatty
    from ..ui.sanitize import clean, fix_unicode, terminal_json

    text = fix_unicode(text)
    if output:
        from ..ui.output import write_atomic

        write_atomic(output, text)
    else:
        if isatty(env.stdout):
            text = terminal_json(text) if is_json else clean(text)
        env.stdout.write(text)
        env.stdout.flush()


def _show_tree(env, events, output, collapse: bool, color: str, width: Optional[int], running: bool = False) -> None:
    import io

    from rich.console import Console

    from ..ui.display import color_enabled
    from ..ui.tree import RenderOptions, TreeState

    opts = RenderOptions(keep_iterations=2, live=False) if collapse else RenderOptions()
    state = TreeState.from_events(events, opts)
    if state.status == "running" and not running:  # no end event and nobody writing: it was killed
        state.status, state.error = "incomplete", "the run stopped without an end event (killed)"
    from ..env import isatty

    tty = not output and isatty(env.stdout)
    use_color = color_enabled(env, color, tty)
    buf = io.StringIO() if output else None
    console = Console(file=buf or env.stdout, force_terminal=use_color, color_system="auto" if use_color else None,
                      no_color=not use_color, width=width or (None if tty else 100), highlight=False, emoji=False)
    console.print(state)
    if buf is not None:
        _emit(env, output, buf.getvalue())



@logs_app.command("prune", help="Delete all but the N newest saved runs.")
def prune(
    ctx: typer.Context,
    keep: int = typer.Option(..., "--keep", min=0, help="How many of the newest runs to keep."),
) -> int:
    from ..ui import trajectory

    env = _env(ctx)
    removed = trajectory.prune(keep)
    env.stderr.write(f"rlm: removed {len(removed)} run(s), kept {len(trajectory.run_files())}\n")
    return 0


@logs_app.command("path", help="Print the directory holding the saved runs.")
def path(ctx: typer.Context) -> int:
    from ..ui import trajectory

    _env(ctx).stdout.write(f"{trajectory.runs_dir()}\n")
    return 0
