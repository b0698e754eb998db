"""Keeping the root conversation inside the root model's window, without losing the prompt cache.

Past COMPACT_AT of the window, the oldest turns after the question are dropped in one large step,
down to COMPACT_TO of the window, and replaced by a fixed pair of stub messages. The head (system
prompt, question, stub) never changes, and between compactions messages are only appended, so a
backend that caches the prompt prefix (the local model's llama.cpp slot, provider prompt caches)
reprocesses only the kept turns once per compaction instead of the whole history at every turn.
"""
from __future__ import annotations

from typing import Callable

from .. import defaults

OMITTED_REPLY = "(earlier turns omitted)"
OMITTED = ("[earlier turns were omitted to fit the model's context window; the REPL still holds every variable "
           "they created]")
KEEP_LAST = 4  # the last two turns (reply + outputs) always stay


def fit_history(messages: list[dict], window: int | None, count: Callable[[str], int]) -> bool:
    """Compact `messages` in place when they pass COMPACT_AT of `window` tokens; True if it did."""
    if not window:
        return False
    sizes = [count(m["content"]) for m in messages]
    if sum(sizes) <= int(window * defaults.COMPACT_AT):
        return False
    stubbed = len(messages) > 3 and messages[3]["content"] == OMITTED
    head = 4 if stubbed else 2
    fixed = sum(sizes[:head]) + (0 if stubbed else count(OMITTED_REPLY) + count(OMITTED))
    target = int(window * defaults.COMPACT_TO)
    last = len(messages) - KEEP_LAST
    cut = None
    for j in range(head, last + 1):
        if messages[j]["role"] != "assistant":
            continue
        cut = j
        if fixed + sum(sizes[j:]) <= target:
            break
    if cut is None or cut == head:
        return False
    messages[head:cut] = [] if stubbed else [{"role": "assistant", "content": OMITTED_REPLY},
                                              {"role": "user", "content": OMITTED}]
    return True
