"""REPL helpers for finding and citing text: `search`, `read`, `cite`, and the evidence FINAL sends.

Standard library only: the worker (``python -I -S``) loads this file by path and registers it as
``_rlm_helpers`` (so a `Hit` kept in a variable pickles across a conversation's processes).

- ``search(query, k=5)``: BM25 over passages of `context` (a few lines each); the query's words, its
  hyphenated/dotted tokens and quoted phrases are the terms. ``search(pattern, regex=True)``: the
  matches of a regular expression in document order. Both return `Hits`: a list of `Hit` (start, end,
  where, text) that prints one line per hit.
  When a searched word is a field name or value in most of its occurrences, or a table column's header or
  value, the hits are followed by the distribution of that field's (column's) values over the whole
  context (counting.field_summary).
- ``tally(pattern)``: counting.tally over the context: how often each distinct match occurs.
- ``read(offset, chars=1500)``: the text around an offset (or a Hit / re.Match), from line start.
- ``cite(*items)``: remember evidence for the next FINAL; returns where the first item is.
- ``evidence_items(*values)``: whatever a model passes as evidence (quotes, offsets, (start, end),
  hits, re.Match, dicts, lists of those) as plain items ``{"quote"} / {"start", "end"}``. The worker
  only forwards them: the host verifies every item against its own copy of the context.
"""
from __future__ import annotations

import bisect
import math
import re

try:
    from . import counting  # imported as part of the package (the host, tests)
except ImportError:  # loaded by path in the worker, after its sibling counting.py
    import sys

    counting = sys.modules["_rlm_counting"]

MAX_ITEMS = 32  # evidence items sent with one FINAL
QUOTE_CHARS = 2_000  # one quote as sent (the host keeps a shorter one)
MAX_POSTINGS = 50_000  # a term matching more often than this is counted no further and does not score
SNIPPET = 300  # characters of a hit's text
STOPWORDS = frozenset("""a an and any are as at be been by can could did do does for from had has have how i if in
into is it its me my of on or our please say so tell than that the their them then there these they this those
to was we were what when where which while who whom whose why will with would you your answer only text
mentioned given document context question""".split())


class Hit:
    """One search result: `start`/`end` offsets in `context`, `where` (file and page/line), `text`."""

    __slots__ = ("start", "end", "where", "text", "score")

    def __init__(self, start: int, end: int, where: str, text: str, score: float = 0.0):
        self.start, self.end, self.where, self.text, self.score = start, end, where, text, score

    def __repr__(self) -> str:
        return f"{self.where} (offset {self.start}): {self.text}"

    __str__ = __repr__

    def __getitem__(self, key):  # hit["start"], hit["text"] also work
        return getattr(self, key)

    def __reduce__(self):
        return (Hit, (self.start, self.end, self.where, self.text, self.score))


class Hits(list):
    """A list of Hit that prints one numbered line per hit, with a header saying how many matched (and a
    footer: the field summaries)."""

    def __init__(self, hits, header: str = "", footer: str = ""):
        super().__init__(hits)
        self.header, self.footer = header, footer

    def __repr__(self) -> str:
        lines = [self.header] if self.header else []
        lines += [f"[{i}] {h!r}" for i, h in enumerate(self)]
        lines += [self.footer] if self.footer else []
        return "\n".join(lines) if lines else "no matches"

    __str__ = __repr__

    def __reduce__(self):
        return (Hits, (list(self), self.header, self.footer))


