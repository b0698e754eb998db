"""The model sees the documents, not our framing: exact context, `documents`, and locate kinds,
end to end through the real CLI, the real sandbox worker and a scripted model."""
from __future__ import annotations

import json

import pytest

from tests import ingest_fixtures as fx
from tests import kind_fixtures as kf

COUNT_APPLES = "I will count.\n```repl\nFINAL(str(context.lower().count('apple')))\n```"


@pytest.fixture(autouse=True)
def _no_ocr(monkeypatch):
    monkeypatch.setattr("rlm_cli.ingest.ocr.available", lambda: False)


def test_counting_over_one_file_is_exact(cli, script, tmp_path):
    text = "An apple a day.\nApple pie, apple tart and one more apple.\n" * 9 + "No fruit here.\n"
    doc = tmp_path / "apples.txt"  # the name itself says "apple": it must not be counted
    doc.write_text(text)
    expected = text.lower().count("apple")
    assert expected == 36
    model = script([{"turn": 1, "when": "Question: how many times", "reply": COUNT_APPLES}])
    r = cli(["ask", doc, "how many times does the word apple occur?", "-m", model])
    assert r.exit_code == 0, r.stderr
    assert r.stdout == f"{expected}\n"


def test_counting_over_stdin_is_exact(cli, script):
    model = script([{"turn": 1, "when": "Question", "reply": COUNT_APPLES}])
    r = cli(["ask", "how many apples?", "-m", model], stdin=b"apple\nAPPLE\npineapple\n")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "3\n"


def test_documents_list_in_the_repl(cli, script, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "apples.txt").write_text("apple apple\napple\n")
    (tmp_path / "pears.txt").write_text("pear, apple\n")
    code = ("```repl\nimport json\nout = {'names': [d.name for d in documents], 'kinds': [d.kind for d in documents],\n"
            " 'counts': [d.text.count('apple') for d in documents],\n"
            " 'spans_ok': all(context[d.start:d.end] == d.text for d in documents),\n"
            " 'loc': documents[1].locate(documents[1].text.index('apple')), 'repr': repr(documents[0]),\n"
            " 'head': context[:42]}\nFINAL(json.dumps(out))\n```")
    model = script([{"turn": 1, "when": "Question", "reply": code}])
    r = cli(["ask", "apples.txt", "pears.txt", "q", "-m", model])
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["names"] == ["apples.txt", "pears.txt"] and out["kinds"] == ["text", "text"]
    assert out["counts"] == [3, 1] and out["spans_ok"] is True
    assert out["loc"] == "pears.txt line 1"
    assert out["repr"].startswith("<document 'apples.txt' (text, 18 chars")
    assert out["head"] == "==> apples.txt <==\napple apple\napple\n\n==> "  # the documented separator


def test_documents_is_reserved(cli, script, tmp_path):
    doc = tmp_path / "a.txt"
    doc.write_text("hello")
    model = script([{"turn": 1, "when": "Question", "reply": "```repl\ndocuments = []\n```"},
                    {"turn": 2, "when": "reserved", "reply": "```repl\nFINAL(documents[0].text)\n```"}])
    r = cli(["ask", doc, "q", "-m", model])
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "hello\n"


def test_locate_names_every_kind_in_the_sandbox(cli, script, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    kf.make_pptx(tmp_path / "deck.pptx", 3)
    kf.make_xlsx(tmp_path / "budget.xlsx")
    kf.make_epub(tmp_path / "book.epub", 4)
    kf.make_mbox(tmp_path / "mail.mbox", 3)
    kf.make_html(tmp_path / "page.html")
    fx.make_pdf(tmp_path / "doc.pdf", 3)
    markers = ["SLIDE02", "ROW-MARK", "CH003", "MSG03", "11 cents", "PG0002"]
    code = "```repl\nFINAL('|'.join(locate(context.find(m)) for m in %r))\n```" % markers
    model = script([{"turn": 1, "when": "Question", "reply": code}])
    r = cli(["ask", "deck.pptx", "budget.xlsx", "book.epub", "mail.mbox", "page.html", "doc.pdf", "where?", "-m", model])
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip().split("|") == [
        "deck.pptx slide 2", "budget.xlsx Budget row 120", "book.epub ch. 3", "mail.mbox msg 3",
        "page.html § Costs", "doc.pdf p.2",
    ]


def test_prompt_describes_sources_and_documents(cli, stub_server, tmp_path):
    from conftest import scripted_responder

    deck = kf.make_pptx(tmp_path / "deck.pptx", 3)
    server = stub_server(scripted_responder([{"turn": 1, "when": "Question", "reply": "```repl\nFINAL('ok')\n```"}]))
    r = cli(["ask", deck, "q", "-m", "openai/root", "--api-base", server.url])
    assert r.exit_code == 0, r.stderr
    prompt = json.dumps(server.chat_requests[0].body)
    assert "pptx, 300 chars, 3 slides" in prompt
    assert "`documents`" in prompt and "==> NAME <==" in prompt and "slide 12" in prompt
    assert "SLIDE02" not in prompt  # never the document itself


def test_documents_pickle_without_the_repl():
    """A variable holding a document (d = documents[0]) survives a conversation's state save."""
    import pickle

    from rlm_cli.sandbox import worker

    d = worker.Document({"name": "a.txt", "kind": "text", "start": 4, "end": 9, "pages": [{"page": 1, "start": 4, "end": 9}]})
    back = pickle.loads(pickle.dumps(d))
    assert (back.name, back.kind, back.start, back.end, back.pages) == ("a.txt", "text", 4, 9, [{"page": 1, "start": 0, "end": 5}])
