"""`rlm profiles list|show NAME` and `rlm config path|init|show`. Keys are never printed."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..ui.sanitize import clean, one_line

ConfigOpt = typer.Option(None, "--config", envvar="RLM_CONFIG", help="Config file (default: search order).")


def register(app: typer.Typer) -> None:
    profiles = typer.Typer(help="Named model setups from the config file.", no_args_is_help=True)
    profiles.command("list", help="Every profile, its models, and whether it is usable here (keys set or not).")(profiles_list)
    profiles.command("show", help="One profile: models, deployments (keys masked), limits.")(profiles_show)
    app.add_typer(profiles, name="profiles")
    config = typer.Typer(help="The config file (LiteLLM proxy format + an rlm section).", no_args_is_help=True)
    config.command("path", help="Print the config file to edit (the user config, or --config / $RLM_CONFIG); "
                                "the file in use goes to stderr.")(config_path)
    config.command("init", help="Write a commented starter config to the user config dir (or FILE).")(config_init)
    config.command("show", help="Print the config in use (keys are os.environ/ references, never values).")(config_show)
    app.add_typer(config, name="config")


def _env(ctx: typer.Context):
    from ..env import of

    return of(ctx)


def _status(cfg, prof, environ) -> str:
    from ..config import local_available

    missing = cfg.missing_env(prof, environ)
    if missing:
        return "needs " + ", ".join(missing)
    if prof.needs == "local" and not local_available():
        return "needs pip install 'rlm-cli[local]'"
    if any(d.litellm_params.get("api_base") and not d.env_refs() for m in (prof.root, prof.sub_model)
           for d in cfg.deployments_for(m)):
        return "ready (if the server is up)"
    return "ready"


class _OneLines:
    """Writes each line of config-file text clean (no escape sequences, no forged lines)."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, line: str) -> None:
        self.stream.write(one_line(line.rstrip("\n")) + "\n")


def profiles_list(ctx: typer.Context, config: Optional[Path] = ConfigOpt) -> None:
    from .. import profiles as P
    from ..config import resolve

    env = _env(ctx)
    cfg = P.load(str(config) if config else None, env.environ)
    try:
        default = resolve(config_path=str(config) if config else None, environ=env.environ).profile
    except Exception:
        default = None
    out = env.stdout
    out.write(f"# {one_line(cfg.path)} ({cfg.origin})\n")
    width = max([len(one_line(n)) for n in cfg.profiles] + [7])
    for name, p in cfg.profiles.items():  # names and models come from a config file: one clean line each
        mark = "*" if name == default else " "
        models = one_line(p.root if p.sub_model == p.root else f"{p.root} + {p.sub_model}")
        out.write(f"{mark} {one_line(name):<{width}}  {models:<45}  {one_line(_status(cfg, p, env.environ))}\n")
    out.write("(* = used when no -p is given)\n" if default else "(no profile usable without -p: set a key or see `rlm config init`)\n")


def profiles_show(ctx: typer.Context, name: str = typer.Argument(..., help="Profile name."),
                  config: Optional[Path] = ConfigOpt) -> None:
    from .. import profiles as P
    from ..config import _named
    from ..backends.router import context_window, prices
    from ..config import endpoint_for

    env = _env(ctx)
    cfg = P.load(str(config) if config else None, env.environ)
    p = _named(cfg, name)
    out = _OneLines(env.stdout)
    out.write(f"profile {p.name}: {p.description}\n" if p.description else f"profile {p.name}\n")
    out.write(f"  status: {_status(cfg, p, env.environ)}\n")
    for role, model in (("root", p.root), ("sub", p.sub_model), *(("sub_models", m) for m in p.sub_models)):
        out.write(f"  {role}: {model}\n")
        deps = cfg.deployments_for(model) or [P.Deployment(model, {"model": model})]
        for d in deps:
            ep = endpoint_for(d, env.environ)
            pin, pout = prices(ep)
            price = f"${pin * 1e6:.2f}/${pout * 1e6:.2f} per 1M tokens in/out" if pin is not None and pout is not None else "price unknown"
            window = context_window(ep)
            key = ", ".join(f"{k}: {v}" for k, v in d.litellm_params.items() if k != "model" and isinstance(v, str)
                            and (v.startswith(P.ENV_PREFIX) or k == "api_base")) or "no key needed"
            out.write(f"    - {d.model}  ({key}; {price}; window {window or '?'} tokens)\n")
    limits = ", ".join(f"{k}={v}" for k, v in p.limits.items()) or "defaults"
    out.write(f"  limits: {limits}; concurrency: {p.concurrency or 'default'}\n")


def config_path(ctx: typer.Context, config: Optional[Path] = ConfigOpt) -> None:
    from .. import profiles as P

    env = _env(ctx)
    path, origin = P.find(str(config) if config else None, env.environ)
    editable = path if origin in ("--config", "$RLM_CONFIG") else P.user_config_path()
    env.stdout.write(f"{editable}\n")  # what to edit: `$EDITOR "$(rlm config path)"`
    if not editable.exists():
        env.stderr.write(f"rlm: {editable} does not exist yet: `rlm config init` writes a starter config there\n")
    env.stderr.write(f"rlm: in use now: {path} ({origin})\n")


def config_init(ctx: typer.Context, file: Optional[Path] = typer.Argument(None, help="Where to write (default: the user config)."),
                force: bool = typer.Option(False, "--force", help="Overwrite an existing file.")) -> None:
    from .. import profiles as P
    from ..errors import UsageError
    from ..ui.output import write_atomic

    env = _env(ctx)
    dest = file or P.user_config_path()
    if dest.exists() and not force:
        raise UsageError(f"{dest}: already exists; pass --force to overwrite it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(dest, P.PACKAGED.read_text(encoding="utf-8"))
    env.stdout.write(f"{dest}\n")
    env.stderr.write("wrote a starter config: edit model_list and rlm.profiles; keys stay in environment variables\n")


def config_show(ctx: typer.Context, config: Optional[Path] = ConfigOpt) -> None:
    from .. import profiles as P
    from .. import redact
    from ..env import isatty

    env = _env(ctx)
    path, origin = P.find(str(config) if config else None, env.environ)
    P.load(str(config) if config else None, env.environ)  # validate first: errors name the file
    env.stderr.write(f"# {one_line(path)} ({origin})\n")
    text = redact.redact(path.read_text(encoding="utf-8"))
    env.stdout.write(clean(text) if isatty(env.stdout) else text)

