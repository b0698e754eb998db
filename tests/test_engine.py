"""The engine loop with the scripted model and a real subprocess REPL."""
from __future__ import annotations

import re

from rlm_cli.context import Context
from rlm_cli.engine import Run, RunConfig
from rlm_cli.errors import LimitExceeded
from rlm_cli.events import EventBus
from rlm_cli.backends.scripted import ScriptedModel
from rlm_cli.sandbox import SandboxOptions
from rlm_cli.usage import Limits

def make_run(rules, default="no idea", events=None, **cfg):
    model = ScriptedModel.from_dict({"rules": rules, "default": default})
    limits = Limits(**{k: cfg.pop(k) for k in list(cfg) if k in Limits.__dataclass_fields__})
    sandbox = cfg.pop("sandbox", SandboxOptions(exec_timeout=5))
    bus = EventBus([events.append] if events is not None else [])
    return Run(model, RunConfig("scripted/root", "scripted/sub", limits, sandbox=sandbox, **cfg), bus), model

def repl(code: str) -> str:
    return f"```repl\n{code}\n```"

def user_messages(model: ScriptedModel, depth_marker: str = "Question:") -> list[str]:
    return [m["content"] for m in model.calls[-1]["messages"] if m["role"] == "user"]

def test_root_sees_only_size_and_shape_never_the_context():
    secret = "ZEBRA-UNIQUE-TOKEN-991"
    text = ("filler line\n" * 5000) + secret + "\n"
    run, model = make_run([{"turn": 1, "when": "Question", "reply": repl("FINAL(str(len(context)))")}])
    result = run.execute("How long is it?", Context.from_text(text, "doc.txt"))
    assert result.answer == str(len(text))
    prompt = "\n".join(m["content"] for m in model.calls[0]["messages"])
    assert secret not in prompt
    assert f"{len(text):,} characters" in prompt and "doc.txt" in prompt
    assert "Turn 1 of 20" in prompt

def test_state_persists_across_turns_and_turn_counter_advances():
    rules = [
        {"turn": 1, "when": "Question", "reply": repl("n = context.count('x')\nprint('counted', n)")},
        {"turn": 2, "when": "counted (\\d+)", "reply": repl("FINAL(n * 2)")},
    ]
    run, model = make_run(rules, max_iterations=5)
    result = run.execute("q", Context.from_text("x y x z x"))
    assert result.answer == "6"
    assert result.iterations == 2
    last_user = user_messages(model)[-1]
    assert "counted 3" in last_user and "Turn 2 of 5" in last_user

def test_reply_without_code_gets_corrective_message_and_free_text_final_is_ignored():
    rules = [
        {"turn": 1, "when": "Question", "reply": "FINAL(the answer is 42)"},
        {"turn": 2, "when": "no ```repl code block", "reply": repl("FINAL('from code')")},
    ]
    run, model = make_run(rules)
    result = run.execute("q", Context.from_text("abc"))
    assert result.answer == "from code"
    assert "no ```repl code block" in user_messages(model)[-1]

def test_output_is_truncated_with_a_note():
    rules = [
        {"turn": 1, "when": "Question", "reply": repl("print('A' * 50000)")},
        {"turn": 2, "when": "truncated", "reply": repl("FINAL('saw truncation')")},
    ]
    run, model = make_run(rules, sandbox=SandboxOptions(exec_timeout=5, max_output_chars=1000))
    assert run.execute("q", Context.from_text("abc")).answer == "saw truncation"
    shown = user_messages(model)[-1]
    assert "characters omitted" in shown
    assert shown.count("A") < 1100

def test_reserved_names_are_restored():
    rules = [
        {"turn": 1, "when": "Question", "reply": repl("context = 'overwritten'\nllm_query = None")},
        {"turn": 2, "when": "reserved", "reply": repl("FINAL(context[:5] + str(callable(llm_query)))")},
    ]
    run, model = make_run(rules)
    assert run.execute("q", Context.from_text("hello world")).answer == "helloTrue"
    assert "`context` is reserved and was restored" in user_messages(model)[-1]

def test_iterations_run_out_then_last_chance_answer():
    rules = [
        {"when": "out of turns", "reply": repl("FINAL('best effort')")},
        {"when": ".", "reply": repl("print('still looking')")},
    ]
    run, model = make_run(rules, max_iterations=2)
    result = run.execute("q", Context.from_text("abc"))
    assert result.answer == "best effort"
    assert len(model.calls) == 3  # two turns + the last request

def test_no_answer_within_iterations_raises_limit():
    run, _ = make_run([{"when": ".", "reply": repl("print('looking')")}], max_iterations=2)
    result = run.execute("q", Context.from_text("abc"))
    assert result.status == "limit" and result.exit_code == 5
    assert "no answer after 2 iterations" in result.error
    assert isinstance(result.exception, LimitExceeded)

