"""What counts as an answer that only repeats the question (rlm_cli/engine/repeats.py)."""
from __future__ import annotations

import pytest

from rlm_cli.engine.repeats import echoes_question, numbers_not_in

OPCODE = "What is the opcode of the GetGeometry request?"
MAINTAINER = "Who is the maintainer of this FAQ?"
MOST = "Which label occurs most often among the records? Answer with the label only."
COMPARE = ("Is the label 'refund' more common, less common, or the same as the label 'billing' among the records? "
           "Answer with one word: more, less or same.")
EXIT = "What does exit code 13 mean?"
COMPANY = "Which company was the author Stuart Anderson with?"


@pytest.mark.parametrize("answer, question", [
    ("opcode", OPCODE), ("The opcode.", OPCODE), ("the FAQ maintainer", MAINTAINER), ("label", MOST),
    ("exit code 13", EXIT), ("the company", COMPANY), ("opcode of the GetGeometry request", OPCODE),
    ("<the answer itself: the value>", OPCODE), ("GetGeometry", OPCODE), ("exit code 13", EXIT),
    ("Termination", "Which numbered section of this license is titled Termination?"),
    ("Frederick Bates", "Who succeeded Frederick Bates as governor?"),
])
def test_an_answer_made_only_of_the_questions_words_is_an_echo(answer, question):
    assert echoes_question(answer, question)


@pytest.mark.parametrize("answer, question", [
    ("14", OPCODE), ("opcode 14", OPCODE), ("Eric Pement", MAINTAINER), ("billing", MOST), ("more", COMPARE),
    ("less", COMPARE), ("Unfinished Top-Level Await", EXIT), ("NCR Corporation", COMPANY),
    ("Ada", "Who was born first, Ada or Alan?"),  # the question offers choices: the answer is one of them
    ("no", "Is the file compressed, yes or no?"), ("0", "double 0"), ("13", EXIT),
    ("stack", "What was the S in the name S-Lang supposed to emphasize?"),
])
def test_an_answer_with_anything_the_question_does_not_say_is_not_an_echo(answer, question):
    assert not echoes_question(answer, question)


def test_numbers_missing_from_the_evidence():
    assert numbers_not_in("30 days", ["within 60 days of the notice"]) == ["30"]
    assert numbers_not_in("1,212 rows", ["1212 rows in all"]) == [] and numbers_not_in("Lorenzo", ["x"]) == []
