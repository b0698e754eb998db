"""Backends through the real CLI against local stub servers: retries, fallbacks, cost limits, auth errors.

Each routing test runs twice: `never` (the openai-SDK fast start used before the LiteLLM Router is
ready) and `always` (the LiteLLM Router itself).
"""
from __future__ import annotations

import json

import pytest

from rlm_cli.errors import ExitStatus
from rlm_cli.testing.stub_server import Reply

from conftest import scripted_responder

FINAL_42 = [{"when": "Turn 1 of", "reply": "```repl\nFINAL('forty-two')\n```"}]
MODES = ["never", "always"]


def write_config(tmp_path, deployments: list[dict], *, fallbacks=None, mode="auto", profile=None, retries=2):
    lines = ["model_list:"]
    for d in deployments:
        lines.append(f"  - model_name: {d['name']}")
        params = {"model": d.get("model", "openai/stub"), "api_base": d["url"], "api_key": d.get("key", "os.environ/STUB_KEY")}
        lines.append("    litellm_params: " + json.dumps(params))
        if d.get("info"):
            lines.append("    model_info: " + json.dumps(d["info"]))
    lines.append("router_settings: " + json.dumps({"num_retries": retries, "retry_after": 0,
                                                   **({"fallbacks": fallbacks} if fallbacks else {})}))
    lines.append("rlm:")
    lines.append(f"  router: {mode}")
    lines.append("  profiles:")
    lines.append("    main: " + json.dumps(profile or {"root": deployments[0]["name"]}))
    path = tmp_path / f"cfg-{mode}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def doc(tmp_path, monkeypatch):
    monkeypatch.setenv("STUB_KEY", "sk-stub-key-0000")
    path = tmp_path / "doc.txt"
    path.write_text("The answer is forty-two.\n" * 20)
    return path


@pytest.mark.parametrize("mode", MODES)
def test_retries_on_429_then_succeeds(cli, stub_server, tmp_path, doc, mode):
    s = stub_server(scripted_responder(FINAL_42), faults=[429])
    cfg = write_config(tmp_path, [{"name": "m", "url": s.url}], mode=mode)
    r = cli(["ask", doc, "What is the answer?", "--config", cfg, "--json"])
    assert r.exit_code == 0, r.stderr
    assert r.json()["answer"] == "forty-two"
    assert [q.status for q in s.chat_requests] == [429, 200]


@pytest.mark.parametrize("mode", MODES)
def test_falls_back_to_second_deployment(cli, stub_server, tmp_path, doc, mode):
    broken = stub_server(scripted_responder(FINAL_42), faults=[500] * 50)
    good = stub_server(scripted_responder(FINAL_42))
    cfg = write_config(tmp_path, [{"name": "primary", "url": broken.url}, {"name": "backup", "url": good.url}],
                       fallbacks=[{"primary": ["backup"]}], mode=mode, retries=1)
    r = cli(["ask", doc, "What is the answer?", "--config", cfg, "--json"])
    assert r.exit_code == 0, r.stderr
    assert r.json()["answer"] == "forty-two"
    assert broken.chat_requests and all(q.status == 500 for q in broken.chat_requests)
    assert [q.status for q in good.chat_requests] == [200]


def test_same_model_name_deployments_share_the_load_and_cover_failures(cli, stub_server, tmp_path, doc):
    dead = "http://127.0.0.1:9/v1"  # nothing listens on the discard port
    s = stub_server(scripted_responder(FINAL_42))
    cfg = write_config(tmp_path, [{"name": "m", "url": dead}, {"name": "m", "url": s.url}], mode="never", retries=0)
    for _ in range(3):  # shuffled order: whichever comes first, the run answers
        r = cli(["ask", doc, "What is the answer?", "--config", cfg])
        assert r.exit_code == 0, r.stderr
        assert r.stdout.strip() == "forty-two"


