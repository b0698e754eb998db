"""The config file: LiteLLM proxy format (`model_list`, `router_settings`, `litellm_settings`) plus an
`rlm:` section of named profiles. Loading, search order, `os.environ/VAR` references, usability checks.

Nothing here imports litellm: reading the config must stay cheap.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError

ENV_PREFIX = "os.environ/"
LIMIT_KEYS = ("max_iterations", "max_depth", "max_calls", "max_cost", "max_tokens", "timeout")
PACKAGED = Path(__file__).with_name("data") / "rlm.yaml"


@dataclass
class Deployment:
    """One `model_list` entry: a name the user calls (`model_name`) and how to reach it."""

    model_name: str
    litellm_params: dict  # as written (may hold os.environ/VAR references)
    model_info: dict = field(default_factory=dict)

    @property
    def model(self) -> str:
        return str(self.litellm_params.get("model") or self.model_name)

    def env_refs(self) -> list[str]:
        """Names of the environment variables this deployment reads (api_key: os.environ/VAR...)."""
        return [v[len(ENV_PREFIX):] for v in self.litellm_params.values() if isinstance(v, str) and v.startswith(ENV_PREFIX)]

    def missing_env(self, environ=None) -> list[str]:
        environ = os.environ if environ is None else environ
        return [name for name in self.env_refs() if not environ.get(name)]

    def resolved_params(self, environ=None) -> dict:
        """litellm_params with os.environ/VAR replaced by the variable's value (None when unset)."""
        environ = os.environ if environ is None else environ
        out = {}
        for k, v in self.litellm_params.items():
            if isinstance(v, str) and v.startswith(ENV_PREFIX):
                v = environ.get(v[len(ENV_PREFIX):]) or None
            out[k] = v
        return out


@dataclass
class Profile:
    name: str
    root: str
    sub: str | None = None
    limits: dict = field(default_factory=dict)
    concurrency: int | None = None
    description: str = ""
    auto: bool = True  # may `default_profile: auto` pick it when its keys are present?
    needs: str | None = None  # "local": needs the [local] extra
    caching: dict = field(default_factory=dict)  # cache: true | false | sampled; prompt_cache: true | false
    sub_models: tuple = ()  # further models model code may pick with llm_query(prompt, model=NAME)

    @property
    def sub_model(self) -> str:
        return self.sub or self.root


@dataclass
class Config:
    path: Path | None
    origin: str  # "--config" | "$RLM_CONFIG" | "user config" | "packaged default"
    deployments: list[Deployment] = field(default_factory=list)
    router_settings: dict = field(default_factory=dict)
    litellm_settings: dict = field(default_factory=dict)
    profiles: dict[str, Profile] = field(default_factory=dict)
    default_profile: str | None = None
    router_mode: str = "auto"  # rlm.router: auto | always | never (see llm.py)
    cache_max_mb: float | None = None  # rlm.cache_max_mb: the response cache's size cap

    def groups(self) -> dict[str, list[Deployment]]:
        out: dict[str, list[Deployment]] = {}
        for d in self.deployments:
            out.setdefault(d.model_name, []).append(d)
        return out

    def deployments_for(self, name: str) -> list[Deployment]:
        return [d for d in self.deployments if d.model_name == name]

    def fallbacks(self) -> dict[str, list[str]]:
        return parse_fallbacks(self.router_settings)

    def missing_env(self, profile: Profile, environ=None) -> list[str]:
        names = []
        for model in dict.fromkeys([profile.root, profile.sub_model]):
            for d in self.deployments_for(model):
                names += [n for n in d.missing_env(environ) if n not in names]
        return names


# ---- search and load -------------------------------------------------------------------------
def user_config_path() -> Path:
    from . import paths

    return paths.config_dir() / "config.yaml"


def find(config_path: str | None = None, environ=None) -> tuple[Path, str]:
    environ = os.environ if environ is None else environ
    if config_path:
        return Path(config_path).expanduser(), "--config"
    if environ.get("RLM_CONFIG"):
        return Path(environ["RLM_CONFIG"]).expanduser(), "$RLM_CONFIG"
    user = user_config_path()
    if user.is_file():
        return user, "user config"
    return PACKAGED, "packaged default"


def load(config_path: str | None = None, environ=None) -> Config:
    path, origin = find(config_path, environ)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found (from {origin})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    return parse(text, path, origin)


