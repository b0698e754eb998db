"""Shared fixtures: an isolated RLM_HOME, an in-process CLI runner, scripted models, a stub server."""
from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture(autouse=True)
def rlm_home(tmp_path_factory, monkeypatch) -> Path:
    """Every test gets its own RLM_HOME (config, cache, logs) and no real API keys or profile env."""
    home = tmp_path_factory.mktemp("rlm_home")
    monkeypatch.setenv("RLM_HOME", str(home))
    for var in ("RLM_PROFILE", "RLM_CONFIG", "RLM_MODEL", "RLM_SUB_MODEL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY",
                "GEMINI_API_KEY", "OPENROUTER_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    return home


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


class _Bytes(io.BytesIO):
    def isatty(self):
        return False


@pytest.fixture
def cli():
    """Run the real CLI in-process: cli(args, stdin=b"..."|None, tty=False) -> CliResult."""
    from rlm_cli.cli import Env, main

    def run(args: list[str], stdin: bytes | None = None, stdin_tty: bool = False, stderr_tty: bool = False,
            environ: dict | None = None) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        env = Env(stdin=_Bytes(stdin or b""), stdout=out, stderr=err, stdin_isatty=stdin_tty if stdin is None else False,
                  stderr_isatty=stderr_tty, environ=environ if environ is not None else dict(os.environ))
        code = main([str(a) for a in args], env)
        return CliResult(code, out.getvalue(), err.getvalue())

    return run


@pytest.fixture
def script(tmp_path):
    """Write a scripted-model file and return its model name: script(rules=[...], default=...)."""
    counter = iter(range(1000))

    def make(rules: list[dict], default: str = "no idea") -> str:
        path = tmp_path / f"script{next(counter)}.json"
        path.write_text(json.dumps({"rules": rules, "default": default}), encoding="utf-8")
        return f"scripted/{path}"

    return make


@pytest.fixture
def stub_server():
    """Start a local OpenAI-compatible stub: stub_server(responder, **kwargs) -> StubServer (stopped at teardown)."""
    from rlm_cli.testing.stub_server import StubServer

    servers = []

    def start(responder=None, **kwargs):
        server = StubServer(responder, **kwargs)
        server.start()
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.stop()


def scripted_responder(rules: list[dict], default: str = "no idea"):
    """A stub-server responder driven by the same rules as the scripted model."""
    from rlm_cli.backends.scripted import ScriptedModel

    model = ScriptedModel.from_dict({"rules": rules, "default": default})
    return lambda body: model.reply(body["messages"])[0]
