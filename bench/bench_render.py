"""Rendering cost: per-event overhead of the state fold and the live sink, and drawing a 1,000-node tree.

    python -m bench.bench_render [--nodes 1000]

Prints a table. The live display must never slow the run: events only fold into the state under a
lock (microseconds); drawing happens on Rich's refresh thread at 8 Hz.
"""
from __future__ import annotations

import argparse
import io
import statistics
import time

from rlm_cli import events as ev
from rlm_cli.ui.tree import RenderOptions, TreeState


def synthetic_events(iterations: int = 16, batch: int = 40, child_batch: int = 5) -> list[ev.Event]:
    """A root with `iterations` turns, each a code block with a batch of sub-calls and a child RLM."""
    out: list[ev.Event] = []
    t = [0.0]
    ids = iter(range(1, 10**9))

    def emit(kind, node="r", depth=0, **data):
        t[0] += 0.001
        out.append(ev.Event(kind, node, depth, round(t[0], 4), data))

    def model(node, depth, role, text="ok"):
        cid = next(ids)
        emit(ev.MODEL_START, node, depth, call_id=cid, role=role, model="openai/gpt-4o-mini")
        emit(ev.MODEL_END, node, depth, call_id=cid, role=role, model="openai/gpt-4o-mini", status="ok",
             prompt_tokens=900, completion_tokens=60, cost_usd=0.0002, duration_s=0.4, text=text)

    def batch_call(node, depth, n):
        cid = next(ids)
        emit(ev.SUBCALL_START, node, depth, call_id=cid, fn="llm_query", batched=True, n=n,
             previews=[f"Summarize chunk {i}" for i in range(min(n, 8))])
        for i in range(n):
            model(node, depth, "sub", f"summary {i}")
            emit(ev.SUBCALL_PROGRESS, node, depth, call_id=cid, done=i + 1, total=n)
        emit(ev.SUBCALL_END, node, depth, call_id=cid, fn="llm_query", n=n, failed=0, duration_s=1.0,
             previews=[f"summary {i}" for i in range(min(n, 8))])

    def turn(node, depth, i, max_i, b, child=None):
        emit(ev.ITERATION, node, depth, iteration=i, max_iterations=max_i)
        model(node, depth, "root", "```repl\nprint(1)\n```")
        emit(ev.CODE_START, node, depth, iteration=i, block=1,
             code="chunks = [context[i:i+9000] for i in range(0, len(context), 9000)]\n"
                  "notes = llm_query_batched([f'Summarize: {c}' for c in chunks])\nprint(len(notes))")
        batch_call(node, depth, b)
        if child:
            cid = next(ids)
            emit(ev.SUBCALL_START, node, depth, call_id=cid, fn="rlm_query", batched=False, n=1, previews=["sub question"])
            child()
            emit(ev.SUBCALL_END, node, depth, call_id=cid, fn="rlm_query", n=1, failed=0, duration_s=2.0, previews=["child answer"])
        emit(ev.CODE_END, node, depth, iteration=i, block=1, output=f"{b}\nline two\nline three\nline four",
             error=None, duration_s=1.2, timed_out=False, restarted=False, has_final=False)

    emit(ev.RUN_START, run_id="bench", question="What changed between the versions?", context_chars=10_000_000,
         sources=[], root_model="openai/gpt-4o-mini", sub_model="openai/gpt-4o-mini",
         limits={"max_calls": 5000, "max_cost": 5.0})
    emit(ev.NODE_START, question="What changed between the versions?", context_chars=10_000_000, parent=None)
    for i in range(1, iterations + 1):
        cid_node = f"r.{i}"

        def child(cid_node=cid_node):
            emit(ev.NODE_START, cid_node, 1, question=f"Sub-question {cid_node}", context_chars=90_000, parent="r")
            for j in (1, 2):
                turn(cid_node, 1, j, 10, child_batch)
            emit(ev.NODE_END, cid_node, 1, status="ok", answer="child answer", iterations=2)

        turn("r", 0, i, iterations + 1, batch, child)
    emit(ev.NODE_END, status="ok", answer="# Result\n\nThe answer.", iterations=iterations)
    emit(ev.RUN_END, status="ok", exit_code=0, answer="# Result\n\nThe answer.", calls=0, tokens=0, cost_usd=0, duration_s=t[0])
    return out


