"""Real model backends: a LiteLLM Router for every provider, with a fast start for OpenAI-compatible ones.

litellm takes ~3 s to import here. The Router (retries with backoff, fallbacks between model names,
load balancing over deployments sharing a model_name) is built in a background thread. Until it is
ready, calls whose deployments are all `openai/...` (OpenAI, vLLM, llama.cpp server, a LiteLLM proxy,
any OpenAI-compatible server) go through rlm_cli.openai_compat (urllib3, 0.09 s import instead of the
`openai` SDK's 0.5 s) with the SDK's retry behaviour and the same fallback order; other providers wait for the Router. Prices and context windows come
from `model_info` or from litellm's bundled price file, read without importing litellm.
`rlm.router: always` in the config waits for the Router even for the first call; `never` skips it.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import os
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BackendError
from ..threads import start_daemon
from . import prompt_cache
from .prompt_cache import mark as prompt_cache_marks
from .failures import backend_error
from .base import message_text
from .scripted import Completion, ScriptedModel, approx_tokens
from .. import redact

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # never fetch prices from the network

FAST_PREFIXES = ("openai/",)
PRICE_KEYS = ("input_cost_per_token", "output_cost_per_token", "cache_read_input_token_cost", "cache_creation_input_token_cost")
_NOT_SENT = ("timeout", "stream", "max_retries", "rpm", "tpm", "num_retries", "weight", "order")


@dataclass
class Endpoint:
    """How to reach one deployment: LiteLLM's `litellm_params` (model, api_base, api_key, ...)."""

    model: str
    api_base: str | None = None
    api_key: str | None = None
    params: dict = field(default_factory=dict)  # any other litellm_params (timeout, temperature, rpm, ...)
    input_cost_per_token: float | None = None
    output_cost_per_token: float | None = None
    max_input_tokens: int | None = None
    cache_read_input_token_cost: float | None = None  # model_info; else litellm's price data
    cache_creation_input_token_cost: float | None = None
    prompt_cache: str | None = None  # model_info.prompt_cache: breakpoints | automatic | off (else detected)
    fast_path: bool = True
    name: str | None = None  # the model_name it serves (None: same as model)
    id: str = ""  # deployment id given to the Router (model_info.id)

    @property
    def uses_fast_path(self) -> bool:
        return self.fast_path and self.model.startswith(FAST_PREFIXES)

    def key(self) -> str | None:
        """The key every request to this deployment carries, on the fast path and through the Router
        alike: `api_key`, else (OpenAI-compatible) $OPENAI_API_KEY, else "sk-none" for an api_base
        (local servers want some key). None: the provider's own variable (LiteLLM reads it)."""
        if self.api_key:
            return self.api_key
        if self.model.startswith(FAST_PREFIXES):
            return os.environ.get("OPENAI_API_KEY") or ("sk-none" if self.api_base else None)
        return None

    def router_entry(self) -> dict:
        params = {"model": self.model, **self.params}
        if self.api_base:
            params["api_base"] = self.api_base
        key = self.key()
        if key:
            params["api_key"] = key
        info = {"id": self.id}
        for k in PRICE_KEYS + ("max_input_tokens",):
            if getattr(self, k) is not None:
                info[k] = getattr(self, k)
        return {"model_name": self.name or self.model, "litellm_params": params, "model_info": info}


# ---- litellm, imported off the critical path ---------------------------------------------------
_litellm = None
_litellm_thread: threading.Thread | None = None
_litellm_lock = threading.Lock()


def prefetch_litellm() -> None:
    """Start importing litellm in a background thread (idempotent)."""
    global _litellm_thread
    with _litellm_lock:
        if _litellm is None and _litellm_thread is None:
            _litellm_thread = start_daemon(_import_litellm, name="rlm-import-litellm")


def _import_litellm():
    global _litellm
    import logging

    import litellm

    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
        logging.getLogger(name).setLevel(logging.ERROR)  # its warnings would garble our stderr
    litellm.suppress_debug_info = True
    litellm.telemetry = False
    _litellm = litellm
    return litellm


_http_thread: threading.Thread | None = None


def prefetch_http() -> None:
    """Import urllib3 (the fast path's transport) in a background thread (idempotent)."""
    global _http_thread
    with _litellm_lock:
        if _http_thread is None and "urllib3" not in sys.modules:
            _http_thread = start_daemon(_import_http, name="rlm-import-http")


def _import_http() -> None:
    import importlib

    try:
        importlib.import_module("urllib3")  # the fast path's transport (~0.09 s)
    except ImportError:
        pass


