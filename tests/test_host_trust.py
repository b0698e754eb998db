"""The host trusts nothing from the worker: hostile model code through the real `rlm ask` CLI.

The models sit behind a local OpenAI-compatible stub that records every request (headers, body, size),
so each test observes the outcome outside the sandbox: which models and keys reached the server, how
big the prompts were, whether a decoy file's content travelled anywhere, the exit code, stdout and the
trajectory on disk. Classes: model names chosen by the worker, forged and oversized messages (types,
sizes, nesting, Unicode), a worker that stops reading or closes its channel, secrets in REPL output,
and the key sent with --api-base (docs/sandbox.md, "The host trusts nothing from the worker").
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import scripted_responder

DOC = "The annual report of ACME. Revenue grew 12 percent. " * 40
OPENAI_KEY = "sk-configured-FAKE-0123456789"
OTHER_KEYS = {"ANTHROPIC_API_KEY": "sk-ant-FAKE-other-provider-1", "GEMINI_API_KEY": "gem-FAKE-other-provider-2",
              "OPENROUTER_API_KEY": "sk-or-FAKE-other-provider-3"}
DECOY = "DECOY-HOST-FILE-CONTENT-7731"
OUT_FD = 'int(sys.argv[sys.argv.index("--out") + 1])'

# Model code helpers: the worker's protocol fd and the current exec's sequence number (forgeable).
FORGE = f'''
import json, os, sys, time
OUT = {OUT_FD}
def seq():
    f = sys._getframe()
    while f:
        m = f.f_locals.get("msg")
        if isinstance(m, dict) and m.get("type") == "exec":
            return m["seq"]
        f = f.f_back
def send_raw(data):
    v = memoryview(data)
    while v:
        v = v[os.write(OUT, v):]
def forge(**fields):
    msg = dict(type="result", seq=seq(), stdout="", error=None, final=None, has_final=False, notes=[])
    msg.update(fields)
    send_raw(json.dumps(msg).encode() + b"\\n")
'''


def block(code: str) -> str:
    return f"```repl\n{code}\n```"


def rules(turn1: str, turn2: str = "FINAL('finished')", extra: list | None = None) -> list[dict]:
    """Root turn 1 runs `turn1`, turn 2 runs `turn2`; sub-calls match `extra`, else "no idea"."""
    return [*(extra or []), {"turn": 1, "when": "Question:", "reply": block(turn1)},
            {"turn": 2, "when": "Turn 2 of", "reply": block(turn2)}]


@pytest.fixture
def keys(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    for k, v in OTHER_KEYS.items():
        monkeypatch.setenv(k, v)


@pytest.fixture
def ask(cli, stub_server, tmp_path, keys):
    """ask(rules, *args) -> (CliResult, server): `rlm ask doc.txt QUESTION` against the stub."""
    doc = tmp_path / "doc.txt"
    doc.write_text(DOC, encoding="utf-8")

    def run(rule_list, *args, api_key=None):
        server = stub_server(scripted_responder(rule_list), api_key=api_key)
        r = cli(["ask", doc, "What does the report say?", "-m", "openai/root-model", "--sub-model", "openai/sub-model",
                 "--api-base", server.url, *args])
        return r, server

    return run


def bodies(server) -> list[str]:
    return [json.dumps(r.body) for r in server.chat_requests]


def trajectory(rlm_home: Path) -> Path:
    files = sorted((rlm_home / "logs" / "runs").glob("*.jsonl"))
    assert files, "no trajectory written"
    return files[-1]


# ---- class 1: the worker picks the model --------------------------------------------------------------
@pytest.fixture
def decoys(tmp_path) -> dict:
    decoy = tmp_path / "decoy.json"  # a valid scripted-model file: served, it would answer with DECOY
    decoy.write_text(json.dumps({"rules": [], "default": DECOY}), encoding="utf-8")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opening it for reading would block the host forever
    return {"decoy": decoy, "fifo": fifo}


def hostile_models(decoys) -> list:
    return [
        f"scripted/{decoys['decoy']}", "scripted//etc/passwd", f"scripted/{decoys['fifo']}", "scripted//dev/zero",
        "scripted/../../../../etc/hostname", "local/qwen2.5-coder-1.5b", "local//dev/zero",
        "anthropic/claude-3-5-haiku-latest", "gemini/gemini-1.5-flash", "openrouter/openai/gpt-4o", "openai/gpt-4o",
        "gpt-4.1-mini", "claude-sonnet-4-5", "sub-model", "openai/sub-model ", " openai/sub-model", "OPENAI/SUB-MODEL",
        "openai/sub-model\n", "openai/sub-model\x00", "", "x" * 5000, {"model": "openai/sub-model"}, 42,
        ["openai/sub-model"], True,
    ]


MODEL_PROBE = '''
import json
results = []
for m in {models}:
    try:
        results.append("SERVED " + llm_query("say hi", model=m))
    except Exception as e:
        results.append("REFUSED " + str(e)[:200])
FINAL(json.dumps(results))
'''


def test_sub_call_models_are_only_the_runs_models(ask, decoys):
    hostile = hostile_models(decoys)
    allowed = [None, "openai/sub-model", "openai/root-model"]
    code = MODEL_PROBE.format(models=repr(hostile + allowed))
    r, server = ask(rules(code, extra=[{"when": "^say hi$", "reply": "hello"}]))
    assert r.exit_code == 0, r.stderr
    results = json.loads(r.stdout)
    assert len(results) == len(hostile) + len(allowed)
    for model, res in zip(hostile, results):
        assert res.startswith("REFUSED "), (model, res)
        assert "not one of this run's models" in res or "model must be the name" in res, (model, res)
    assert results[len(hostile):] == ["SERVED hello"] * 3
    # outside the sandbox: only the configured models and key reached the server, nothing of the decoy anywhere
    assert {req.model for req in server.chat_requests} == {"root-model", "sub-model"}
    assert len(server.chat_requests) == 1 + 3
    for req in server.chat_requests:
        assert req.headers.get("authorization") == f"Bearer {OPENAI_KEY}"
        assert not any(v in json.dumps(req.headers) for v in OTHER_KEYS.values())
    assert not any(DECOY in b for b in bodies(server)) and DECOY not in r.stdout + r.stderr


def test_profile_sub_models_are_allowed_and_nothing_else(cli, stub_server, tmp_path, keys):
    server = stub_server(scripted_responder(rules(MODEL_PROBE.format(models=repr(["extra", "openai/gpt-4o"])),
                                                  extra=[{"when": "^say hi$", "reply": "hello"}])))
    config = tmp_path / "rlm.yaml"
    config.write_text(f"""
