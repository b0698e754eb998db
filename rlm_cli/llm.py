"""Real model backends: LiteLLM for any provider, with a fast path for OpenAI-compatible endpoints.

litellm takes ~3 s to import. `openai/...` models (OpenAI itself, vLLM, llama.cpp server, a LiteLLM
proxy, any OpenAI-compatible server) go through the `openai` SDK directly (0.4 s), with prices and
context windows read from litellm's bundled price file without importing litellm. Every other
provider goes through `litellm.completion`, whose import starts in a background thread as soon
as we know it will be needed.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BackendError
from .model import Completion, ScriptedModel, approx_tokens
from . import secrets

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # never fetch prices from the network

FAST_PREFIXES = ("openai/",)


@dataclass
class Endpoint:
    """How to reach one model: LiteLLM's `litellm_params` (model, api_base, api_key, ...)."""

    model: str
    api_base: str | None = None
    api_key: str | None = None
    params: dict = field(default_factory=dict)  # any other litellm_params (timeout, temperature, ...)
    input_cost_per_token: float | None = None
    output_cost_per_token: float | None = None
    max_input_tokens: int | None = None
    fast_path: bool = True

    @property
    def uses_fast_path(self) -> bool:
        return self.fast_path and self.model.startswith(FAST_PREFIXES)


# ---- litellm, imported off the critical path ---------------------------------------------------
_litellm = None
_litellm_thread: threading.Thread | None = None
_litellm_lock = threading.Lock()


def prefetch_litellm() -> None:
    """Start importing litellm in a background thread (idempotent)."""
    global _litellm_thread
    with _litellm_lock:
        if _litellm is None and _litellm_thread is None:
            _litellm_thread = threading.Thread(target=_import_litellm, name="rlm-import-litellm", daemon=True)
            _litellm_thread.start()


def _import_litellm():
    global _litellm
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    _litellm = litellm
    return litellm


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


def _cost(ep: Endpoint, prompt_tokens: int, completion_tokens: int) -> float:
    info = model_info(ep.model)
    pin = ep.input_cost_per_token if ep.input_cost_per_token is not None else info.get("input_cost_per_token", 0.0)
    pout = ep.output_cost_per_token if ep.output_cost_per_token is not None else info.get("output_cost_per_token", 0.0)
    return prompt_tokens * (pin or 0.0) + completion_tokens * (pout or 0.0)


def context_window(ep: Endpoint) -> int | None:
    return ep.max_input_tokens or model_info(ep.model).get("max_input_tokens")


