"""The recursion tree folded from a real scripted run: exact text, collapsing, bounded height."""
from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from rlm_cli import events as ev
from rlm_cli.ui.tree import RenderOptions, TreeState

T1 = '''Let me look.
```repl
print(len(context))
notes = llm_query_batched([f"Summarize part {i}: " + context[i*10:(i+1)*10] for i in range(6)])
print(notes[:2])
```'''
T2 = '''```repl
combined = llm_query("Combine these notes: " + "; ".join(notes))
found = rlm_query_batched(["Find the supplier", "Find the quarter"], [context[:60], context[60:120]])
print(combined, found)
```'''
T3 = '''```repl
FINAL("**ACME** missed the deadline.\\n\\n- found in part 1\\n- confirmed by a sub-agent")
```'''
CHILD_SUPPLIER = '''```repl
hits = llm_query_batched(["Name the supplier in: " + context[i:i+20] for i in range(0, 60, 20)])
print(hits)
```'''
CHILD_SUPPLIER_2 = '''```repl
FINAL("ACME Corp")
```'''
CHILD_QUARTER = '''```repl
FINAL("Q3")
```'''
RULES = [
    {"when": r"Summarize part (\d)", "reply": "Summary of part {1}"},
    {"when": r"Combine these notes", "reply": "Combined notes"},
    {"when": r"Name the supplier", "reply": "ACME"},
    {"when": r"Question: Find the supplier", "reply": CHILD_SUPPLIER, "turn": 1},
    {"when": r"Question: Find the supplier", "reply": CHILD_SUPPLIER_2, "turn": 2, "target": "all"},
    {"when": r"Question: Find the quarter", "reply": CHILD_QUARTER, "turn": 1},
    {"when": r"Question: Which supplier", "reply": T1, "turn": 1},
    {"when": r"Turn 2 of", "reply": T2},
    {"when": r"Turn 3 of", "reply": T3},
]
TEXT = "The supplier ACME missed the Q3 deadline. " * 5


def scenario_events(limits: dict | None = None) -> list[ev.Event]:
    """Run the real engine with the scripted model: nested batches and two child RLMs."""
    from rlm_cli.context import Context
    from rlm_cli.engine import Run, RunConfig
    from rlm_cli.backends.scripted import ScriptedModel
    from rlm_cli.usage import Limits

    model = ScriptedModel.from_dict({"rules": RULES})
    config = RunConfig("scripted/x", "scripted/x", Limits(max_iterations=5, max_depth=1, **(limits or {})), 1)
    run = Run(model, config, run_id="test-run")
    events: list[ev.Event] = []
    run.bus.add(events.append)
    result = run.execute("Which supplier missed the deadline?", Context.from_text(TEXT, name="report.txt"))
    assert result.ok and events[-1].kind == ev.RUN_END  # the engine ends the run with exactly one terminal event
    events[-1].data["duration_s"] = 1.0  # deterministic footer
    assert not run.bus.errors
    return events


@pytest.fixture(scope="module")
def events():
    return scenario_events()


def draw(state, width: int = 100) -> str:
    console = Console(width=width, color_system=None, record=True, file=io.StringIO())
    console.print(state)
    return "\n".join(line.rstrip() for line in console.export_text().splitlines())