def test_max_calls_stops_before_the_call():
    rules = [{"when": ".", "reply": repl("print(llm_query_batched(['a', 'b', 'c']))")}]
    run, model = make_run(rules, max_calls=3, max_iterations=10)
    result = run.execute("q", Context.from_text("abc"))
    assert result.status == "limit" and "call limit of 3" in result.error
    assert run.usage.calls <= 3

def test_llm_query_batched_results_in_order_and_errors_per_item():
    rules = [
        {"turn": 1, "when": "Question", "reply": repl(
            "r = llm_query_batched(['item 1', 'item 2', 'x' * 4000, 'item 4'])\nFINAL(r)")},
        {"when": "^item (\\d)$", "reply": "answer {1}"},
    ]
    run, _ = make_run(rules, sub_window_tokens=500, concurrency=4)
    answer = run.execute("q", Context.from_text("abc")).answer
    import json

    items = json.loads(answer)
    assert items[0] == "answer 1" and items[1] == "answer 2" and items[3] == "answer 4"
    assert items[2].startswith("Error:") and "window" in items[2]

def test_single_llm_query_overflow_raises_in_model_code():
    rules = [
        {"turn": 1, "when": "Question", "reply": repl("try:\n    llm_query('y' * 8000)\nexcept RuntimeError as e:\n    FINAL('refused: ' + str(e))")},
    ]
    run, model = make_run(rules, sub_window_tokens=500)
    answer = run.execute("q", Context.from_text("abc")).answer
    assert answer.startswith("refused:") and "split" in answer
    assert len(model.calls) == 1  # the oversized prompt was never sent

def test_rlm_query_runs_a_child_with_its_own_repl_and_usage_is_counted():
    rules = [
        # The child sees its own context (the sub_context) and answers from code.
        {"turn": 1, "when": "Question: child", "reply": repl("FINAL('child saw ' + context.upper())")},
        {"turn": 1, "when": "Question: root", "reply": repl("a = rlm_query('child task', 'tiny doc')\nFINAL(a)")},
    ]
    events = []
    run, model = make_run(rules, events=events, max_depth=1)
    result = run.execute("root task", Context.from_text("the big root context"))
    assert result.answer == "child saw TINY DOC"
    assert run.usage.max_depth_reached == 1
    assert run.usage.calls == 2  # root + child root call, both counted in one total
    nodes = {e.node for e in events if e.kind == "node_start"}
    assert nodes == {"r", "r.1"}

def test_rlm_query_at_max_depth_is_a_plain_sub_call():
    rules = [
        {"turn": 1, "when": "Question: root", "reply": repl("FINAL(rlm_query('what colour?', 'the sky is blue'))")},
        {"when": "what colour\\?\\n\\nthe sky is (\\w+)", "reply": "{1}"},
    ]
    run, model = make_run(rules, max_depth=0)
    assert run.execute("root", Context.from_text("abc")).answer == "blue"
    assert run.usage.max_depth_reached == 0

def test_events_cover_the_tree():
    rules = [{"turn": 1, "when": "Question", "reply": repl("x = llm_query_batched(['p1','p2'])\nFINAL(len(x))")}]
    events = []
    run, _ = make_run(rules, events=events)
    run.execute("q", Context.from_text("abc"))
    kinds = [e.kind for e in events]
    for kind in ("run_start", "node_start", "iteration", "model_start", "model_end", "code_start",
                 "subcall_start", "subcall_progress", "subcall_end", "code_end", "node_end"):
        assert kind in kinds, kind
    assert kinds.index("subcall_start") < kinds.index("subcall_end") < kinds.index("code_end")
    assert all(re.fullmatch(r"r(\.\d+)*", e.node) for e in events)

def test_small_model_spellings_of_final_submit_but_final_stays_a_free_name():
    rules = [
        {"turn": 1, "when": "Question", "reply": repl("final = 'kept'\nprint(final)")},
        {"turn": 2, "when": "kept", "reply": repl("Final(final + ' then submitted')")},
    ]
    run, model = make_run(rules)
    assert run.execute("q", Context.from_text("abc")).answer == "kept then submitted"
    assert "reserved" not in user_messages(model)[-1]

def test_long_conversations_are_compacted_to_fit_the_root_window():
    rules = [
        {"when": "out of turns", "reply": repl("FINAL('done')")},
        {"when": ".", "reply": repl("print('x' * 3000)")},
    ]
    run, model = make_run(rules, max_iterations=12, root_window_tokens=4000,
                          sandbox=SandboxOptions(exec_timeout=5, max_output_chars=4000))
    assert run.execute("q", Context.from_text("abc")).answer == "done"
    last = model.calls[-1]["messages"]
    total = sum(len(m["content"]) for m in last) // 4
    assert total <= 4000 * 0.8 + 1000  # the last request still fits (last two turns are always kept)
    assert any("omitted to fit" in m["content"] for m in last)
    assert last[1]["content"].startswith("Question: q")  # the question is never dropped
    assert "x" * 100 in last[-2]["content"] or "x" * 100 in last[-3]["content"]  # recent output kept