model_list:
  - model_name: main
    litellm_params: {{model: openai/root-model, api_base: "{server.url}"}}
  - model_name: extra
    litellm_params: {{model: openai/extra-model, api_base: "{server.url}"}}
  - model_name: unlisted
    litellm_params: {{model: openai/unlisted-model, api_base: "{server.url}"}}
rlm:
  default_profile: p
  profiles:
    p: {{root: main, sub: main, sub_models: [extra]}}
""", encoding="utf-8")
    doc = tmp_path / "doc.txt"
    doc.write_text(DOC, encoding="utf-8")
    r = cli(["ask", doc, "What does the report say?", "--config", config])
    assert r.exit_code == 0, r.stderr
    served, refused = json.loads(r.stdout)
    assert served == "SERVED hello" and refused.startswith("REFUSED ")
    assert [req.model for req in server.chat_requests] == ["root-model", "extra-model"]


def test_fifo_and_dev_zero_models_do_not_hang_the_cli_subprocess(script, tmp_path, decoys, rlm_home):
    """The same class through a real `rlm` process: before the check, the FIFO blocked the host forever."""
    code = MODEL_PROBE.format(models=repr([f"scripted/{decoys['fifo']}", "scripted//dev/zero", f"scripted/{decoys['decoy']}"]))
    model = script(rules(code))
    doc = tmp_path / "doc.txt"
    doc.write_text(DOC, encoding="utf-8")
    env = dict(os.environ, RLM_HOME=str(rlm_home))
    p = subprocess.run([sys.executable, "-m", "rlm_cli", "ask", str(doc), "What?", "-m", model, "-q"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=100)
    assert p.returncode == 0, p.stderr
    results = json.loads(p.stdout)
    assert len(results) == 3 and all(x.startswith("REFUSED ") for x in results)
    assert DECOY not in p.stdout + p.stderr + trajectory(rlm_home).read_text(encoding="utf-8")


# ---- class 5: types, sizes, nesting, Unicode ---------------------------------------------------------
WRONG_TYPES = {
    "stdout-dict": 'forge(stdout={"a": {"b": 1}})',
    "stdout-list": "forge(stdout=[1, 2, 3])",
    "error-list": 'forge(error=["x"])',
    "final-int": "forge(final=42, has_final=True)",
    "final-dict": 'forge(final={"answer": 1}, has_final=True)',
    "has-final-string": 'forge(has_final="yes")',
    "notes-dict": 'forge(notes={"a": 1})',
    "notes-ints": "forge(notes=[1, 2])",
}


@pytest.mark.parametrize("forgery", list(WRONG_TYPES.values()), ids=list(WRONG_TYPES))
def test_forged_result_of_the_wrong_type_restarts_the_repl_and_the_run_goes_on(ask, forgery, rlm_home):
    r, server = ask(rules(FORGE + forgery + "\ntime.sleep(30)"))
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "finished\n"
    second = bodies(server)[1]  # the root's turn 2 saw a clear error, not a crash
    assert "The REPL was restarted" in second and ("not a string" in second or "not a list" in second
                                                   or "not a boolean" in second)


MALFORMED = {
    "deep-array-200k": 'send_raw(b"[" * 200_000 + b"]" * 200_000 + b"\\n")',
    "deep-object-200k": 'send_raw(b\'{"a":\' * 200_000 + b"1" + b"}" * 200_000 + b"\\n")',
    "deep-in-call-args": ('send_raw(b\'{"type": "call", "id": 1, "fn": "llm_query", "args": {"prompts": \' '
                          '+ b"[" * 50_000 + b\'"x"\' + b"]" * 50_000 + b"}}\\n")'),
    "depth-just-over": 'send_raw(b\'{"type": "result", "stdout": \' + b"[" * 7 + b"]" * 7 + b"}\\n")',
    "array-message": 'send_raw(b"[1, 2]\\n")',
    "string-message": 'send_raw(b\'"hello"\\n\')',
    "null-message": 'send_raw(b"null\\n")',
    "number-message": 'send_raw(b"1e999999\\n")',
    "not-json": 'send_raw(b"\\xff\\xfe not json at all\\n")',
    "unknown-type": 'send_raw(b\'{"type": "violation", "error": "\' + b"E" * 5_000_000 + b\'"}\\n\')',
}


@pytest.mark.parametrize("message", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_messages_are_a_protocol_violation_not_a_host_crash(ask, message, rlm_home):
    r, server = ask(rules(FORGE + message + "\ntime.sleep(30)"))
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "finished\n"
    second = bodies(server)[1]
    assert "The REPL was restarted" in second
    assert len(second) < 50_000  # a 5 MB "error" from the worker never reaches a prompt
    assert trajectory(rlm_home).stat().st_size < 200_000


def test_brackets_inside_strings_are_not_nesting(ask):
    """The depth check counts structure, not text: a prompt full of brackets is served."""
    code = 'r = llm_query("[" * 20_000 + "{" * 20_000 + " count")\nFINAL(r)'
    r, server = ask(rules(code, extra=[{"when": "count$", "reply": "counted"}]))
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "counted\n"


OVERSIZED = {
    "forged-40MB-stdout": 'forge(stdout="A" * 40_000_000)\ntime.sleep(1)',
    "forged-30MB-error": 'forge(error="E" * 30_000_000)\ntime.sleep(1)',
    "forged-1000-notes": 'forge(notes=["N" * 100_000] * 1000)\ntime.sleep(1)',
    "raise-30MB-exception": 'raise ValueError("B" * 30_000_000)',
    "print-40MB": 'print("P" * 40_000_000)',
    "fd-write-40MB": 'import os\nos.write(1, b"W" * 40_000_000)',
}


@pytest.mark.parametrize("code", list(OVERSIZED.values()), ids=list(OVERSIZED))
def test_oversized_output_is_cut_before_any_prompt_or_trajectory(ask, code, rlm_home):
    r, server = ask(rules(FORGE + code))
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "finished\n"
    sizes = [req.size for req in server.chat_requests]
    assert len(sizes) == 2 and max(sizes) < 80_000, sizes  # 10,000-char output cap: ~30 kB of prompt at most
    assert trajectory(rlm_home).stat().st_size < 300_000


def test_a_50mb_final_is_delivered_cut_with_a_warning(ask, rlm_home, tmp_path):
    out = tmp_path / "answer.txt"
    r, server = ask(rules('FINAL("A" * 50_000_000)'), "-o", out)
    assert r.exit_code == 0, r.stderr
    answer = out.read_text(encoding="utf-8")
    assert answer.startswith("A" * 1_000_000) and len(answer) < 1_000_200
    assert "answer cut: 49,000,000 more characters were dropped" in answer
    assert "rlm: warning: the answer had 50,000,000 characters: cut to the first 1,000,000" in r.stderr
    assert trajectory(rlm_home).stat().st_size < 4_000_000


@pytest.mark.slow  # a few seconds each (runs in CI's slow pass: .ci/run)
def test_forged_oversized_final_is_cut_too(ask):
    r, server = ask(rules(FORGE + 'forge(final="F" * 30_000_000, has_final=True)\ntime.sleep(3)'), "--json")
    assert r.exit_code == 0, r.stderr
    result = r.json()
    assert result["answer"].startswith("F" * 1_000_000) and len(result["answer"]) < 1_000_200
    assert result["warnings"] == ["the answer had 30,000,000 characters: cut to the first 1,000,000 (the cap on a FINAL answer)",
                                  "no verified evidence supports the answer"]


@pytest.mark.parametrize("fmt", ["text", "json", "file"])
def test_lone_surrogates_in_final_do_not_lose_the_answer(ask, fmt, tmp_path, rlm_home):
    code = r'FINAL("start \ud800 middle \udfff\udc80 end")'
    args = {"text": [], "json": ["--json"], "file": ["-o", tmp_path / "a.txt"]}[fmt]
    r, server = ask(rules(code), *args)
    assert r.exit_code == 0, r.stderr
    expected = "start \ufffd middle \ufffd\ufffd end"
    got = {"text": lambda: r.stdout, "json": lambda: r.json()["answer"],
           "file": lambda: (tmp_path / "a.txt").read_text(encoding="utf-8")}[fmt]()
    assert got.rstrip("\n") == expected
    events = [json.loads(line) for line in trajectory(rlm_home).read_text(encoding="utf-8").splitlines()]
    assert events[-1]["kind"] == "run_end" and events[-1]["data"]["answer"] == expected


def test_surrogates_in_output_and_prompts_are_repaired(ask):
    code = r'print("out \ud800")' + "\n" + r'r = llm_query("echo \udfff please")'
    r, server = ask(rules(code, "FINAL(r)", extra=[{"when": "^echo (.*) please$", "reply": "got {1}"}]))
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "got \ufffd\n"
    assert "out \\ufffd" in bodies(server)[2] or "out \ufffd" in bodies(server)[2]


# ---- a worker that stops reading, closes its channel, or floods calls ------------------------------------
@pytest.mark.slow  # a few seconds each (runs in CI's slow pass: .ci/run)
def test_worker_that_never_reads_its_reply_cannot_block_the_host(ask):
    """A forged call whose reply is larger than the pipe, with SIGALRM ignored and no reads: the host's
    write times out at the exec limit (5 s here) and restarts the REPL instead of blocking forever."""
    code = FORGE + ('import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n'
                    'send_raw(json.dumps({"type": "call", "id": 1, "fn": "llm_query", "args": {"prompts": ["BIG"]}}).encode() + b"\\n")\n'
                    'time.sleep(3600)')
    r, server = ask(rules(code, extra=[{"when": "^BIG$", "reply": "R" * 500_000}]), "--exec-timeout", "2")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "finished\n"
    assert "restarted" in bodies(server)[2]


@pytest.mark.slow  # a few seconds each (runs in CI's slow pass: .ci/run)
def test_worker_that_closes_its_channel_and_lives_on(ask):
    r, server = ask(rules(FORGE + "os.close(OUT)\ntime.sleep(3600)"))
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "finished\n"
    assert "closed its channel" in bodies(server)[1]


FORGED_CALLS = {  # Python expressions (run in the worker) giving the bytes of one call message
    "unknown-fn": """b'{"type": "call", "id": 7, "fn": "os.system", "args": {"prompts": ["x"]}}'""",
    "nested-id": """b'{"type": "call", "id": [[[1]]], "fn": "llm_query", "args": {"prompts": 5}}'""",
    "huge-prompt": """b'{"type": "call", "id": 7, "fn": "llm_query", "args": {"prompts": ["' + b"p" * 4_000_001 + b'"]}}'""",
    "batch-too-long": """json.dumps({"type": "call", "id": 7, "fn": "llm_query", "args": {"prompts": ["x"] * 2000}}).encode()""",
    "question-too-long": """json.dumps({"type": "call", "id": 7, "fn": "rlm_query", "args": {"questions": ["q" * 200_000], "contexts": ["c"]}}).encode()""",
    "contexts-mismatch": """json.dumps({"type": "call", "id": 7, "fn": "rlm_query", "args": {"questions": ["q", "r"], "contexts": ["c"]}}).encode()""",
    "model-not-string": """json.dumps({"type": "call", "id": 7, "fn": "llm_query", "args": {"prompts": ["x"], "model": ["a"]}}).encode()""",
}


@pytest.mark.parametrize("call", list(FORGED_CALLS.values()), ids=list(FORGED_CALLS))
def test_forged_calls_are_refused_and_never_reach_a_model(ask, call):
    r, server = ask(rules(FORGE + f"send_raw({call} + b'\\n')\nprint('sent')"))
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "finished\n"
    assert [req.model for req in server.chat_requests] == ["root-model", "root-model"]
    assert max(req.size for req in server.chat_requests) < 100_000


def test_prompt_over_the_cap_is_refused_even_without_a_known_window(ask):
    code = ('try:\n    llm_query("x" * 4_000_001)\nexcept Exception as e:\n    FINAL("REFUSED " + str(e)[:120])')
    r, server = ask(rules(code))
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("REFUSED ") and "cap" in r.stdout
    assert max(req.size for req in server.chat_requests) < 100_000


def test_rlm_query_fallback_prompt_is_capped(ask):
    """At the maximum depth rlm_query becomes an llm_query of question + sub_context: capped as well."""
    code = ('try:\n    rlm_query("what?", "c" * 5_000_000)\nexcept Exception as e:\n    FINAL("REFUSED " + str(e)[:120])')
    r, server = ask(rules(code), "--max-depth", "0")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("REFUSED ") and "cap" in r.stdout
    assert max(req.size for req in server.chat_requests) < 100_000


# ---- secrets in REPL output and sub-call prompts ------------------------------------------------------
def test_known_secrets_are_redacted_before_any_model_sees_them(cli, stub_server, tmp_path, rlm_home, keys):
    doc = tmp_path / "leaky.txt"
    doc.write_text(f"config dump: OPENAI_API_KEY={OPENAI_KEY} and ANTHROPIC={OTHER_KEYS['ANTHROPIC_API_KEY']}\n" * 3,
                   encoding="utf-8")
    code = ('i = context.find("OPENAI_API_KEY")\nline = context[i:i + 120]\nprint("LINE", line)\n'
            'r = llm_query("repeat: " + line)\nprint("SUB", r)')
    server = stub_server(scripted_responder(rules(code, "FINAL(line + ' / ' + r)", extra=[{"when": "^repeat: (.*)$", "reply": "{1}"}])))
    r = cli(["ask", doc, "What is in the dump?", "-m", "openai/root-model", "--sub-model", "openai/sub-model",
             "--api-base", server.url, "--json"])
    assert r.exit_code == 0, r.stderr
    secrets = [OPENAI_KEY, OTHER_KEYS["ANTHROPIC_API_KEY"]]
    sent = "".join(bodies(server))
    assert "LINE" in sent and "[REDACTED]" in sent
    assert not any(s in sent for s in secrets)  # neither in the sub-call prompt nor in the root's REPL output
    assert not any(s in r.stdout for s in secrets) and "[REDACTED]" in r.json()["answer"]
    assert not any(s in trajectory(rlm_home).read_text(encoding="utf-8") for s in secrets)


# ---- --api-base: one key for every request -------------------------------------------------------------
@pytest.mark.parametrize("env_key", [OPENAI_KEY, None], ids=["OPENAI_API_KEY", "no-key"])
def test_api_base_key_is_the_same_on_the_fast_path_and_through_the_router(stub_server, monkeypatch, env_key):
    from rlm_cli.backends.router import Endpoint, LLMBackend, RouterOptions

    for k in ("OPENAI_API_KEY", *OTHER_KEYS):
        monkeypatch.delenv(k, raising=False)
    if env_key:
        monkeypatch.setenv("OPENAI_API_KEY", env_key)
    for k, v in OTHER_KEYS.items():
        monkeypatch.setenv(k, v)
    server = stub_server(lambda body: "ok")
    msgs = [{"role": "user", "content": "hi"}]
    for mode in ("never", "always", "auto"):  # fast path only, Router only, then both in one backend
        backend = LLMBackend({"m": Endpoint("openai/served-model", api_base=server.url)}, options=RouterOptions(mode=mode))
        assert backend.complete("m", msgs).text == "ok"
        if mode == "auto":
            backend.router()  # wait until the Router is built: the next call goes through it
            assert backend.complete("m", msgs).text == "ok"
    assert len(server.chat_requests) == 4
    auth = [req.headers.get("authorization") for req in server.chat_requests]
    assert auth == [f"Bearer {env_key or 'sk-none'}"] * 4
    assert not any(v in json.dumps(req.headers) for req in server.chat_requests for v in OTHER_KEYS.values())


def test_server_checking_keys_accepts_every_call_of_a_multi_call_run(ask):
    """A server that checks the key (vLLM --api-key, a LiteLLM proxy): root turns and a batch of sub-calls,
    whichever path serves them, all carry the configured key; no call is refused mid-run."""
    code = 'notes = llm_query_batched(["say hi"] * 6)\nprint(notes)'
    r, server = ask(rules(code, "FINAL(str(len(notes)) + ' ' + notes[0])", extra=[{"when": "^say hi$", "reply": "hello"}]),
                    api_key=OPENAI_KEY)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "6 hello\n"
    assert len(server.chat_requests) == 8
    assert {req.status for req in server.chat_requests} == {200}
    assert {req.headers.get("authorization") for req in server.chat_requests} == {f"Bearer {OPENAI_KEY}"}


@pytest.mark.parametrize("value,message", [('"gpt-x"', "sub_models must be a list"), ("[1]", "sub_models must be a list"),
                                           ("[nope]", "uses 'nope', which is not a model_name")])
def test_profile_sub_models_are_validated(cli, tmp_path, value, message):
    config = tmp_path / "c.yaml"
    config.write_text("model_list:\n  - model_name: m\n    litellm_params: {model: openai/m}\n"
                      f"rlm:\n  profiles:\n    p: {{root: m, sub_models: {value}}}\n", encoding="utf-8")
    r = cli(["profiles", "list", "--config", config])
    assert r.exit_code == 2 and message in r.stderr