FULL = """\
✓ r Which supplier missed the deadline?  scripted/x · 3 iter · 10 calls · 3,562 tok · $0.0000 · 210…
├── ✓ iteration 1/5  scripted/x · 990+39 tok · $0.0000
│   ├── print(len(context))
│   │   notes = llm_query_batched([f"Summarize part {i}: " + context[i*10:(i+1)*10] for i in range(6
│   │   print(notes[:2])
│   ├── ✓ llm_query_batched ×6 ██████████ 6/6  scripted/x · 42+24 tok · $0.0000
│   │   ├── ✓ “Summarize part 0: The suppli” → “Summary of part 0”
│   │   ├── ✓ “Summarize part 1: er ACME mi” → “Summary of part 1”
│   │   ├── ✓ “Summarize part 2: ssed the Q” → “Summary of part 2”
│   │   └── … 3 more
│   └── → 210
│         ['Summary of part 0', 'Summary of part 1']
├── ✓ iteration 2/5  scripted/x · 1,113+50 tok · $0.0000
│   ├── combined = llm_query("Combine these notes: " + "; ".join(notes))
│   │   found = rlm_query_batched(["Find the supplier", "Find the quarter"], [context[:60], context[
│   │   print(combined, found)
│   ├── ✓ llm_query “Combine these notes: Summary of part 0; Summary o…” → “Combined notes”  script…
│   ├── ✓ rlm_query_batched ×2 ██████████ 2/2
│   │   ├── ✓ r.1 Find the supplier  scripted/x · 2 iter · 5 calls · 2,224 tok · $0.0000 · 60 chars
│   │   │   ├── ✓ iteration 1/5  scripted/x · 1,025+30 tok · $0.0000
│   │   │   │   ├── hits = llm_query_batched(["Name the supplier in: " + context[i:i+20] for i in ra
│   │   │   │   │   print(hits)
│   │   │   │   ├── ✓ llm_query_batched ×3 ██████████ 3/3  scripted/x · 30+3 tok · $0.0000
│   │   │   │   │   ├── ✓ “Name the supplier in: The supplier ACME…” → “ACME”
│   │   │   │   │   ├── ✓ “Name the supplier in: ssed the Q3 deadl…” → “ACME”
│   │   │   │   │   └── ✓ “Name the supplier in: . The supplier AC…” → “ACME”
│   │   │   │   └── → ['ACME', 'ACME', 'ACME']
│   │   │   ├── ✓ iteration 2/5  scripted/x · 1,129+7 tok · $0.0000
│   │   │   │   ├── FINAL("ACME Corp")
│   │   │   │   └── → (no output)  FINAL
│   │   │   └── → ACME Corp
│   │   └── ✓ r.2 Find the quarter  scripted/x · 1 iter · 1 call · 1,029 tok · $0.0000 · 60 chars
│   │       ├── ✓ iteration 1/5  scripted/x · 1,024+5 tok · $0.0000
│   │       │   ├── FINAL("Q3")
│   │       │   └── → (no output)  FINAL
│   │       └── → Q3
│   └── → Combined notes ['ACME Corp', 'Q3']
└── ✓ iteration 3/5  scripted/x · 1,244+24 tok · $0.0000
    ├── FINAL("**ACME** missed the deadline.\\n\\n- found in part 1\\n- confirmed by a sub-agent")
    └── → (no output)  FINAL
⚠ no verified evidence supports the answer
✓ ok  16 calls · 6,815 tok · $0.0000
╭─ Answer · no verified evidence ──────────────────────────────────────────────────────────────────╮
│ ACME missed the deadline.                                                                        │
│                                                                                                  │
│  • found in part 1                                                                               │
│  • confirmed by a sub-agent                                                                      │
╰──────────────────────────────────────────────────────────────────────────────────────────────────╯
"""

LIVE = """\
✓ r Which supplier missed the deadline?  scripted/x · 3 iter · 10 calls · 3,562 tok · $0.0000 · 210…
├── ▸ iteration 1 collapsed (2 calls)
├── ✓ iteration 2/5  scripted/x · 1,113+50 tok · $0.0000
│   ├── combined = llm_query("Combine these notes: " + "; ".join(notes))
│   │   found = rlm_query_batched(["Find the supplier", "Find the quarter"], [context[:60], context[
│   │   print(combined, found)
│   ├── ✓ llm_query “Combine these notes: Summary of part 0; Summary o…” → “Combined notes”  script…
│   ├── ✓ rlm_query_batched ×2 ██████████ 2/2
│   │   ├── ✓ r.1 Find the supplier  scripted/x · 2 iter · 5 calls · 2,224 tok · $0.0000 · 60 chars
│   │   │   └── → ACME Corp
│   │   └── ✓ r.2 Find the quarter  scripted/x · 1 iter · 1 call · 1,029 tok · $0.0000 · 60 chars
│   │       └── → Q3
│   └── → Combined notes ['ACME Corp', 'Q3']
└── ✓ iteration 3/5  scripted/x · 1,244+24 tok · $0.0000
    ├── FINAL("**ACME** missed the deadline.\\n\\n- found in part 1\\n- confirmed by a sub-agent")
    └── → (no output)  FINAL
⚠ no verified evidence supports the answer
✓ ok  16 calls · 6,815 tok · $0.0000
╭─ Answer · no verified evidence ──────────────────────────────────────────────────────────────────╮
│ ACME missed the deadline.                                                                        │
│                                                                                                  │
│  • found in part 1                                                                               │
│  • confirmed by a sub-agent                                                                      │
╰──────────────────────────────────────────────────────────────────────────────────────────────────╯
"""

