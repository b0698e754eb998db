"""Generate the rlm(1) man page (roff) from the live Typer/Click app, so it never drifts from `--help`.

    python -m rlm_cli.manpage > man/rlm.1        # print it
    python -m rlm_cli.manpage --write            # write man/rlm.1 (in a checkout) and rlm_cli/data/rlm.1
    python -m rlm_cli.manpage --path             # where the installed copy is: man -l "$(...)"
    python -m rlm_cli.manpage --install [DIR]    # copy it to DIR/man1 (default: the first directory `man` searches that is writable)
"""
from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

DATA_COPY = Path(__file__).with_name("data") / "rlm.1"
REPO_COPY = Path(__file__).resolve().parent.parent / "man" / "rlm.1"

ENVIRONMENT = [
    ("RLM_HOME", "Keep every rlm file (config, cache, logs, state) under this one directory instead of the "
                 "platform's user directories (see FILES)."),
    ("RLM_CONFIG", "Config file to use when --config is not given."),
    ("RLM_PROFILE", "Profile to use when -p/--profile is not given."),
    ("RLM_MODEL", "Root model when -m/--model is not given (overrides the profile's), e.g. openai/gpt-4o-mini."),
    ("RLM_SUB_MODEL", "Model for llm_query sub-calls when --sub-model is not given."),
    ("NO_COLOR", "When set (to anything), no colour on stderr (https://no-color.org); --color always overrides it."),
    ("LITELLM_LOCAL_MODEL_COST_MAP", "rlm sets it to True so LiteLLM reads its bundled price table instead of "
                                     "fetching one from the network."),
    ("OPENAI_API_KEY", "Key for openai/ models (also sent to OPENAI_BASE_URL when that is set)."),
    ("OPENAI_BASE_URL", "Default base URL for openai/ models when neither --api-base nor a profile names one."),
    ("ANTHROPIC_API_KEY", "Key for anthropic/ models."),
    ("GEMINI_API_KEY", "Key for gemini/ models."),
    ("OPENROUTER_API_KEY", "Key for openrouter/ models."),
]
PROVIDER_NOTE = ("Any variable a config file names as os.environ/VAR (for example api_key: os.environ/MY_KEY) is read "
                 "from the environment at run time. Keys are never written to logs, trajectories or error messages, "
                 "and model-written code never sees them: the sandbox gets a scrubbed environment.")

EXIT_DESCRIPTIONS = {
    "OK": "The question was answered.",
    "ERROR": "Internal error (a bug); run with -v for the traceback.",
    "USAGE": "Bad command line or config file (unknown option or profile, invalid YAML...).",
    "INPUT": "Input missing, unreadable, encrypted without the right --password, or empty.",
    "BACKEND": "The model backend failed: authentication, unknown model, unreachable server, rate limited after retries.",
    "LIMIT": "A limit (iterations, calls, tokens, cost, time) stopped the run before an answer; "
             "the partial trajectory is saved.",
    "UNSUPPORTED": "--evidence required and the answer has no verified evidence (status unsupported); the answer is "
                   "printed, but not written to -o FILE.",
    "INTERRUPTED": "Interrupted (Ctrl-C, SIGINT).",
}

DESCRIPTION = [
    "rlm answers questions about documents far larger than a model's context window, using Recursive Language "
    "Models (RLMs). The documents are never pasted into a prompt: they are loaded as the variable context in a "
    "persistent Python REPL that runs in a sandboxed subprocess. The root model writes code to search, slice and "
    "read that variable, calls sub-models on pieces of it (llm_query, llm_query_batched), may start child RLMs "
    "on sub-contexts (rlm_query), and submits its answer from code with FINAL(value).",
    "The answer goes to standard output (or to -o FILE, written atomically); progress, warnings and errors go to "
    "standard error. Without a terminal on stderr there is no live display. Every run is saved as a trajectory "
    "(JSON lines) that rlm logs can show again.",
]

