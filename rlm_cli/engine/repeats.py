"""Repetition detection: a code block the node already ran, printing the same output again (small
models re-run one search turn after turn: the model is told so, and pushed to change course), and an
answer that only repeats the question."""
from __future__ import annotations

import re

from .. import prompts


def echoes_question(answer: str, question: str) -> bool:
    """The answer is (part of) the question's own text, at least four words long (a 1.5B model's
    FINAL(question) instead of an answer), or holds the prompt's placeholder for the answer. Short
    answers taken from the question ("more", a name the question mentions) do not count."""
    if prompts.ANSWER_PLACEHOLDER in answer:  # the prompt's own "<the answer itself...>" copied
        return True
    a = " ".join(re.findall(r"\w+", answer.lower()))
    return len(a.split()) >= 4 and a in " ".join(re.findall(r"\w+", question.lower()))


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