def get_litellm():
    if _litellm is not None:
        return _litellm
    prefetch_litellm()
    _litellm_thread.join()
    if _litellm is None:  # the thread failed: import here to raise the real error
        return _import_litellm()
    return _litellm


# ---- prices and context windows, without importing litellm ---------------------------------------
@functools.lru_cache(maxsize=1)
def price_table() -> dict:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.origin:
        return {}
    path = Path(spec.origin).with_name("model_prices_and_context_window_backup.json")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def model_info(model: str) -> dict:
    table = price_table()
    name = model.split("/", 1)[1] if "/" in model else model
    return table.get(model) or table.get(name) or {}


def _price(ep: Endpoint, key: str):
    value = getattr(ep, key)
    return value if value is not None else model_info(ep.model).get(key)


def prices(ep: Endpoint) -> tuple[float | None, float | None]:
    """(input, output) USD per token, None when unknown."""
    return _price(ep, "input_cost_per_token"), _price(ep, "output_cost_per_token")


def all_prices(ep: Endpoint) -> prompt_cache.Prices:
    """Input, output, cache read and cache write prices (model_info over litellm's price data)."""
    return prompt_cache.Prices.of(*(_price(ep, k) for k in PRICE_KEYS))


def cache_style(ep: Endpoint) -> str:
    """breakpoints | automatic | off: how this deployment's provider caches a repeated prompt prefix."""
    return prompt_cache.style(ep.model, ep.prompt_cache, model_info(ep.model))


def _cost(ep: Endpoint, prompt_tokens: int, completion_tokens: int, cached: prompt_cache.CacheCounts) -> float:
    return prompt_cache.cost(prompt_tokens, completion_tokens, cached, all_prices(ep))


def context_window(ep: Endpoint) -> int | None:
    return ep.max_input_tokens or model_info(ep.model).get("max_input_tokens")


# ---- the backend ---------------------------------------------------------------------------------
@dataclass
class RouterOptions:
    """What the config says about routing: LiteLLM's router_settings/litellm_settings and rlm's mode."""

    router_settings: dict = field(default_factory=dict)
    litellm_settings: dict = field(default_factory=dict)
    mode: str = "auto"  # auto: fast path until the Router is ready | always: Router only | never: no Router

    @property
    def num_retries(self) -> int:
        n = self.router_settings.get("num_retries", self.litellm_settings.get("num_retries", 3))
        return int(n if n is not None else 3)

    @property
    def fallbacks(self) -> dict[str, list[str]]:
        from ..profiles import parse_fallbacks

        return parse_fallbacks(self.router_settings)


