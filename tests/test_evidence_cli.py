"""Evidence end to end: the real CLI, the scripted model, a real REPL, real PDF/DOCX ingestion."""
from __future__ import annotations

import json
import re

import pytest

from ingest_fixtures import make_docx, make_pdf


def repl(code: str) -> str:
    return f"```repl\n{code}\n```"


@pytest.fixture
def pdf(tmp_path):
    return make_pdf(tmp_path / "report.pdf", pages=3)


def test_acceptance_a_real_and_a_fabricated_quote_give_one_verified_citation_with_file_and_page(cli, script, pdf):
    model = script([{"turn": 1, "when": "Question", "reply": repl(
        'FINAL("PG0002", evidence=["Page 2 marker PG0002. The quick brown fox", "Page 9 marker PG0009 says so"])')}])
    r = cli(["ask", pdf, "Which marker is on the second page?", "-m", model, "--json"])
    assert r.exit_code == 0, r.stderr
    obj = r.json()
    assert obj["version"] == 2 and obj["status"] == "ok"
    real, fake = obj["citations"]
    assert real == {"quote": "Page 2 marker PG0002. The quick brown fox", "source": str(pdf), "location": "p.2",
                    "start": real["start"], "end": real["end"], "verified": True}
    assert fake == {"quote": "Page 9 marker PG0009 says so", "source": None, "location": None, "start": None,
                    "end": None, "verified": False, "reason": "not found in the context"}
    assert (obj["supported"], obj["forced"], obj["confidence"]) == (True, False, "verified")
    assert "warning" not in r.stderr


def test_offsets_map_to_docx_lines_and_the_quote_is_the_passage(cli, script, tmp_path):
    from rlm_cli.ingest import load_sources

    doc = make_docx(tmp_path / "memo.docx")
    text = load_sources([str(doc)], use_cache=False).text
    line = text[:text.index("BODY-LAST")].count("\n") + 1
    model = script([{"turn": 1, "when": "Question", "reply": repl(
        "i = context.find('BODY-LAST')\nFINAL('the last one', evidence=(i, i + 9))")}])
    obj = cli(["ask", doc, "Which body marker is last?", "-m", model, "--json"]).json()
    (c,) = obj["citations"]
    assert (c["source"], c["location"], c["quote"], c["verified"]) == (str(doc), f"line {line}", "BODY-LAST", True)


