"""What the stub server speaks: reply and request records, OpenAI-style payloads and errors (pure
functions; the HTTP side is stub_server.py)."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Union

DEFAULT_REPLY = "stub answer"


@dataclass
class Reply:
    """What a responder may return instead of a plain string.

    ``status`` != 200 makes the server answer with an OpenAI-style error body
    (``error`` is its message).  ``delay`` overrides the server latency for this
    request; ``prompt_tokens``/``completion_tokens`` override the estimates;
    ``cached_tokens``/``cache_write_tokens`` are reported in the usage
    (``prompt_tokens_details.cached_tokens``, ``cache_read_input_tokens``,
    ``cache_creation_input_tokens``).
    """

    text: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    status: int = 200
    error: str | None = None
    delay: float | None = None
    cached_tokens: int | None = None  # reported as read from the prompt cache (overrides the simulation)
    cache_write_tokens: int | None = None  # reported as written to it (Anthropic-style field names)


Responder = Callable[[dict], Union[str, Reply]]


@dataclass
class RecordedRequest:
    """One request as seen by the server."""

    method: str
    path: str
    headers: dict[str, str]  # header names lower-cased
    body: Any  # parsed JSON (usually a dict); None for GET / unparsable bodies
    received_at: float  # time.time() when the request line was parsed
    answered_at: float | None = None  # time.time() when the response was fully written
    status: int | None = None  # HTTP status sent back
    client_address: tuple | None = None  # (host, port) of the TCP connection (same port => keep-alive reuse)
    size: int = 0  # bytes in the request body as received

    @property
    def model(self) -> str | None:
        return self.body.get("model") if isinstance(self.body, dict) else None

    @property
    def duration(self) -> float | None:
        return None if self.answered_at is None else self.answered_at - self.received_at


# --------------------------------------------------------------------------- helpers

_ERROR_TYPES: dict[int, tuple[str, str | None, str]] = {
    # status: (type, code, default message)
    400: ("invalid_request_error", None, "Bad request"),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided"),
    403: ("permission_error", None, "Permission denied"),
    404: ("invalid_request_error", "model_not_found", "Not found"),
    408: ("timeout", None, "Request timed out"),
    409: ("conflict_error", None, "Conflict"),
    422: ("invalid_request_error", None, "Unprocessable entity"),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests"),
    500: ("server_error", None, "The server had an error while processing your request"),
    502: ("server_error", None, "Bad gateway"),
    503: ("server_error", None, "The engine is currently overloaded, please try again later"),
    504: ("server_error", None, "Gateway timeout"),
}


def error_body(status: int, message: str | None = None) -> dict:
    """An OpenAI-style error body for ``status``."""
    etype, code, default = _ERROR_TYPES.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None, f"HTTP {status}")
    )
    return {"error": {"message": message or default, "type": etype, "param": None, "code": code}}


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}, ...]
        out = []
        for part in content:
            if isinstance(part, dict):
                out.append(str(part.get("text") or ""))
            else:
                out.append(str(part))
        return "".join(out)
    return str(content)


def estimate_tokens(text: str) -> int:
    """Crude token estimate: ``len(text) // 4``, at least 1."""
    return max(1, len(text) // 4)


def prompt_text(body: dict) -> str:
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return ""
    return "".join(_content_text(m.get("content")) for m in messages if isinstance(m, dict))


def split_text(text: str, parts: int = 4) -> list[str]:
    """Split ``text`` into up to ``parts`` contiguous pieces whose concatenation is ``text``."""
    if not text:
        return []
    n = max(1, min(parts, len(text)))
    size, rest = divmod(len(text), n)
    pieces, pos = [], 0
    for i in range(n):
        step = size + (1 if i < rest else 0)
        pieces.append(text[pos : pos + step])
        pos += step
    return pieces


def completion_id() -> str:
    return "chatcmpl-" + os.urandom(12).hex()


def usage_of(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def completion_payload(cid: str, model: str, text: str, usage: dict) -> dict:
    """A non-streaming `chat.completion` body."""
    return {
        "id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
        "system_fingerprint": "fp_stub",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": usage,
    }


def stream_events(cid: str, model: str, pieces: list[str], usage: dict | None) -> list[dict]:
    """The SSE chunks of a streamed completion: role, one chunk per piece, stop, then usage if asked."""
    created = int(time.time())

    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                "system_fingerprint": "fp_stub",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    events = [chunk({"role": "assistant", "content": "", "refusal": None})]
    events += [chunk({"content": p}) for p in pieces]
    events.append(chunk({}, "stop"))
    if usage is not None:
        last = chunk({})
        last["choices"], last["usage"] = [], usage
        events.append(last)
    return events
