"""`rlm doctor` on this machine: every check runs, keys are never shown, broken things give non-zero exits."""
from __future__ import annotations

CHECKS = ["python", "packages", "config", "profiles", "sandbox", "tokenizer", "local", "dirs"]
SECRET = "sk-doctor-secret-0123456789"


def _config(tmp_path, body: str) -> str:
    path = tmp_path / "cfg.yaml"
    path.write_text(body)
    return str(path)


def test_doctor_on_this_machine_reports_every_check_and_hides_keys(cli, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    r = cli(["doctor"])
    assert r.exit_code == 0, r.stdout + r.stderr
    lines = {line.split()[1]: line.split()[0] for line in r.stdout.splitlines() if line[:1] not in (" ", "") and len(line.split()) > 1}
    for name in CHECKS:
        assert name in lines, name
    assert SECRET not in r.stdout + r.stderr
    assert "openai" in r.stdout and "ready" in r.stdout  # the key is seen as set...
    assert "all needed checks passed" in r.stdout


def test_json_output(cli, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    r = cli(["doctor", "--json"])
    data = r.json()
    assert data["ok"] is True and data["exit_code"] == r.exit_code == 0
    by_name = {c["name"]: c for c in data["checks"]}
    assert set(CHECKS) <= set(by_name)
    assert by_name["python"]["status"] == "ok"
    assert by_name["tokenizer"]["status"] == "ok" and "offline" in by_name["tokenizer"]["detail"]
    assert by_name["sandbox"]["status"] in ("ok", "warn") and "worker ran code" in by_name["sandbox"]["detail"]
    assert any(item.startswith("typer ") for item in by_name["packages"]["items"])
    assert SECRET not in r.stdout


def test_invalid_config_exits_2(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("RLM_CONFIG", _config(tmp_path, "model_list: [unclosed\n"))
    r = cli(["doctor"])
    assert r.exit_code == 2
    assert any(line.startswith("FAIL  config") and "cfg.yaml" in line for line in r.stdout.splitlines())


def test_no_usable_profile_exits_4_and_names_the_missing_variable(cli, tmp_path):
    cfg = _config(tmp_path, "model_list:\n  - model_name: m\n    litellm_params: {model: openai/x, api_key: os.environ/DOCTOR_TEST_KEY}\n"
                            "rlm:\n  profiles:\n    only:\n      root: m\n")
    r = cli(["doctor", "--config", cfg])
    assert r.exit_code == 4, r.stdout
    assert "needs DOCTOR_TEST_KEY (not set)" in r.stdout


def test_server_reachability_of_profiles(cli, tmp_path, stub_server):
    server = stub_server()
    cfg = _config(tmp_path, "model_list:\n"
                            f"  - model_name: up\n    litellm_params: {{model: openai/x, api_base: '{server.url}'}}\n"
                            "  - model_name: down\n    litellm_params: {model: openai/x, api_base: 'http://127.0.0.1:9/v1'}\n"
                            "rlm:\n  profiles:\n    good: {root: up}\n    bad: {root: down}\n")
    r = cli(["doctor", "--config", cfg])
    assert r.exit_code == 0, r.stdout
    assert "usable: good" in r.stdout
    assert "server not reachable at http://127.0.0.1:9/v1" in r.stdout


def test_unwritable_dirs_fail(cli, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setenv("RLM_HOME", str(blocker))
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    r = cli(["doctor"])
    assert r.exit_code == 1
    assert any(line.startswith("FAIL  dirs") for line in r.stdout.splitlines())


def test_doctor_help_is_cheap():
    import subprocess
    import sys

    code = ("import sys; from rlm_cli.cli import main; main(['doctor', '--help']); "
            "print([m for m in ('litellm', 'openai', 'tiktoken', 'pypdf') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().endswith("[]"), out.stdout + out.stderr
