"""A small client for OpenAI-compatible chat completions over urllib3: the fast path's transport.

The `openai` SDK costs ~0.5 s to import (hundreds of pydantic models); urllib3 costs ~0.09 s. This
client does the one call rlm needs, with the SDK's retry behaviour (backoff with jitter, honouring
retry-after-ms / retry-after, retrying 408/409/429/5xx and connection errors), streaming (SSE) and
errors that keep the HTTP status, so `llm.backend_error` can say what to fix.
"""
from __future__ import annotations

import json
import random
import time
from typing import NamedTuple

from .prompt_cache import CacheCounts, counts

DEFAULT_BASE = "https://api.openai.com/v1"
RETRY_STATUSES = {408, 409, 429, 500, 502, 503, 504}
MAX_BACKOFF = 8.0
MAX_RETRY_AFTER = 60.0


class Tokens(NamedTuple):
    """What the server reported: prompt and completion tokens (None: not reported), cached prompt tokens."""

    prompt: int | None = None
    completion: int | None = None
    cached: CacheCounts = CacheCounts()

    @classmethod
    def of_litellm(cls, u) -> "Tokens":
        """LiteLLM's Usage object (its prompt_tokens include cache reads and writes)."""
        if u is None:
            return cls()
        pt, ct = getattr(u, "prompt_tokens", None), getattr(u, "completion_tokens", None)
        pt = pt if isinstance(pt, int) else None
        return cls(pt, ct if isinstance(ct, int) else None, counts(u, pt))


class APIError(Exception):
    """The server answered with an error status."""

    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status_code = status
        self.message = message
        self.code = code


class APIConnectionError(Exception):
    """The server could not be reached (refused, DNS, TLS, reset)."""


class APITimeoutError(APIConnectionError):
    """The request timed out."""


class Client:
    """Thread-safe: one pool of keep-alive connections. The request (headers and body) goes out in one
    write with TCP_NODELAY: ~0.5 ms per call on loopback, where httpx took ~1-3 ms."""

    def __init__(self, base_url: str | None, api_key: str, *, max_retries: int = 3, timeout: float = 600.0,
                 max_connections: int = 16):
        import urllib3

        self.url = (base_url or DEFAULT_BASE).rstrip("/") + "/chat/completions"
        self.max_retries = max_retries
        self._urllib3 = urllib3
        self._headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json",
                         "Accept": "application/json", "User-Agent": "rlm-cli"}
        self._retries = urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=5,
                                      raise_on_redirect=False)
        self._pool = _pool_manager(urllib3, self.url, max_connections)

    def chat(self, payload: dict, timeout: float) -> tuple[str, Tokens]:
        """POST a chat completion; returns (text, Tokens(prompt, completion, cached))."""
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        stream = bool(payload.get("stream"))
        attempt = 0
        while True:
            try:
                return self._once(body, stream, timeout)
            except (APIError, APIConnectionError) as exc:
                retryable = isinstance(exc, APIConnectionError) or exc.status_code in RETRY_STATUSES
                if not retryable or attempt >= self.max_retries:
                    raise
                time.sleep(self._backoff(exc, attempt))
                attempt += 1

    def _once(self, body: bytes, stream: bool, timeout: float):
        u3 = self._urllib3
        try:
            resp = self._pool.request("POST", self.url, body=body, headers=self._headers, retries=self._retries,
                                      timeout=u3.Timeout(connect=min(timeout, 30.0), read=timeout),
                                      preload_content=not stream)
            try:
                if resp.status >= 400:
                    raise _status_error(resp)
                if stream:
                    return _read_sse(line.decode("utf-8", "replace") for line in resp)
                return _read_json(resp.data)
            finally:
                resp.release_conn()
        except u3.exceptions.TimeoutError as exc:
            raise APITimeoutError(f"request timed out ({type(exc).__name__})") from None
        except u3.exceptions.HTTPError as exc:
            raise APIConnectionError(f"connection error: {type(exc).__name__}: {_reason(exc)}") from None

    def _backoff(self, exc: Exception, attempt: int) -> float:
        headers = getattr(exc, "headers", None) or {}
        for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
            value = headers.get(name)
            if value:
                try:
                    seconds = float(value) * scale
                except ValueError:
                    continue
                if 0 < seconds <= MAX_RETRY_AFTER:
                    return seconds
        delay = min(0.5 * 2 ** attempt, MAX_BACKOFF)
        return delay * (1 - 0.25 * random.random())

    def close(self) -> None:
        self._pool.clear()


def _pool_manager(urllib3, url: str, max_connections: int):
    """A pool for `url`, through the proxy the environment names for it (HTTPS_PROXY, NO_PROXY...)."""
    import urllib.parse
    import urllib.request

    kw: dict = {"num_pools": 4, "maxsize": max_connections, "block": False}
    try:
        import certifi

        kw["ca_certs"] = certifi.where()
    except ImportError:  # the system's CA store
        pass
    host = urllib.parse.urlsplit(url).hostname or ""
    proxy = None if urllib.request.proxy_bypass(host) else urllib.request.getproxies().get(url.split(":", 1)[0])
    return urllib3.ProxyManager(proxy, **kw) if proxy else urllib3.PoolManager(**kw)


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc)


def _status_error(resp) -> APIError:
    raw = resp.data if resp.data is not None else resp.read()
    message, code = resp.reason or f"HTTP {resp.status}", None
    try:
        data = json.loads(raw)
        err = data.get("error") if isinstance(data, dict) else None
        if isinstance(err, dict):
            message, code = str(err.get("message") or message), err.get("code")
        elif isinstance(err, str):
            message = err
        elif isinstance(data, dict) and data.get("message"):
            message = str(data["message"])
    except ValueError:
        text = raw.decode("utf-8", "replace").strip()
        if text:
            message = text[:300]
    exc = APIError(resp.status, message, code)
    exc.headers = {k.lower(): v for k, v in resp.headers.items()}
    return exc


def _read_json(content: bytes):
    try:
        data = json.loads(content)
    except ValueError:
        raise APIError(502, "the server's reply is not JSON") from None
    if not isinstance(data, dict):
        raise APIError(502, "the server's reply is not a chat completion")
    if data.get("error"):
        err = data["error"]
        raise APIError(500, str(err.get("message") if isinstance(err, dict) else err))
    choices = data.get("choices") or []
    message = (choices[0].get("message") or {}) if choices else {}
    text = message.get("content") or ""
    if isinstance(text, list):  # content parts
        text = "".join(p.get("text", "") for p in text if isinstance(p, dict))
    return text, _usage(data.get("usage"))


def _read_sse(lines) -> tuple[str, Tokens]:
    parts, usage = [], Tokens()
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            break
        try:
            chunk = json.loads(data)
        except ValueError:
            continue
        if chunk.get("error"):
            err = chunk["error"]
            raise APIError(500, str(err.get("message") if isinstance(err, dict) else err))
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                parts.append(delta["content"])
        if chunk.get("usage"):
            usage = _usage(chunk["usage"])
    return "".join(parts), usage


def _usage(u) -> Tokens:
    if not isinstance(u, dict):
        return Tokens()
    pt, ct = u.get("prompt_tokens"), u.get("completion_tokens")
    pt = pt if isinstance(pt, int) and not isinstance(pt, bool) and pt >= 0 else None
    ct = ct if isinstance(ct, int) and not isinstance(ct, bool) and ct >= 0 else None
    return Tokens(pt, ct, counts(u, pt))
