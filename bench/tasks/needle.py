"""RULER-style key/value needles in filler: one needle, or several (with distractor keys)."""
from __future__ import annotations

import random

from .base import CHARS_PER_TOKEN, Item, filler, insert_at

_ADJ = ["amber", "silent", "brisk", "crimson", "gentle", "hollow", "ivory", "jagged", "lucid", "mellow", "narrow",
        "olive", "proud", "quiet", "rapid", "sober", "tawny", "vivid", "woven", "zesty"]
_NOUN = ["falcon", "harbor", "lantern", "meadow", "orchid", "pebble", "quartz", "raven", "saddle", "thimble",
         "violet", "willow", "anchor", "bramble", "cobalt", "dune", "ember", "fjord", "garnet", "heron"]


def _key(rng: random.Random, used: set) -> str:
    while True:
        k = f"{rng.choice(_ADJ)}-{rng.choice(_NOUN)}-{rng.randint(10, 99)}"
        if k not in used:
            used.add(k)
            return k


def needle_line(key: str, value: str) -> str:
    return f"One of the special magic numbers for {key} is: {value}."


def single(index: int, length: int, seed: int) -> Item:
    return _make("needle", index, length, seed, wanted=1, distractors=2)


def multi(index: int, length: int, seed: int) -> Item:
    return _make("multi_needle", index, length, seed, wanted=4, distractors=4)


def _make(task: str, index: int, length: int, seed: int, wanted: int, distractors: int) -> Item:
    rng = random.Random(f"{task}:{seed}:{length}:{index}")
    used: set = set()
    keys = [_key(rng, used) for _ in range(wanted + distractors)]
    values = {k: str(rng.randint(1_000_000, 9_999_999)) for k in keys}
    lines = [needle_line(k, values[k]) for k in keys]
    budget = length * CHARS_PER_TOKEN - sum(len(x) + 1 for x in lines)
    text = insert_at(filler(rng, budget), [(rng.random(), line) for line in lines])
    ask = keys[:wanted]
    if wanted == 1:
        q = (f"What is the special magic number for {ask[0]} mentioned in the text? Answer with the number only.")
        answer: object = values[ask[0]]
        scoring = "exact"
    else:
        q = (f"What are the special magic numbers for {', '.join(ask)} mentioned in the text? "
             "Answer with one line per key, as key=number.")
        answer = [f"{k}={values[k]}" for k in ask]
        scoring = "multi"
    gold = [needle_line(k, values[k]) for k in ask]  # the records a verified citation should point at
    return Item(task, index, seed, length, q, answer, scoring, {"haystack.txt": text}, {"keys": ask, "evidence": gold})
