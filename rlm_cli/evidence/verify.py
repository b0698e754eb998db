"""Checking claims against the context the host holds, and mapping them to sources and locations.

A quote is verified when it occurs verbatim in the context after whitespace normalisation (runs of
spaces/newlines match any whitespace; surrounding quotation marks and leading/trailing ellipses are
ignored; an ellipsis inside the quote may skip up to GAP characters). A short quote (under MIN_QUOTE
characters) must occur exactly once. An offset range is verified when it lies inside the context and
spans at most MAX_SPAN characters; a single offset stands for its line. Everything else is kept with
`verified: False` and the reason.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from ..context import where
from .claims import Claim

QUOTE_KEEP = 300  # characters of the quote kept in a citation
AROUND = 160  # characters of context kept on each side (the HTML report highlights the quote in them)
MIN_QUOTE = 12  # a shorter quote must be unique in the context
MAX_SPAN = 4_000  # a longer range is not evidence of anything in particular
GAP = 2_000  # an ellipsis inside a quote may skip this many characters
MAX_CITATIONS = 32
_ELLIPSIS = re.compile(r"\.\.\.+|…")
# what search() prints before a hit's text ("[0] doc.txt line 25 (offset 7816): "), copied along by small models
_HIT_PREFIX = re.compile(r"^(?:\[\d+\]\s*)?[^\n]{0,300}?\(offset \d+\):\s*")
_WRAPPERS = "\"'“”‘’«»„`"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


@dataclass
class Citation:
    quote: str
    verified: bool
    source: str | None = None
    location: str | None = None  # "p.3", "line 12", "ch. 7", "slide 2", "Sheet1 row 120"
    start: int | None = None  # offsets in the run's context (text[start:end] is the passage)
    end: int | None = None
    reason: str | None = None  # why it is not verified
    via: str | None = None  # the child RLM whose evidence this is
    before: str = ""  # context on each side of the quote (events and the HTML report)
    after: str = ""

    def as_json(self) -> dict:
        d = {"quote": self.quote, "source": self.source, "location": self.location, "start": self.start,
             "end": self.end, "verified": self.verified}
        if self.reason:
            d["reason"] = self.reason
        if self.via:
            d["via"] = self.via
        return d

    def as_event(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Citation":
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in names and k not in ("quote", "verified")},
                   quote=str(d.get("quote") or ""), verified=d.get("verified") is True)


def verify(claims: list[Claim], text: str, sources: list[dict]) -> list[Citation]:
    """One Citation per claim (deduplicated), verified against `text`; a quote of several lines that is not
    in the text as a whole, one per line when some of its lines are (small models paste the lines of
    several hits into one quote)."""
    return dedupe([c for claim in claims for c in _lines(claim, check(claim, text, sources), text, sources)])


def _lines(claim: Claim, whole: Citation, text: str, sources: list[dict]) -> list[Citation]:
    lines = [ln for ln in (claim.quote or "").splitlines() if ln.strip()] if not whole.verified else []
    if claim.problem or len(lines) < 2:
        return [whole]
    each = [_quote(ln, text, sources) for ln in lines[:MAX_CITATIONS]]
    return each if any(c.verified for c in each) else [whole]


def check(claim: Claim, text: str, sources: list[dict]) -> Citation:
    if claim.problem:
        return unverified(claim.quote or "", claim.problem)
    if claim.start is not None and claim.quote is None:
        return _offsets(claim.start, claim.end, text, sources)
    if claim.start is not None and claim.end is not None and 0 <= claim.start < claim.end <= len(text):
        if squash(text[claim.start:claim.end]) == squash(strip_quote(claim.quote)):
            return at(text, sources, claim.start, claim.end)
    return _quote(claim.quote, text, sources)


def _offsets(start: int, end: int | None, text: str, sources: list[dict]) -> Citation:
    n = len(text)
    if end is None:  # one offset: its line
        if not 0 <= start < n:
            return unverified("", f"offset {start:,} is outside the context (0-{n:,})")
        a = text.rfind("\n", max(0, start - QUOTE_KEEP), start) + 1 or max(0, start - QUOTE_KEEP // 2)
        b = text.find("\n", start, start + QUOTE_KEEP)
        return at(text, sources, a, b if b > start else min(n, start + QUOTE_KEEP // 2))
    if not 0 <= start < end <= n:
        return unverified("", f"offsets {start:,}-{end:,} are outside the context (0-{n:,})")
    if end - start > MAX_SPAN:
        return unverified(squash(text[start:start + QUOTE_KEEP]),
                          f"a range of {end - start:,} characters is too long to be evidence (at most {MAX_SPAN:,})")
    return at(text, sources, start, end)


def _quote(quote: str, text: str, sources: list[dict]) -> Citation:
    wanted = strip_quote(quote)
    if not wanted:
        return unverified(quote, "empty quote")
    span = find(text, wanted)
    if span is None and strip_quote(quote, hit_prefix=False) != wanted:
        wanted = strip_quote(quote, hit_prefix=False)  # the "prefix" was part of the document after all
        span = find(text, wanted)
    if span is None:
        return unverified(wanted, "not found in the context")
    if len(squash(wanted)) < MIN_QUOTE:
        seen = occurrences(text, wanted, 2)
        if seen > 1:
            return unverified(wanted, "too short to point at one passage (it occurs more than once): quote more")
    return at(text, sources, *span)


def at(text: str, sources: list[dict], start: int, end: int, via: str | None = None) -> Citation:
    """A verified citation of text[start:end]."""
    name, part = where(text, sources, start)
    before, after = text[max(0, start - AROUND):start], text[end:end + AROUND]
    return Citation(quote=short(text[start:end], QUOTE_KEEP), verified=True, source=name or None, location=part,
                    start=start, end=end, via=via,  # (one space kept where whitespace meets the quote)
                    before=short(before, AROUND, tail=True) + (" " if before[-1:].isspace() else ""),
                    after=(" " if after[:1].isspace() else "") + short(after, AROUND))


def unverified(quote: str, reason: str, via: str | None = None) -> Citation:
    return Citation(quote=short(quote, QUOTE_KEEP), verified=False, reason=reason, via=via)


# ---- children -----------------------------------------------------------------------------------------
def adopt(citations: list[Citation], child_text: str, parent_text: str, parent_sources: list[dict],
          via: str) -> list[Citation]:
    """A child RLM's citations in its parent's terms. When the child's context is a verbatim slice of
    the parent's, offsets are shifted by where it starts; otherwise each passage is searched for in the
    parent's context. Not found there: kept unverified (the child saw text the parent's document lacks)."""
    base = -1
    if child_text and any(c.verified for c in citations):
        base = parent_text.find(child_text)
    out = []
    for c in citations:
        who = c.via or via
        if not c.verified or c.start is None or c.end is None:
            out.append(unverified(c.quote, c.reason or "not verified by the child RLM", via=who))
        elif base >= 0:
            out.append(at(parent_text, parent_sources, base + c.start, base + c.end, via=who))
        else:
            span = find(parent_text, child_text[c.start:c.end])
            out.append(at(parent_text, parent_sources, *span, via=who) if span else
                       unverified(c.quote, "not in the parent's context (the child's text was not taken from it)", via=who))
    return out


# ---- judging a run ------------------------------------------------------------------------------------
def assess(citations: list[Citation], forced: bool, answers: bool = True, disputed: bool = False,
           reread: bool = False) -> dict:
    """The fields that label an answer: supported (a verified citation, and `answers`: the answer is not
    just the question repeated, and not `disputed`: a second reading of the evidence named another answer,
    and not `reread`: the answer is that reading, given instead of the model's), forced (given at the
    iteration limit), confidence: "verified" | "unverified" | "disputed" | "reread" | "forced"."""
    shown = any(c.verified for c in citations)
    supported = answers and not disputed and not reread and shown
    confidence = ("forced" if forced else "verified" if supported else "reread" if reread and shown else
                  "disputed" if disputed and shown else "unverified")
    return {"supported": supported, "forced": forced, "confidence": confidence}


def dedupe(citations: list[Citation]) -> list[Citation]:
    """Without repeats: of two verified passages where one holds the other, the shorter stays (in the
    place of the first); an unverified item once per quote and reason."""
    out: list[Citation] = []
    seen = set()
    for c in citations:
        if not c.verified:
            key = (c.quote, c.reason)
            if key not in seen:
                seen.add(key)
                out.append(c)
            continue
        same = next((i for i, o in enumerate(out) if o.verified and _nested(o, c)), None)
        if same is None:
            out.append(c)
        elif c.end - c.start < out[same].end - out[same].start:
            out[same] = c
    return out[:MAX_CITATIONS]


def _nested(a: Citation, b: Citation) -> bool:
    return (a.start <= b.start and b.end <= a.end) or (b.start <= a.start and a.end <= b.end)


# ---- text ---------------------------------------------------------------------------------------------
def squash(text: str) -> str:
    return " ".join(text.split())


def strip_quote(quote: str | None, hit_prefix: bool = True) -> str:
    """The quote without surrounding quotation marks, leading/trailing ellipses, extra whitespace and
    (`hit_prefix`) the "[0] doc.txt line 25 (offset 7816): " that search() prints before a hit."""
    q, prev = squash(quote or ""), None
    if hit_prefix:
        q = _HIT_PREFIX.sub("", q, count=1)
    while q != prev:
        prev = q
        q = re.sub(r"^(?:\.\.\.+|…)\s*", "", q)
        q = re.sub(r"\s*(?:\.\.\.+|…)$", "", q)
        q = q.strip(_WRAPPERS).strip()
    return q


def pattern(quote: str) -> re.Pattern:
    parts = [p for p in (_ELLIPSIS.split(quote)) if p.strip()]
    frags = [r"\s+".join(re.escape(w) for w in p.split()) for p in parts]
    return re.compile((r"[\s\S]{0,%d}?" % GAP).join(frags))


def find(text: str, quote: str) -> tuple[int, int] | None:
    """(start, end) of the first place `quote` occurs in `text`, whitespace-insensitively."""
    if not quote.split():
        return None
    m = pattern(quote).search(text)
    return (m.start(), m.end()) if m else None


def occurrences(text: str, quote: str, limit: int) -> int:
    n = 0
    for _ in pattern(quote).finditer(text):
        n += 1
        if n >= limit:
            break
    return n


def short(text: str, limit: int, tail: bool = False) -> str:
    """Whitespace collapsed, control characters dropped, cut to `limit` (keeping the end when `tail`)."""
    text = _CONTROL.sub("", squash(text))
    if len(text) <= limit:
        return text
    return "…" + text[-(limit - 1):] if tail else text[: limit - 1] + "…"
