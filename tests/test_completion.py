"""Shell completion: scripts for bash/zsh/fish from the real `rlm`, with no shell detection needed;
the completion runtime; profile names for -p/--profile."""
from __future__ import annotations

import inspect
import io
import os
import shutil
import subprocess
import sys

import pytest

from rlm_cli import completion

RLM = [sys.executable, "-m", "rlm_cli"]
MARKERS = {  # what each shell's script must contain to hook `rlm` into that shell
    "bash": ["complete -o default -F _rlm_completion rlm", "_RLM_COMPLETE=complete_bash"],
    "zsh": ["#compdef rlm", "_RLM_COMPLETE=complete_zsh", "compdef _rlm_completion rlm"],
    "fish": ["complete --command rlm", "_RLM_COMPLETE=complete_fish"],
}


def _hooked() -> bool:
    from rlm_cli import cli

    return "preempt" in inspect.getsource(cli.main)


needs_hook = pytest.mark.skipif(not _hooked(), reason="cli.main does not call rlm_cli.completion.preempt yet (issue 8 hook)")


def _env(tmp_path, **extra) -> dict:
    """A non-interactive environment: no SHELL, a fake HOME, detection not possible."""
    env = {k: v for k, v in os.environ.items() if k not in ("SHELL", "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION")}
    env.update(HOME=str(tmp_path), **extra)
    return env


def _run(args, tmp_path, **extra) -> subprocess.CompletedProcess:
    # setsid: no controlling terminal and a parent that is not a shell, like cron or CI
    return subprocess.run(RLM + args, capture_output=True, text=True, env=_env(tmp_path, **extra), timeout=60,
                          start_new_session=True)


@needs_hook
@pytest.mark.parametrize("shell", sorted(MARKERS))
def test_show_completion_for_each_shell_without_detection(shell, tmp_path):
    r = _run(["--show-completion", shell], tmp_path)
    assert r.returncode == 0, r.stderr
    for marker in MARKERS[shell]:
        assert marker in r.stdout
    others = [m for s, ms in MARKERS.items() if s != shell for m in ms if "COMPLETE=" in m]
    assert not any(m in r.stdout for m in others)


@needs_hook
def test_unknown_shell_is_a_usage_error(tmp_path):
    r = _run(["--show-completion", "tcsh"], tmp_path)
    assert r.returncode == 2 and "tcsh" in r.stderr and r.stdout == ""


def test_undetectable_shell_asks_for_a_name(monkeypatch):
    import shellingham

    def fail():
        raise shellingham.ShellDetectionFailure()

    monkeypatch.setattr(shellingham, "detect_shell", fail)
    monkeypatch.delenv("SHELL", raising=False)
    out, err = io.StringIO(), io.StringIO()
    env = type("E", (), {"stdout": out, "stderr": err})
    assert completion.preempt(None, ["--show-completion"], env) == 2
    assert "rlm --show-completion bash" in err.getvalue()
    monkeypatch.setenv("SHELL", "/usr/bin/fish")
    assert completion.preempt(None, ["--show-completion"], env) == 0
    assert "complete --command rlm" in out.getvalue()


@needs_hook
@pytest.mark.parametrize("shell,path", [("bash", ".bash_completions/rlm.sh"), ("fish", ".config/fish/completions/rlm.fish")])
def test_install_completion_writes_under_home(shell, path, tmp_path):
    r = _run(["--install-completion", shell], tmp_path)
    assert r.returncode == 0, r.stderr
    script = (tmp_path / path).read_text()
    assert MARKERS[shell][0] in script
    if shell == "bash":
        assert str(tmp_path / path) in (tmp_path / ".bashrc").read_text()


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_bash_script_completes_commands_and_options(tmp_path):
    """Source the generated script in a real bash and ask it to complete, as the shell would."""
    script = tmp_path / "rlm.bash"
    script.write_text(completion.completion_script("bash"))
    shim = tmp_path / "bin" / "rlm"
    shim.parent.mkdir()
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m rlm_cli \"$@\"\n")
    shim.chmod(0o755)
    probe = (f"source {script}; COMP_WORDS=(rlm ask --max-it); COMP_CWORD=2; _rlm_completion rlm; "
             "printf '%s\\n' \"${COMPREPLY[@]}\"; COMP_WORDS=(rlm as); COMP_CWORD=1; _rlm_completion rlm; "
             "printf '%s\\n' \"${COMPREPLY[@]}\"")
    r = subprocess.run(["bash", "--norc", "-c", probe], capture_output=True, text=True, timeout=60,
                       env=_env(tmp_path, PATH=f"{shim.parent}:{os.environ['PATH']}"))
    assert r.stdout.split() == ["--max-iterations", "ask"], r.stderr


def _write_profiles(tmp_path, names) -> str:
    path = tmp_path / "profiles.yaml"
    lines = ["model_list:", "  - model_name: m", "    litellm_params:", "      model: openai/gpt-4o-mini",
             "rlm:", "  profiles:"]
    for n in names:
        lines += [f"    {n}:", "      root: m"]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_complete_profiles_lists_configured_names(tmp_path, monkeypatch):
    monkeypatch.setenv("RLM_CONFIG", _write_profiles(tmp_path, ["work-gpt", "work-claude", "home"]))
    names = completion.complete_profiles("work")
    assert "work-gpt" in names and "work-claude" in names and "home" not in names
    assert "home" in completion.complete_profiles("")


def test_complete_profiles_never_raises(tmp_path, monkeypatch):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rlm: [unclosed\n")
    monkeypatch.setenv("RLM_CONFIG", str(bad))
    assert completion.complete_profiles("") == []


@pytest.mark.skipif("complete_profiles" not in open(inspect.getsourcefile(__import__("rlm_cli.commands.ask", fromlist=["_"]))).read(),
                    reason="rlm ask -p has no autocompletion=complete_profiles yet (issue 8 hook)")
def test_profile_completion_through_the_shell_protocol(tmp_path):
    cfg = _write_profiles(tmp_path, ["alpha", "beta"])
    r = _run([], tmp_path, RLM_CONFIG=cfg, _RLM_COMPLETE="complete_bash", COMP_WORDS="rlm ask -p ", COMP_CWORD="3")
    assert r.stdout.split() == ["alpha", "beta"], r.stderr
