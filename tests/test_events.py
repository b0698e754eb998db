"""The event schema (rlm_cli/events.py SCHEMA) against what the engine really emits, for every outcome."""
from __future__ import annotations

import pytest

from rlm_cli import events as ev
from rlm_cli.backends.scripted import ScriptedModel
from rlm_cli.context import Context
from rlm_cli.engine import Run, RunConfig
from rlm_cli.sandbox import SandboxOptions
from rlm_cli.usage import Limits

R = "```repl\n{}\n```"
SCENARIOS = {
    "ok": [{"turn": 1, "when": "Question", "reply": R.format(
        "a = llm_query('x')\nb = llm_query_batched(['p', 'q'])\nc = rlm_query('sub q', 'sub ctx')\nFINAL(a + str(b) + c)")},
        {"when": "sub q", "reply": R.format("FINAL('child')")}],
    "limit": [{"when": ".", "reply": R.format("print('again')")}],
    "no_code": [{"turn": 1, "when": "Question", "reply": "just words"},
                {"when": ".", "reply": R.format("FINAL('x')")}],
    "error": [{"when": "Question", "reply": R.format("raise ValueError('boom')")},
              {"when": "boom", "reply": R.format("FINAL(1)")}],
    "evidence": [{"turn": 1, "when": "Question: q", "reply": R.format(
        "c = rlm_query('sub q', context[:4])\nFINAL(c, evidence=['some text', 'made up'])")},
        {"when": "sub q", "reply": R.format("FINAL('some text', evidence='some')")}],
    "unsupported": [{"when": ".", "reply": R.format("FINAL('no proof')")}],
}
CONFIG = {"unsupported": {"evidence": "required"}}


def _events(rules, config=None, **limits) -> list[ev.Event]:
    model = ScriptedModel.from_dict({"rules": rules, "default": "plain"})
    cfg = RunConfig("scripted/r", "scripted/s", Limits(**limits), sandbox=SandboxOptions(exec_timeout=10),
                    **(config or {}))
    run = Run(model, cfg)
    events: list[ev.Event] = []
    run.bus.add(events.append)
    ctx = Context.from_text("some text")
    ctx.warnings.append("a warning")
    run.execute("q", ctx)
    return events


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_event_matches_the_schema_and_ends_with_one_terminal(name):
    events = _events(SCENARIOS[name], CONFIG.get(name), max_iterations=2)
    for e in events:
        assert e.kind in ev.SCHEMA, e.kind
        required, optional = ev.SCHEMA[e.kind]
        keys = set(e.data)
        assert set(required) <= keys, (e.kind, set(required) - keys)
        assert keys <= set(required) | set(optional), (e.kind, keys - set(required) - set(optional))
    terminal = [e for e in events if e.kind in ev.TERMINAL]
    assert len(terminal) == 1 and events[-1] is terminal[0]
    if name in ("evidence", "unsupported"):
        end = events[-1].data
        assert end["status"] == ("ok" if name == "evidence" else "unsupported") and "citations" in end
        assert end["supported"] is (name == "evidence")


def test_the_scenarios_cover_every_non_failure_kind():
    seen = {e.kind for name in SCENARIOS for e in _events(SCENARIOS[name], max_iterations=2)}
    assert set(ev.SCHEMA) - seen <= {ev.INTERRUPTED, ev.FAILED}  # those two: tests/test_interrupt.py, below


def test_a_backend_failure_ends_in_one_failed_event():
    class Broken:
        def complete(self, model, messages, *, timeout=None):
            from rlm_cli.errors import BackendError

            raise BackendError("server unreachable")

        def window(self, model):
            return None

    run = Run(Broken(), RunConfig("m"))
    events: list[ev.Event] = []
    run.bus.add(events.append)
    result = run.execute("q", Context.from_text("abc"))
    assert result.status == "error" and result.exit_code == 4 and result.error == "server unreachable"
    assert [e.kind for e in events if e.kind in ev.TERMINAL] == [ev.FAILED]
    required, optional = ev.SCHEMA[ev.FAILED]
    assert set(required) <= set(events[-1].data) <= set(required) | set(optional)