MID = """\
… r Which supplier missed the deadline?  scripted/x · 2 iter · 9 calls · 2,294 tok · $0.0000 · 210 …
├── ✓ iteration 1/5  scripted/x · 990+39 tok · $0.0000
│   ├── print(len(context))
│   │   notes = llm_query_batched([f"Summarize part {i}: " + context[i*10:(i+1)*10] for i in range(6
│   │   print(notes[:2])
│   ├── ✓ llm_query_batched ×6 ██████████ 6/6  scripted/x · 42+24 tok · $0.0000
│   │   ├── ✓ “Summarize part 0: The suppli” → “Summary of part 0”
│   │   ├── ✓ “Summarize part 1: er ACME mi” → “Summary of part 1”
│   │   ├── ✓ “Summarize part 2: ssed the Q” → “Summary of part 2”
│   │   └── … 3 more
│   └── → 210
│         ['Summary of part 0', 'Summary of part 1']
└── … iteration 2/5  scripted/x · 1,113+50 tok · $0.0000
    ├── combined = llm_query("Combine these notes: " + "; ".join(notes))
    │   found = rlm_query_batched(["Find the supplier", "Find the quarter"], [context[:60], context[
    │   print(combined, found)
    ├── ✓ llm_query “Combine these notes: Summary of part 0; Summary o…” → “Combined notes”  script…
    └── … rlm_query_batched ×2 ░░░░░░░░░░ 0/2
        └── … r.1 Find the supplier  scripted/x · 1 iter · 2 calls · 1,066 tok · $0.0000 · 60 chars
            └── … iteration 1/5  scripted/x · 1,025+30 tok · $0.0000
                ├── hits = llm_query_batched(["Name the supplier in: " + context[i:i+20] for i in ra
                │   print(hits)
                └── … llm_query_batched ×3 ███░░░░░░░ 1/3  scripted/x · 10+1 tok · $0.0000
… running  11 calls · 3,360 tok · $0.0000
"""



def test_full_tree_exact_text(events):
    """The final tree of `rlm logs show`: every iteration, nested batches, both child RLMs, the answer panel."""
    assert draw(TreeState.from_events(events, RenderOptions(show_timings=False))) == FULL.rstrip("\n")


def test_live_tree_collapses_old_iterations_and_finished_children(events):
    options = RenderOptions.for_live(show_timings=False, spinner=False, max_height=200)
    assert draw(TreeState.from_events(events, options)) == LIVE.rstrip("\n")


def test_mid_run_snapshot_shows_running_nodes_and_progress(events):
    """Cut the event stream inside the first child's batch: running marks, n/N progress, no answer panel."""
    cut = next(i for i, e in enumerate(events) if e.kind == ev.SUBCALL_START and e.node == "r.1") + 3
    text = draw(TreeState.from_events(events[:cut], RenderOptions(show_timings=False, spinner=False)))
    assert text == MID.rstrip("\n")


def _synthetic(iterations: int = 12, batch: int = 30) -> list[ev.Event]:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root holds bench/
    from bench.bench_render import synthetic_events

    return synthetic_events(iterations, batch)


def test_live_frame_height_is_bounded_with_hundreds_of_nodes():
    events = _synthetic()
    live = RenderOptions.for_live(show_timings=False, spinner=False, max_height=30)
    state = TreeState(live)
    for e in events[:-2]:  # still running: no answer panel yet
        state.apply(e)
    lines = draw(state, width=120).splitlines()
    assert len(lines) <= 30
    assert lines[0].startswith("… r What changed between the versions?")
    assert "lines above" in lines[1]
    assert lines[-1].startswith("… running")
    full = draw(TreeState.from_events(events[:-2], RenderOptions(show_timings=False, spinner=False)), width=120)
    assert len(full.splitlines()) > 300  # the same state, uncollapsed, is far taller


