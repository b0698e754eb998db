"""The node loop driven with a fake sandbox (no subprocess): the engine talks only to protocols."""
from __future__ import annotations

from rlm_cli.backends.scripted import ScriptedModel
from rlm_cli.context import Context
from rlm_cli.engine import Run, RunConfig
from rlm_cli.sandbox import ExecResult
from rlm_cli.usage import Limits

R = "```repl\n{}\n```"


class FakeSandbox:
    """Runs nothing: each code block maps to a canned result; `CALL <prompt>` asks the host for an llm_query."""

    instances: list["FakeSandbox"] = []

    def __init__(self, text, sources, options):
        self.text, self.sources, self.codes, self.closed = text, sources, [], None
        FakeSandbox.instances.append(self)

    def execute(self, code, handler):
        self.codes.append(code)
        if code.startswith("CALL "):
            return ExecResult(stdout=handler("llm_query", {"prompts": [code[5:]]})[0])
        if code.startswith("FINAL "):
            return ExecResult(final=code[6:], has_final=True)
        if code == "CRASH":
            return ExecResult(error="Error: worker died", restarted=True)
        return ExecResult(stdout=f"ran {code}")

    def close(self, graceful=True):
        self.closed = graceful

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        self.close(graceful=exc_type is None)


def _run(rules, **limits):
    FakeSandbox.instances.clear()
    model = ScriptedModel.from_dict({"rules": rules, "default": "plain words"})
    return Run(model, RunConfig("m/root", "m/sub", Limits(**limits), sandbox_factory=FakeSandbox)), model


def test_sub_call_served_then_final_from_code():
    run, model = _run([{"turn": 1, "when": "Question", "reply": R.format("CALL what is x?")},
                       {"when": "^what is x", "reply": "x is 42"},
                       {"turn": 2, "when": "x is 42", "reply": R.format("FINAL 42")}])
    result = run.execute("q", Context.from_text("ctx"))
    assert result.ok and result.answer == "42" and result.iterations == 2
    assert [c["model"] for c in model.calls] == ["m/root", "m/sub", "m/root"]
    box = FakeSandbox.instances[0]
    assert box.text == "ctx" and box.closed is True  # opened with `with`, closed gracefully


def test_no_code_gets_a_correction_and_the_last_chance_is_one_user_message():
    run, model = _run([{"when": "out of turns", "reply": R.format("FINAL best guess")}], max_iterations=2)
    result = run.execute("q", Context.from_text("ctx"))
    assert result.answer == "best guess" and len(model.calls) == 3
    sent = model.calls[-1]["messages"][:-1]  # (the engine appended the reply to the same list afterwards)
    assert [m["role"] for m in sent[-2:]] == ["assistant", "user"]
    assert "no ```repl code block" in sent[-1]["content"] and "out of turns" in sent[-1]["content"]


def test_a_restart_skips_the_later_blocks_of_the_reply():
    run, _ = _run([{"turn": 1, "when": "Question", "reply": R.format("CRASH") + "\n" + R.format("never")},
                   {"turn": 2, "when": "worker died", "reply": R.format("FINAL ok")}])
    assert run.execute("q", Context.from_text("ctx")).answer == "ok"
    assert FakeSandbox.instances[0].codes == ["CRASH", "FINAL ok"]


def test_a_limit_ends_the_run_with_the_sandbox_killed_not_awaited():
    run, _ = _run([{"when": ".", "reply": R.format("again")}], max_iterations=3, max_calls=2)
    result = run.execute("q", Context.from_text("ctx"))
    assert result.status == "limit" and result.exit_code == 5 and "call limit of 2" in result.error
    assert FakeSandbox.instances[0].closed is False
