"""What counts as an answer that only repeats the question (rlm_cli/engine/repeats.py)."""
from __future__ import annotations

import pytest

from rlm_cli.engine.repeats import echoes_question, numbers_not_in, unanswered, words_not_in, wrong_kind

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


MULTI = ("What are the special magic numbers for brisk-thimble-44, brisk-harbor-61, ivory-cobalt-65, brisk-lantern-87 "
         "mentioned in the text? Answer with one line per key, as key=number.")


@pytest.mark.parametrize("answer, question, missing", [
    ("9446220", MULTI, ["brisk-thimble-44", "brisk-harbor-61", "ivory-cobalt-65", "brisk-lantern-87"]),
    ("brisk-thimble-44=1 and brisk-harbor-61=2", MULTI, ["ivory-cobalt-65", "brisk-lantern-87"]),
    ("brisk-thimble-44=1\nbrisk-harbor-61=2\nivory-cobalt-65=3\nbrisk-lantern-87=4", MULTI, []),
    ("alpha is 0.5, beta 1", "What are the default values of alpha, beta and gamma?", ["gamma"]),
    ("the GPL was by RMS", "Who wrote the GPL, the LGPL and the AGPL?", ["LGPL", "AGPL"]),
    ("Richard Stallman", "Who wrote the GPL, the LGPL and the AGPL?", []),  # one answer for all: not plural
    ("red", "Which of red, green or blue is the default?", []),  # a choice
    ("same", "Is it more common, less common, or the same as 'x'? Answer with one word: more, less or same.", []),
    ("12", "What is the sum of a, b and c?", []),  # computed
    ("Norland", "In which country is the head office of the company that employs Ines Haddad?", []),
    ("both", "What do alpha and beta share?", []),  # two items are not a list
])
def test_an_answer_that_leaves_out_items_the_question_lists(answer, question, missing):
    assert unanswered(answer, question) == missing


HOP = "In which country is the head office of the company that employs Lena Rossi? Answer with the country only."


@pytest.mark.parametrize("answer, quotes, question, missing", [
    ("Aldermere", ["Records show that Lena Rossi is employed by Brightmoor Holdings."], HOP, ["aldermere"]),
    ("Brackwater", ["The head office of Brightmoor Holdings is in the city of Brackwater."], HOP, []),
    ("Niels Moller", ["This manual was originally written by Niels Möller"], "Who wrote this manual?", []),
    ("stacks", ["a stack-based language"], "What does the S stand for?", []),
    ("feedback", ["label: billing"], "Which label occurs most often among the records?", []),  # computed
    ("more", ["x"], "Is A more common, less common, or the same as B?", []),  # a choice
    ("12 days", ["30 days"], "How long?", []),  # numbers: the number check's
    ("a long answer that says many different things about the topic at hand", ["x"], "What is it?", []),
    ("Aldermere", [], HOP, []),  # no verified evidence: the unverified check's
])
def test_a_short_answer_none_of_whose_words_is_in_its_evidence(answer, quotes, question, missing):
    assert words_not_in(answer, quotes, question) == missing


@pytest.mark.parametrize("answer, quotes, question, kind", [
    ("Brackwater", ["The head office of Brightmoor Holdings is in the city of Brackwater."], HOP, ("country", "city")),
    ("Ostmark", ["The city of Brackwater lies in the country of Ostmark."], HOP, None),  # names the country
    ("NCR", ["Stuart Anderson of NCR Corporation"], "Which company was the author with?", None),
    ("9", ["9. TERMINATION"], "Which numbered section is titled Termination?", None),
    ("Oslo", ["the capital of Norway is the city of Oslo"], "What is the capital of Norway?", None),  # "what is"
    ("Greywater", ["the port of Greywater"], "Which ports are free?", None),  # ports / port: the same kind
    ("a long answer of many words here", ["the city of a long answer of many words here"], HOP, None),
])
def test_an_answer_its_evidence_calls_another_kind_of_thing(answer, quotes, question, kind):
    assert wrong_kind(answer, quotes, question) == kind
