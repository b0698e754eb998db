"""The second reading of an answer's evidence (evidence/reread.py): which questions it applies to, the
passage it reads, what counts as a reading and as agreement; and end to end through the CLI with the
scripted model playing both the root and the reader."""
from __future__ import annotations

import pytest

from rlm_cli.evidence import Citation
from rlm_cli.evidence import reread


def repl(code: str) -> str:
    return f"```repl\n{code}\n```"


@pytest.mark.parametrize("question, applies", [
    ("Which numbered section of this license is titled Termination?", True),
    ("Who originally wrote this manual?", True),
    ("What does exit code 13 mean?", True),
    ("In which country is the head office?", True),
    ("Count the records labelled billing.", False),
    ("What is the mean of the scores?", False),
    ("How many records have the label billing?", False),
    ("Which label is the most frequent?", False),
    ("Are there more billing than refund tickets?", False),
    ("What is the total revenue?", False),
])
def test_computed_questions_are_not_reread(question, applies):
    assert reread.applies(question) is applies


def test_the_passage_is_the_text_around_verified_quotes_merged_and_capped():
    text = "".join(f"{i:04d}" for i in range(5000))  # 20,000 characters, every offset readable
    near = [Citation("q", True, start=8000, end=8010), Citation("q", True, start=8100, end=8110)]
    got = reread.passage(text, near + [Citation("fake", False)])
    assert got == text[8000 - reread.AROUND:8110 + reread.AROUND]  # one merged window, the fake one ignored
    far = [Citation("q", True, start=i, end=i + 10) for i in (1000, 6000, 12000, 18000)]
    got = reread.passage(text, far)
    assert len(got.replace("\n[...]\n", "")) == reread.CAP and got.count("[...]") == 2
    assert got.startswith(text[1000 - reread.AROUND:1000])
    assert reread.passage(text, [Citation("q", False)]) == ""


@pytest.mark.parametrize("reply, reading", [
    ("9", "9"),
    ("Answer: Niels Möller.", "Niels Möller"),
    ('"stack"\n\nThe passage says so.', "stack"),
    ("NONE", None),
    ("Answer: NONE", None),
    ("The passage does not say.", None),
    ("Not stated in the passage.", None),
    ("I cannot tell from this.", None),
    ("", None),
    ("```repl\nFINAL('x')\n```", None),
])
def test_what_counts_as_a_reading(reply, reading):
    assert reread.reading_of(reply) == reading
    assert reread.finds_nothing(reply) is (reply in ("NONE", "Answer: NONE", "The passage does not say.",
                                                     "Not stated in the passage.", "I cannot tell from this."))


@pytest.mark.parametrize("reading, passage, copied", [
    ("9", "Filler.\n9. TERMINATION\nYou may not copy", True),
    ("Section 9", "Filler.\n9. TERMINATION\nYou may not copy", False),  # "section" is not in it
    ("/var/lib/dpkg/triggers/Lock", "/var/lib/dpkg/triggers/Lock is the fcntl lockfile", True),
    ("Niels Möller", "written by Niels Moller in 2001", True),
    ("12", "section 120 and 312", False),  # a number must be one of the passage's numbers, not part of one
    ("the", "the passage", False),  # nothing beyond filler
])
def test_a_reading_counts_as_copied_when_all_its_words_are_in_the_passage(reading, passage, copied):
    assert reread.grounded(reading, passage) is copied