EXAMPLES = [
    ("Ask about one file:", "rlm ask report.pdf \"Which suppliers missed the Q3 deadline?\""),
    ("Many files and a directory:", "rlm ask ./contracts/ notes.docx \"List every termination clause\""),
    ("Text from a pipe:", "curl \\-s https://example.org/log.txt | rlm ask \"How many distinct errors?\""),
    ("JSON for scripts:", "rlm ask \\-\\-json data.pdf \"Total revenue?\" | jq \\-r .answer"),
    ("From cron: answer to a file, nothing on stderr unless it fails, exit status for alerting:",
     "rlm ask \\-q \\-o /srv/answers/today.md feed/ \"What is new?\" || echo \"rlm failed: $?\""),
    ("Any OpenAI-compatible server:",
     "rlm ask \\-m openai/my\\-model \\-\\-api\\-base http://localhost:8000/v1 book.txt \"Who is the narrator?\""),
    ("Many questions over many documents, resumable (rerun the same command after a crash or Ctrl-C):",
     "rlm batch tasks.jsonl \\-o results.jsonl \\-\\-parallel 8 \\-\\-max\\-cost 20"),
    ("Every question of a file about every contract, results for a spreadsheet:",
     "rlm batch \\-\\-questions questions.txt contracts/*.pdf \\-o results.csv"),
    ("Check the installation:", "rlm doctor"),
]

BATCH_EXIT = ("rlm batch: 0 when every task has an answer; otherwise the first that applies: 130 interrupted (the "
              "finished tasks are saved, the ones in flight run again on resume), 4 a backend failure (one stopped "
              "the batch, or a task's own), 5 limits (the batch budget left tasks for the next run, or a task hit "
              "its own limit), 3 a task's input could not be read, 1 another task failure.")


# ---- roff helpers ---------------------------------------------------------------------------------
def esc(text: str) -> str:
    """Escape plain text for roff: backslashes, hyphens (so options render as '-'), leading dots."""
    text = str(text).replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line[:1] in (".", "'") else line for line in text.split("\n"))


def paragraphs(text: str | None) -> list[str]:
    if not text:
        return []
    text = text.replace("\b", "")
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]


def bold(text: str) -> str:
    return f"\\fB{esc(text)}\\fR"


# ---- the command tree -----------------------------------------------------------------------------
def root_command():
    import typer

    from . import cli

    command = typer.main.get_command(cli.app)
    try:
        from .completion import patch_help

        patch_help(command)
    except ImportError:
        pass
    return command


def _context(command, name: str, parent=None):
    import typer

    return typer._click.Context(command, info_name=name, parent=parent)


def walk(command, path: str = "rlm", parent=None):
    """Yield (path, command, ctx) for every command, depth first, in registration order; hidden ones skipped."""
    ctx = _context(command, path.rsplit(" ", 1)[-1], parent)
    yield path, command, ctx
    for sub_name, sub in (getattr(command, "commands", None) or {}).items():
        if not getattr(sub, "hidden", False):
            yield from walk(sub, f"{path} {sub_name}", ctx)


def options(command, ctx) -> list[tuple[str, str]]:
    """(names and metavar, help) for every visible option and argument, plus -h/--help."""
    records = []
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        record = param.get_help_record(ctx)
        if not record:
            continue
        names = record[0]
        if getattr(param, "param_type_name", "") == "argument":
            names = names.split(" <", 1)[0]  # the metavar, without the Python type
        elif param.name in ("show_completion", "install_completion"):
            names += " [SHELL]"
        records.append((names, record[1] or ""))
    records.append(("-h, --help", "Show the help and exit."))
    return records


def env_vars(root) -> list[tuple[str, str]]:
    """The fixed list, plus any envvar an option declares, plus os.environ/ refs of the packaged config."""
    known = {name for name, _ in ENVIRONMENT}
    extra = []
    for path, command, _ in walk(root):
        for param in command.params:
            for var in _as_list(getattr(param, "envvar", None)):
                if var not in known:
                    known.add(var)
                    extra.append((var, f"Default for {path} {'/'.join(param.opts)}."))
    for var in _config_env_refs():
        if var not in known:
            known.add(var)
            extra.append((var, "Read by the packaged config (os.environ/" + var + ")."))
    return ENVIRONMENT + extra