class Finder:
    """search / read / cite over one context string; `locate(offset)` names where an offset is."""

    def __init__(self, get_text, locate):
        self._text, self._locate = get_text, locate
        self._starts: list[int] | None = None
        self._for: int | None = None  # id of the text the passages were cut from
        self.pending: list[dict] = []  # items cite() collected for the next FINAL

    # ---- passages ------------------------------------------------------------------------------
    def _passages(self, text: str) -> list[int]:
        if self._starts is None or self._for != id(text):
            self._starts, self._for = passage_starts(text), id(text)
        return self._starts

    # ---- search --------------------------------------------------------------------------------
    def search(self, query, *more, k: int = 5, regex: bool = False, **unknown) -> Hits:
        """Ranked passages of `context` for the words of `query` (BM25), best first; with
        regex=True, the matches of the pattern `query` in document order. Returns Hits (print it).
        Small models write search("a", "b c") or search(["a", "b"]): more strings are more words
        (regex: alternatives); a number after the query is k, True is regex (the old positional form).
        A keyword it does not take (search("x", tally=True)) is ignored, and the output says so."""
        text = self._text()
        parts, k, regex = _search_args(query, more, k, regex)
        k = max(1, int(k))
        hits = self._regex(text, parts[0] if len(parts) == 1 else "|".join(f"(?:{p})" for p in parts), k) \
            if regex else self._ranked(text, parts, k)
        if unknown:
            names = ", ".join(f"{name[:40]}=" for name in list(unknown)[:4])
            hits.header = f"(ignored {names}: search takes query, k and regex; to count, use tally(...))\n{hits.header}"
        return hits

    def _ranked(self, text: str, parts: list[str], k: int) -> Hits:
        query = " ".join(parts)
        terms = query_terms(query)
        if not terms:
            return Hits([], f"search({query!r}): no words to search for")
        starts = self._passages(text)
        scores, centre, counts, spans = bm25(text, starts, terms)
        best = sorted(scores, key=lambda i: (-scores[i], i))[:k]
        hits = [self._hit(text, starts, i, centre[i], scores[i]) for i in best]
        found = ", ".join(f"{t!r} {_times(n)}" for t, n in counts.items())
        header = (f"search({query!r}): {found}; {len(scores):,} passages match, best {len(hits)}:" if hits
                  else f"search({query!r}): none of {', '.join(map(repr, terms))} occurs in the context")
        return Hits(hits, header, "\n".join(_fields(text, spans)))

    def _hit(self, text: str, starts: list[int], i: int, centre: int, score: float) -> Hit:
        p0 = starts[i]
        p1 = starts[i + 1] if i + 1 < len(starts) else len(text)
        a, b = line_window(text, max(0, p0 - SNIPPET), min(len(text), p1 + SNIPPET), centre, SNIPPET)
        return Hit(a, b, self._locate(a), " ".join(text[a:b].split()), round(score, 2))

    def _regex(self, text: str, pattern, k: int) -> Hits:
        try:
            rx = re.compile(str(pattern), re.M)
        except re.error as exc:
            raise ValueError(f"search(..., regex=True): bad pattern {str(pattern)!r}: {exc}") from None
        hits, total = [], 0
        for m in rx.finditer(text):
            total += 1
            if len(hits) < k:
                a, b = line_window(text, 0, len(text), m.start(), SNIPPET, m.end())
                hits.append(Hit(m.start(), max(m.end(), m.start() + 1), self._locate(m.start()), " ".join(text[a:b].split())))
            if total >= MAX_POSTINGS:
                break
        more = "+" if total >= MAX_POSTINGS else ""
        return Hits(hits, f"search({str(pattern)!r}, regex=True): {total:,}{more} matches; first {len(hits)}:"
                    if hits else f"search({str(pattern)!r}, regex=True): no matches")

    # ---- counting ------------------------------------------------------------------------------
    def tally(self, pattern, k: int = 20):
        """How often each distinct match of the regular expression `pattern` occurs in `context` (the
        first group's value when it has groups), most common first; a list of words counts each word
        (any case, whole words, as search matches them). Prints the top `k`."""
        return counting.tally(self._text(), pattern, k, term_pattern)

    # ---- reading -------------------------------------------------------------------------------
    def read(self, offset, chars: int = 1500) -> str:
        """About `chars` characters of `context` around `offset` (an int, a Hit or a re.Match),
        starting at a line start a little before it."""
        text = self._text()
        pos = _offset(offset)
        chars = max(100, min(int(chars), 100_000))
        a = max(0, pos - chars // 4)
        nl = text.rfind("\n", max(0, a - 200), a)
        a = nl + 1 if nl >= 0 else a
        return text[a:a + chars]

    # ---- evidence ------------------------------------------------------------------------------
    def cite(self, *items) -> str:
        """Remember evidence (exact quotes, offsets, (start, end), hits, matches) for the next FINAL.
        Returns where the first item is, or says it was not found."""
        found = evidence_items(*items)
        room = MAX_ITEMS - len(self.pending)
        self.pending.extend(found[:max(room, 0)])
        if not found:
            return "nothing to cite"
        return self.where(found[0])

    def where(self, item: dict) -> str:
        text = self._text()
        if "start" in item and 0 <= item["start"] < len(text):
            return self._locate(item["start"])
        quote = " ".join(str(item.get("quote", "")).split())
        pos = find_quote(text, quote)
        return self._locate(pos) if pos >= 0 else "not found in the context (quote exact text)"

    def take(self, *values) -> list[dict]:
        """The evidence for a FINAL: what cite() collected, then `values`; clears the collection."""
        items = (self.pending + evidence_items(*values))[:MAX_ITEMS]
        self.pending = []
        return items


# ---- pure functions -----------------------------------------------------------------------------------
def passage_starts(text: str, target: int = 250, hard: int = 1000) -> list[int]:
    """Passage starts: each passage runs to the first line end after `target` characters (at most `hard`)."""
    starts, pos, n = [0], 0, len(text)
    while pos + target < n:
        nl = text.find("\n", pos + target, pos + hard)
        if nl < 0:
            sp = text.rfind(" ", pos + target, pos + hard)
            nxt = sp + 1 if sp >= 0 else pos + hard
        else:
            nxt = nl + 1
        if nxt >= n:
            break
        starts.append(nxt)
        pos = nxt
    return starts


def _search_args(query, more: tuple, k, regex) -> tuple[list[str], int, bool]:
    """search()'s arguments as (query strings, k, regex): the query (a str, or a list of them) and more
    strings are query parts; after the query, a number is k and a bool is regex, as in the positional
    search(query, k, regex)."""
    parts = [str(q) for q in query] if isinstance(query, (list, tuple, set)) else [str(query)]
    for arg in more:
        if isinstance(arg, bool):
            regex = arg
        elif isinstance(arg, (int, float)):
            k = arg
        elif isinstance(arg, (list, tuple, set)):
            parts.extend(str(a) for a in arg)
        else:
            parts.append(str(arg))
    return parts or [""], k, regex


def _times(n: int) -> str:
    return f"more than {MAX_POSTINGS:,} times" if n > MAX_POSTINGS else "once" if n == 1 else f"{n:,} times"


def query_terms(query: str) -> list[str]:
    """Words (lower case, no stop words) plus phrases: "quoted", Capitalised Name Sequences, and tokens
    joined by -_./: (amber-falcon-27, v2.1), deduplicated."""
    phrases = [p for p in re.findall(r'"([^"]{3,80})"', query)]
    for name in re.findall(r"\b[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)+", query):
        words = name.split()
        while words and words[0].lower() in STOPWORDS:  # "Which Brightwater Castings" -> "Brightwater Castings"
            words.pop(0)
        if len(words) > 1:
            phrases.append(" ".join(words))
    phrases += re.findall(r"\w+(?:[-_./:]\w+)+", query)
    words = [w for w in re.findall(r"\w+", query.lower()) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]
    out, seen = [], set()
    for t in [p.lower() for p in phrases] + words:
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out[:24]


_MONTH = "January|February|March|April|June|July|August|September|October|November|December"
_YEAR = r"(?:1[5-9]|20)\d\d"
_DATE = (rf"(?<!\w)(?:(?:{_MONTH}|May(?=\s+\d))(?:\s+\d{{1,2}}(?:st|nd|rd|th)?,?)?\s+{_YEAR}"
         rf"|\d{{1,2}}\s+(?:{_MONTH}|May)\s+{_YEAR}|{_YEAR}-[01]\d-[0-3]\d)(?!\w)")
# A question's "month" or "year" is seldom in the text that answers it ("Version 2, June 1991"): those words
# also match dates, and a year also a year alone (not part of a longer number or a version).
DATE_WORDS = {"month": _DATE, "date": _DATE, "year": rf"{_DATE}|(?<![\w.,]){_YEAR}(?!\w|[.,]\d)"}


def term_pattern(term: str):
    if not re.fullmatch(r"\w+", term):  # a phrase or joined token: as written, any case, any spacing
        return re.compile(r"\s+".join(re.escape(w) for w in term.split()), re.I)
    stem = term[:-1] if len(term) >= 5 and term.endswith("s") and not term.endswith("ss") else term
    tail = r"\w{0,3}" if len(stem) >= 4 and not stem.isdigit() else ""  # number: numbers, numbered
    word = r"(?<!\w)" + re.escape(stem) + tail + r"(?!\w)"
    dates = DATE_WORDS.get(stem)
    return re.compile(f"{word}|(?-i:{dates})" if dates else word, re.I)


def _fields(text: str, spans: dict[str, list[tuple[int, int]]]) -> list[str]:
    """Up to two field summaries (counting.field_summary) for searched words that are fields or values,
    from the occurrences bm25 already found (no second scan of the text)."""
    out: list[str] = []
    for term in list(spans)[:6]:
        line = counting.field_summary(text, spans[term])
        if line and line not in out:
            out.append(line)
        if len(out) == 2:
            break
    return out


def bm25(text: str, starts: list[int], terms: list[str], k1: float = 1.2, b: float = 0.75):
    """(score per passage index, a position to centre the snippet on, {term: occurrences} of the terms
    found, {term: its first counting.FIELD_SAMPLE (start, end) spans} for the terms found; a term found more
    than MAX_POSTINGS times is counted but does not score)."""
    n = len(starts)
    avg = max(len(text) / max(n, 1), 1.0)
    scores: dict[int, float] = {}
    centre: dict[int, tuple[float, int]] = {}
    counts: dict[str, int] = {}
    spans: dict[str, list[tuple[int, int]]] = {}
    for term in terms:
        tf: dict[int, int] = {}
        first: dict[int, int] = {}
        seen: list[tuple[int, int]] = []
        count = 0
        for m in term_pattern(term).finditer(text):
            count += 1
            if count > MAX_POSTINGS:
                break
            if count <= counting.FIELD_SAMPLE:
                seen.append(m.span())
            i = bisect.bisect_right(starts, m.start()) - 1
            tf[i] = tf.get(i, 0) + 1
            first.setdefault(i, m.start())
        if count:
            counts[term] = count
        if count:
            spans[term] = seen
        if not tf or count > MAX_POSTINGS:
            continue
        idf = math.log(1 + (n - len(tf) + 0.5) / (len(tf) + 0.5))
        for i, f in tf.items():
            end = starts[i + 1] if i + 1 < n else len(text)
            norm = f * (k1 + 1) / (f + k1 * (1 - b + b * (end - starts[i]) / avg))
            scores[i] = scores.get(i, 0.0) + idf * norm
            if idf > centre.get(i, (-1.0, 0))[0]:
                centre[i] = (idf, first[i])
    return scores, {i: c[1] for i, c in centre.items()}, counts, spans


MIN_SNIPPET = 60  # a matching line shorter than this is shown with the next one


def line_window(text: str, lo: int, hi: int, centre: int, size: int, end: int | None = None) -> tuple[int, int]:
    """The line(s) of text[lo:hi] holding `centre` (and up to `end`): from the line start (or `size`/3
    before `centre` in a long line) to the line end (at least MIN_SNIPPET characters) or, in text whose
    lines are wrapped, to the end of the sentence; at most `size` characters."""
    end = max(end or centre, centre)
    a = max(lo, centre - size // 3)
    nl = text.rfind("\n", a, centre)
    if nl >= 0:
        a = nl + 1
    elif a > lo:
        sp = text.find(" ", a, centre)
        a = sp + 1 if sp >= 0 else a
    cap = min(hi, max(end, a + size))
    b = text.find("\n", max(end, a + MIN_SNIPPET), cap)
    if b < 0:
        b = cap
        if b < hi:
            sp = text.rfind(" ", max(end, b - 40), b)
            b = sp if sp > a else b
    stop = _SENTENCE_END.search(text, max(end, centre), cap)
    if stop is not None and stop.end() > b:  # a sentence wrapped onto the next line(s)
        b = stop.end()
    return a, max(b, a + 1)


_SENTENCE_END = re.compile(r"[.!?](?=[\s\"')\]]|$)")


def find_quote(text: str, quote: str) -> int:
    """Where `quote` is in `text` with any whitespace between its words (-1: nowhere)."""
    words = quote.split()
    if not words:
        return -1
    m = re.search(r"\s+".join(re.escape(w) for w in words), text)
    return m.start() if m else -1


def _offset(value) -> int:
    if isinstance(value, Hit):
        return value.start
    if isinstance(value, re.Match):
        return value.start()
    if isinstance(value, dict) and "start" in value:
        return int(value["start"])
    if isinstance(value, (list, tuple)) and value:
        return _offset(value[0])
    return max(0, int(value))


EVIDENCE_KEYWORDS = ("evidence", "quote", "quotes", "citation", "citations", "cite", "source", "sources")


def final_args(args: tuple, kw: dict) -> tuple:
    """FINAL(answer, *evidence, evidence=..., answer=...): forgiving about how the evidence is passed."""
    if "answer" in kw:
        args = (kw.pop("answer"),) + args
    unknown = [k for k in kw if k not in EVIDENCE_KEYWORDS]
    if unknown:
        raise TypeError(f"FINAL() got an unexpected keyword argument {unknown[0]!r}: use FINAL(answer, evidence=[...])")
    if not args:
        raise TypeError("FINAL() needs the answer: FINAL(answer, evidence=[exact quotes or search hits])")
    return args[0], list(args[1:]) + [kw[k] for k in EVIDENCE_KEYWORDS if k in kw]


_LOOSE_FINAL = re.compile(r"""\s*(?:FINAL|Final|final)\(\s*(?P<q>["'])(?P<answer>.*?)(?P=q)\s*,\s*evidence\s*=\s*\[\s*"""
                          r"""(?P<q2>["'])(?P<quote>.*)(?P=q2)\s*\]\s*\)\s*""", re.S)


def loose_final(code: str) -> tuple[str, list[str]] | None:
    """A block that is one FINAL("answer", evidence=["quote"]) call which does not parse because the
    pasted quote holds the same quote character (small models do this all the time): its answer and
    quote, read without Python's rules. None for anything else."""
    m = _LOOSE_FINAL.fullmatch(code)
    if m is None or m["q"] in m["answer"]:
        return None
    return m["answer"], [m["quote"]]


_UNQUOTED = re.compile(r"\b(search|read|cite)\(\s*([A-Za-z_][\w.-]*[-.][\w.-]*|[A-Za-z_]\w*(?: [A-Za-z_]\w*)+)\s*[,)]")


def unquoted_hint(code: str, exc: BaseException | None) -> str:
    """For a NameError from `search(brisk-fjord-41)` (words written without quotes, which Python reads
    as names and minus signs): the call as it was meant. "" otherwise."""
    if not isinstance(exc, NameError):
        return ""
    m = _UNQUOTED.search(code)
    return f'\nHint: text needs quotes: {m[1]}("{m[2]}")' if m else ""


def evidence_items(*values) -> list[dict]:
    """Forgiving: a str is a quote; an int an offset; two ints (start, end); a Hit, re.Match or dict with
    start/end/quote/text; lists, tuples and Hits of any of these. Anything else is quoted as str()."""
    out: list[dict] = []
    for v in values:
        _collect(v, out, 0)
    return out[:MAX_ITEMS]


def _collect(v, out: list, depth: int) -> None:
    if v is None or isinstance(v, bool) or len(out) >= MAX_ITEMS or depth > 4:
        return
    if isinstance(v, Hit):
        out.append({"start": v.start, "end": v.end})
    elif isinstance(v, str):
        if v.strip():
            out.append({"quote": v[:QUOTE_CHARS]})
    elif isinstance(v, int):
        out.append({"start": v})
    elif isinstance(v, re.Match):
        out.append({"start": v.start(), "end": max(v.end(), v.start() + 1)})
    elif isinstance(v, dict):
        _collect_dict(v, out)
    elif isinstance(v, (list, tuple, set, frozenset, range)):
        seq = list(v)
        if len(seq) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in seq) and seq[0] <= seq[1]:
            out.append({"start": seq[0], "end": max(seq[1], seq[0] + 1)})
            return
        for x in seq:
            _collect(x, out, depth + 1)
    else:
        _collect(str(v), out, depth + 1)


def _collect_dict(v: dict, out: list) -> None:
    item = {}
    quote = v.get("quote", v.get("text"))
    if isinstance(quote, str) and quote.strip():
        item["quote"] = quote[:QUOTE_CHARS]
    for key, alias in (("start", "offset"), ("end", None)):
        x = v.get(key, v.get(alias) if alias else None)
        if isinstance(x, int) and not isinstance(x, bool):
            item[key] = x
    if item:
        out.append(item)