@pytest.mark.parametrize("answer, reading, question, same", [
    ("346", "9", "Which numbered section is titled Termination?", False),
    ("Section 9", "9. TERMINATION", "Which numbered section is titled Termination?", True),
    ("speed", "stack", "What was the S in S-Lang supposed to emphasize?", False),
    ("The S stands for stacks", "stack", "What was the S in S-Lang supposed to emphasize?", True),
    ("Niels Moller", "Niels Möller", "Who wrote this manual?", True),
    ("Since Ninja version 1.2.", "1.5", "Since which Ninja version is the console pool available?", False),
    ("NCR Corporation", "NCR", "Which company was Stuart Anderson with?", True),
    ("It ends the process", "Unfinished Top-Level Await", "What does exit code 13 mean?", False),
    ("opcode 14", "the opcode", "What is the opcode of GetGeometry?", True),  # a reading of question words: no view
    ("7783794", "amber-harbor-24, vivid-lantern-50", "What are the numbers for amber-harbor-24, vivid-lantern-50?",
     True),  # the keys' numbers are the question's
    ("section 3", "Public License Fallback", "What is the title of section 3 of this document?", False),
    ("alias", "collect", "What alias does _.map have?", False),  # an answer of the question's words says nothing
    ("opcode", "14", "What is the opcode of GetGeometry?", False),
    ("16384", "CHUNK", "What value is CHUNK defined as?", True),  # a reading of the question's words says nothing
    ("Yes", "Yes, it may be copied.", "May the work be copied?", True),
    ("No", "Yes, it may be copied.", "May the work be copied?", False),
    ("No.", "the passage says copying is allowed", "May the work be copied?", True),  # no yes/no: no view
])
def test_agreement(answer, reading, question, same):
    assert reread.agrees(answer, reading, question) is same


DOC = ("GNU FREE DOCUMENTATION LICENSE\n" + "Filler line about copying.\n" * 40
       + "9. TERMINATION\nYou may not copy, modify, sublicense, or distribute the Document except as "
         "expressly provided under this License.\n" + "More filler.\n" * 20)
QUESTION = "Which numbered section of this license is titled Termination?"
MISREAD = repl("FINAL('42', evidence=['9. TERMINATION', 'line 42'])")


def gfdl(tmp_path):
    """The document most tests here ask QUESTION of."""
    doc = tmp_path / "gfdl.txt"
    doc.write_text(DOC)
    return doc


def reader(reply: str) -> dict:
    return {"when": "^Read this passage from a document", "reply": reply}


def test_an_answer_kept_against_a_reading_copied_from_its_evidence_gives_way_to_the_reading(cli, script, tmp_path):
    doc = gfdl(tmp_path)
    model = script([reader("9"),
                    {"when": 'a second reader, given only the question and the text your answer comes from .*'
                             'answered "9", not "42"', "reply": repl("FINAL('Section 42', evidence='9. TERMINATION')")},
                    {"when": ".", "reply": repl("FINAL('42', evidence='9. TERMINATION')")}])
    r = cli(["ask", doc, QUESTION, "-m", model, "--json"])
    obj = r.json()
    assert obj["status"] == "ok" and r.exit_code == 0
    assert (obj["answer"], obj["supported"], obj["confidence"]) == ("9", False, "reread")
    assert obj["model_answer"] == "Section 42"
    assert obj["citations"][0]["verified"] is True  # the quote itself is real
    warning = 'the model answered "Section 42", which a second reading of its evidence contradicts'
    assert any(warning in w for w in obj["warnings"]) and warning in r.stderr
    assert obj["iterations"] == 3  # numbers check, then the reading, then the reading answers
    shown = cli(["logs", "show", "latest", "--color", "never", "--width", "90"]).stdout
    assert shown[shown.index("╭─ Answer"):].splitlines()[:2] == [
        "╭─ Answer · from a second reading of its evidence, not the model's own answer ───────────╮",
        "│ 9" + " " * 86 + "│"]


def test_a_reading_not_copied_from_the_evidence_only_disputes_the_answer(cli, script, tmp_path):
    doc = gfdl(tmp_path)
    model = script([reader("Section 12"),  # not in the passage: the reader wrote it, it did not read it
                    {"when": ".", "reply": repl("FINAL('9', evidence='9. TERMINATION')")}])
    r = cli(["ask", doc, QUESTION, "-m", model, "--json"])
    obj = r.json()
    assert (obj["answer"], obj["supported"], obj["confidence"], obj["model_answer"]) == ("9", False, "disputed", None)
    assert any('second reading of the evidence answers "Section 12"' in w for w in obj["warnings"])
    assert 'second reading of the evidence answers "Section 12"' in r.stderr