def test_footer_shows_budget_left():
    events = scenario_events({"max_calls": 50, "max_cost": 1.0, "max_tokens": 100_000})
    footer = [ln for ln in draw(TreeState.from_events(events, RenderOptions(show_timings=False))).splitlines()
              if ln.startswith("✓ ok")]
    assert len(footer) == 1
    m = re.fullmatch(r"✓ ok  16 calls · ([\d,]+) tok · \$0\.0000 · left: 34 calls, ([\d,]+) tok, \$1\.0000", footer[0])
    assert m, footer
    used, left = (int(g.replace(",", "")) for g in m.groups())
    assert used + left == 100_000


def test_interrupted_run_settles_running_items_and_says_so(events):
    cut = next(i for i, e in enumerate(events) if e.kind == ev.SUBCALL_START and e.node == "r.1") + 1
    stop = ev.Event(ev.INTERRUPTED, "r", 0, events[cut - 1].t, {"calls": 9, "tokens": 1, "cost_usd": 0.0})
    text = draw(TreeState.from_events(events[:cut] + [stop], RenderOptions(show_timings=False)))
    assert "…" not in "".join(ln[:8] for ln in text.splitlines())  # no running marks left
    assert "⊘ r.1 Find the supplier" in text
    assert "╭─ Interrupted" in text and "⊘ interrupted" in text


def test_failed_model_call_and_timeout_are_marked():
    e = lambda kind, **d: ev.Event(kind, "r", 0, 0.1, d)  # noqa: E731
    events = [
        e(ev.RUN_START, run_id="x", question="q?", context_chars=10, root_model="m", sub_model="m", limits={}),
        e(ev.NODE_START, question="q?", context_chars=10, parent=None),
        e(ev.ITERATION, iteration=1, max_iterations=3),
        e(ev.MODEL_START, call_id=1, role="root", model="m"),
        e(ev.MODEL_END, call_id=1, role="root", model="m", status="ok", prompt_tokens=5, completion_tokens=5,
          cost_usd=0.01, duration_s=0.1, text="```repl\nwhile True: pass\n```"),
        e(ev.CODE_START, iteration=1, block=1, code="while True: pass"),
        e(ev.CODE_END, iteration=1, block=1, output="", error="TimeoutError", duration_s=3.0, timed_out=True,
          restarted=True, has_final=False),
        e(ev.ITERATION, iteration=2, max_iterations=3),
        e(ev.MODEL_START, call_id=2, role="root", model="m"),
        e(ev.MODEL_END, call_id=2, role="root", model="m", status="error", error="rate limited", prompt_tokens=0,
          completion_tokens=0, cost_usd=0.0, duration_s=0.0),
        e(ev.NODE_END, status="error", answer=None, iterations=2, error="backend: rate limited"),
        e(ev.FAILED, error="backend: rate limited", exit_code=4),
    ]
    text = draw(TreeState.from_events(events, RenderOptions(show_timings=False)))
    assert "⏱ iteration 1/3" in text and "⏱ timed out (REPL restarted: variables lost)" in text
    assert "✗ iteration 2/3" in text and "✗ model error: rate limited" in text
    assert "╭─ Failed" in text and "backend: rate limited" in text


def test_spinner_frames_advance_between_refreshes(events):
    """A running item shows an animated spinner; its frame depends on the time the frame is drawn."""
    cut = next(i for i, e in enumerate(events) if e.kind == ev.SUBCALL_START and e.node == "r.1") + 1
    state = TreeState.from_events(events[:cut], RenderOptions.for_live(show_timings=False, max_height=200))
    frames = []
    for now in (0.0, 0.35):
        console = Console(width=100, color_system=None, record=True, file=io.StringIO(), get_time=lambda now=now: now)
        console.print(state)
        frames.append(console.export_text().splitlines()[0][0])
    assert frames[0] != frames[1] and frames[0] in "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
