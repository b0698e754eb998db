"""The stub's provider prompt cache, simulated, and Anthropic's Messages API format.

Two behaviours, as the providers document them:
* "anthropic": a prefix is cached only up to a `cache_control` breakpoint, and only when it is at
  least `min_tokens` long. A request reads the longest cached breakpoint prefix and writes the rest up
  to its last breakpoint (billed as cache creation).
* "openai": automatic. A request reads the longest prefix some earlier request had, in steps of 128
  tokens, from 1,024 tokens on. Nothing is billed as a write.
Tokens are the stub's usual estimate (4 characters per token), so the counts add up to prompt_tokens.
"""
from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

from .stub_protocol import _content_text, completion_id

CHARS_PER_TOKEN = 4
STEP_TOKENS = 128  # OpenAI's cache granularity


def blocks(body: dict) -> list[tuple[str, bool]]:
    """(text, has a cache_control breakpoint) for every content block, in order: an Anthropic body's
    `system` first, then every message's content (a string is one block)."""
    out: list[tuple[str, bool]] = []
    system = body.get("system")
    if system is not None:
        out += _parts(system)
    for m in body.get("messages") or []:
        if isinstance(m, dict):
            out += _parts(m.get("content"))
    return out


def _parts(content: Any) -> list[tuple[str, bool]]:
    if isinstance(content, list):
        return [(str(p.get("text") or ""), bool(p.get("cache_control"))) for p in content if isinstance(p, dict)]
    return [(_content_text(content), False)]


class PromptCacheSim:
    def __init__(self, style: str, min_tokens: int = 1024):
        if style not in ("anthropic", "openai"):
            raise ValueError("prompt_cache must be 'anthropic' or 'openai'")
        self.style, self.min_tokens = style, min_tokens
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def account(self, parts: list[tuple[str, bool]]) -> tuple[int, int]:
        """(tokens read from the cache, tokens written to it) for a request made of `parts`."""
        with self._lock:
            if self.style == "anthropic":
                return self._breakpoints(parts)
            return self._automatic("".join(text for text, _ in parts))

    def _breakpoints(self, parts) -> tuple[int, int]:
        h, chars, marks = hashlib.sha256(), 0, []
        for text, marked in parts:
            h.update(text.encode("utf-8", "surrogatepass") + b"\x00")
            chars += len(text)
            if marked:
                marks.append((h.hexdigest(), chars // CHARS_PER_TOKEN))
        read = max((tokens for digest, tokens in marks if digest in self._seen), default=0)
        cacheable = [(d, t) for d, t in marks if t >= self.min_tokens]
        self._seen.update(d for d, _ in cacheable)
        end = cacheable[-1][1] if cacheable else 0
        return read, max(end - read, 0)

    def _automatic(self, text: str) -> tuple[int, int]:
        step = STEP_TOKENS * CHARS_PER_TOKEN
        h, read, digests = hashlib.sha256(), 0, []
        for end in range(step, len(text) + 1, step):
            h.update(text[end - step:end].encode("utf-8", "surrogatepass"))
            digest = h.hexdigest()
            tokens = end // CHARS_PER_TOKEN
            if tokens >= self.min_tokens:
                digests.append(digest)
                if digest in self._seen:
                    read = tokens
        self._seen.update(digests)
        return read, 0


def cache_counts(sim: PromptCacheSim | None, body: dict, reply) -> tuple[int | None, int | None]:
    """(read, written) prompt-cache tokens: the reply's own, else the simulation's, else None."""
    if reply.cached_tokens is not None or reply.cache_write_tokens is not None:
        return reply.cached_tokens or 0, reply.cache_write_tokens or 0
    if sim is not None:
        return sim.account(blocks(body))
    return None, None


def anthropic_style(sim: PromptCacheSim | None, reply) -> bool:
    """Report Anthropic's field names too (a LiteLLM proxy in front of Claude does)."""
    return (sim is not None and sim.style == "anthropic") or reply.cache_write_tokens is not None


def openai_usage(prompt: int, completion: int, read: int | None, write: int | None, anthropic_fields: bool) -> dict:
    """An OpenAI-style usage object; cached tokens as OpenAI reports them, plus Anthropic's field names
    when the stub stands in for a LiteLLM proxy in front of Claude."""
    usage: dict = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    if read is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": read}
    if anthropic_fields:
        usage["cache_read_input_tokens"] = read or 0
        usage["cache_creation_input_tokens"] = write or 0
    return usage


def as_openai_body(body: dict) -> dict:
    """An Anthropic Messages request as the chat-completions body responders expect (system first)."""
    messages = []
    if body.get("system") is not None:
        messages.append({"role": "system", "content": "".join(t for t, _ in _parts(body["system"]))})
    for m in body.get("messages") or []:
        if isinstance(m, dict):
            messages.append({"role": m.get("role"), "content": "".join(t for t, _ in _parts(m.get("content")))})
    return dict(body, messages=messages)


def anthropic_payload(model: str, text: str, prompt: int, completion: int, read: int, write: int) -> dict:
    """A non-streaming Anthropic Messages response (input_tokens excludes cache reads and writes)."""
    return {
        "id": "msg_" + completion_id()[9:], "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": max(prompt - read - write, 0), "output_tokens": completion,
                  "cache_read_input_tokens": read, "cache_creation_input_tokens": write},
        "created_at": int(time.time()),
    }
