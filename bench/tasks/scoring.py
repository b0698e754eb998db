"""Scores in [0, 1]: exact (normalised, or the gold as a whole word), numeric 0.75^|error|, multi
(fraction of needles found), pairs (F1 over unordered pairs)."""
from __future__ import annotations

import re

from .base import Item


def norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s-]", " ", str(text).lower()).split())


def exact(pred: str, gold: str, choices: list[str] | None = None) -> float:
    p, g = norm(pred), norm(gold)
    if p == g:
        return 1.0
    if choices:  # a choice question: the first choice word in the answer counts
        found = re.search(r"\b(" + "|".join(map(re.escape, choices)) + r")\b", p)
        return float(bool(found) and found.group(1) == g)
    return float(bool(g) and re.search(rf"(?<![\w-]){re.escape(g)}(?![\w-])", p) is not None)


def numeric(pred: str, gold: int) -> float:
    m = re.search(r"-?\d[\d,]*", str(pred))
    if not m:
        return 0.0
    try:
        value = int(m.group(0).replace(",", ""))
    except ValueError:
        return 0.0
    return 0.75 ** abs(value - int(gold))


def multi(pred: str, gold: list[str]) -> float:
    found = 0
    for kv in gold:
        key, value = kv.split("=", 1)
        found += bool(re.search(rf"{re.escape(key)}\D{{0,40}}?{re.escape(value)}", str(pred)))
    return found / len(gold) if gold else 1.0


def parse_pairs(text: str) -> set[tuple[str, str]]:
    return {tuple(sorted((a, b))) for a, b in re.findall(r"\b(u\d+)\s*[-,/&]\s*(u\d+)\b", str(text)) if a != b}


def pairs(pred: str, gold: list[str]) -> float:
    g = {tuple(sorted(p.split("-"))) for p in gold}
    p = parse_pairs(pred)
    if not g and not p:
        return 1.0
    tp = len(g & p)
    if tp == 0:
        return 0.0
    precision, recall = tp / len(p), tp / len(g)
    return 2 * precision * recall / (precision + recall)


def score(item: Item, pred: str | None) -> float:
    if pred is None:
        return 0.0
    if item.scoring == "numeric":
        return numeric(pred, item.answer)
    if item.scoring == "multi":
        return multi(pred, item.answer)
    if item.scoring == "pairs":
        return pairs(pred, item.answer)
    choices = ["more", "less", "same"] if item.params.get("kind") == "compare" else None
    return exact(pred, str(item.answer), choices)