def test_search_hits_and_cite_through_the_cli_and_text_lines_of_the_right_file(cli, script, tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("nothing\n" * 5)
    b.write_text("filler\nfiller\nThe vault code is 7741.\n")
    model = script([{"turn": 1, "when": "Question", "reply": repl(
        "hits = search('vault code')\nprint(cite(hits[0]))\nFINAL('7741')")}])
    obj = cli(["ask", a, b, "What is the vault code?", "-m", model, "--json"]).json()
    (c,) = obj["citations"]
    assert (c["source"], c["location"], c["quote"], c["verified"]) == (str(b), "line 3", "The vault code is 7741.", True)


def test_a_child_rlm_returns_evidence_mapped_to_the_parents_offsets(cli, script, pdf):
    model = script([
        {"when": "You are a sub-agent", "target": "system", "reply": repl(
            'FINAL("PG0003", evidence=["Page 3 marker PG0003", "invented by the child"])')},
        {"turn": 1, "when": "Question", "reply": repl(
            "i = context.find('Page 3')\nanswer = rlm_query('Which marker?', context[i - 50:])\nFINAL(answer)")},
    ])
    r = cli(["ask", pdf, "Which marker is on page 3?", "-m", model, "--json", "--max-depth", "1"])
    obj = r.json()
    assert obj["answer"] == "PG0003", r.stderr
    found, invented = obj["citations"]
    assert (found["source"], found["location"], found["verified"], found["via"]) == (str(pdf), "p.3", True, "r.1")
    from rlm_cli.ingest import load_sources

    text = load_sources([str(pdf)], use_cache=False).text
    assert text[found["start"]:found["end"]] == "Page 3 marker PG0003"
    assert (invented["verified"], invented["via"]) == (False, "r.1")


def test_evidence_required_refuses_once_then_ends_unsupported_with_exit_6(cli, script, tmp_path):
    doc = tmp_path / "d.txt"
    doc.write_text("The answer is blue.\n")
    out = tmp_path / "answer.md"
    model = script([{"when": "evidence is required and your FINAL carried none", "reply": repl("FINAL('red')")},
                    {"turn": 1, "when": "Question", "reply": repl("FINAL('red')")}])
    r = cli(["ask", doc, "What colour?", "-m", model, "--evidence", "required", "-o", out])
    assert r.exit_code == 6 and not out.exists()
    assert "no verified evidence (--evidence required); it was not written to" in r.stderr
    j = cli(["ask", doc, "What colour?", "-m", model, "--evidence", "required", "--json"])
    obj = j.json()
    assert (j.exit_code, obj["status"], obj["exit_code"], obj["answer"], obj["supported"]) == (6, "unsupported", 6, "red", False)
    assert obj["iterations"] == 2  # refused once, then accepted as unsupported
    good = script([{"turn": 2, "reply": repl("FINAL('blue', evidence='The answer is blue.')")},
                   {"turn": 1, "when": "Question", "reply": repl("FINAL('blue')")}])
    ok = cli(["ask", doc, "What colour?", "-m", good, "--evidence", "required", "--json"])
    assert ok.exit_code == 0 and ok.json()["supported"] is True


def test_an_answer_without_evidence_is_sent_back_once_then_flagged_on_stderr_and_in_json(cli, script, tmp_path):
    doc = tmp_path / "d.txt"
    doc.write_text("text\n")
    guess = repl("FINAL('a guess', evidence='not in the text at all')")
    model = script([{"when": 'none of your evidence is in the document \\("not in the text at all": ', "reply": guess},
                    {"turn": 1, "when": "Question", "reply": guess}])
    r = cli(["ask", doc, "q?", "-m", model, "--json"])
    obj = r.json()
    assert r.exit_code == 0 and obj["status"] == "ok" and obj["iterations"] == 2
    assert (obj["supported"], obj["confidence"]) == (False, "unverified")
    assert "rlm: warning: no verified evidence supports the answer (1 item(s) could not be verified)" in r.stderr
    assert obj["warnings"] == ["no verified evidence supports the answer (1 item(s) could not be verified)"]
    found = script([{"when": "none of your evidence", "reply": repl("FINAL('text', evidence='text')")},
                    {"turn": 1, "when": "Question", "reply": guess}])
    again = cli(["ask", doc, "q?", "-m", found, "--json"]).json()  # the second FINAL, with real evidence, wins
    assert (again["answer"], again["supported"], again["iterations"]) == ("text", True, 2)


def test_an_answer_forced_at_the_iteration_limit_is_labelled(cli, script, tmp_path):
    doc = tmp_path / "d.txt"
    doc.write_text("The answer is blue.\n")
    model = script([{"when": "out of turns", "reply": repl("FINAL('blue', evidence='The answer is blue.')")},
                    {"when": ".", "reply": repl("print(len(context))")}])
    r = cli(["ask", doc, "q?", "-m", model, "--json", "--max-iterations", "2"])
    obj = r.json()
    assert (r.exit_code, obj["forced"], obj["supported"], obj["confidence"]) == (0, True, True, "forced")
    assert "rlm: warning: the answer was forced at the iteration limit" in r.stderr


def test_repeated_code_with_the_same_output_is_pointed_out(cli, script, tmp_path):
    doc = tmp_path / "d.txt"
    doc.write_text("abc\n")
    model = script([{"when": "same code you ran in turn 1", "reply": repl("FINAL('changed course')")},
                    {"when": ".", "reply": repl("print(len(context))")}])
    obj = cli(["ask", doc, "q?", "-m", model, "--json", "--max-iterations", "5"]).json()
    assert obj["answer"] == "changed course" and obj["iterations"] == 3  # turn 2 repeated turn 1; told at turn 3


def test_terminal_answer_panel_lists_the_evidence(cli, script, pdf, monkeypatch):
    monkeypatch.chdir(pdf.parent)
    model = script([{"turn": 1, "when": "Question", "reply": repl(
        'FINAL("PG0002", evidence=["Page 2 marker PG0002", "Page 9 marker PG0009"])')}])
    assert cli(["ask", "report.pdf", "Which marker?", "-m", model]).exit_code == 0
    shown = cli(["logs", "show", "latest", "--color", "never", "--width", "80"]).stdout
    panel = shown[shown.index("╭─ Answer"):]
    assert panel == (
        "╭─ Answer ─────────────────────────────────────────────────────────────────────╮\n"
        "│ PG0002                                                                       │\n"
        "│                                                                              │\n"
        "│ Evidence                                                                     │\n"
        "│ ✓ [1] report.pdf p.2: “Page 2 marker PG0002”                                 │\n"
        "│ ✗ [2] not verified (not found in the context): “Page 9 marker PG0009”        │\n"
        "╰──────────────────────────────────────────────────────────────────────────────╯\n")


def test_terminal_panel_title_warns_about_an_unsupported_answer(cli, script, tmp_path):
    doc = tmp_path / "d.txt"
    doc.write_text("text\n")
    model = script([{"turn": 1, "when": "Question", "reply": repl("FINAL('a guess')")}])
    cli(["ask", doc, "q?", "-m", model])
    shown = cli(["logs", "show", "latest", "--color", "never", "--width", "60"]).stdout
    assert "╭─ Answer · no verified evidence ───" in shown and "Evidence" not in shown


def test_markdown_output_has_footnotes(cli, script, pdf):
    model = script([{"turn": 1, "when": "Question", "reply": repl(
        'FINAL("It is PG0002.", evidence=["Page 2 marker PG0002", "made up"])')}])
    md = cli(["ask", pdf, "Which marker?", "-m", model, "--format", "markdown"]).stdout
    assert md.startswith("It is PG0002.[^1][^2]\n\n"
                         f"[^1]: {pdf} p.2: “Page 2 marker PG0002”\n"
                         "[^2]: not verified (not found in the context): “made up”\n\n---\n_Answered by rlm")


def test_html_report_highlights_each_quote_in_its_context(cli, script, pdf, tmp_path):
    model = script([{"turn": 1, "when": "Question", "reply": repl(
        'FINAL("PG0002", evidence=["marker PG0002", "made <up>"])')}])
    cli(["ask", pdf, "Which marker?", "-m", model])
    out = tmp_path / "run.html"
    assert cli(["logs", "show", "--html", "latest", "-o", out]).exit_code == 0
    html = out.read_text()
    m = re.search(r'<li class="ok"><span class="where">([^<]*)</span><blockquote>(.*?)</blockquote>', html)
    assert m and m.group(1) == f"{pdf} p.2"
    assert m.group(2).endswith("Page 2 <mark>marker PG0002</mark>. The quick brown fox jumps over the lazy dog. "
                               "Page 3 marker PG0003. The quick brown fox jumps over the lazy dog.")
    assert "Page 1 marker PG0001" in m.group(2)
    assert "not verified (not found in the context): “made &lt;up&gt;”" in html


def test_the_run_end_event_carries_the_evidence_for_saved_runs(cli, script, pdf):
    model = script([{"turn": 1, "when": "Question", "reply": repl('FINAL("PG0001", evidence="Page 1 marker PG0001")')}])
    r = cli(["ask", pdf, "q?", "-m", model, "--json"])
    events = [json.loads(line) for line in open(r.json()["trajectory"])]
    end = events[-1]
    assert end["kind"] == "run_end" and end["data"]["supported"] is True
    assert end["data"]["citations"][0]["location"] == "p.1" and end["data"]["citations"][0]["after"]


def test_search_hits_and_tallies_kept_in_variables_survive_a_follow_up_in_another_process(cli, script, tmp_path):
    doc = tmp_path / "d.txt"
    doc.write_text("filler\nThe vault code is 7741.\ncode: A\ncode: B\ncode: A\n")
    first = script([{"turn": 1, "when": "Question", "reply": repl("hits = search('vault code')\nt = tally(r'code: (\\w)')\nFINAL('found')")}])
    assert cli(["ask", doc, "Find it", "-m", first, "--json"]).json()["answer"] == "found"
    second = script([{"turn": 1, "when": "Question", "reply": repl("FINAL(hits[0].where + ' ' + repr(t.most_common(1)), evidence=hits[0])")}])
    obj = cli(["ask", "-c", "Where was it?", "-m", second, "--json"]).json()
    assert obj["answer"] == f"{doc} line 2 [('A', 2)]" and obj["citations"][0]["quote"].startswith("The vault code is 7741.")


def test_an_answer_that_repeats_the_question_is_refused_once_then_flagged(cli, script, tmp_path):
    doc = tmp_path / "d.txt"
    doc.write_text("Brightwater Castings missed the deadline by 19 days.\n")
    echo = repl("FINAL('supplier missed the deadline, and by how many days', evidence='missed the deadline by 19 days')")
    fixed = script([{"when": 'only repeats words of the question .*Your evidence says: "missed the deadline by 19 days"', "reply": repl("FINAL('Brightwater Castings, 19 days', evidence='missed the deadline by 19 days')")},
                    {"turn": 1, "when": "Question", "reply": echo}])
    obj = cli(["ask", doc, "Which supplier missed the deadline, and by how many days?", "-m", fixed, "--json"]).json()
    assert (obj["answer"], obj["iterations"], obj["supported"]) == ("Brightwater Castings, 19 days", 2, True)
    stubborn = script([{"when": ".", "reply": echo}])
    r = cli(["ask", doc, "Which supplier missed the deadline, and by how many days?", "-m", stubborn, "--json"])
    obj = r.json()
    assert (obj["iterations"], obj["supported"], obj["confidence"]) == (2, False, "unverified")
    assert obj["citations"][0]["verified"] is True  # the quote is real; the answer is not one
    assert "rlm: warning: the answer only repeats the question" in r.stderr
    copied = script([{"when": "only repeats words", "reply": repl("FINAL('Brightwater Castings', evidence='Brightwater Castings missed the deadline')")},
                     {"turn": 1, "when": "Question", "reply": repl(
                         "FINAL('<the answer itself: the value, name or fact asked for>', evidence='19 days')")}])
    obj = cli(["ask", doc, "Which supplier?", "-m", copied, "--json"]).json()
    assert (obj["answer"], obj["iterations"], obj["supported"]) == ("Brightwater Castings", 2, True)
    short = script([{"turn": 1, "when": "Question", "reply": repl("FINAL('more')")}])
    assert cli(["ask", doc, "Is it more or less?", "-m", short, "--json"]).json()["iterations"] == 1


def test_an_answer_whose_numbers_its_evidence_does_not_show_is_sent_back_once(cli, script, tmp_path):
    doc = tmp_path / "d.txt"
    doc.write_text("Rights come back if the holder does not notify you prior to 60 days after compliance.\n"
                   "Revenue by quarter: 118.4, 131.9, 127.2 and 146.5 million.\n")
    misread = repl("FINAL('30 days', evidence='prior to 60 days after compliance')")
    fixed = script([{"when": 'your answer "30 days" says 30, but the evidence you gave does not: "prior to 60 days',
                     "reply": repl("FINAL('60 days', evidence='prior to 60 days after compliance')")},
                    {"turn": 1, "when": "Question", "reply": misread}])
    obj = cli(["ask", doc, "How many days?", "-m", fixed, "--json"]).json()
    assert (obj["answer"], obj["iterations"], obj["supported"]) == ("60 days", 2, True)
    total = repl("FINAL('524.0 million', evidence='118.4, 131.9, 127.2 and 146.5')")  # computed: said again, accepted
    obj = cli(["ask", doc, "What was the total revenue?", "-m", script([{"when": ".", "reply": total}]), "--json"]).json()
    assert (obj["answer"], obj["iterations"], obj["supported"]) == ("524.0 million", 2, True)
    right = script([{"when": ".", "reply": repl("FINAL('131.9', evidence='131.9')")}])
    assert cli(["ask", doc, "Second quarter?", "-m", right, "--json"]).json()["iterations"] == 1


def test_a_final_whose_pasted_quote_holds_its_quote_character_is_still_read(cli, script, tmp_path):
    """FINAL("x", evidence=["… "quoted" …"]) is a SyntaxError in Python; a 1.5B model writes it constantly
    when it pastes a line that has quotes in it. The block is read as the answer and the quote."""
    doc = tmp_path / "faq.txt"
    doc.write_text('Maintainer:\nEric Pement said "append the Next line" ought to print.\n')
    bad = '```repl\nFINAL("Eric Pement", evidence=["Eric Pement said "append the Next line" ought to print."])\n```'
    obj = cli(["ask", doc, "Who maintains it?", "-m", script([{"when": ".", "reply": bad}]), "--json"]).json()
    assert (obj["answer"], obj["iterations"], obj["supported"]) == ("Eric Pement", 1, True)
    assert obj["citations"][0]["location"] == "line 2"
    broken = '```repl\nx = 1\nFINAL("a", evidence=["b "c" d"])\n```'  # more than the one call: a plain SyntaxError
    r = cli(["ask", doc, "Who?", "-m", script([{"when": ".", "reply": broken}]), "--max-iterations", "1", "--json"])
    assert r.json()["iterations"] >= 1 and "SyntaxError" in open(r.json()["trajectory"]).read()


def test_words_written_without_quotes_get_a_hint_with_the_call_meant(cli, script, tmp_path):
    doc = tmp_path / "d.txt"
    doc.write_text("filler\nThe special magic number for brisk-fjord-41 is 3904026.\n")
    model = script([{"when": 'NameError.*Hint: text needs quotes: search\\("brisk-fjord-41"\\)',
                     "reply": repl("print(search('brisk-fjord-41'))")},
                    {"when": "is 3904026", "reply": repl("FINAL('3904026', evidence=search('brisk-fjord-41')[0])")},
                    {"turn": 1, "when": "Question", "reply": repl("search(brisk-fjord-41)")}])
    obj = cli(["ask", doc, "What is the number for brisk-fjord-41?", "-m", model, "--json"]).json()
    assert (obj["answer"], obj["iterations"], obj["supported"]) == ("3904026", 3, True)


def test_an_answer_that_leaves_out_keys_the_question_lists_is_sent_back_once(cli, script, tmp_path):
    doc = tmp_path / "d.txt"
    doc.write_text("filler\nThe number for amber-fox-11 is 111.\nThe number for brisk-owl-22 is 222.\n"
                   "The number for calm-elk-33 is 333.\n")
    q = "What are the numbers for amber-fox-11, brisk-owl-22 and calm-elk-33?"
    all_three = repl("FINAL('amber-fox-11=111\\nbrisk-owl-22=222\\ncalm-elk-33=333', evidence=['is 111', 'is 222'])")
    model = script([{"when": "does not mention amber-fox-11, brisk-owl-22, calm-elk-33", "reply": all_three},
                    {"turn": 1, "when": "Question", "reply": repl("FINAL('111', evidence='The number for amber-fox-11 is 111.')")}])
    obj = cli(["ask", doc, q, "-m", model, "--json", "--no-reread"]).json()
    assert (obj["answer"], obj["iterations"], obj["supported"]) == ("amber-fox-11=111\nbrisk-owl-22=222\ncalm-elk-33=333", 2, True)
    stubborn = script([{"when": ".", "reply": repl("FINAL('111', evidence='is 111')")}])
    obj = cli(["ask", doc, q, "-m", stubborn, "--json", "--no-reread"]).json()
    assert (obj["answer"], obj["iterations"]) == ("111", 2)  # told once, then taken as it is


def test_the_lookup_loop_an_answer_with_missing_keys_is_given_runs_and_shows_every_key(cli, script, tmp_path):
    doc = tmp_path / "d.txt"
    doc.write_text("filler\n" * 50 + "The number for amber-fox-11 is 111.\n" + "filler\n" * 50
                   + "The number for brisk-owl-22 is 222.\n" + "filler\n" * 50 + "The number for calm-elk-33 is 333.\n")
    q = "What are the numbers for amber-fox-11, brisk-owl-22 and calm-elk-33?"
    loop = 'for item in ["amber-fox-11", "brisk-owl-22", "calm-elk-33"]:\n    print(item, search(item, k=1))'
    model = script([
        {"when": "(?s)brisk-owl-22 .*is 222.*calm-elk-33 .*is 333", "reply": repl(
            "FINAL('amber-fox-11=111\\nbrisk-owl-22=222\\ncalm-elk-33=333', evidence=['is 111', 'is 222', 'is 333'])")},
        {"when": re.escape(f"```repl\n{loop}\n```"), "reply": repl(loop)},  # the model copies the loop it is given
        {"turn": 1, "when": "Question", "reply": repl("FINAL('111', evidence='The number for amber-fox-11 is 111.')")}])
    obj = cli(["ask", doc, q, "-m", model, "--json", "--no-reread"]).json()
    assert (obj["answer"], obj["iterations"], obj["supported"]) == (
        "amber-fox-11=111\nbrisk-owl-22=222\ncalm-elk-33=333", 3, True)


def chain(tmp_path):
    """A three-hop document (person -> employer -> head office city -> country) and its question."""
    doc = tmp_path / "d.txt"
    doc.write_text("Records show that Lena Rossi is employed by Brightmoor Holdings.\n"
                   "The head office of Brightmoor Holdings is in the city of Brackwater.\n"
                   "The city of Brackwater lies in the country of Ostmark.\n")
    return doc, "In which country is the head office of the company that employs Lena Rossi?"


def test_a_short_answer_its_evidence_does_not_contain_is_sent_back_once(cli, script, tmp_path):
    doc, q = chain(tmp_path)
    hop = repl("FINAL('Aldermere', evidence='Lena Rossi is employed by Brightmoor Holdings')")
    fixed = repl("FINAL('Ostmark', evidence='The city of Brackwater lies in the country of Ostmark.')")
    model = script([{"when": 'your answer "Aldermere" is not in the evidence you gave', "reply": fixed},
                    {"turn": 1, "when": "Question", "reply": hop}])
    obj = cli(["ask", doc, q, "-m", model, "--json", "--no-reread"]).json()
    assert (obj["answer"], obj["iterations"], obj["supported"]) == ("Ostmark", 2, True)


def test_a_looked_up_number_kept_against_its_evidence_is_flagged_but_a_computed_one_is_not(cli, script, tmp_path):
    """Told once that its evidence does not show its number, a model that submits it again is taken at
    its word only for a computed answer (a total); a looked-up one is labelled disputed."""
    doc = tmp_path / "exit.txt"
    doc.write_text("The listener callback is invoked with the exit code.\n9 Invalid Argument: an unknown option.\n"
                   "Revenue by quarter: 118.4, 131.9, 127.2 and 146.5 million.\n")
    guess = repl("FINAL('13', evidence='The listener callback is invoked with the exit code.')")
    r = cli(["ask", doc, "Which exit code is used for an Invalid Argument?", "-m",
             script([{"when": ".", "reply": guess}]), "--json", "--no-reread"])
    obj = r.json()
    assert (obj["answer"], obj["iterations"], obj["supported"], obj["confidence"]) == ("13", 2, False, "disputed")
    assert "the answer's numbers are not in its evidence" in r.stderr
    total = repl("FINAL('524.0 million', evidence='118.4, 131.9, 127.2 and 146.5')")
    obj = cli(["ask", doc, "What was the total revenue?", "-m", script([{"when": ".", "reply": total}]),
               "--json", "--no-reread"]).json()
    assert (obj["iterations"], obj["supported"], obj["confidence"]) == (2, True, "verified")


def test_a_city_given_for_which_country_is_sent_back_with_a_search_to_follow(cli, script, tmp_path):
    doc, q = chain(tmp_path)
    city = repl("FINAL('Brackwater', evidence='The head office of Brightmoor Holdings is in the city of Brackwater.')")
    country = repl("FINAL('Ostmark', evidence='The city of Brackwater lies in the country of Ostmark.')")
    model = script([{"when": 'asks which country, but your evidence calls "Brackwater" a city.*search\\("Brackwater"\\)',
                     "reply": country}, {"turn": 1, "when": "Question", "reply": city}])
    obj = cli(["ask", doc, q, "-m", model, "--json", "--no-reread"]).json()
    assert (obj["answer"], obj["iterations"], obj["confidence"]) == ("Ostmark", 2, "verified")
    r = cli(["ask", doc, q, "-m", script([{"when": ".", "reply": city}]), "--json", "--no-reread"])
    assert (r.json()["iterations"], r.json()["confidence"]) == (2, "disputed")
    assert "the question asks for a country, its evidence calls the answer a city" in r.stderr