def test_an_answer_that_repeats_the_question_is_told_what_its_evidence_reads(cli, script, tmp_path):
    doc = gfdl(tmp_path)
    echo = repl("FINAL('numbered section', evidence='9. TERMINATION')")
    told = 'only repeats words of the question.*A second reader.*answered "9": if that answers the question'
    model = script([reader("9"), {"when": told, "reply": repl("FINAL('9', evidence='9. TERMINATION')")},
                    {"when": ".", "reply": echo}])
    obj = cli(["ask", doc, QUESTION, "-m", model, "--json"]).json()
    assert (obj["answer"], obj["confidence"], obj["iterations"]) == ("9", "verified", 2)
    checks = [line for line in open(obj["trajectory"]) if '"role": "check"' in line and "model_start" in line]
    assert len(checks) == 1  # read once, for the echo; the answer that took it is not read again
    # kept against it, the reading answers (the echo's message counted as the reading told)
    obj = cli(["ask", doc, QUESTION, "-m", script([reader("9"), {"when": ".", "reply": echo}]), "--json"]).json()
    assert (obj["answer"], obj["confidence"], obj["model_answer"], obj["iterations"]) == (
        "9", "reread", "numbered section", 2)


def test_a_reader_that_finds_nothing_in_the_evidence_sends_it_back_once_then_disputes(cli, script, tmp_path):
    doc = gfdl(tmp_path)
    told = "found no answer to the question in it"
    model = script([reader("NONE"), {"when": told, "reply": repl("FINAL('9', evidence='9. TERMINATION')")},
                    {"when": ".", "reply": repl("FINAL('9', evidence='9. TERMINATION')")}])
    obj = cli(["ask", doc, QUESTION, "-m", model, "--json"]).json()
    assert (obj["answer"], obj["confidence"], obj["supported"], obj["iterations"]) == ("9", "disputed", False, 2)
    assert any("finds no answer to the question in it" in w for w in obj["warnings"])
    # a reply that is no reading at all (code, nothing) is not "found nothing"
    obj = cli(["ask", doc, QUESTION, "-m", script([reader("```repl\nx\n```"), {"when": ".", "reply": repl(
        "FINAL('9', evidence='9. TERMINATION')")}]), "--json"]).json()
    assert (obj["confidence"], obj["iterations"]) == ("verified", 1)


def test_an_answer_that_takes_the_reading_is_supported_without_another_call(cli, script, tmp_path):
    doc = gfdl(tmp_path)
    model = script([reader("9"),
                    {"when": 'a second reader.*answered "9"', "reply": repl("FINAL('9', evidence='9. TERMINATION')")},
                    {"when": ".", "reply": repl("FINAL('Termination is section 42', evidence='9. TERMINATION')")}])
    obj = cli(["ask", doc, QUESTION, "-m", model, "--json"]).json()
    assert (obj["answer"], obj["supported"], obj["confidence"]) == ("9", True, "verified")
    assert not any("second reading" in w for w in obj["warnings"])
    checks = [line for line in open(obj["trajectory"]) if '"role": "check"' in line and "model_start" in line]
    assert len(checks) == 1  # the answer that agrees with the reading it was told about is not re-read


def test_an_agreeing_or_wordless_reader_and_no_reread_leave_the_answer_alone(cli, script, tmp_path):
    doc = gfdl(tmp_path)
    right = {"when": ".", "reply": repl("FINAL('9', evidence='9. TERMINATION')")}
    for reply in ("9. TERMINATION", ""):
        obj = cli(["ask", doc, QUESTION, "-m", script([reader(reply), right]), "--json"]).json()
        assert (obj["answer"], obj["iterations"], obj["confidence"]) == ("9", 1, "verified")
    wrong = {"when": ".", "reply": repl("FINAL('Section 8', evidence='9. TERMINATION')")}
    obj = cli(["ask", doc, QUESTION, "-m", script([reader("9"), wrong]), "--json", "--no-reread"]).json()
    assert (obj["iterations"], obj["confidence"]) == (2, "disputed")  # only the numbers check ran: 8 is not in it
    assert any("numbers are not in its evidence" in w for w in obj["warnings"])
    assert not any('"role": "check"' in line for line in open(obj["trajectory"]))


