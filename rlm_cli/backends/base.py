"""The Model protocol every backend implements, and the Completion record it returns."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass
class Completion:
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    duration_s: float = 0.0
    cached_tokens: int = 0  # of prompt_tokens, read from the provider's prompt cache
    cache_write_tokens: int = 0  # of prompt_tokens, written to the provider's prompt cache


class Model(Protocol):
    """Anything that turns chat messages into a Completion for a named model."""

    def complete(self, model: str, messages: list[dict], *, timeout: float | None = None) -> Completion:
        """Backends that can make a conversation's prefix cacheable by the provider also accept
        `prompt_cache=True` (passed only when the run asks for it: a multi-turn node's call)."""

    def window(self, model: str) -> int | None:
        """The model's context window in tokens (None: unknown; no check, no compaction)."""


def approx_tokens(text: str) -> int:
    return max(1, len(text) // 4)


def message_text(message: dict) -> str:
    """A chat message's text, whether its content is a string or a list of parts."""
    c = message.get("content") or ""
    if isinstance(c, list):  # OpenAI content parts (e.g. marked for the prompt cache)
        return "".join(str(p.get("text", "")) for p in c if isinstance(p, dict))
    return str(c)
