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
    return content <= set(asked) and not _CHOICE.search(question)


_FILLER = frozenset("a an the this that these those its of in on for to is are was were".split())
_CHOICE = re.compile(r"\b(?:or|whether|either|between|yes|no)\b", re.I)
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