class LLMBackend:
    """Model name -> deployments; completes through the Router, a small OpenAI-compatible urllib3 client (fast start) or a scripted model."""

    def __init__(self, endpoints: dict[str, Endpoint | list[Endpoint]] | None = None, *,
                 default_api_base: str | None = None, max_retries: int | None = None, timeout: float = 600.0,
                 concurrency: int = 8, options: RouterOptions | None = None):
        self.options = options or RouterOptions()
        self.groups: dict[str, list[Endpoint]] = {}
        for name, eps in (endpoints or {}).items():
            for ep in (eps if isinstance(eps, list) else [eps]):
                self._add(name, ep)
        self.default_api_base = default_api_base
        self.max_retries = self.options.num_retries if max_retries is None else max_retries
        self.timeout = float(self.options.router_settings.get("timeout") or timeout)
        self.concurrency = concurrency
        self._clients: dict[tuple, object] = {}
        self._scripted: dict[str, ScriptedModel] = {}
        self._lock = threading.Lock()
        self._router = None
        self._router_error: BaseException | None = None
        self._router_thread: threading.Thread | None = None

    def _add(self, name: str, ep: Endpoint) -> None:
        ep.name = ep.name or name
        ep.id = ep.id or f"{name}#{len(self.groups.get(name, []))}"
        if ep.api_key:
            redact.register(ep.api_key)
        self.groups.setdefault(name, []).append(ep)

    @property
    def endpoints(self) -> dict[str, Endpoint]:
        return {name: eps[0] for name, eps in self.groups.items()}

    def endpoint(self, model: str) -> Endpoint:
        """The (first) deployment behind a model name; unknown names are LiteLLM model strings."""
        eps = self.groups.get(model)
        if not eps:
            with self._lock:
                if model not in self.groups:
                    self._add(model, Endpoint(model, api_base=self.default_api_base))
            eps = self.groups[model]
        return eps[0]

    def window(self, model: str) -> int | None:
        return context_window(self.endpoint(model))

    def chain(self, model: str) -> list[str]:
        """The model name, then its fallbacks (router_settings.fallbacks), in order."""
        self.endpoint(model)
        names = [model] + [n for n in self.options.fallbacks.get(model, []) if n != model]
        for n in names:
            self.endpoint(n)
        return names

    def request_params(self, model: str) -> list[dict]:
        """What shapes an answer from `model`, for the response cache's key: every deployment in its chain
        (provider model, api_base, request parameters). Keys and transport settings are left out."""
        if model.startswith("scripted/"):
            return self._scripted_model(model).request_params(model)
        def base(ep: Endpoint) -> str | None:  # OpenAI-style deployments without api_base follow $OPENAI_BASE_URL
            return ep.api_base or (os.environ.get("OPENAI_BASE_URL") if ep.model.startswith(FAST_PREFIXES) else None)

        return [{"name": n, "model": ep.model, "api_base": base(ep),
                 "params": {k: v for k, v in sorted(ep.params.items()) if k not in _NOT_SENT and not _secret(k)}}
                for n in self.chain(model) for ep in self.groups[n]]

    def _fast_ok(self, model: str) -> bool:
        return self.options.mode != "always" and all(ep.uses_fast_path for n in self.chain(model) for ep in self.groups[n])

    # ---- warm-up: Router and local models, in the background ---------------------------------------
    def warm_up(self, models: list[str]) -> list[str]:
        """Called at start: begin building what the named models need, in the background. Returns
        what the user should be told meanwhile (e.g. that the local model is loading)."""
        real = [m for m in models if not m.startswith("scripted/")]
        notes: list[str] = []
        if not real:
            return notes
        for name in real:
            for n in self.chain(name):
                for ep in self.groups[n]:
                    if ep.model.startswith("local/"):
                        from . import local as local_model

                        notes += local_model.preload(ep.model)
        if self.options.mode != "never" and not all(self._fast_ok(m) for m in real):
            self.start_router()
        elif any(self._fast_ok(m) for m in real):
            prefetch_http()  # urllib3's import, overlapped with ingestion and the worker start
        return list(dict.fromkeys(notes))

    def start_router(self) -> None:
        with self._lock:
            if self._router is None and self._router_thread is None and self.options.mode != "never":
                self._router_thread = start_daemon(self._build_router, name="rlm-router")

    def _build_router(self) -> None:
        try:
            self._router = build_router(self.groups, self.options, self.max_retries, self.timeout)
        except BaseException as exc:  # reported to the caller that waits for the Router
            self._router_error = exc

    def router(self):
        """The Router, waiting for its construction if needed."""
        if self._router is None:
            self.start_router()
            if self._router_thread is not None:
                self._router_thread.join()
            if self._router is None:
                raise self._router_error or BackendError("the LiteLLM router is disabled (rlm.router: never)")
        return self._router

    # ---- completion ---------------------------------------------------------------------------------
    def complete(self, model: str, messages: list[dict], *, timeout: float | None = None,
                 prompt_cache: bool = False) -> Completion:
        """`prompt_cache`: mark the prefix cacheable where the provider needs breakpoints (a root turn)."""
        if model.startswith("scripted/"):
            return self._scripted_model(model).complete(model, messages, timeout=timeout)
        timeout = min(timeout or self.timeout, self.timeout)
        t0 = time.monotonic()
        fast = self._router is None and self._fast_ok(model)
        if prompt_cache and self._wants_breakpoints(model, fast):
            messages = prompt_cache_marks(messages)
        if fast:
            ep, text, usage = self._fast_complete(model, messages, timeout)
        else:
            ep, text, usage = self._router_complete(model, messages, timeout)
        pt = usage.prompt if usage.prompt is not None else sum(approx_tokens(message_text(m)) for m in messages)
        ct = usage.completion if usage.completion is not None else approx_tokens(text)
        return Completion(text, model, pt, ct, _cost(ep, pt, ct, usage.cached), time.monotonic() - t0,
                          cached_tokens=usage.cached.read, cache_write_tokens=usage.cached.write)

    def _wants_breakpoints(self, model: str, fast: bool) -> bool:
        """Through LiteLLM: if any deployment in the chain takes breakpoints (LiteLLM strips them for the
        others). On the fast path (plain OpenAI-compatible HTTP): only if every deployment is configured
        for them (model_info.prompt_cache: breakpoints, e.g. a LiteLLM proxy in front of Claude)."""
        styles = [cache_style(ep) for n in self.chain(model) for ep in self.groups[n]]
        if fast:
            return all(s == prompt_cache.BREAKPOINTS for s in styles)
        return any(s == prompt_cache.BREAKPOINTS for s in styles)

    def _scripted_model(self, model: str) -> ScriptedModel:
        with self._lock:
            if model not in self._scripted:
                self._scripted[model] = ScriptedModel.from_file(model.split("/", 1)[1])
            return self._scripted[model]

    def _router_complete(self, model: str, messages: list[dict], timeout: float):
        first = self.endpoint(model)
        try:
            router = self.router()
            if first.params.get("stream"):  # streaming deployments (litellm_params.stream): rebuild one response
                chunks = list(router.completion(model=model, messages=messages, timeout=timeout, stream=True,
                                                stream_options={"include_usage": True}))
                resp = get_litellm().stream_chunk_builder(chunks, messages=messages)
            else:
                resp = router.completion(model=model, messages=messages, timeout=timeout)
        except Exception as exc:
            raise backend_error(exc, first) from None
        served = (getattr(resp, "_hidden_params", None) or {}).get("model_id")
        ep = next((e for n in self.chain(model) for e in self.groups[n] if e.id == served), first)
        text = resp.choices[0].message.content or "" if resp.choices else ""
        from .openai_compat import Tokens

        return ep, text, Tokens.of_litellm(getattr(resp, "usage", None))

    def _fast_complete(self, model: str, messages: list[dict], timeout: float):
        """The Router's behaviour for OpenAI-compatible deployments before the Router exists:
        SDK retries with backoff per deployment, deployments shuffled, then the fallback model names."""
        from .openai_compat import APIError

        error, failed_ep = None, None
        for name in self.chain(model):
            eps = list(self.groups[name])
            random.shuffle(eps)
            for ep in eps:
                try:
                    text, usage = self._openai_complete(ep, messages, min(timeout, float(ep.params.get("timeout") or timeout)))
                    return ep, text, usage
                except APIError as exc:
                    if exc.status_code in (400, 413, 422):  # the request itself is wrong: another server will not help
                        raise backend_error(exc, ep) from None
                    error, failed_ep = exc, ep
                except Exception as exc:
                    error, failed_ep = exc, ep
        raise backend_error(error, failed_ep) from None

    def _client(self, ep: Endpoint):
        key = (ep.api_base, ep.api_key)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                from .openai_compat import Client

                api_key = ep.key()
                if api_key is None:
                    raise BackendError(f"{ep.model}: no API key: set OPENAI_API_KEY or give api_key in the profile")
                client = Client(ep.api_base or os.environ.get("OPENAI_BASE_URL"), api_key, max_retries=self.max_retries,
                                timeout=self.timeout, max_connections=max(self.concurrency * 2, 16))
                self._clients[key] = client
            return client

    def _openai_complete(self, ep: Endpoint, messages: list[dict], timeout: float):
        client = self._client(ep)
        if self.options.mode == "auto" and self._router_thread is None:
            self.start_router()  # built while this request is on the wire
        payload = {k: v for k, v in ep.params.items() if k not in _NOT_SENT}
        payload.update(model=ep.model.split("/", 1)[1], messages=messages)
        if ep.params.get("stream"):
            payload.update(stream=True, stream_options={"include_usage": True})
        return client.chat(payload, timeout)