def _as_list(value) -> list[str]:
    if not value:
        return []
    return [value] if isinstance(value, str) else list(value)


def _config_env_refs() -> list[str]:
    try:
        from .profiles import load

        cfg = load(str(Path(__file__).with_name("data") / "rlm.yaml"))
    except Exception:  # config module absent or changed: the fixed list still documents the main ones
        return []
    return list(dict.fromkeys(v for d in cfg.deployments for v in d.env_refs()))


# ---- sections -------------------------------------------------------------------------------------
def build(root=None) -> str:
    from . import __version__

    root = root or root_command()
    out = [
        '.\\" Generated by `python -m rlm_cli.manpage` from the rlm command line; do not edit by hand.',
        f'.TH RLM 1 "{_date()}" "rlm {esc(__version__)}" "User Commands"',
        ".nh", ".ad l",
        ".SH NAME", "rlm \\- answer questions about documents larger than a model's context window",
        ".SH SYNOPSIS",
    ]
    commands = list(walk(root))
    for path, command, ctx in commands:
        if path != "rlm" and not getattr(command, "commands", None):
            out += [".br", f"{bold(path)} {esc(' '.join(command.collect_usage_pieces(ctx)))}"]
    out += [".br", f"{bold('rlm')} [{bold('--version')}] [{bold('--show-completion')} [SHELL]] "
                   f"[{bold('--install-completion')} [SHELL]]"]
    out += [".SH DESCRIPTION"]
    for p in DESCRIPTION:
        out += [".PP", esc(p)]
    out += [".SH GLOBAL OPTIONS"] + _options(root, commands[0][2])
    out += [".SH COMMANDS"]
    for path, command, ctx in commands[1:]:
        out += _command(path, command, ctx)
    out += _environment(root) + _files() + _exit_status() + _examples()
    out += [".SH SEE ALSO", f"{bold('rlm')} {esc('<command> --help')}; the README and docs/ of the rlm source; "
                            "LiteLLM proxy configuration: https://docs.litellm.ai/docs/proxy/configs"]
    return "\n".join(out) + "\n"


def _date() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    return time.strftime("%Y-%m-%d", time.gmtime(int(epoch)) if epoch else time.gmtime())


def _options(command, ctx) -> list[str]:
    out = []
    for names, help_text in options(command, ctx):
        out += [".TP", bold(names), esc(" ".join(help_text.split()))]
    return out


def _command(path: str, command, ctx) -> list[str]:
    out = [".SS " + esc(path), f"{bold(path)} {esc(' '.join(command.collect_usage_pieces(ctx)))}"]
    for p in paragraphs(command.help or getattr(command, "short_help", None)):
        out += [".PP", esc(p)]
    if getattr(command, "commands", None):
        out += [".PP", "Sub\\-commands: " + ", ".join(bold(f"{path} {n}") for n, c in command.commands.items()
                                                     if not getattr(c, "hidden", False)) + "."]
    opts = _options(command, ctx)
    if opts:
        out += [".PP", "Arguments and options:", ".RS"] + opts + [".RE"]
    return out


def _environment(root) -> list[str]:
    out = [".SH ENVIRONMENT"]
    for name, text in env_vars(root):
        out += [".TP", bold(name), esc(text)]
    return out + [".PP", esc(PROVIDER_NOTE)]


