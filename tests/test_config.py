"""Config files and profiles: search order, precedence, os.environ/ keys, plain LiteLLM configs, commands."""
from __future__ import annotations

import textwrap

import pytest

from rlm_cli import config, profiles

from rlm_cli.backends import local as local_model
from rlm_cli.errors import BackendError, ConfigError, ExitStatus

CONFIG = """
model_list:
  - model_name: big
    litellm_params: {model: openai/big-model, api_key: os.environ/TEST_BIG_KEY, api_base: "http://127.0.0.1:9/v1"}
    model_info: {max_input_tokens: 1234, input_cost_per_token: 0.5, output_cost_per_token: 1.5}
  - model_name: small
    litellm_params: {model: openai/small-model, api_key: os.environ/TEST_SMALL_KEY}
rlm:
  default_profile: {default}
  profiles:
    alpha: {root: big, sub: small, max_iterations: 7, max_cost: 0.25, concurrency: 3}
    beta: {root: small, max_depth: 0}
"""


def write(tmp_path, text=CONFIG, name="cfg.yaml", **fmt):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).replace("{default}", fmt.get("default", "alpha")), encoding="utf-8")
    return path


@pytest.fixture
def keys(monkeypatch):
    monkeypatch.setenv("TEST_BIG_KEY", "sk-big-secret-000111")
    monkeypatch.setenv("TEST_SMALL_KEY", "sk-small-secret-222333")


def test_default_profile_models_limits_and_env_keys(tmp_path, keys):
    r = config.resolve(config_path=str(write(tmp_path)))
    assert (r.profile, r.root_model, r.sub_model) == ("alpha", "big", "small")
    assert r.limits == {"max_iterations": 7, "max_cost": 0.25} and r.concurrency == 3
    ep = r.backend.endpoint("big")
    assert ep.api_key == "sk-big-secret-000111" and ep.api_base == "http://127.0.0.1:9/v1"
    assert ep.max_input_tokens == 1234 and ep.input_cost_per_token == 0.5
    assert r.backend.endpoint("small").api_key == "sk-small-secret-222333"


def test_profile_precedence_flag_over_env_over_default(tmp_path, keys, monkeypatch):
    path = str(write(tmp_path))
    monkeypatch.setenv("RLM_PROFILE", "beta")
    assert config.resolve(config_path=path).profile == "beta"
    assert config.resolve(config_path=path, profile="alpha").profile == "alpha"
    monkeypatch.delenv("RLM_PROFILE")
    assert config.resolve(config_path=path).profile == "alpha"


def test_model_flags_override_profile(tmp_path, keys):
    path = str(write(tmp_path))
    r = config.resolve(config_path=path, model="openai/other", api_base="http://127.0.0.1:8/v1")
    assert (r.root_model, r.sub_model) == ("openai/other", "openai/other")
    assert r.backend.endpoint("openai/other").api_base == "http://127.0.0.1:8/v1"
    r = config.resolve(config_path=path, profile="alpha", model="small")
    assert (r.root_model, r.sub_model) == ("small", "small")  # -p keeps its sub model only when no -m...
    r = config.resolve(config_path=path, profile="alpha", sub_model="big")
    assert (r.root_model, r.sub_model) == ("big", "big")
    r = config.resolve(config_path=path, model="big", api_base="http://127.0.0.1:7/v1")
    assert r.backend.endpoint("big").api_base == "http://127.0.0.1:7/v1"  # --api-base applies to config models too


def test_search_order(tmp_path, keys, monkeypatch, rlm_home):
    env_cfg = write(tmp_path, name="env.yaml", default="beta")
    user = rlm_home / "config" / "config.yaml"
    user.parent.mkdir(parents=True)
    write(user.parent, name="config.yaml", default="alpha")
    assert profiles.find()[1] == "user config"
    monkeypatch.setenv("RLM_CONFIG", str(env_cfg))
    assert profiles.find() == (env_cfg, "$RLM_CONFIG")
    assert config.resolve().profile == "beta"
    flag = write(tmp_path, name="flag.yaml")
    assert profiles.find(str(flag)) == (flag, "--config")
    monkeypatch.delenv("RLM_CONFIG")
    user.unlink()
    assert profiles.find()[1] == "packaged default"


def test_missing_key_for_explicit_profile_is_a_backend_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_BIG_KEY", "sk-big-secret-000111")
    with pytest.raises(BackendError, match="TEST_SMALL_KEY"):
        config.resolve(config_path=str(write(tmp_path)), profile="alpha")


def test_plain_litellm_proxy_config(tmp_path, monkeypatch):
    monkeypatch.setenv("AZ_KEY", "az-key-123456789")
    path = write(tmp_path, """
        model_list:
          - model_name: gpt-4o
            litellm_params: {model: azure/gpt-4o, api_base: "https://example.invalid", api_key: os.environ/AZ_KEY, rpm: 6}
          - model_name: gpt-4o
            litellm_params: {model: openai/gpt-4o, api_key: os.environ/AZ_KEY}
          - model_name: cheap
            litellm_params: {model: openai/gpt-4o-mini, api_key: os.environ/AZ_KEY}
        router_settings: {routing_strategy: simple-shuffle, num_retries: 5}
        litellm_settings: {drop_params: true}
        general_settings: {master_key: sk-1234}
    """)
    r = config.resolve(config_path=str(path))
    assert (r.profile, r.root_model, r.sub_model) == ("default", "gpt-4o", "gpt-4o")
    assert len(r.backend.groups["gpt-4o"]) == 2 and r.backend.max_retries == 5
    assert r.backend.endpoint("gpt-4o").params["rpm"] == 6
    assert config.resolve(config_path=str(path), model="cheap").backend.endpoint("cheap").model == "openai/gpt-4o-mini"


