"""OOLONG-style labelled records: aggregation (count / most frequent / compare) and pairwise queries."""
from __future__ import annotations

import itertools
import random
from collections import Counter

from .base import CHARS_PER_TOKEN, Item, sentences

LABELS = ["billing", "shipping", "refund", "technical", "account", "feedback"]
CITIES = ["Oslo", "Lima", "Porto", "Hanoi", "Quito", "Tunis", "Perth", "Riga"]
KINDS = ("count", "most_frequent", "compare")


def record_line(i: int, user: str, city: str, label: str, text: str) -> str:
    return f"Record {i:06d} | user: {user} | city: {city} | label: {label} | note: {text}"


def _records(rng: random.Random, length: int, weights: list[float]) -> list[tuple[int, str, str, str, str]]:
    budget = length * CHARS_PER_TOKEN
    out, used, i = [], 0, 0
    users = [f"u{n:04d}" for n in range(max(8, length // 400))]
    while used < budget:
        note = " ".join(sentences(rng, 1))
        rec = (i, rng.choice(users), rng.choice(CITIES), rng.choices(LABELS, weights)[0], note)
        out.append(rec)
        used += len(record_line(*rec)) + 1
        i += 1
    return out


def _doc(records) -> dict[str, str]:
    return {"records.txt": "".join(record_line(*r) + "\n" for r in records)}


def aggregate(index: int, length: int, seed: int) -> Item:
    rng = random.Random(f"aggregate:{seed}:{length}:{index}")
    weights = [rng.uniform(0.5, 2.0) for _ in LABELS]
    recs = _records(rng, length, weights)
    counts = Counter(r[3] for r in recs)
    kind = KINDS[index % len(KINDS)]
    if kind == "count":
        label = rng.choice(LABELS)
        q = f"How many records have the label '{label}'? Answer with a single integer."
        return Item("aggregate", index, seed, length, q, counts[label], "numeric", _doc(recs), {"kind": kind, "label": label})
    if kind == "most_frequent":
        top = counts.most_common()
        q = "Which label occurs most often among the records? Answer with the label only."
        if len(top) > 1 and top[0][1] == top[1][1]:  # ties: make the first one win by one more record
            recs.append((len(recs), "u0000", CITIES[0], top[0][0], "Added to break a tie."))
        return Item("aggregate", index, seed, length, q, top[0][0], "exact", _doc(recs), {"kind": kind})
    a, b = rng.sample(LABELS, 2)
    ans = "more" if counts[a] > counts[b] else "less" if counts[a] < counts[b] else "same"
    q = (f"Is the label '{a}' more common, less common, or the same as the label '{b}' among the records? "
         "Answer with one word: more, less or same.")
    return Item("aggregate", index, seed, length, q, ans, "exact", _doc(recs), {"kind": kind, "a": a, "b": b})


def pairwise(index: int, length: int, seed: int) -> Item:
    """Pairs of users who have a record with label L in the same city (F1 over pairs)."""
    rng = random.Random(f"pairwise:{seed}:{length}:{index}")
    recs = _records(rng, length, [1.0] * len(LABELS))
    label, city = rng.choice(LABELS), rng.choice(CITIES)
    users = sorted({r[1] for r in recs if r[3] == label and r[2] == city})
    if len(users) > 40:  # keep the gold list readable: a rarer combination at large lengths
        keep = set(rng.sample(users, 40))
        recs = [r for r in recs if not (r[3] == label and r[2] == city and r[1] not in keep)]
        users = sorted(keep)
    pairs = [f"{a}-{b}" for a, b in itertools.combinations(users, 2)]
    q = (f"List every pair of distinct users who both have at least one record with label '{label}' in the city "
         f"{city}. Write each pair as userA-userB with the smaller id first, one pair per line.")
    return Item("pairwise", index, seed, length, q, pairs, "pairs", _doc(recs), {"label": label, "city": city})
