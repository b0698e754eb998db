"""A second reading of an answer's evidence. The text around the answer's verified quotes goes, with the
question and nothing else, to the sub model, which answers from that text or says it cannot. Small models
misread the passages they quote: a line number taken for the section number, the entry next to the one
asked about, a sentence about something else. When the reading names a different answer, the model is
told once; an answer it keeps against the reading is labelled "disputed" (not supported).

A question that asks for a computed answer (a count, a total, a comparison) cannot be checked against the
text around one quote. When such an answer is a word rather than a number ("which label is the most
common", "more, less or the same"), the second reading is of the REPL output the model answered from
(the counts it printed): small models print the right ranking and then name another entry."""
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


WORK_PROMPT = """A program searched and counted a document to answer a question. This is what it printed:

\"\"\"
{passage}
\"\"\"

Question: {question}

Reply with the answer only, in a few words, read from the printed output. If the output does not show the \
answer, reply NONE."""


ITEMS_PROMPT = """A program looked up the items a question lists in a document. This is what it printed:

\"\"\"
{passage}
\"\"\"

Question: {question}

Reply with the answer for every item the question lists, in the form the question asks, read from the \
printed output. If the output does not show the answer, reply NONE."""


def prompt(question: str, text: str) -> str:
    return PROMPT.format(passage=text, question=question)


def work_prompt(question: str, outputs: list[str], items: bool = False) -> str:
    """The prompt for a computed answer (or, `items`, for an answer that leaves out items the question
    lists): the last REPL outputs (the most recent CAP characters)."""
    return (ITEMS_PROMPT if items else WORK_PROMPT).format(passage=printed(outputs), question=question)


def printed(outputs: list[str]) -> str:
    """The last REPL outputs as one text, the most recent CAP characters."""
    return "\n\n".join(o.strip() for o in outputs if o.strip())[-CAP:]


def computed_word(question: str, answer: str) -> bool:
    """A computed question answered with a word, not a number: checked against the printed output."""
    return not applies(question) and not re.search(r"\d", answer) and len(answer.split()) <= 6


def ungrounded(answer: str, question: str, text: str) -> bool:
    """A long answer (eight or more words beyond the question's) most of whose words are not in `text` (the
    passage around its evidence): written from memory, with a real quote attached."""
    words = _words(answer) - _words(question)
    return len(words) >= 8 and len(words & _words(text)) * 3 < len(words)


def reading_of(reply: str, lines: int = 1) -> str | None:
    """The reader's answer (its first line; up to `lines` lines, one per item), or None when it could not
    tell (NONE, "not stated", an empty reply) or did not answer the way it was asked (a reply with code in
    it is no reading)."""
    said = _reply_lines(reply)[:lines]
    if not said or _CANNOT.search(said[0]):
        return None
    return "\n".join(ln for ln in said if ln)[:200 * lines]


def finds_nothing(reply: str) -> bool:
    """The reader says the passage does not answer the question (NONE, "not stated"...)."""
    said = _reply_lines(reply)
    return bool(said) and bool(_CANNOT.search(said[0]))


def _reply_lines(reply: str) -> list[str]:
    """The reader's non-empty lines, without quotes, emphasis and a leading "Answer:"; none for a reply
    with code in it (no reading) or one whose first line is empty once stripped."""
    if "```" in (reply or ""):
        return []
    said = [ln.strip() for ln in (reply or "").strip().splitlines() if ln.strip()]
    if not said:
        return []
    said[0] = re.sub(r"^\W*(final )?answer\s*[:\-]\s*", "", said[0], flags=re.I)
    said = [ln.strip(" \"'`*.") for ln in said]
    return said if said[0] else []


def _words(text: str) -> set[str]:
    return set(_tokens(text))


def _tokens(text: str) -> list[str]:
    """The words of `text` that are not filler, casefolded, without accents, a plural "s" dropped."""
    plain = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch))
    return [_stem(w) for w in re.findall(r"[^\W_]+", plain) if w not in _FILLER]


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def agrees(answer: str, reading: str, question: str) -> bool:
    """The reading and the answer name the same thing: the same yes or no when both start with one; a
    shared number when both have numbers, else a shared word that is not one of the question's; for a
    question that offers choices, the same first word ("the same" and "same"; not "more" and "less").
    An answer of only the question's words ("alias" for "What alias does _.map have?") disagrees with a
    reading that names something ("collect"); a reading of only the question's words agrees with
    anything."""
    from ..engine.repeats import _numbers, offers_choice

    asked_numbers = _numbers(question)  # "amber-harbor-24" in the question: its 24 is no answer
    ours, theirs = _numbers(answer) - asked_numbers, _numbers(reading) - asked_numbers
    if ours and theirs:
        return bool(ours & theirs)
    said, read = _yes_no(answer), _yes_no(reading)
    if said and read:
        return said == read
    asked = _words(question)
    a, r = _words(answer) - asked, _words(reading) - asked
    if a and r:
        return bool(a & r)
    if offers_choice(question):  # "more, less or the same?": the options are the question's own words
        return _first(answer) == _first(reading)
    if (r or theirs) and not (a or ours or said):
        return False  # the answer names nothing beyond the question ("section 3"), the reading does
    return True  # a reading of only the question's words says nothing


def grounded(reading: str, passage: str) -> bool:
    """Every word and number of the reading is in the passage it was read from (the reader copied its
    answer, it did not write one), and it has at least one beyond filler."""
    from ..engine.repeats import _numbers

    words = _words(reading)
    return bool(words) and words <= _words(passage) and _numbers(reading) <= _numbers(passage)


def confirms(reading: str, passage: str, question: str) -> bool:
    """A reading that bears an answer out: copied from the passage (`grounded`), and naming something
    beyond the question's own words or numbers (a reading "CHUNK" for "What is CHUNK defined as?" does not)."""
    from ..engine.repeats import _numbers

    beyond = (_words(reading) - _words(question)) or (_numbers(reading) - _numbers(question))
    return bool(beyond) and grounded(reading, passage)


def _yes_no(text: str) -> str | None:
    """ "yes" or "no" when the text starts with one ("Yes, it may."), else None."""
    m = re.match(r"\W*(yes|no)\b", text, re.I)
    return m.group(1).lower() if m else None


def _first(text: str) -> str:
    """The first word that is not filler ("the same" -> "same", "more common" -> "more")."""
    return next(iter(_tokens(text)), "")
