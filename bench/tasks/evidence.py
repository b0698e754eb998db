"""The evidence score: whether an answer's verified citations point at the gold record.

An item's gold records are in `item.params["evidence"]` (needle lines; the multi-hop fact that names
the answer). A record counts as cited when a verified citation overlaps it in the ingested context
and the cited text contains the record's value (the number, the country). Tasks without a gold
record (aggregate, pairwise) have no evidence score (None).
"""
from __future__ import annotations

import re

from .base import Item


def evidence_score(item: Item, citations: list[dict] | None, text: str) -> float | None:
    """Fraction of the item's gold records that a verified citation covers (None: no gold record)."""
    gold = item.params.get("evidence")
    if not gold:
        return None
    spans = [(c["start"], c["end"]) for c in citations or []
             if c.get("verified") is True and isinstance(c.get("start"), int) and isinstance(c.get("end"), int)]
    hit = sum(1 for record in gold if _cited(record, spans, text))
    return hit / len(gold)


def _cited(record: str, spans: list[tuple[int, int]], text: str) -> bool:
    value = _value(record)
    for m in re.finditer(re.escape(record), text):
        for a, b in spans:
            if a < m.end() and m.start() < b and value in text[a:b]:
                return True
    return False


def _value(record: str) -> str:
    """What the record states: the number after "is: ", or the country after "country of "."""
    m = re.search(r"is: (\d+)|country of ([^.]+)", record)
    return (m.group(1) or m.group(2)) if m else record