def test_a_hostile_reading_reaches_the_terminal_clean(cli, script, tmp_path):
    doc = gfdl(tmp_path)
    model = script([reader("\x1b]0;owned\x07[bold]7[/bold]\x1b[2J"),
                    {"when": ".", "reply": repl("FINAL('9', evidence='9. TERMINATION')")}])
    r = cli(["ask", doc, QUESTION, "-m", model, "--json"])
    assert r.json()["confidence"] == "disputed"
    line = next(ln for ln in r.stderr.splitlines() if "second reading" in ln)
    assert "\x1b" not in line and "\x07" not in line and "7" in line


def test_the_tree_shows_each_second_reading_under_the_final_it_read():
    import io

    from rich.console import Console

    from rlm_cli.backends.scripted import ScriptedModel
    from rlm_cli.context import Context
    from rlm_cli.engine import Run, RunConfig
    from rlm_cli.ui.tree import RenderOptions, TreeState
    from rlm_cli.usage import Limits

    model = ScriptedModel.from_dict({"rules": [reader("9"), {"when": ".", "reply": repl(
        "FINAL('Section 42', evidence='9. TERMINATION')")}]})
    run = Run(model, RunConfig("scripted/x", "scripted/x", Limits(max_iterations=5, max_depth=1), 1), run_id="t")
    events = []
    run.bus.add(events.append)
    result = run.execute(QUESTION, Context.from_text(DOC, name="gfdl.txt"))
    assert (result.labels["confidence"], result.iterations, result.answer) == ("reread", 3, "9")
    console = Console(width=100, color_system=None, record=True, file=io.StringIO())
    console.print(TreeState.from_events(events, RenderOptions(show_timings=False)))
    lines = [ln.rstrip() for ln in console.export_text().splitlines()]
    start = next(i for i, ln in enumerate(lines) if "iteration 3/5" in ln)
    assert lines[start + 1:start + 4] == [
        "    ├── FINAL('Section 42', evidence='9. TERMINATION')",
        "    ├── → (no output)  FINAL",
        "    └── ↻ second reading of the evidence: 9"]
    assert sum("second reading of the evidence: 9" in ln for ln in lines) == 2  # turns 2 and 3; not turn 1


CHOICE = ("Is the label 'shipping' more common, less common, or the same as the label 'billing'? "
          "Answer with one word: more, less or same.")


@pytest.mark.parametrize("answer, reading, question, same", [
    ("same", "more", CHOICE, False),
    ("more", "more common", CHOICE, True),
    ("the same", "same", CHOICE, True),
    ("billing", "feedback", "Which label occurs most often?", False),
    ("feedback", "'feedback'", "Which label occurs most often?", True),
])
def test_agreement_on_computed_answers_and_choices(answer, reading, question, same):
    assert reread.agrees(answer, reading, question) is same


def test_which_computed_answers_are_read_against_the_output():
    assert reread.computed_word("Which label occurs most often?", "billing")
    assert reread.computed_word(CHOICE, "same")
    assert not reread.computed_word("How many records have the label billing?", "35")  # a number: counted by code
    assert not reread.computed_word("Who wrote the manual?", "Niels")  # not computed: the evidence is re-read
    out = reread.work_prompt("q?", ["a" * 5000, "", "TAIL"])
    assert "TAIL" in out and out.count("a") < reread.CAP + 200  # the most recent output, capped


RECORDS = "".join(f"Record {i} | label: {'feedback' if i % 3 else 'billing'}\n" for i in range(60))


def test_a_computed_word_answer_is_read_against_what_the_repl_printed(cli, script, tmp_path):
    doc = tmp_path / "records.txt"
    doc.write_text(RECORDS)
    q = "Which label occurs most often among the records?"
    model = script([{"when": "^A program searched and counted a document", "reply": "feedback"},
                    {"when": 'answered "feedback", not "billing"', "reply": repl("FINAL('feedback')")},
                    {"turn": 1, "when": "Question", "reply": repl("print(tally('label').most_common())")},
                    {"turn": 2, "when": ".", "reply": repl("FINAL('billing')")}])
    obj = cli(["ask", doc, q, "-m", model, "--json"]).json()
    assert (obj["answer"], obj["iterations"]) == ("feedback", 3)
    checks = [line for line in open(obj["trajectory"]) if '"role": "check"' in line and "model_start" in line]
    assert len(checks) == 1


