"""Repetition detection: a code block the node already ran, printing the same output again (small
models re-run one search turn after turn: the model is told so, and pushed to change course), and an
answer that only repeats the question, or whose numbers its own evidence does not show."""
from __future__ import annotations

import re

from .. import prompts


def echoes_question(answer: str, question: str) -> bool:
    """The answer is (part of) the question's own text, at least four words long (a 1.5B model's
    FINAL(question) instead of an answer); or every word of it is a word of the question ("opcode" for
    "What is the opcode of the GetGeometry request?", "Termination" for "Which section is titled
    Termination?"; a number alone does not count), unless the question offers choices ("A or B?",
    "more, less or same"), where an answer from the question's words is expected; or it holds the
    prompt's placeholder for the answer."""
    if prompts.ANSWER_PLACEHOLDER in answer:  # the prompt's own "<the answer itself...>" copied
        return True
    words, asked = re.findall(r"\w+", answer.lower()), re.findall(r"\w+", question.lower())
    a = " ".join(words)
    if len(words) >= 4 and a in " ".join(asked):
        return True
    content = {w for w in words if w not in _FILLER}
    if not content or all(w.isdigit() for w in content):  # "0" for "double 0": a computed value may be
        return False  # one of the question's numbers (the number check looks at numbers)
    return content <= set(asked) and not offers_choice(question)


_FILLER = frozenset("a an the this that these those its of in on for to is are was were".split())
_CHOICE = re.compile(r"\b(?:or|whether|either|between)\b", re.I)


def offers_choice(question: str) -> bool:
    """The question offers choices ("A or B?", "more, less or the same", "whether…", "between A and B"):
    an answer made of the question's own words is expected."""
    return bool(_CHOICE.search(question))


_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def _numbers(text: str) -> set[str]:
    """The numbers in `text`, thousands separators and trailing ".0" dropped ("1,212" and "1212" match)."""
    out = set()
    for n in _NUMBER.findall(text):
        n = re.sub(r",(?=\d{3}\b)", "", n).replace(",", ".")
        out.add(re.sub(r"\.0+$", "", n))
    return out


def numbers_not_in(answer: str, quotes: list[str]) -> list[str]:
    """The answer's numbers when none of them is in any of the quotes (the evidence the model gave): a
    small model reads "60 days" and answers "30 days", or answers with a line number. Empty when the
    answer has no number, or one of its numbers is in the evidence."""
    wanted = _numbers(answer)
    if not wanted or not quotes:
        return []
    seen = set().union(*(_numbers(q) for q in quotes))
    return [] if wanted & seen else sorted(wanted)


def words_not_in(answer: str, quotes: list[str], question: str) -> list[str]:
    """The words of a short answer without numbers when none of them is in the evidence it gave ("Aldermere"
    with a quote that says "Lena Rossi is employed by Brightmoor Holdings"). Empty for a longer answer, a
    computed one (a count, a comparison: its value is not quoted), a choice among the question's own
    words, or when one of its words is in a quote."""
    from ..evidence.reread import _words, applies

    if not quotes or _numbers(answer) or not applies(question) or offers_choice(question):
        return []
    wanted = _words(answer) - _words(question)
    if not wanted or len(wanted) > 6:
        return []
    seen = set().union(*(_words(q) for q in quotes))
    return [] if wanted & seen else sorted(wanted)


_WH = re.compile(r"\b(?:which|what)\s+([a-z]+)\b", re.I)
_NOT_A_KIND = frozenset("is are was were does do did the a an of kind type sort in on".split())


def wrong_kind(answer: str, quotes: list[str], question: str) -> tuple[str, str] | None:
    """(the kind asked for, the kind the evidence gives the answer) when the question asks "which
    country" and the evidence calls the answer "the city of X", and names no country: one step of a
    chain answered for the whole. None otherwise."""
    m = _WH.search(question)
    want = m.group(1).lower() if m else ""
    said = answer.strip().strip(".\"'")
    if not want or want in _NOT_A_KIND or not said or len(said.split()) > 4:
        return None
    if any(re.search(rf"\b{re.escape(want)}", q, re.I) for q in quotes):
        return None
    for q in quotes:
        called = re.search(rf"\b(?:the|a|an)\s+([a-z]+)\s+(?:of|called|named)\s+{re.escape(said)}(?!\w)", q, re.I)
        if called and called.group(1).lower().rstrip("s") != want.rstrip("s"):
            return want, called.group(1).lower()
    return None


_ITEM = r"[\w][\w.'/-]*(?: [\w][\w.'/-]*){0,3}"
_LIST = re.compile(rf"({_ITEM}(?:, {_ITEM}){{1,}},? (?:and |& )?{_ITEM}|{_ITEM}(?:, {_ITEM}){{2,}})")
_PLURAL = re.compile(r"\b(are|were)\b", re.I)
_LEAD = re.compile(r"^(?:and|the|of|for|about|between|among|is|are|were|was)\s+", re.I)


def unanswered(answer: str, question: str) -> list[str]:
    """The items of a list in the question ("the numbers for a, b, c and d") that the answer does not
    mention, when the question asks about three or more named things (not a choice: "A, B or C"; not a
    computed answer: a count or total over them) and the answer names only some of them, or is one
    short value for all of them. Empty otherwise."""
    return asked_items(answer, question)[1]


def asked_items(answer: str, question: str) -> tuple[list[str], list[str]]:
    """The items of that list in the question, and those of them the answer does not mention (see
    `unanswered`); two empty lists when no list is left unanswered."""
    from ..evidence.reread import applies

    if not applies(question):
        return [], []
    for m in _LIST.finditer(question):
        tail = question[m.end():m.end() + 4]
        if re.match(r",? ?(or|nor)\b", tail) or re.search(r"\b(or|nor)\b", m.group(0)):
            continue
        parts = [x.strip() for x in re.split(r",\s*(?:and\s+|&\s+)?|\s+(?:and|&)\s+", m.group(0))]
        if len(parts) < 3:
            continue
        size = max(len(x.split()) for x in parts[1:-1])  # the middle items' shape bounds the two ends
        parts[0], parts[-1] = " ".join(parts[0].split()[-size:]), " ".join(parts[-1].split()[:size])
        items = [x for x in dict.fromkeys(_LEAD.sub("", x) for x in parts) if x]
        said = " ".join(answer.casefold().split())
        missing = [x for x in items if x.casefold() not in said]
        named = len(items) - len(missing)
        one_value = len(said.split()) <= 3 and "\n" not in answer.strip() and _PLURAL.search(question)
        if missing and (named or one_value):
            return items, missing
    return [], []


_WHERE = re.compile(r"\b(where|page|pages|line|lines|slide|sheet|row|chapter|message|locat\w*)\b", re.I)


def asks_where(question: str) -> bool:
    """The question asks for a place in the document (so a page or line number is an answer)."""
    return bool(_WHERE.search(question))


class Repeats:
    def __init__(self):
        self.seen: dict[str, tuple[int, str]] = {}  # normalised code -> (first turn, last output)
        self.count = 0  # repeats so far in this node

    def note(self, code: str, output: str, turn: int) -> str | None:
        """The note for the model when `code` ran before with this same `output` (None otherwise)."""
        key = " ".join(code.split())
        before = self.seen.get(key)
        self.seen[key] = (before[0] if before else turn, output)
        if before is None or before[1] != output:
            return None
        self.count += 1
        return prompts.repeated(before[0], self.count)
