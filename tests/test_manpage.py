"""man/rlm.1 documents every command and option of the live CLI, every exit status and the main
environment variables; it renders with man(1); the packaged copy is the same file.

When this fails after adding an option or command: `python -m rlm_cli.manpage --write`.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import typer

from rlm_cli import cli
from rlm_cli.errors import ExitStatus

ROOT = Path(__file__).resolve().parent.parent
MAN = ROOT / "man" / "rlm.1"
DATA = ROOT / "rlm_cli" / "data" / "rlm.1"
REGEN = "regenerate it: python -m rlm_cli.manpage --write"


def plain(roff: str) -> str:
    """The roff source as text: escapes and font changes removed."""
    text = re.sub(r"\\f[BIRP]", "", roff)
    return text.replace("\\-", "-").replace("\\e", "\\").replace("\\&", "")


def sections(text: str) -> dict[str, str]:
    """'.SS rlm cache info' -> the text of that sub-section (up to the next .SS/.SH)."""
    parts = re.split(r"^\.(S[SH]) (.*)$", text, flags=re.M)
    return {parts[i + 1].strip().strip('"'): parts[i + 2] for i in range(1, len(parts) - 2, 3)}


def commands(command=None, path="rlm"):
    """Every visible command of the live CLI, with its path, walking the Click tree."""
    command = command or typer.main.get_command(cli.app)
    yield path, command
    for name, sub in (getattr(command, "commands", None) or {}).items():
        if not getattr(sub, "hidden", False):
            yield from commands(sub, f"{path} {name}")


def visible_options(command) -> list[str]:
    return [opt for p in command.params if p.param_type_name == "option" and not getattr(p, "hidden", False)
            for opt in [*p.opts, *p.secondary_opts]]


@pytest.fixture(scope="module")
def man_text() -> str:
    assert MAN.is_file(), f"{MAN} is missing: {REGEN}"
    return plain(MAN.read_text(encoding="utf-8"))


def test_every_command_has_a_section_with_all_its_options(man_text):
    secs = sections(man_text)
    missing = []
    for path, command in commands():
        body = secs.get("GLOBAL OPTIONS") if path == "rlm" else secs.get(path)
        if body is None:
            missing.append(f"command '{path}'")
            continue
        missing += [f"{path} {opt}" for opt in visible_options(command) + ["--help"]
                    if not re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", body)]
    assert not missing, f"man/rlm.1 lacks: {', '.join(missing)}; {REGEN}"
    assert len(list(commands())) >= 3  # the walk really found the sub-commands


def test_exit_statuses_environment_and_files_documented(man_text):
    secs = sections(man_text)
    codes = re.findall(r"^\.TP\n(\d+)\n", secs["EXIT STATUS"], flags=re.M)
    assert sorted(map(int, codes)) == sorted(int(s) for s in ExitStatus)
    env = secs["ENVIRONMENT"]
    for var in ("RLM_HOME", "RLM_CONFIG", "RLM_PROFILE", "RLM_MODEL", "RLM_SUB_MODEL", "NO_COLOR",
                "LITELLM_LOCAL_MODEL_COST_MAP", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        assert var in env, var
    for _, command in commands():  # every envvar an option declares
        for p in command.params:
            for var in ([p.envvar] if isinstance(p.envvar, str) else list(p.envvar or [])):
                assert var in env, var
    for where in ("~/.config/rlm", "~/.cache/rlm", "$RLM_HOME/config", "$RLM_HOME/cache", "$RLM_HOME/logs", "runs/"):
        assert where in secs["FILES"], where


def test_packaged_copy_is_the_same_file():
    assert DATA.is_file(), f"{DATA} is missing: {REGEN}"
    assert DATA.read_bytes() == MAN.read_bytes(), f"man/rlm.1 and rlm_cli/data/rlm.1 differ: {REGEN}"


def test_generator_output_matches_committed_page_apart_from_the_date():
    from rlm_cli import manpage

    drop_date = lambda s: re.sub(r'^\.TH .*$', "", s, count=1, flags=re.M)  # noqa: E731
    fresh = manpage.build()
    assert visible_options(typer.main.get_command(cli.app))[0] in plain(fresh)
    missing = [line for line in drop_date(fresh).splitlines() if line.startswith(".SS ")
               and line not in MAN.read_text(encoding="utf-8")]
    assert not missing, f"{missing}: {REGEN}"


@pytest.mark.skipif(shutil.which("man") is None, reason="man(1) not installed (apt-get install man-db groff-base)")
def test_man_renders_it(tmp_path):
    env = dict(os.environ, MANWIDTH="100", MANPAGER="cat", PAGER="cat", LANG="C.UTF-8")
    r = subprocess.run(["man", "--warnings", "-l", str(MAN)], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert not [w for w in r.stderr.splitlines() if "warning" in w], r.stderr
    text = r.stdout.replace("\u2010", "-").replace("\u2212", "-")
    for heading in ("NAME", "SYNOPSIS", "COMMANDS", "ENVIRONMENT", "FILES", "EXIT STATUS", "EXAMPLES"):
        assert re.search(rf"^{heading}$", text, flags=re.M), heading
    assert "--max-iterations" in text and "rlm ask" in text


def test_path_and_install_commands(tmp_path):
    import sys

    out = subprocess.run([sys.executable, "-m", "rlm_cli.manpage", "--path"], capture_output=True, text=True, check=True)
    assert Path(out.stdout.strip()).read_bytes() == MAN.read_bytes()
    subprocess.run([sys.executable, "-m", "rlm_cli.manpage", "--install", str(tmp_path)], check=True, capture_output=True)
    assert (tmp_path / "man1" / "rlm.1").read_bytes() == MAN.read_bytes()


@pytest.mark.skipif(shutil.which("man") is None or shutil.which("manpath") is None, reason="man-db not installed")
def test_install_default_goes_where_man_looks(tmp_path):
    import sys

    mandir = tmp_path / "share" / "man"
    mandir.mkdir(parents=True)
    env = dict(os.environ, MANPATH=str(mandir), HOME=str(tmp_path / "home"))
    r = subprocess.run([sys.executable, "-m", "rlm_cli.manpage", "--install"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert (mandir / "man1" / "rlm.1").is_file() and "try: man rlm" in r.stderr
    found = subprocess.run(["man", "-w", "rlm"], capture_output=True, text=True, env=env).stdout.strip()
    assert found == str(mandir / "man1" / "rlm.1")


def test_install_elsewhere_says_how_to_read_it(tmp_path):
    import sys

    env = dict(os.environ, MANPATH=str(tmp_path / "nowhere"))
    r = subprocess.run([sys.executable, "-m", "rlm_cli.manpage", "--install", str(tmp_path / "mine")],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "try: man rlm" not in r.stderr and "man -l" in r.stderr
