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


class Model(Protocol):
    """Anything that turns chat messages into a Completion for a named model."""

    def complete(self, model: str, messages: list[dict], *, timeout: float | None = None) -> Completion: ...

    def window(self, model: str) -> int | None:
        """The model's context window in tokens (None: unknown; no check, no compaction)."""


def approx_tokens(text: str) -> int:
    return max(1, len(text) // 4)
