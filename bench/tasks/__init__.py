"""Long-context task generators (seeded, no downloads) and their scoring: see bench/README.md."""
from __future__ import annotations

from .base import Item, parse_length
from .multihop import multihop
from .needle import multi, single
from .records import aggregate, pairwise

TASKS = {
    "needle": single,
    "multi_needle": multi,
    "aggregate": aggregate,
    "pairwise": pairwise,
    "multihop": multihop,
}


def generate(task: str, length: int, n: int, seed: int = 0) -> list[Item]:
    try:
        make = TASKS[task]
    except KeyError:
        raise ValueError(f"unknown task {task!r} (one of {', '.join(TASKS)})") from None
    return [make(i, length, seed) for i in range(n)]


__all__ = ["Item", "TASKS", "generate", "parse_length"]