@pytest.mark.parametrize("text,needle", [
    ("model_list: [{model_name: a}]", "no litellm_params.model"),
    ("model_list: [{model_name: a, litellm_params: {model: openai/a}}]\nrlm: {profiles: {p: {root: zz}}}", "'zz'"),
    ("model_list: [{model_name: a, litellm_params: {model: openai/a}}]\nrlm: {profiles: {p: {root: a, bogus: 1}}}", "bogus"),
    ("model_list: [\n", "invalid YAML"),
])
def test_bad_configs_name_the_file(tmp_path, text, needle):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=needle) as exc:
        config.resolve(config_path=str(path))
    assert str(path) in str(exc.value)


def test_unknown_profile(tmp_path, keys):
    with pytest.raises(ConfigError, match="unknown profile 'nope'.*alpha, beta"):
        config.resolve(config_path=str(write(tmp_path)), profile="nope")


# ---- packaged default: auto selection, local model, no backend --------------------------------------
def test_packaged_auto_picks_first_profile_with_a_key(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-1234567")
    r = config.resolve()
    assert (r.profile, r.root_model, r.sub_model) == ("anthropic", "claude-sonnet-4-5", "claude-haiku-4-5")
    assert r.backend.endpoint("claude-sonnet-4-5").api_key == "sk-ant-test-1234567" and not r.notices


def test_packaged_auto_falls_back_to_local_with_notice(monkeypatch):
    monkeypatch.setattr(local_model, "available", lambda: True)
    r = config.resolve()
    assert r.profile == "local" and r.root_model == "qwen2.5-coder-1.5b"
    assert r.backend.endpoint(r.root_model).model == "local/qwen2.5-coder-1.5b"
    assert any("local model" in n for n in r.notices)
    assert r.limits["max_depth"] == 0 and r.concurrency == 1


def test_no_key_no_local_extra_exits_4_with_instructions(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(local_model, "available", lambda: False)
    doc = tmp_path / "doc.txt"
    doc.write_text("hello")
    r = cli(["ask", doc, "what?"])
    assert r.exit_code == ExitStatus.BACKEND
    assert "no model configured" in r.stderr
    for hint in ("OPENAI_API_KEY", "--api-base", "rlm-cli[local]"):
        assert hint in r.stderr


# ---- commands ------------------------------------------------------------------------------------------
def test_profiles_list_shows_usability_without_keys(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_BIG_KEY", "sk-big-secret-000111")
    r = cli(["profiles", "list", "--config", write(tmp_path)])
    assert r.exit_code == 0, r.stderr
    lines = {line.split()[0].strip("* "): line for line in r.stdout.splitlines()[1:-1]}
    assert "needs TEST_SMALL_KEY" in lines["alpha"] and "needs TEST_SMALL_KEY" in lines["beta"]
    monkeypatch.setenv("TEST_SMALL_KEY", "sk-small-secret-222333")
    r = cli(["profiles", "list", "--config", write(tmp_path)])
    assert r.stdout.count("ready") == 2 and "* alpha" in r.stdout
    assert "sk-big-secret" not in r.stdout + r.stderr


def test_profiles_show(cli, tmp_path, keys):
    r = cli(["profiles", "show", "alpha", "--config", write(tmp_path)])
    assert r.exit_code == 0, r.stderr
    assert "openai/big-model" in r.stdout and "os.environ/TEST_BIG_KEY" in r.stdout
    assert "window 1234" in r.stdout and "$500000.00/$1500000.00" in r.stdout
    assert "secret" not in r.stdout
    assert cli(["profiles", "show", "zeta", "--config", write(tmp_path)]).exit_code == ExitStatus.USAGE


def test_config_init_never_overwrites_silently(cli, rlm_home):
    r = cli(["config", "init"])
    target = rlm_home / "config" / "config.yaml"
    assert r.exit_code == 0 and r.stdout.strip() == str(target)
    assert profiles.load().origin == "user config"
    target.write_text(target.read_text() + "\n# mine\n")
    r = cli(["config", "init"])
    assert r.exit_code == ExitStatus.USAGE and "--force" in r.stderr
    assert target.read_text().endswith("# mine\n")
    assert cli(["config", "init", "--force"]).exit_code == 0
    assert not target.read_text().endswith("# mine\n")
    assert cli(["config", "path"]).stdout.strip() == str(target)
    shown = cli(["config", "show"])
    assert shown.exit_code == 0 and "model_list" in shown.stdout


def test_packaged_config_is_valid_and_configs_copy_matches():
    from pathlib import Path

    cfg = profiles.load()
    assert {"openai", "anthropic", "gemini", "openrouter", "openai-compatible", "ollama", "local"} <= set(cfg.profiles)
    repo_copy = Path(__file__).parent.parent / "configs" / "rlm.yaml"
    assert repo_copy.read_text() == profiles.PACKAGED.read_text()