def _files() -> list[str]:
    rows = [
        ("config", "$XDG_CONFIG_HOME/rlm (default ~/.config/rlm)",
         "config.yaml: the user config (LiteLLM proxy format plus an rlm: section of profiles). "
         "Search order: --config, $RLM_CONFIG, this file, then the packaged default. rlm config path prints it."),
        ("cache", "$XDG_CACHE_HOME/rlm (default ~/.cache/rlm)",
         "ingest/: the parse cache of PDF and DOCX text (rlm cache info, rlm cache clear); "
         "responses.sqlite3: the response cache of --cache (rlm cache clear --responses); "
         "models/*.gguf: the assembled local model."),
        ("logs", "$XDG_STATE_HOME/rlm/log (default ~/.local/state/rlm/log)",
         "runs/RUN_ID.jsonl: one trajectory per run, one JSON event per line, secrets redacted (rlm logs)."),
        ("state", "$XDG_STATE_HOME/rlm (default ~/.local/state/rlm)", "Other state kept between runs."),
    ]
    out = [".SH FILES", esc("Locations on Linux; macOS and Windows use their platform's user directories (via platformdirs). "
                            "With RLM_HOME set, each directory is $RLM_HOME/<name> instead: $RLM_HOME/config, "
                            "$RLM_HOME/cache, $RLM_HOME/logs, $RLM_HOME/state.")]
    for name, where, what in rows:
        out += [".TP", bold(where), esc(f"({name}) {what}")]
    return out


def _exit_status() -> list[str]:
    from .errors import ExitStatus

    out = [".SH EXIT STATUS"]
    for status in ExitStatus:
        text = EXIT_DESCRIPTIONS.get(status.name, status.name.replace("_", " ").capitalize() + ".")
        out += [".TP", bold(str(int(status))), esc(text)]
    return out + [".PP", esc(BATCH_EXIT)]


def _examples() -> list[str]:
    out = [".SH EXAMPLES"]
    for text, command in EXAMPLES:
        out += [".PP", esc(text), ".RS", ".nf", command, ".fi", ".RE"]
    return out


# ---- command line ---------------------------------------------------------------------------------
def write(targets: list[Path] | None = None) -> list[Path]:
    text = build()
    targets = targets or [DATA_COPY] + ([REPO_COPY] if REPO_COPY.parent.is_dir() else [])
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return targets


def install(directory: str | None = None) -> Path:
    base = Path(directory).expanduser() if directory else default_dir()
    target = base / "man1" / "rlm.1"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(DATA_COPY.read_text(encoding="utf-8") if DATA_COPY.is_file() else build(), encoding="utf-8")
    return target


def man_dirs() -> list[Path]:
    """Where `man` looks (`manpath`, which honours $MANPATH), in its order."""
    import shutil
    import subprocess

    raw = os.environ.get("MANPATH", "")
    if shutil.which("manpath"):
        try:
            raw = subprocess.run(["manpath"], capture_output=True, text=True, timeout=5).stdout.strip() or raw
        except (OSError, subprocess.SubprocessError):
            pass
    return [Path(d) for d in raw.split(":") if d]


def default_dir() -> Path:
    """The first directory `man` searches that we can write to (the user's own first); else
    ~/.local/share/man (then `man rlm` needs MANPATH: install says so)."""
    home = Path.home() / ".local" / "share" / "man"
    dirs = man_dirs()
    for d in ([home] if home in dirs else []) + dirs:
        probe = d if d.exists() else d.parent
        if os.access(probe, os.W_OK):
            return d
    return home


def found_by_man(target: Path) -> bool:
    import shutil
    import subprocess

    if not shutil.which("man"):
        return False
    try:
        out = subprocess.run(["man", "-w", "rlm"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return False
    return bool(out) and os.path.realpath(out.split()[0]) == os.path.realpath(target)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--write"]:
        for path in write():
            print(f"wrote {path}", file=sys.stderr)
    elif argv[:1] == ["--path"]:
        print(DATA_COPY)
    elif argv[:1] == ["--install"]:
        target = install(argv[1] if len(argv) > 1 else None)
        base = target.parent.parent
        hint = "try: man rlm" if found_by_man(target) else \
            f"`man rlm` does not search {base}: run MANPATH={base}: man rlm (or add it to MANPATH), or man -l {target}"
        print(f"installed {target}; {hint}", file=sys.stderr)
    elif not argv:
        sys.stdout.write(build())
    else:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