def test_a_long_answer_from_memory_with_a_real_quote_is_sent_back_then_disputed(cli, script, tmp_path):
    doc = tmp_path / "process.txt"
    doc.write_text("Exit codes\n" + "filler line\n" * 30 + "13 Unfinished Top-Level Await: await was used outside of a "
                   "function in the top-level code, but the passed Promise never resolved.\n" + "filler line\n" * 30
                   + "The listener callback function is invoked with the exit code specified by process.exitCode.\n")
    memory = ("FINAL('The exit code typically indicates that a process has encountered an error or exception and has "
              "terminated, caused by a runtime failure, a missing file or a network issue.', "
              "evidence='The listener callback function is invoked with the exit code')")
    read = "FINAL('Unfinished Top-Level Await', evidence='13 Unfinished Top-Level Await')"
    q = "What does exit code 13 mean?"
    fixed = script([reader("Unfinished Top-Level Await"),
                    {"when": "most of your answer is not in the text around your evidence", "reply": repl(read)},
                    {"when": ".", "reply": repl(memory)}])
    obj = cli(["ask", doc, q, "-m", fixed, "--json"]).json()
    assert (obj["answer"], obj["confidence"], obj["iterations"]) == ("Unfinished Top-Level Await", "verified", 2)
    stubborn = script([reader("NONE"), {"when": ".", "reply": repl(memory)}])
    obj = cli(["ask", doc, q, "-m", stubborn, "--json"]).json()
    assert (obj["confidence"], obj["supported"], obj["iterations"]) == ("disputed", False, 2)
    assert any("most of the answer's words are not in the text around its evidence" in w for w in obj["warnings"])


@pytest.mark.parametrize("answer, text, grounded", [
    ("The exit code typically indicates that a process has encountered an error and terminated badly",
     "The listener callback function is invoked with the exit code", False),
    ("Unfinished Top-Level Await: await was used outside of a function in the top-level code",
     "13 Unfinished Top-Level Await: await was used outside of a function in the top-level code", True),
    ("jpeg_set_defaults", "nothing in common", True),  # short answers are the words check's
])
def test_ungrounded_answers(answer, text, grounded):
    assert reread.ungrounded(answer, "What does exit code 13 mean?", text) is not grounded


def test_a_number_outside_the_quote_is_borne_out_by_a_reading_of_the_text_around_it(cli, script, tmp_path):
    doc = tmp_path / "users.txt"
    doc.write_text("Filler about groups.\n" * 30 + "operator\nHistorically, the operator user account was used "
                   "by dump. It had uid 37 and is no longer created by default.\n" + "More filler.\n" * 30)
    question = "Which uid did the operator user have?"
    answer = {"when": ".", "reply": repl("FINAL('37', evidence='Historically, the operator user account was used')")}
    obj = cli(["ask", doc, question, "-m", script([reader("uid 37"), answer]), "--json"]).json()
    assert (obj["answer"], obj["iterations"], obj["confidence"], obj["supported"]) == ("37", 2, "verified", True)
    # the reader's "37" must be the passage's: one it wrote itself confirms nothing
    obj = cli(["ask", doc, question, "-m", script([reader("uid 38"), answer]), "--json"]).json()
    assert obj["confidence"] == "disputed"
    # a reader that only repeats the question confirms nothing; without a reading the number check labels it
    for extra in ([reader("the operator user")], []):
        obj = cli(["ask", doc, question, "-m", script([*extra, answer]), "--json"]
                  + ([] if extra else ["--no-reread"])).json()
        assert (obj["confidence"], obj["warnings"]) == ("disputed", [
            "the answer's numbers are not in its evidence: the answer may not be what its evidence says"])