def test_max_cost_stops_the_run_with_exit_5_and_keeps_partial_work(cli, stub_server, tmp_path, doc, rlm_home):
    explore = [{"when": "Turn", "reply": "```repl\nprint(len(context))\n```"}]
    s = stub_server(lambda body: Reply(scripted_responder(explore)(body), prompt_tokens=1000, completion_tokens=100))
    info = {"input_cost_per_token": 0.0001, "output_cost_per_token": 0.001}  # $0.20 per call
    cfg = write_config(tmp_path, [{"name": "m", "url": s.url, "info": info}], mode="never")
    r = cli(["ask", doc, "What is the answer?", "--config", cfg, "--json", "--max-cost", "0.5", "--max-iterations", "10"])
    assert r.exit_code == ExitStatus.LIMIT, r.stderr
    out = r.json()
    assert out["status"] == "limit" and out["answer"] is None and "cost limit" in out["error"]
    assert len(s.chat_requests) == 3 and out["calls"] == 3  # 0.2, 0.4 < 0.5 -> a third call; 0.6 >= 0.5 stops
    assert out["cost_usd"] == pytest.approx(0.6)
    events = [json.loads(line) for line in open(out["trajectory"], encoding="utf-8")]
    assert sum(1 for e in events if e["kind"] == "code_end") == 3  # the work done so far is in the trajectory


@pytest.mark.parametrize("mode", MODES)
def test_auth_error_exits_4_and_never_shows_the_key(cli, stub_server, tmp_path, doc, rlm_home, monkeypatch, mode):
    secret = "sk-proj-Zq81wrongSecretValue77aa"
    monkeypatch.setenv("STUB_KEY", secret)
    s = stub_server(scripted_responder(FINAL_42), api_key="sk-the-right-one-1234")
    cfg = write_config(tmp_path, [{"name": "m", "url": s.url}], mode=mode)
    r = cli(["ask", doc, "What is the answer?", "--config", cfg, "-v"])
    assert r.exit_code == ExitStatus.BACKEND
    assert "authentication failed" in r.stderr
    assert s.chat_requests and s.chat_requests[0].headers["authorization"] == f"Bearer {secret}"  # it was sent...
    logs = "".join(p.read_text(errors="replace") for p in (rlm_home / "logs").rglob("*") if p.is_file())
    assert logs  # a trajectory was written
    for text in (r.stdout, r.stderr, logs):  # ...and is nowhere else
        assert secret not in text and "Zq81wrong" not in text


def test_sub_prompt_over_model_info_window_is_refused_not_sent(cli, stub_server, tmp_path, doc):
    code = ("```repl\ntry:\n    r = llm_query('word ' * 400)\nexcept Exception as e:\n    r = 'refused: ' + str(e)\nFINAL(r)\n```")
    s = stub_server(scripted_responder([{"when": "Turn 1 of", "reply": code}], default="sub answer"))
    cfg = write_config(tmp_path, [{"name": "m", "url": s.url}, {"name": "tiny", "url": s.url, "info": {"max_input_tokens": 100}}],
                       profile={"root": "m", "sub": "tiny"}, mode="never")
    r = cli(["ask", doc, "q?", "--config", cfg])
    assert r.exit_code == 0, r.stderr
    assert "window" in r.stdout and "100" in r.stdout
    assert len(s.chat_requests) == 1  # only the root call reached the server


def test_cost_and_tokens_from_model_info_in_json(cli, stub_server, tmp_path, doc):
    s = stub_server(lambda body: Reply(scripted_responder(FINAL_42)(body), prompt_tokens=2000, completion_tokens=10))
    info = {"input_cost_per_token": 0.000001, "output_cost_per_token": 0.00001}
    cfg = write_config(tmp_path, [{"name": "m", "url": s.url, "info": info}], mode="never")
    out = cli(["ask", doc, "q?", "--config", cfg, "--json"]).json()
    assert out["tokens"] == 2010 and out["cost_usd"] == pytest.approx(0.0021)
    assert out["usage"]["m"]["cost_usd"] == pytest.approx(0.0021)