def _secret(param: str) -> bool:
    """litellm_params that hold credentials (api_key, aws_secret_access_key, vertex_credentials...)."""
    p = param.lower()
    return p == "key" or p.endswith("_key") or any(w in p for w in ("secret", "credential", "password", "session_token",
                                                                    "auth_token", "access_token"))


def build_router(groups: dict[str, list[Endpoint]], options: RouterOptions, num_retries: int, timeout: float):
    """A litellm.Router over every deployment (local/ models registered as a custom provider first)."""
    import inspect

    litellm = get_litellm()
    if any(ep.model.startswith("local/") for eps in groups.values() for ep in eps):
        from . import local as local_model

        local_model.register_provider(litellm)
    for key in ("drop_params", "modify_params", "request_timeout", "max_budget"):
        if key in options.litellm_settings:
            setattr(litellm, key, options.litellm_settings[key])
    accepted = set(inspect.signature(litellm.Router.__init__).parameters) - {"self", "model_list"}
    kwargs = {k: v for k, v in options.router_settings.items() if k in accepted}
    kwargs.update(num_retries=num_retries, timeout=timeout)
    if options.fallbacks:
        kwargs["fallbacks"] = [{k: v} for k, v in options.fallbacks.items()]
    entries = [ep.router_entry() for eps in groups.values() for ep in eps]
    return litellm.Router(model_list=entries, **kwargs)
