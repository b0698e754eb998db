"""Shell completion: `--show-completion [SHELL]` / `--install-completion [SHELL]` without shell
detection, and completion of profile names for `-p/--profile`.

Typer's own options detect the shell with shellingham, which fails (or guesses the parent
process) in scripts, CI and containers, and ignore a shell name given after them. `preempt()`
(called by cli.main before parsing) takes the shell name as an optional value and only detects
it when none is given.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")
PROG = "rlm"
SHOW_HELP = "Print the completion script for SHELL (bash, zsh, fish, powershell; detected if omitted)."
INSTALL_HELP = "Install completion for SHELL (bash, zsh, fish, powershell; detected if omitted)."


# ---- --show-completion / --install-completion ------------------------------------------------------
FLAGS = {"--show-completion": "show", "--install-completion": "install"}


def preempt(command, argv: list[str], env=None) -> int | None:
    """Handle `rlm --show-completion [SHELL]` / `--install-completion [SHELL]` before Typer parses argv.

    Returns the exit status when argv was a completion request, None otherwise. Also rewrites the
    two options' help text on `command` (a Typer/Click command) to mention SHELL.
    """
    patch_help(command)
    if not argv or argv[0].split("=", 1)[0] not in FLAGS:
        return None
    flag, _, value = argv[0].partition("=")
    rest = argv[1:]
    if not value and rest and not rest[0].startswith("-"):
        value, rest = rest[0], rest[1:]
    out = getattr(env, "stdout", None) or sys.stdout
    err = getattr(env, "stderr", None) or sys.stderr
    if rest:
        err.write(f"rlm: error: {flag} takes at most one SHELL argument, got extra {' '.join(rest)!r}\n")
        return 2
    try:
        shell = resolve_shell(value)
        if FLAGS[flag] == "show":
            out.write(completion_script(shell) + "\n")
        else:
            path = install(shell)
            out.write(f"{shell} completion installed in {path}; it takes effect in new shells\n")
    except ValueError as exc:
        err.write(f"rlm: error: {exc}\n")
        return 2
    out.flush()
    return 0


def patch_help(command) -> None:
    for param in getattr(command, "params", []):
        if param.name == "show_completion":
            param.help = SHOW_HELP
        elif param.name == "install_completion":
            param.help = INSTALL_HELP


def detect_shell() -> str | None:
    """The user's shell: shellingham when it works, else $SHELL; None if neither names a known shell."""
    try:
        import shellingham

        name = shellingham.detect_shell()[0]
    except Exception:  # shellingham.ShellDetectionFailure (no parent shell: cron, CI, containers)
        name = os.path.basename(os.environ.get("SHELL", ""))
    name = name.lower()
    return name if name in SHELLS else None


def resolve_shell(value: str) -> str:
    shell = value.strip().lower() or detect_shell()
    if shell is None:
        raise ValueError(f"cannot detect your shell: name it, e.g. `rlm --show-completion bash` ({', '.join(SHELLS)})")
    if shell not in SHELLS:
        raise ValueError(f"unknown shell {value!r} (use one of {', '.join(SHELLS)})")
    return shell


def completion_script(shell: str, prog_name: str = PROG) -> str:
    from typer._completion_shared import get_completion_script

    return get_completion_script(prog_name=prog_name, complete_var=_complete_var(prog_name), shell=shell).strip("\n")


def install(shell: str, prog_name: str = PROG) -> Path:
    """Typer's installer (writes under $HOME: ~/.bash_completions, ~/.zfunc, ~/.config/fish/completions)."""
    from typer._completion_shared import install as typer_install

    return typer_install(shell=shell, prog_name=prog_name, complete_var=_complete_var(prog_name))[1]


def _complete_var(prog_name: str) -> str:
    return "_{}_COMPLETE".format(prog_name.replace("-", "_").upper())


# ---- profile names ---------------------------------------------------------------------------------
def complete_profiles(incomplete: str) -> list[str]:
    """Profile names starting with `incomplete`, for `-p/--profile`. Never raises."""
    try:
        return sorted(n for n in profile_names() if n.startswith(incomplete or ""))
    except Exception:  # completion must never print a traceback into the user's shell
        return []


def profile_names() -> list[str]:
    """Names of the configured profiles (config search as for `rlm ask`: $RLM_CONFIG, user, packaged)."""
    try:
        from .profiles import load
    except ImportError:  # config module not available: read the file ourselves
        return _names_from_file()
    return list(load().profiles)


def _names_from_file() -> list[str]:
    """Fallback: the `rlm: profiles:` keys of $RLM_CONFIG or the user config file."""
    from . import paths

    candidates = [os.environ.get("RLM_CONFIG")] if os.environ.get("RLM_CONFIG") else []
    candidates += [str(paths.config_dir() / n) for n in ("config.yaml", "config.yml")]
    for candidate in candidates:
        path = Path(candidate).expanduser()
        if path.is_file():
            import yaml

            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            profiles = (data.get("rlm") or {}).get("profiles") or {}
            return [str(k) for k in profiles]
    return []