# ---- the backend ---------------------------------------------------------------------------------
class LLMBackend:
    """Model(name) -> Endpoint; completes through the openai SDK (fast path), LiteLLM, or a scripted model."""

    def __init__(self, endpoints: dict[str, Endpoint] | None = None, *, default_api_base: str | None = None,
                 max_retries: int = 3, timeout: float = 600.0, concurrency: int = 8):
        self.endpoints = dict(endpoints or {})
        self.default_api_base = default_api_base
        self.max_retries = max_retries
        self.timeout = timeout
        self.concurrency = concurrency
        self._clients: dict[tuple, object] = {}
        self._scripted: dict[str, ScriptedModel] = {}
        self._lock = threading.Lock()
        for ep in self.endpoints.values():
            if ep.api_key:
                secrets.register(ep.api_key)

    def endpoint(self, model: str) -> Endpoint:
        ep = self.endpoints.get(model)
        if ep is None:
            ep = Endpoint(model, api_base=self.default_api_base)
            self.endpoints[model] = ep
        return ep

    def warm_up(self, models: list[str]) -> None:
        """Called at start: begin importing what the named models will need, in the background."""
        for name in models:
            if name.startswith("scripted/"):
                continue
            if not self.endpoint(name).uses_fast_path:
                prefetch_litellm()

    def complete(self, model: str, messages: list[dict], *, timeout: float | None = None) -> Completion:
        if model.startswith("scripted/"):
            return self._scripted_model(model).complete(model, messages, timeout=timeout)
        ep = self.endpoint(model)
        timeout = min(timeout or self.timeout, float(ep.params.get("timeout") or self.timeout))
        t0 = time.monotonic()
        try:
            if ep.uses_fast_path:
                text, usage = self._openai_complete(ep, messages, timeout)
            else:
                text, usage = self._litellm_complete(ep, messages, timeout)
        except Exception as exc:
            raise backend_error(exc, ep) from None
        pt = usage[0] if usage[0] is not None else sum(approx_tokens(str(m.get("content", ""))) for m in messages)
        ct = usage[1] if usage[1] is not None else approx_tokens(text)
        return Completion(text, model, pt, ct, _cost(ep, pt, ct), time.monotonic() - t0)

    def _scripted_model(self, model: str) -> ScriptedModel:
        with self._lock:
            if model not in self._scripted:
                self._scripted[model] = ScriptedModel.from_file(model.split("/", 1)[1])
            return self._scripted[model]

    def _client(self, ep: Endpoint):
        key = (ep.api_base, ep.api_key)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                import httpx
                import openai

                api_key = ep.api_key or os.environ.get("OPENAI_API_KEY") or ("sk-none" if ep.api_base else None)
                if api_key is None:
                    raise BackendError(f"{ep.model}: no API key: set OPENAI_API_KEY or give api_key in the profile")
                limits = httpx.Limits(max_connections=max(self.concurrency * 2, 16), max_keepalive_connections=max(self.concurrency, 8))
                client = openai.OpenAI(
                    api_key=api_key, base_url=ep.api_base or os.environ.get("OPENAI_BASE_URL"),
                    max_retries=self.max_retries, http_client=httpx.Client(limits=limits, timeout=self.timeout),
                )
                self._clients[key] = client
            return client

    def _openai_complete(self, ep: Endpoint, messages: list[dict], timeout: float):
        client = self._client(ep)
        params = {k: v for k, v in ep.params.items() if k not in ("timeout", "stream", "max_retries", "rpm", "tpm")}
        name = ep.model.split("/", 1)[1]
        if ep.params.get("stream"):
            stream = client.chat.completions.create(model=name, messages=messages, stream=True, timeout=timeout,
                                                    stream_options={"include_usage": True}, **params)
            parts, usage = [], (None, None)
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                    parts.append(chunk.choices[0].delta.content)
                if getattr(chunk, "usage", None):
                    usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
            return "".join(parts), usage
        resp = client.chat.completions.create(model=name, messages=messages, timeout=timeout, **params)
        text = resp.choices[0].message.content or "" if resp.choices else ""
        u = resp.usage
        return text, ((u.prompt_tokens, u.completion_tokens) if u else (None, None))

    def _litellm_complete(self, ep: Endpoint, messages: list[dict], timeout: float):
        litellm = get_litellm()
        kwargs = {k: v for k, v in ep.params.items() if k not in ("timeout", "rpm", "tpm")}
        if ep.api_base:
            kwargs["api_base"] = ep.api_base
        if ep.api_key:
            kwargs["api_key"] = ep.api_key
        kwargs.setdefault("num_retries", self.max_retries)
        if kwargs.get("stream"):
            kwargs["stream_options"] = {"include_usage": True}
            chunks = list(litellm.completion(model=ep.model, messages=messages, timeout=timeout, **kwargs))
            resp = litellm.stream_chunk_builder(chunks, messages=messages)
        else:
            resp = litellm.completion(model=ep.model, messages=messages, timeout=timeout, **kwargs)
        text = resp.choices[0].message.content or ""
        u = getattr(resp, "usage", None)
        return text, ((u.prompt_tokens, u.completion_tokens) if u else (None, None))


def backend_error(exc: Exception, ep: Endpoint) -> Exception:
    """Map an openai/litellm exception (litellm's subclass openai's) to one line saying what to fix."""
    if isinstance(exc, BackendError):
        return exc
    try:
        import openai
    except ImportError:  # pragma: no cover
        return BackendError(secrets.redact(f"{ep.model}: {exc}"))
    where = f" at {ep.api_base}" if ep.api_base else ""
    detail = secrets.redact(_short(exc))
    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
        msg, hint = f"{ep.model}: authentication failed{where}", "check the API key (env var or `api_key` in the profile)"
    elif isinstance(exc, openai.NotFoundError):
        msg, hint = f"{ep.model}: model not found{where}", "check the model name (`rlm profiles show`)"
    elif isinstance(exc, openai.RateLimitError):
        msg, hint = f"{ep.model}: rate limited{where} after retries", "lower --concurrency or wait"
    elif isinstance(exc, (openai.APITimeoutError,)):
        msg, hint = f"{ep.model}: request timed out{where}", "raise the timeout or check the server"
    elif isinstance(exc, openai.APIConnectionError):
        msg, hint = f"{ep.model}: cannot reach the server{where}", "check --api-base / api_base and that the server is up"
    elif isinstance(exc, openai.BadRequestError) and "context" in detail.lower() and "length" in detail.lower():
        return ContextOverflow(f"{ep.model}: prompt too long for the model's context window")
    elif isinstance(exc, openai.APIStatusError):
        msg, hint = f"{ep.model}: the server answered {exc.status_code}{where}", None
    elif type(exc).__module__.startswith("litellm") or "LLM Provider NOT provided" in str(exc):
        msg, hint = f"{ep.model}: unknown model or provider", "use provider/model, e.g. openai/gpt-4o-mini"
    else:
        return exc
    err = BackendError(f"{msg}: {detail}" if detail else msg, hint=hint)
    return err


class ContextOverflow(BackendError):
    """The prompt does not fit the model's window. For sub-calls this goes back to the model."""


def _short(exc: Exception) -> str:
    text = getattr(exc, "message", None) or str(exc)
    text = " ".join(str(text).split())
    return text[:300]