def parse(text: str, path: Path | None = None, origin: str = "text") -> Config:
    import yaml

    where = str(path) if path else "config"
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{where}: invalid YAML{at}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping with model_list and an optional rlm section")
    cfg = Config(path, origin, _deployments(data.get("model_list") or [], where),
                 dict(data.get("router_settings") or {}), dict(data.get("litellm_settings") or {}))
    rlm = data.get("rlm") or {}
    if not isinstance(rlm, dict):
        raise ConfigError(f"{where}: the rlm section must be a mapping")
    cfg.profiles = {name: _profile(name, p, where) for name, p in (rlm.get("profiles") or {}).items()}
    cfg.default_profile = rlm.get("default_profile")
    cfg.router_mode = str(rlm.get("router") or "auto")
    cfg.cache_max_mb = _positive(rlm.get("cache_max_mb"), f"{where}: rlm.cache_max_mb")
    if cfg.router_mode not in ("auto", "always", "never"):
        raise ConfigError(f"{where}: rlm.router must be auto, always or never")
    if not cfg.profiles and cfg.deployments:  # a plain LiteLLM proxy config: first model for everything
        first = cfg.deployments[0].model_name
        cfg.profiles = {"default": Profile("default", first, first, description=f"first model of {where}")}
        cfg.default_profile = cfg.default_profile or "default"
    _check_refs(cfg, where)
    return cfg


def _deployments(items, where: str) -> list[Deployment]:
    if not isinstance(items, list):
        raise ConfigError(f"{where}: model_list must be a list")
    out = []
    for i, item in enumerate(items, 1):
        if not isinstance(item, dict) or not item.get("model_name"):
            raise ConfigError(f"{where}: model_list entry {i} has no model_name")
        params = item.get("litellm_params") or {}
        if not isinstance(params, dict) or not params.get("model"):
            raise ConfigError(f"{where}: model_list entry {i} ({item['model_name']}) has no litellm_params.model")
        info = item.get("model_info") or {}
        if not isinstance(info, dict) or info.get("prompt_cache") not in (None, False, "breakpoints", "automatic", "off"):
            raise ConfigError(f"{where}: model_list entry {i} ({item['model_name']}): model_info.prompt_cache must be "
                              "breakpoints, automatic or off")
        out.append(Deployment(str(item["model_name"]), dict(params), dict(info)))
    return out


def _profile(name: str, p, where: str) -> Profile:
    if not isinstance(p, dict) or not p.get("root"):
        raise ConfigError(f"{where}: profile '{name}' needs a root model")
    unknown = set(p) - {"root", "sub", "sub_models", "concurrency", "description", "auto", "needs", "cache", "prompt_cache",
                        *LIMIT_KEYS}
    if unknown:
        raise ConfigError(f"{where}: profile '{name}': unknown key(s) {', '.join(sorted(unknown))}")
    if p.get("cache") not in (None, True, False, "sampled"):
        raise ConfigError(f"{where}: profile '{name}': cache must be true, false or sampled")
    if p.get("prompt_cache") not in (None, True, False):
        raise ConfigError(f"{where}: profile '{name}': prompt_cache must be true or false")
    limits = {k: p[k] for k in LIMIT_KEYS if p.get(k) is not None}
    caching = {k: p[k] for k in ("cache", "prompt_cache") if p.get(k) is not None}
    extra = p.get("sub_models") or []
    if not isinstance(extra, list) or not all(isinstance(m, str) and m for m in extra):
        raise ConfigError(f"{where}: profile '{name}': sub_models must be a list of model names")
    return Profile(str(name), str(p["root"]), str(p["sub"]) if p.get("sub") else None, limits,
                   p.get("concurrency"), str(p.get("description") or ""), bool(p.get("auto", True)), p.get("needs"),
                   caching, tuple(extra))


def _positive(value, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{what} must be a positive number")
    return float(value)


def _check_refs(cfg: Config, where: str) -> None:
    names = {d.model_name for d in cfg.deployments}
    for p in cfg.profiles.values():
        for model in (p.root, p.sub_model, *p.sub_models):
            if model not in names and "/" not in model:
                raise ConfigError(f"{where}: profile '{p.name}' uses '{model}', which is not a model_name in model_list")
    if cfg.default_profile not in (None, "auto") and cfg.default_profile not in cfg.profiles:
        raise ConfigError(f"{where}: default_profile '{cfg.default_profile}' is not a profile")


def parse_fallbacks(router_settings: dict) -> dict[str, list[str]]:
    """router_settings.fallbacks ([{name: [other, ...]}, ...]) as one dict."""
    out: dict[str, list[str]] = {}
    for item in router_settings.get("fallbacks") or []:
        if isinstance(item, dict):
            for k, v in item.items():
                out.setdefault(str(k), []).extend([v] if isinstance(v, str) else list(v or []))
    return out
