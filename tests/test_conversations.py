"""Conversations: follow-ups keep the REPL's variables, in one process and across processes.
Each test fails if the state is not carried: question 2's code reads what only question 1's code made."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

R = "```repl\n{}\n```"
RULES = [
    {"when": "Question: Which suppliers", "reply": R.format(
        "import re\nhits = [m.start() for m in re.finditer('missed', context)]\n"
        "def who(i):\n    return context[max(0, i - 40):i].split('.')[-1].strip()\nFINAL(', '.join(who(i) for i in hits))")},
    {"when": "Question: How many", "reply": R.format("FINAL(f'{len(hits)} suppliers, first: {who(hits[0])}')")},
    {"when": "Question: And in the new file", "reply": R.format(
        "more = [m.start() for m in re.finditer('missed', context)]\nFINAL(f'{len(more)} in all, {len(hits)} before')")},
]
DOC = "Report.\nAcme Corp missed the deadline.\nBolt Ltd met it.\nCraneWorks missed the deadline too.\n"


@pytest.fixture
def doc(tmp_path):
    path = tmp_path / "doc.txt"
    path.write_text(DOC, encoding="utf-8")
    return path


def _rlm(args, rlm_home, stdin=None):
    env = dict(os.environ, RLM_HOME=str(rlm_home))
    return subprocess.run([sys.executable, "-m", "rlm_cli", *map(str, args)], input=stdin, capture_output=True,
                          text=True, env=env, timeout=120)


def test_ask_then_continue_in_a_second_process_sees_the_variables(script, doc, rlm_home):
    model = script(RULES)
    first = _rlm(["ask", doc, "Which suppliers missed the deadline?", "-m", model, "--json"], rlm_home)
    assert first.returncode == 0, first.stderr
    one = json.loads(first.stdout)
    assert one["answer"] == "Acme Corp, CraneWorks" and one["conversation"]
    second = _rlm(["ask", "-c", "How many were there?", "--json"], rlm_home, stdin="")  # models and documents reused
    assert second.returncode == 0, second.stderr
    two = json.loads(second.stdout)
    assert two["answer"] == "2 suppliers, first: Acme Corp"  # `hits` and `who` came from question 1
    assert two["conversation"] == one["conversation"] and two["run_id"] != one["run_id"]


def test_named_conversation_is_created_then_continued(cli, script, doc):
    model = script(RULES)
    r1 = cli(["ask", doc, "Which suppliers missed?", "-m", model, "--conversation", "q3-review"])
    assert r1.exit_code == 0, r1.stderr
    cli(["ask", doc, "Which suppliers missed?", "-m", model])  # another, newer conversation in between
    r2 = cli(["ask", "--conversation", "q3-review", "How many?", "--json"])
    assert r2.exit_code == 0, r2.stderr
    assert r2.json()["answer"].startswith("2 suppliers") and r2.json()["conversation"] == "q3-review"


def test_continue_with_new_sources_adds_them_at_the_end(cli, script, doc, tmp_path):
    model = script(RULES)
    assert cli(["ask", doc, "Which suppliers missed?", "-m", model]).exit_code == 0
    extra = tmp_path / "more.txt"
    extra.write_text("Delta Inc missed the deadline as well.\n", encoding="utf-8")
    r = cli(["ask", "-c", extra, "And in the new file?", "--json"])
    assert r.exit_code == 0, r.stderr
    assert r.json()["answer"] == "3 in all, 2 before"


def test_preamble_lists_names_types_and_sizes_only(doc, rlm_home):
    from rlm_cli.backends.scripted import ScriptedModel
    from rlm_cli.config import Resolved
    from rlm_cli.context import Context
    from rlm_cli.conversation import Conversation
    from rlm_cli.runs import RunOptions

    model = ScriptedModel.from_dict({"rules": RULES + [{"when": "Question: Show", "reply": R.format("FINAL('ok')")}]})
    with Conversation(Resolved(model, "scripted/r", "scripted/s"), RunOptions(trajectory=False),
                      Context.from_text(DOC)) as conv:
        assert conv.ask("Which suppliers missed?").answer == "Acme Corp, CraneWorks"
        assert conv.ask("Show me").answer == "ok"
    told = [m["content"] for m in model.calls[-1]["messages"] if m["role"] == "user"][0]
    assert "- hits: list, 2 items" in told and "- who: function" in told
    assert "Q1: Which suppliers missed?\nA1: Acme Corp, CraneWorks" in told
    assert "[8, " not in told  # the offsets themselves (hits' content) are never shown


def test_conversation_wide_cost_cap_stops_new_questions(cli, script, doc):
    model = script(RULES)
    r = cli(["ask", doc, "Which suppliers missed?", "-m", model, "--conversation", "capped",
             "--conversation-max-cost", "0"])
    assert r.exit_code == 5 and "cap" in r.stderr


def test_a_second_process_on_the_same_conversation_is_refused(cli, script, doc):
    from rlm_cli.conversation import Store

    model = script(RULES)
    assert cli(["ask", doc, "Which suppliers missed?", "-m", model, "--conversation", "busy"]).exit_code == 0
    with Store().lock("busy"):
        r = cli(["ask", "--conversation", "busy", "How many?"])
    assert r.exit_code == 2 and "in use by another rlm process" in r.stderr


def test_continue_without_any_conversation_is_a_usage_error(cli):
    r = cli(["ask", "-c", "anything?"])
    assert r.exit_code == 2 and "no conversation" in r.stderr


API_RULES = [
    {"when": "Question: first", "reply": R.format("import re\nfound = re.findall('missed', context)\nFINAL(len(found))")},
    {"when": "Question: second", "reply": R.format("FINAL(f'{len(found)} again, {type(re).__name__}')")},
]


def _api(tmp_path, **kw):
    import json as _json

    from rlm_cli import RLM

    path = tmp_path / "api-model.json"
    path.write_text(_json.dumps({"rules": API_RULES}), encoding="utf-8")
    return RLM(backend="scripted", backend_kwargs={"model_name": str(path)}, save_trajectory=False, **kw)


def test_api_persistent_keeps_variables_between_completions(tmp_path):
    with _api(tmp_path, persistent=True) as rlm:
        one = rlm.completion("first", context=DOC)
        two = rlm.completion("second")
    assert one.response == "2" and two.response == "2 again, module"
    assert one.conversation == two.conversation


def test_api_without_persistent_starts_fresh_each_time(tmp_path):
    rlm = _api(tmp_path)
    assert rlm.completion("first", context=DOC).response == "2"
    result = rlm.completion("second", context=DOC)
    assert result.status == "limit"  # `found` is gone: the scripted second answer keeps failing


def test_api_conversation_context_manager_and_cli_continuation(tmp_path, cli):
    rlm = _api(tmp_path)
    with rlm.conversation(context=DOC, name="api-chat") as c:
        assert c.completion("first").response == "2"
        assert [v["name"] for v in c.variables()] == ["found"]  # (modules are not listed)
    r = cli(["ask", "--conversation", "api-chat", "second", "--json"])
    assert r.exit_code == 0, r.stderr
    assert r.json()["answer"] == "2 again, module"
