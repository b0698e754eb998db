"""`-o FILE`: checked before any model call; an answer that cannot be written is saved and named."""
from __future__ import annotations

import pytest

from conftest import scripted_responder
from rlm_cli.commands.delivery import OutputError, check_writable, write_output
from rlm_cli.errors import UsageError

ANSWER = [{"when": "Question", "reply": "```repl\nFINAL('the answer')\n```"}]


@pytest.mark.parametrize("where", ["missing-dir/out.txt", "a-dir"])
def test_bad_output_path_is_a_usage_error_before_any_model_call(cli, stub_server, tmp_path, where):
    (tmp_path / "a-dir").mkdir()
    doc = tmp_path / "doc.txt"
    doc.write_text("text", encoding="utf-8")
    server = stub_server(scripted_responder(ANSWER))
    r = cli(["ask", doc, "q", "-m", "openai/m", "--api-base", server.url, "-o", tmp_path / where])
    assert r.exit_code == 2, r.stderr
    assert server.chat_requests == []  # nothing was spent
    assert r.stderr.count("\n") == 1 and where.split("/")[0] in r.stderr


def test_an_answer_that_cannot_be_written_after_the_run_is_saved_and_named(rlm_home, tmp_path):
    target = tmp_path / "gone" / "out.txt"
    (tmp_path / "gone").mkdir()
    check_writable(target)
    (tmp_path / "gone").rmdir()  # the directory disappears while the run works
    with pytest.raises(OutputError) as info:
        write_output(target, "the answer\n", "run-123")
    saved = rlm_home / "logs" / "runs" / "run-123.answer"
    assert saved.read_text(encoding="utf-8") == "the answer\n"
    assert str(saved) in info.value.message and str(target) in info.value.message


def test_check_writable_accepts_a_new_file_in_an_existing_dir(tmp_path):
    check_writable(tmp_path / "new.txt")
    with pytest.raises(UsageError):
        check_writable(tmp_path / "no" / "new.txt")
