"""From a resolved configuration and the user's options to a ready `Run`: the one place where limits,
concurrency, windows, the tokenizer, the sandbox layers and the trajectory are decided, for every
front end (CLI, API, chat, batch, MCP)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import defaults


@dataclass
class RunOptions:
    """What a user may set per run; None: the profile's value, else the default."""

    max_iterations: int | None = None
    max_depth: int | None = None
    max_calls: int | None = None
    max_cost: float | None = None
    max_tokens: int | None = None
    timeout: float | None = None
    exec_timeout: float = defaults.EXEC_TIMEOUT
    concurrency: int | None = None
    sandbox: str = "auto"  # auto | strict | basic
    trajectory: bool = True  # save the run under the log dir
    trace: Path | None = None  # also write the trajectory here
    evidence: str = "optional"  # optional | required (an answer without verified evidence: status unsupported)
    reread: bool = True  # a second reading of the evidence (evidence/reread.py)
    prompt_cache: bool | None = None  # provider prompt caching (None: the profile's, else on)
    cache: bool | None = None  # rlm's response cache (None: the profile's, else off)
    cache_sampled: bool | None = None  # the response cache also for calls at temperature > 0


LIMIT_DEFAULTS = {"max_iterations": defaults.MAX_ITERATIONS, "max_depth": defaults.MAX_DEPTH}


def limits(o: RunOptions, profile: dict | None = None):
    """Flags over the profile's limits over the defaults."""
    from .usage import Limits

    profile = profile or {}
    pick = {}
    for key in ("max_iterations", "max_depth", "max_calls", "max_cost", "max_tokens", "timeout"):
        flag = getattr(o, key)
        pick[key] = flag if flag is not None else profile.get(key, LIMIT_DEFAULTS.get(key))
    return Limits(**pick)


def concurrency(o: RunOptions, resolved) -> int:
    return o.concurrency or getattr(resolved, "concurrency", None) or defaults.CONCURRENCY


def run_config(resolved, o: RunOptions, lim=None, shared=None):
    from .engine import RunConfig
    from .sandbox import SandboxOptions
    from .tokens import Tiktoken

    backend = resolved.backend
    return RunConfig(
        resolved.root_model, resolved.sub_model, lim or limits(o, resolved.limits), concurrency(o, resolved),
        SandboxOptions(exec_timeout=o.exec_timeout, confine=confine_spec(o.sandbox)),
        sub_window_tokens=backend.window(resolved.sub_model), root_window_tokens=backend.window(resolved.root_model),
        tokens=Tiktoken(), prompt_cache=prompt_caching(o, resolved), responses=response_cache(o, resolved),
        evidence=o.evidence, reread=o.reread,
        sub_models=tuple(getattr(resolved, "sub_models", ())), shared=shared,
    )


def prompt_caching(o: RunOptions, resolved) -> bool:
    """--no-prompt-cache over the profile's `prompt_cache` over on."""
    if o.prompt_cache is not None:
        return o.prompt_cache
    setting = (getattr(resolved, "caching", None) or {}).get("prompt_cache")
    return True if setting is None else bool(setting)


def response_cache(o: RunOptions, resolved):
    """The response cache if --cache (or the profile's `cache: true | sampled`) asks for it, else None."""
    from .response_cache import DEFAULT_MAX_MB, Policy, ResponseCache

    caching = getattr(resolved, "caching", None) or {}
    setting = caching.get("cache")
    enabled = o.cache if o.cache is not None else bool(setting)
    sampled = o.cache_sampled if o.cache_sampled is not None else setting == "sampled"
    if not (enabled or o.cache_sampled):
        return None
    return ResponseCache(resolved.backend, Policy(True, bool(sampled), float(caching.get("cache_max_mb") or DEFAULT_MAX_MB)))


def make_run(resolved, o: RunOptions, *, run_id: str | None = None, limits=None, shared=None):
    """A Run with its trajectory sinks attached (the front end adds its display). `limits`: already
    decided (a conversation lowers them to what its caps leave); `shared`: a usage.SharedBudget (the
    model-call gate and budget of a batch) this run uses besides its own limits."""
    from .engine import Run
    from .ui.trajectory import TrajectoryWriter

    run = Run(resolved.backend, run_config(resolved, o, limits, shared), run_id=run_id)
    if o.trajectory:
        writer = TrajectoryWriter(run.run_id)
        run.trajectory_path = str(writer.path)
        run.bus.add(writer)
    if o.trace:
        run.bus.add(TrajectoryWriter.to_file(o.trace))
    return run


def confine_spec(mode: str) -> dict | None:
    try:
        from .sandbox.policy import spec_for_mode
    except ImportError:  # confinement layers not available in this build: process isolation only
        return None
    return spec_for_mode(mode)


def confine_notices(o: RunOptions) -> list[str]:
    """What the sandbox layers chosen for these options want the user told (e.g. a layer unavailable)."""
    return list((confine_spec(o.sandbox) or {}).get("notices", []))
