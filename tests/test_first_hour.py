"""What a new user hit in the first hour (issue 18), each checked where it can fail."""
from __future__ import annotations

R = "```repl\n{}\n```"


def test_forgetting_the_question_names_the_file(cli, tmp_path):
    a, b = tmp_path / "notes.txt", tmp_path / "today.txt"
    a.write_text("x", encoding="utf-8")
    b.write_text("y", encoding="utf-8")
    for args in ([a], [a, b]):
        r = cli(["ask", *args], stdin_tty=True)
        assert r.exit_code == 2, r.stderr
        assert f"'{args[-1]}', is a file, not a question" in r.stderr and "put the question last" in r.stderr


def test_config_path_prints_the_file_to_edit_and_says_which_is_in_use(cli, rlm_home):
    r = cli(["config", "path"])
    assert r.exit_code == 0
    assert r.stdout.strip() == str(rlm_home / "config" / "config.yaml")  # even before `rlm config init`
    assert "does not exist yet" in r.stderr and "packaged default" in r.stderr


def test_input_errors_come_before_any_backend(cli, tmp_path):
    # no key and no local model: the backend cannot be built; the missing file must be reported first
    r = cli(["ask", tmp_path / "missing.pdf", "q?"])
    assert r.exit_code == 3 and "missing.pdf" in r.stderr and "no model configured" not in r.stderr


def test_a_warning_is_printed_once_with_v(cli, script, tmp_path):
    (tmp_path / "a.txt").write_text("hello", encoding="utf-8")
    (tmp_path / "b.bin").write_bytes(bytes(range(256)) * 4)
    r = cli(["ask", tmp_path, "q?", "-m", script([{"when": ".", "reply": R.format("FINAL('x')")}]), "-v"])
    assert r.exit_code == 0, r.stderr
    assert r.stderr.count("skipped 1 binary file") == 1


def test_markdown_footer_speaks_singular(cli, script, tmp_path):
    (tmp_path / "a.txt").write_text("hello", encoding="utf-8")
    r = cli(["ask", tmp_path / "a.txt", "q?", "-m", script([{"when": ".", "reply": R.format("FINAL('x')")}]),
             "--format", "markdown"])
    assert "1 iteration, 0 sub-calls" in r.stdout and "(1 call)" in r.stdout
