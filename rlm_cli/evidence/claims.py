"""Evidence items as the worker sent them: typed, capped, never trusted (verify.py checks them)."""
from __future__ import annotations

from dataclasses import dataclass

MAX_CLAIMS = 32  # items kept from one FINAL (the worker sends at most this many)
QUOTE_CAP = 2_000  # characters of one claimed quote
_INT_LIMIT = 1 << 62


@dataclass(frozen=True)
class Claim:
    """One evidence item: an exact quote, an offset range, or both. `problem`: it was malformed."""

    quote: str | None = None
    start: int | None = None
    end: int | None = None
    problem: str | None = None


def claims_from(raw) -> list[Claim]:
    """The worker's `evidence` field as Claims. A malformed item becomes a Claim with `problem` (kept,
    and reported unverified); anything past MAX_CLAIMS is dropped."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        return [Claim(problem="the REPL sent evidence that is not a list")]
    return [_claim(item) for item in raw[:MAX_CLAIMS]]


def _claim(item) -> Claim:
    if not isinstance(item, dict):
        return Claim(problem=f"malformed evidence item ({type(item).__name__})")
    quote, start, end = item.get("quote"), item.get("start"), item.get("end")
    if quote is not None and not isinstance(quote, str):
        return Claim(problem="malformed evidence item (quote is not a string)")
    if not all(_int_or_none(x) for x in (start, end)):
        return Claim(quote=_cap(quote), problem="malformed evidence item (offsets are not integers)")
    if quote is None and start is None:
        return Claim(problem="empty evidence item")
    return Claim(_cap(quote), start, end)


def _int_or_none(x) -> bool:
    return x is None or (isinstance(x, int) and not isinstance(x, bool) and -_INT_LIMIT < x < _INT_LIMIT)


def _cap(quote: str | None) -> str | None:
    if quote is None:
        return None
    quote = quote[:QUOTE_CAP]
    return quote.encode("utf-8", "replace").decode("utf-8")  # lone surrogates from JSON become '?'