def tree_items(events: list[ev.Event]) -> int:
    """Items the tree holds: RLM nodes, iterations, code blocks, sub-calls and model calls."""
    kinds = (ev.NODE_START, ev.ITERATION, ev.CODE_START, ev.SUBCALL_START, ev.MODEL_START)
    return sum(1 for e in events if e.kind in kinds)


def _draw(state, width: int = 120) -> float:
    from rich.console import Console

    console = Console(width=width, height=40, file=io.StringIO(), color_system="truecolor", force_terminal=True)
    t0 = time.perf_counter()
    console.print(state)
    return time.perf_counter() - t0


def _fold_cost(events, options) -> float:
    state = TreeState(options)
    t0 = time.perf_counter()
    for e in events:
        state.apply(e)
    return (time.perf_counter() - t0) / len(events)


def _live_sink_cost(events) -> tuple[float, float, float]:
    """Per-event cost through the real LiveTree sink while Rich refreshes at 8 Hz: mean, p99, max."""
    from rich.console import Console

    from rlm_cli.ui.display import LiveTree

    console = Console(width=120, height=40, file=io.StringIO(), color_system="truecolor", force_terminal=True)
    sink = LiveTree(console)
    costs = []
    for e in events:
        t0 = time.perf_counter()
        sink(e)
        costs.append(time.perf_counter() - t0)
        if e.kind == ev.MODEL_END:
            time.sleep(0.0005)  # the run does work between events; lets the refresh thread draw meanwhile
    sink.close()
    costs.sort()
    return statistics.mean(costs), costs[int(len(costs) * 0.99)], costs[-1]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=16, help="root iterations (16 gives ~1,000 tree items)")
    args = ap.parse_args(argv)
    events = synthetic_events(args.iterations)
    items = tree_items(events)
    rows = []
    fold = _fold_cost(events, RenderOptions())
    rows.append(("fold one event into the tree state (mean)", f"{fold * 1e6:.1f} µs"))
    mean, p99, worst = _live_sink_cost(events)
    rows.append(("live sink per event, Live refreshing at 8 Hz (mean)", f"{mean * 1e6:.1f} µs"))
    rows.append(("live sink per event (p99)", f"{p99 * 1e6:.1f} µs"))
    rows.append(("live sink per event (max: waited for a frame build)", f"{worst * 1e3:.2f} ms"))
    running = TreeState.from_events(events[:-2], RenderOptions.for_live(max_height=39))
    t0 = time.perf_counter()
    for _ in range(20):
        running.__rich__()
    rows.append(("state lock held per live frame (build, 8 frames/s)", f"{(time.perf_counter() - t0) / 20 * 1e3:.2f} ms"))
    full = TreeState.from_events(events, RenderOptions())
    live = TreeState.from_events(events, RenderOptions.for_live(max_height=39))
    for label, state in ((f"draw full tree, {items:,} items (logs show)", full),
                         (f"draw live frame, {items:,} items (collapsed, 40 rows)", live)):
        times = sorted(_draw(state) for _ in range(5))
        rows.append((label, f"{times[len(times) // 2] * 1e3:.1f} ms"))
    from rlm_cli.ui.html_report import render_html

    t0 = time.perf_counter()
    html = render_html(full)
    rows.append((f"HTML report, {items:,} items ({len(html) // 1024:,} KiB)", f"{(time.perf_counter() - t0) * 1e3:.1f} ms"))
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  value")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(f"({len(events):,} events)")


if __name__ == "__main__":
    main()
