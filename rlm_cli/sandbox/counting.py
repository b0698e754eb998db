"""Counting over the whole context: `tally(pattern)` and the field summary `search` adds to its header.

Standard library only: the worker (``python -I -S``) loads this file by path as ``_rlm_counting`` (so a
`Tally` kept in a variable pickles across a conversation's processes); the host and tests import it as
``rlm_cli.sandbox.counting``.

- ``tally(text, pattern)``: how often each distinct match of a regular expression occurs (its first
  group's value when it has groups), most common first; a list of words counts each word.
- ``field_summary(text, spans)``: when a searched word is a field name (``label: x``) or a value of one
  (``label: billing``) in most of its occurrences, the distribution of that field's values over the
  whole text: small models answer "how many / which most often / more or less" questions from search
  output, and a search shows only a few hits.
"""
from __future__ import annotations

import re
from collections import Counter
from itertools import islice

MAX_TALLY = 2_000_000  # matches counted at most
FIELD_SAMPLE = 400  # occurrences of a searched word looked at to decide whether it is a field
MIN_FIELD = 8  # a word seen fewer times is not summarised
MAX_VALUES = 40  # a field with more distinct values is not categorical: no summary
# A field's whole value: one to three words, then a delimiter or the line's end ("label: billing |", not
# the first word of "Note: the item was checked.").
VALUE = r"([\w.@/+-]+(?: [\w.@/+-]+){0,2})(?=[ \t]*(?:[|,;\t\r\n]|$))"


class Tally(dict):
    """{value: count}, most common first; prints a header (matches, distinct values) and a ranked table."""

    def __init__(self, counts, header: str = "", shown: int = 20):
        super().__init__(counts)
        self.header, self.shown = header, shown

    def most_common(self, n: int | None = None) -> list[tuple[str, int]]:
        return list(self.items())[:n]

    def __repr__(self) -> str:
        rows = [f"  {v!r}: {n:,}" for v, n in list(self.items())[:self.shown]]
        more = [f"  ... and {len(self) - self.shown:,} more values"] if len(self) > self.shown else []
        return "\n".join([self.header, *rows, *more])

    __str__ = __repr__

    def __reduce__(self):
        return (Tally, (dict(self), self.header, self.shown))


def tally(text: str, pattern, k: int = 20, word_pattern=None) -> Tally:
    """See the module doc. `word_pattern(word)` compiles a word of a list (the search's own matcher). One
    plain word that is a field name ("label", as in "label: billing") counts the field's values."""
    make = word_pattern or (lambda w: re.compile(r"(?<!\w)" + re.escape(w) + r"(?!\w)", re.I))
    words = _words(pattern)
    field = field_of(text, first_spans(make(words[0]), text)) if len(words) == 1 else None
    if field and field.lower() == words[0].lower():
        counts = _field_values(text, field)
        desc = f"{words[0]!r}): the field {field!r} has these values (in all"
    elif words:
        counts = Counter({w: _count(make(w), text) for w in words})
        desc = ", ".join(map(repr, words))
    else:
        try:
            rx = re.compile(str(pattern), re.M)
        except re.error as exc:
            raise ValueError(f"tally: bad pattern {str(pattern)!r}: {exc}") from None
        counts = _values(rx, text)
        desc = repr(str(pattern))
    ranked = dict(sorted(counts.items(), key=lambda kv: -kv[1]))
    total = sum(ranked.values())
    capped = " (stopped counting there)" if total >= MAX_TALLY else ""
    header = f"tally({desc}): {total:,} matches{capped}, {len(ranked):,} distinct; most common first:"
    return Tally(ranked, header, max(1, int(k)))


def _words(pattern) -> list[str]:
    """The words to count: a list's items, or a plain word / phrase given as the pattern ([] for a regex)."""
    if isinstance(pattern, (list, tuple, set)):
        return [str(w) for w in pattern if str(w).strip()][:50]
    text = str(pattern).strip()
    return [text] if re.fullmatch(r"\w[\w '-]*", text) else []


def _values(rx, text: str) -> Counter:
    """{match (its first group's value when it has groups): count} over the first MAX_TALLY matches."""
    return Counter(next((g for g in m.groups() if g is not None), "") if rx.groups else m.group(0)
                   for m in islice(rx.finditer(text), MAX_TALLY))


def _count(rx, text: str) -> int:
    return sum(1 for _ in islice(rx.finditer(text), MAX_TALLY))


def _field_values(text: str, key: str) -> Counter:
    """{value: count} of the field `key` ("key: value" / "key=value") over the whole text."""
    return _values(re.compile(rf"(?<!\w){re.escape(key)}\s*[:=]\s*{VALUE}", re.M), text)


def first_spans(rx, text: str) -> list[tuple[int, int]]:
    """Where a word occurs, its first FIELD_SAMPLE times: what field_of looks at."""
    return [m.span() for m in islice(rx.finditer(text), FIELD_SAMPLE)]


_KEY_BEFORE = re.compile(r"(?:^|[|,;\t]|\s)\s*([A-Za-z][\w ]{0,23}?)\s*[:=]\s*$")


def field_of(text: str, spans: list[tuple[int, int]]) -> str | None:
    """The field name a searched word belongs to in most of its occurrences (`spans`, from first_spans or
    the search's own scan): the word itself when it is followed by ':' or '=' (``label: x``), or the key
    before it (``label: billing`` -> ``label``)."""
    if len(spans) < MIN_FIELD:
        return None
    own, before = 0, Counter()
    for start, end in spans:
        if re.match(r"\s*[:=]\s*\S", text[end:end + 8]):
            own += 1
        key = _KEY_BEFORE.search(text, max(0, start - 30), start)
        if key:
            before[key.group(1).strip()] += 1
    if own >= 0.6 * len(spans):
        return text[spans[0][0]:spans[0][1]]
    if before:
        key, n = before.most_common(1)[0]
        return key if n >= 0.6 * len(spans) else None
    return None


def field_summary(text: str, spans: list[tuple[int, int]], shown: int = 8) -> str | None:
    """"field 'label' counted over the whole text (...), most common first:" and one ranked line per value
    ("  1. 'billing': 201"), or None (see the module doc). `spans`: the searched word's occurrences."""
    key = field_of(text, spans)
    if not key:
        return None
    counts = _field_values(text, key)
    if not counts or len(counts) > MAX_VALUES:
        return None
    rows = [f"  {i}. {v!r}: {n:,}" for i, (v, n) in enumerate(counts.most_common(shown), 1)]
    more = [f"  ... and {len(counts) - shown} more values"] if len(counts) > shown else []
    head = (f"field {key!r} counted over the whole text ({sum(counts.values()):,} values, {len(counts)} distinct), "
            "most common first:")
    return "\n".join([head, *rows, *more])
