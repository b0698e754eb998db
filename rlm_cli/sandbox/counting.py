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
- Tables (CSV, TSV and spreadsheets become tab-separated rows) count the same way by column: a searched
  word that is a column's header, or a whole cell of one column in most of its occurrences, gets that
  column's values counted over every row of that shape; ``tally("Region")`` counts the column headed
  "Region".
"""
from __future__ import annotations

import re
from collections import Counter
from itertools import islice
from typing import NamedTuple

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
    spans = first_spans(make(words[0]), text) if len(words) == 1 else []
    field = field_of(text, spans) if spans else None
    column = header_column(text, spans) if spans and not field else None
    if field and field.lower() == words[0].lower():
        counts = _field_values(text, field)
        desc = f"{words[0]!r}): the field {field!r} has these values (in all"
    elif column:
        counts = _column_values(text, column)
        desc = f"{words[0]!r}): the column {column.header!r} has these values (in all"
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
    column = None if key else (header_column(text, spans) or column_of(text, spans))
    if key:
        counts, what = _field_values(text, key), f"field {key!r}"
    elif column:
        counts, what = _column_values(text, column), f"column {column.header!r}"
    else:
        return None
    if not counts or len(counts) > MAX_VALUES:
        return None
    rows = [f"  {i}. {v!r}: {n:,}" for i, (v, n) in enumerate(counts.most_common(shown), 1)]
    more = [f"  ... and {len(counts) - shown} more values"] if len(counts) > shown else []
    head = (f"{what} counted over the whole text ({sum(counts.values()):,} values, {len(counts)} distinct), "
            "most common first:")
    return "\n".join([head, *rows, *more])


# ---- tables: tab-separated rows ------------------------------------------------------------------------
class Column(NamedTuple):
    index: int  # the cell's position in its row
    width: int  # cells per row of the table
    header: str  # the table's first row's cell above it ("" when there is none)
    head_line: str  # the whole first row, not counted as a value


def _line_at(text: str, pos: int) -> tuple[int, int]:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return start, len(text) if end < 0 else end


def _cell_at(text: str, start: int, end: int) -> tuple[int, int, str] | None:
    """(cell index, cells in the row, the row) when text[start:end] is a whole cell of a tab-separated row."""
    ls, le = _line_at(text, start)
    line = text[ls:le]
    if "\t" not in line or end > le:
        return None
    index = line.count("\t", 0, start - ls)
    cells = line.split("\t")
    return (index, len(cells), line) if cells[index].strip().lower() == text[start:end].lower() else None


def _first_row(text: str, pos: int, width: int) -> str:
    """The first row of the table holding `pos`: back over the rows with `width` cells."""
    start, _ = _line_at(text, pos)
    first = start
    for _ in range(1_000_000):
        if start == 0:
            break
        prev, _ = _line_at(text, start - 1)
        if text.count("\t", prev, start - 1) != width - 1:
            break
        first, start = prev, prev
    return text[first:_line_at(text, first)[1]]


def header_column(text: str, spans: list[tuple[int, int]]) -> Column | None:
    """The column a searched word heads: one of its occurrences is a cell of a table's first row, and the
    next row has as many cells."""
    for start, end in spans[:50]:
        cell = _cell_at(text, start, end)
        if cell is None:
            continue
        index, width, line = cell
        _, le = _line_at(text, start)
        following = text[le + 1:_line_at(text, le + 1)[1]] if le < len(text) else ""
        if following.count("\t") == width - 1 and _first_row(text, start, width) == line:
            return Column(index, width, line.split("\t")[index].strip(), line)
    return None


def column_of(text: str, spans: list[tuple[int, int]]) -> Column | None:
    """The column a searched word is a whole cell of in most of its occurrences (a value: "Europe" of
    the column "Region")."""
    if len(spans) < MIN_FIELD:
        return None
    seen: Counter = Counter()
    for start, end in spans:
        cell = _cell_at(text, start, end)
        if cell:
            seen[cell[:2]] += 1
    if not seen:
        return None
    (index, width), n = seen.most_common(1)[0]
    if n < 0.6 * len(spans):
        return None
    first = next(start for start, end in spans if (_cell_at(text, start, end) or ())[:2] == (index, width))
    head = _first_row(text, first, width)
    cells = head.split("\t")
    return Column(index, width, cells[index].strip() if len(cells) == width else "", head)


def _column_values(text: str, col: Column) -> Counter:
    """{value: count} of a column over every row with the table's number of cells (its first row aside)."""
    counts: Counter = Counter()
    for line in islice(text.splitlines(), MAX_TALLY):
        if line.count("\t") == col.width - 1 and line != col.head_line:
            value = line.split("\t")[col.index].strip()
            if value:
                counts[value] += 1
    return counts