def test_a_forced_answer_that_repeats_the_question_gives_way_to_a_reading_of_its_evidence(cli, script, tmp_path):
    doc = gfdl(tmp_path)
    model = script([reader("9"),
                    {"when": "out of turns", "reply": repl("FINAL('numbered section', evidence='9. TERMINATION')")},
                    {"when": ".", "reply": repl("x = search('numbered section')")}])
    r = cli(["ask", doc, QUESTION, "-m", model, "--json", "--max-iterations", "2"])
    obj = r.json()
    assert (obj["answer"], obj["confidence"], obj["forced"], obj["model_answer"]) == ("9", "forced", True,
                                                                                   "numbered section")
    assert obj["supported"] is False and any("which a second reading of its evidence contradicts" in w
                                             for w in obj["warnings"])
    # a forced answer that says something is not re-read
    model = script([reader("9"), {"when": "out of turns", "reply": repl("FINAL('42', evidence='9. TERMINATION')")},
                    {"when": ".", "reply": repl("x = 1")}])
    obj = cli(["ask", doc, QUESTION, "-m", model, "--json", "--max-iterations", "2"]).json()
    assert (obj["answer"], obj["confidence"], obj["model_answer"]) == ("42", "forced", None)
    assert not any('"role": "check"' in line for line in open(obj["trajectory"]))


KEYS = ("filler\n" * 50 + "The number for amber-fox-11 is 111.\n" + "filler\n" * 50
        + "The number for brisk-owl-22 is 222.\n" + "filler\n" * 50 + "The number for calm-elk-33 is 333.\n")
KEYS_QUESTION = "What are the numbers for amber-fox-11, brisk-owl-22 and calm-elk-33? One line per key, as key=number."
LOOP = 'for item in ["amber-fox-11", "brisk-owl-22", "calm-elk-33"]:\n    print(item, search(item, k=1))'


def test_an_answer_that_leaves_out_listed_items_gives_way_to_a_reading_of_the_lookups_it_printed(cli, script,
                                                                                                   tmp_path):
    doc = tmp_path / "keys.txt"
    doc.write_text(KEYS)
    lookups = {"when": "^A program looked up the items",
               "reply": "amber-fox-11=111\nbrisk-owl-22=222\ncalm-elk-33=333\n\nThese are read from the output."}
    model = script([lookups, {"when": r"for item in \[", "reply": repl(LOOP)},
                    {"when": ".", "reply": repl("FINAL('111', evidence='The number for amber-fox-11 is 111.')")}])
    r = cli(["ask", doc, KEYS_QUESTION, "-m", model, "--json"])
    obj = r.json()
    assert (obj["answer"], obj["confidence"], obj["model_answer"], obj["iterations"]) == (
        "amber-fox-11=111\nbrisk-owl-22=222\ncalm-elk-33=333", "reread", "111", 4)
    # a reader that makes values up (not in what was printed) is no reading; the answer that leaves out
    # items after being told is labelled
    made_up = {"when": "^A program looked up the items", "reply": "amber-fox-11=111\nbrisk-owl-22=999\ncalm-elk-33=7"}
    model = script([made_up, {"when": r"for item in \[", "reply": repl(LOOP)},
                    {"when": ".", "reply": repl("FINAL('111', evidence='The number for amber-fox-11 is 111.')")}])
    obj = cli(["ask", doc, KEYS_QUESTION, "-m", model, "--json"]).json()
    assert (obj["answer"], obj["confidence"], obj["model_answer"], obj["iterations"]) == ("111", "disputed", None, 3)
    assert obj["warnings"] == ["the answer leaves out items the question lists (amber-fox-11, brisk-owl-22, calm-elk-33): "
                               "the answer may not be what its evidence says"]


def test_the_best_reading_of_the_lookups_is_kept_when_later_output_pushes_them_out(cli, script, tmp_path):
    doc = tmp_path / "keys.txt"
    doc.write_text(KEYS)
    full = "amber-fox-11=111\nbrisk-owl-22=222\ncalm-elk-33=333"
    model = script([{"when": "^A program looked up.*calm-elk-33 search", "reply": full},  # the loop's output
                    {"when": "^A program looked up", "reply": "amber-fox-11=111\nbrisk-owl-22=NONE"},
                    {"when": r"for item in \[", "reply": repl(LOOP)},
                    {"when": "a second reader", "reply": repl("print(read(0, 2000))")},  # pushes the lookups out
                    {"when": ".", "reply": repl("FINAL('111', evidence='The number for amber-fox-11 is 111.')")}])
    obj = cli(["ask", doc, KEYS_QUESTION, "-m", model, "--json"]).json()
    assert (obj["answer"], obj["confidence"], obj["model_answer"]) == (full, "reread", "111")
