"""Keeping the root conversation inside the root model's window."""
from __future__ import annotations

from typing import Callable

from .. import defaults

OMITTED = "[earlier turn omitted to fit the model's context window; the REPL still holds every variable it created]"


def fit_history(messages: list[dict], window: int | None, count: Callable[[str], int]) -> None:
    """Past COMPACT_AT of `window` tokens, replace the oldest turns' replies and REPL outputs by a stub
    (the REPL keeps every variable, so nothing is lost there). The system prompt, the question and the
    last two turns always stay."""
    if not window:
        return
    budget = int(window * defaults.COMPACT_AT)
    sizes = [count(m["content"]) for m in messages]
    i = 2  # messages[0] system, [1] the question; then assistant/user pairs
    while sum(sizes) > budget and i < len(messages) - 4:
        if not messages[i]["content"].startswith(OMITTED[:20]):
            messages[i] = {"role": messages[i]["role"], "content": OMITTED}
            sizes[i] = count(OMITTED)
        i += 1
