"""`rlm conversations list | show | rm`: the saved conversations (`rlm ask -c`, `rlm chat`)."""
from __future__ import annotations

from typing import Optional

import typer

conversations_app = typer.Typer(help="Saved conversations: list, show every question's tree, remove.",
                                no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(conversations_app, name="conversations")


def _env(ctx: typer.Context):
    from ..env import of

    return of(ctx)


@conversations_app.command("list", help="Conversations, most recently used first: id, last use, questions, cost, documents.")
def list_conversations(
    ctx: typer.Context,
    limit: int = typer.Option(20, "-n", "--limit", min=1, help="How many to show."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per line instead of a table."),
) -> int:
    import json
    import time

    from ..conversation import Store

    env = _env(ctx)
    metas = Store().all()[:limit]
    if json_out:
        _write(env, "".join(json.dumps(_summary(m), ensure_ascii=False) + "\n" for m in metas), True)
        return 0
    if not metas:
        env.stderr.write("rlm: no conversations yet (every `rlm ask` starts one; `rlm ask -c` follows up)\n")
        return 0
    rows = [("CONVERSATION", "LAST USED", "QUESTIONS", "COST", "DOCUMENTS")]
    for m in metas:
        docs = ", ".join(m.sources[:3]) + (f" +{len(m.sources) - 3}" if len(m.sources) > 3 else "")
        rows.append((_one_line(m.id, 80), time.strftime("%Y-%m-%d %H:%M", time.localtime(m.updated)), str(len(m.exchanges)),
                     f"${m.usage.get('cost_usd', 0):.4f}", docs))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]) - 1)]
    for r in rows:
        env.stdout.write("  ".join(v.ljust(w) for v, w in zip(r, widths)) + "  " + _one_line(r[-1], 60) + "\n")
    return 0


@conversations_app.command("show", help="Every question of a conversation (ID, or 'latest'), re-rendered as its tree.")
def show(
    ctx: typer.Context,
    cid: str = typer.Argument("latest", metavar="ID|latest"),
    json_out: bool = typer.Option(False, "--json", help="The conversation's record (questions, answers, usage) as JSON."),
    color: str = typer.Option("auto", "--color", help="auto | always | never."),
    width: Optional[int] = typer.Option(None, "--width", min=40, help="Width of the trees (default: the terminal's)."),
) -> int:
    import json
    from pathlib import Path

    from ..conversation import Store
    from ..ui import trajectory
    from .logs import _show_tree

    env = _env(ctx)
    store = Store()
    meta = store.latest() if cid == "latest" else store.load(cid)
    if json_out:
        _write(env, json.dumps(_summary(meta) | {"exchanges": [vars(e) for e in meta.exchanges]},
                               ensure_ascii=False, indent=2) + "\n", True)
        return 0
    about = _one_line(", ".join(meta.sources), 1000)  # file names: one clean line
    env.stdout.write(f"conversation {_one_line(meta.id, 80)}: {len(meta.exchanges)} question(s) about {about}\n")
    for i, e in enumerate(meta.exchanges, 1):
        env.stdout.write(f"\nquestion {i}: {_one_line(e.question, 100)}\n")
        path = Path(e.trajectory) if e.trajectory else None
        if path is None or not path.is_file():
            env.stdout.write(f"  (its trajectory is gone) answer: {_one_line(e.answer or e.status, 200)}\n")
            continue
        _show_tree(env, trajectory.read_events(path), None, False, color, width)
    return 0


@conversations_app.command("rm", help="Remove conversations (their saved variables and records; runs stay in `rlm logs`).")
def rm(ctx: typer.Context, ids: list[str] = typer.Argument(..., metavar="ID...")) -> int:
    from ..conversation import Store

    env = _env(ctx)
    store = Store()
    for cid in ids:
        store.remove(cid)
        env.stderr.write(f"rlm: removed conversation {cid}\n")
    return 0


def _summary(m) -> dict:
    return {"id": m.id, "name": m.name, "created": m.created, "updated": m.updated, "questions": len(m.exchanges),
            "sources": m.sources, "usage": m.usage, "models": m.models, "variables": m.state.get("saved", [])}


def _write(env, text: str, is_json: bool) -> None:
    from .delivery import write_stdout

    write_stdout(env, text, is_json)


def _one_line(text: str, n: int) -> str:
    from ..ui.sanitize import one_line

    text = " ".join(one_line(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"
