"""A second reading of an answer's evidence. The text around the answer's verified quotes goes, with the
question and nothing else, to the sub model, which answers from that text or says it cannot. Small models
misread the passages they quote: a line number taken for the section number, the entry next to the one
asked about, a sentence about something else. When the reading names a different answer, the model is
told once; an answer it keeps against the reading is labelled "disputed" (not supported).

Questions that ask for a computed answer (a count, a total, a comparison) are not re-read: the passage
around one quote cannot show a count over the whole document."""
from __future__ import annotations

import re
import unicodedata

AROUND = 500  # characters of context on each side of a quote
CAP = 2400  # characters of passage in all

_COMPUTED = re.compile(
    r"\b(how many|how much|how often|count|counts|counted|counting|number of|total|sum|average|"
    r"(?:the|a) mean|mean (?:of|value)|median|most|least|more|fewer|"
    r"less|majority|percent\w*|proportion|ratio|compar\w*|differen\w*|each|every|all|list)\b", re.I)
_CANNOT = re.compile(
    r"^\W*(none|n/?a|unknown|no answer|not (stated|mentioned|given|specified|found|provided|clear|available)|"
    r"the passage (does not|doesn't)|it (is|'s) not|(i )?(cannot|can't|can not|don't|do not)|there is no|"
    r"no information|insufficient)", re.I)
_FILLER = frozenset(
    "a an the this that these those its it of in on at for to by with from as and or is are was were be been "
    "which what who whom whose when where why how does do did answer passage document text one ones he she "
    "they them his her their there here not no yes".split())


def applies(question: str) -> bool:
    """The question asks for something a passage can state (not a count or comparison over everything)."""
    return not _COMPUTED.search(question)


def passage(text: str, citations: list) -> str:
    """The document around the verified citations, merged where they overlap, at most CAP characters."""
    spans = sorted((max(0, c.start - AROUND), min(len(text), c.end + AROUND))
                   for c in citations if c.verified and c.start is not None and c.end is not None)
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    pieces, left = [], CAP
    for start, end in merged:
        if left <= 0:
            break
        piece = text[start:min(end, start + left)]
        pieces.append(piece)
        left -= len(piece)
    return "\n[...]\n".join(pieces)


PROMPT = """Read this passage from a document and answer the question from the passage alone.

Passage:
\"\"\"
{passage}
\"\"\"

Question: {question}

Reply with the answer only, in a few words copied from the passage. If the passage does not answer the \
question, reply NONE."""


def prompt(question: str, text: str) -> str:
    return PROMPT.format(passage=text, question=question)


def reading_of(reply: str) -> str | None:
    """The reader's answer, or None when it could not tell (NONE, "not stated", an empty reply) or did not
    answer the way it was asked (a reply with code in it is no reading)."""
    if "```" in (reply or ""):
        return None
    lines = [ln.strip() for ln in (reply or "").strip().splitlines() if ln.strip()]
    if not lines:
        return None
    first = re.sub(r"^\W*(final )?answer\s*[:\-]\s*", "", lines[0], flags=re.I).strip(" \"'`*.")
    if not first or _CANNOT.search(first):
        return None
    return first[:200]


def _words(text: str) -> set[str]:
    plain = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch))
    return {_stem(w) for w in re.findall(r"[^\W_]+", plain)} - _FILLER


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def agrees(answer: str, reading: str, question: str) -> bool:
    """The reading and the answer name the same thing: a shared number when both have numbers, else a
    shared word that is not one of the question's. A reading of only the question's words agrees."""
    from ..engine.repeats import _numbers

    ours, theirs = _numbers(answer), _numbers(reading)
    if ours and theirs:
        return bool(ours & theirs)
    asked = _words(question)
    a, r = _words(answer) - asked, _words(reading) - asked
    if not a or not r:
        return True
    return bool(a & r)
