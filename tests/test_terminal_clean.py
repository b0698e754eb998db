"""A clean terminal: text from a model, a document, a trajectory or a file name never reaches a terminal
with escape sequences, C0/C1 control characters or live Rich markup (docs/output.md, "What reaches a
terminal"). The real CLI runs on a pseudo-terminal (pty.openpty) and the bytes it writes are checked."""
from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from rlm_cli.ui import sanitize

# One of each kind of sequence a hostile text may carry; VISIBLE marks text that must stay readable.
PAYLOADS = {
    "osc52-clipboard-bel": "\x1b]52;c;cm0gLXJmIH4K\x07",
    "osc52-clipboard-st": "\x1b]52;c;cm0gLXJmIH4K\x1b\\",
    "osc8-link": "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\",
    "osc0-title": "\x1b]0;PWNED-TITLE\x07",
    "osc-unterminated": "\x1b]2;PWNED-TITLE",
    "csi-clear-screen": "\x1b[2J\x1b[3J\x1b[H",
    "csi-sgr-colour": "\x1b[31;1;5m",
    "csi-cursor-up-erase": "\x1b[10A\x1b[2K",
    "alt-screen": "\x1b[?1049h",
    "ris-reset": "\x1bc",
    "dcs": "\x1bPq#0;2;0;0;0\x1b\\",
    "apc": "\x1b_Gf=100;AAAA\x1b\\",
    "c1-csi": "\x9b2J",
    "c1-osc": "\x9d0;PWNED-TITLE\x9c",
    "bel-bs-cr": "\x07\x08\x08\rrlm: forged line",
    "vt-ff-nul-del": "\x0b\x0c\x00\x7f",
    "lone-surrogate": "\ud800",
}
def payload_id(payload: str) -> str:
    return next(k for k, v in PAYLOADS.items() if v == payload)


BAD_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
ALL_C1 = "".join(chr(c) for c in range(0x80, 0xA0))
ALL_C0 = "".join(chr(c) for c in range(0x20) if chr(c) not in "\n\t")


# ---- the sanitiser itself -----------------------------------------------------------------------------
@pytest.mark.parametrize("payload", list(PAYLOADS.values()), ids=list(PAYLOADS))
def test_clean_removes_every_sequence_and_keeps_the_text(payload):
    text = f"VISIBLE-A {payload} VISIBLE-B\nline two\tcol"
    out = sanitize.clean(text)
    assert not BAD_CHARS.search(out), repr(out)
    assert out.startswith("VISIBLE-A ") and out.endswith("\nline two\tcol")
    if "unterminated" not in payload_id(payload):  # an unterminated OSC string runs to the end of its line
        assert out.endswith(" VISIBLE-B\nline two\tcol")
    assert "PWNED-TITLE" not in out and "52;c;" not in out  # whole sequences go, not just the ESC byte
    assert "\n" not in sanitize.one_line(text) and "\t" not in sanitize.one_line(text)


@pytest.mark.parametrize("cp", [c for c in range(0xA0) if c < 0x20 or c >= 0x7F], ids=hex)
def test_every_c0_and_c1_code_point_is_removed(cp):
    out = sanitize.clean(f"a{chr(cp)}b\nnext line")
    assert not BAD_CHARS.search(out) and out.startswith("a") and out.endswith("\nnext line")
    if chr(cp) not in "\n\t\x1b\x90\x98\x9b\x9d\x9e\x9f":  # lone controls go; sequence introducers take their string
        assert out == "ab\nnext line"
    assert sanitize.one_line(out).count("\n") == 0


def test_rich_markup_is_escaped():
    from rich.console import Console

    for name in ("[link=https://evil.example]click[/link].txt", "[/]unbalanced.txt", "[bold red]x", "[/link]"):
        console = Console(file=__import__("io").StringIO(), force_terminal=True, color_system="truecolor", highlight=False)
        console.print(sanitize.markup(name))  # would raise MarkupError or draw a link unescaped
        written = console.file.getvalue()
        assert "\x1b]8;" not in written and name in written


def test_terminal_json_keeps_the_value():
    obj = {"answer": "x" + ALL_C1 + "\u2028y\ud800", "k": ALL_C0}
    text = sanitize.dumps_for_terminal(obj)
    assert not BAD_CHARS.search(text) and "\u2028" not in text
    back = json.loads(text)
    assert back["k"] == ALL_C0 and back["answer"] == "x" + ALL_C1 + "\u2028y\ufffd"


# ---- the real CLI on a pseudo-terminal ---------------------------------------------------------------
def run_pty(args: list, env: dict, cwd=None, timeout: float = 90, stdin: bytes | None = None) -> tuple[int, bytes]:
    """Run `rlm ARGS` with stdout and stderr on one pseudo-terminal (120x40), stdin from `stdin` (a pipe)
    or /dev/null; returns (exit code, bytes written)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "rlm_cli", *map(str, args)],
                            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE, stdout=slave,
                            stderr=slave, env=env, cwd=cwd, start_new_session=True)
    os.close(slave)
    if stdin is not None:
        proc.stdin.write(stdin)
        proc.stdin.close()
    out = bytearray()
    try:
        while True:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                proc.kill()
                pytest.fail(f"rlm {args} wrote nothing for {timeout} s:\n{bytes(out)[-2000:]!r}")
            try:
                data = os.read(master, 1 << 16)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            out += data
        return proc.wait(timeout=timeout), bytes(out)
    finally:
        os.close(master)


HOSTILE_SEQUENCES = [b"\x1b]", b"\x1bP", b"\x1b_", b"\x1b^", b"\x1bX", b"\x1bc", b"\x1b[2J", b"\x1b[3J", b"\x1b[?1049h",
                     b"\x1b[10A", b"\x1b[31;1;5m", b"\x07", b"\x08", b"\x00", b"\x0b", b"\x0c", b"\x7f"]
C1_UTF8 = re.compile(rb"\xc2[\x80-\x9f]")


def assert_no_hostile_bytes(out: bytes, *, no_esc: bool = False) -> None:
    if no_esc:
        assert b"\x1b" not in out, out[:3000]
    for seq in HOSTILE_SEQUENCES:
        assert seq not in out, (seq, out[:3000])
    assert not C1_UTF8.search(out), out[:3000]
    assert b"evil.example/\x1b" not in out


def hostile_text() -> str:
    return " ".join(f"<{k}>{v}" for k, v in PAYLOADS.items() if k != "lone-surrogate")


@pytest.fixture
def hostile_model(script, tmp_path):
    """A scripted model whose code (raw control characters in the reply), REPL output, sub-call previews
    and FINAL answer all carry every payload."""
    payload = hostile_text()
    in_comment = payload.replace("\r", "").replace("\x00", "")  # raw in the code shown by the tree and -v
    code = (f"x = {payload!r}\nprint('OUT', x)\nr = llm_query('Q ' + x)\n"
            f"FINAL('ANSWER-START ' + x + ' [link=https://evil.example]markup[/link] [/] '"
            " + '[click](https://evil.example/md) ANSWER-END')")
    rules = [{"when": "^Q ", "reply": "SUB " + payload},
             {"turn": 1, "when": "Question:", "reply": f"# {payload}\n```repl\n# {in_comment}\n{code}\n```"}]
    doc = tmp_path / "doc.txt"
    doc.write_text("plain document text\n" * 50, encoding="utf-8")
    return script(rules), doc


def _env(rlm_home, **extra) -> dict:
    env = dict(os.environ, RLM_HOME=str(rlm_home), TERM="xterm-256color", COLUMNS="120", LINES="40")
    env.pop("NO_COLOR", None)
    env.update(extra)
    return env


@pytest.mark.parametrize("flags", [["-q"], ["-v", "--color", "never"], ["-v", "--color", "always"]],
                         ids=["quiet", "verbose-plain", "verbose-colour"])
def test_ask_on_a_terminal_plain_lines(hostile_model, rlm_home, flags):
    model, doc = hostile_model
    code, out = run_pty(["ask", doc, "What is it?", "-m", model, *flags], _env(rlm_home))
    assert code == 0, out[-3000:]
    assert b"ANSWER-START" in out and b"ANSWER-END" in out
    assert b"[link=https://evil.example]markup[/link]" in out  # markup shown as text, not interpreted
    assert_no_hostile_bytes(out, no_esc=flags[-1] != "always")
    if "-v" in flags:
        assert b"exec block 1" in out and b"llm_query x1" in out  # the -v lines carried the payload: cleaned
    for line in out.split(b"\n"):
        assert not line.lstrip(b"\r").startswith(b"rlm: forged"), line


def test_ask_on_a_terminal_live_tree_and_answer_panel(hostile_model, rlm_home):
    model, doc = hostile_model
    code, out = run_pty(["ask", doc, "What is it?", "-m", model], _env(rlm_home))
    assert code == 0, out[-3000:]
    assert b"Answer" in out and b"ANSWER-END" in out
    assert_no_hostile_bytes(out)  # Rich's own cursor/colour codes only: no OSC, no clear screen, no C1
    assert b"evil.example/md" in out  # the Markdown link shows its URL (no hidden OSC 8 target)


def test_stdout_pipe_and_file_get_the_raw_answer(cli, script, tmp_path):
    """Decided in docs/output.md: files and pipes are data and get the exact answer; only a terminal is cleaned."""
    payload = hostile_text()
    model = script([{"turn": 1, "when": "Question:", "reply": f"```repl\nFINAL({payload!r})\n```"}])
    r = cli(["ask", "-", "q?", "-m", model], stdin=b"some text\n")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == payload + "\n"
    out = tmp_path / "a.txt"
    r = cli(["ask", "-", "q?", "-m", model, "-o", out], stdin=b"some text\n")
    assert r.exit_code == 0 and out.read_bytes().decode("utf-8") == payload + "\n"


def test_json_on_a_terminal_is_valid_and_clean(hostile_model, rlm_home):
    model, doc = hostile_model
    code, out = run_pty(["ask", doc, "What is it?", "-m", model, "--json", "-q"], _env(rlm_home))
    assert code == 0, out[-3000:]
    assert_no_hostile_bytes(out, no_esc=True)
    obj = json.loads(out.decode("utf-8").replace("\r\n", "\n"))
    assert "\x1b]52;c;" in obj["answer"]  # the value is intact, only its terminal form is escaped


def test_logs_and_conversations_on_a_terminal(hostile_model, rlm_home, cli, tmp_path):
    model, _ = hostile_model
    doc = tmp_path / "doc\x1b]0;PWNED-TITLE\x07[link=javascript:x]name.txt"
    doc.write_text("plain document text\n" * 50, encoding="utf-8")
    r = cli(["ask", doc, "Question with \x1b]0;PWNED-TITLE\x07 inside", "-m", model])
    assert r.exit_code == 0, r.stderr
    for args in (["logs", "show", "latest"], ["logs", "show", "latest", "--color", "always"], ["logs", "list"],
                 ["logs", "list", "--json"], ["logs", "show", "latest", "--json"], ["conversations", "list"],
                 ["conversations", "list", "--json"], ["conversations", "show", "latest"],
                 ["conversations", "show", "latest", "--json"]):
        code, out = run_pty(args, _env(rlm_home))
        assert code == 0, (args, out[-3000:])
        assert_no_hostile_bytes(out, no_esc="always" not in args and "list" in args)
        assert b"Question with" in out or args[:2] == ["conversations", "list"], args


def test_piped_chat_answers_on_a_terminal(hostile_model, rlm_home):
    """`rlm chat` reading questions from a pipe while its stdout is a terminal: answers are cleaned."""
    model, doc = hostile_model
    code, out = run_pty(["chat", doc, "-m", model, "-q"], _env(rlm_home), stdin=b"What is it?\n")
    assert code == 0, out[-3000:]
    assert b"ANSWER-START" in out and b"ANSWER-END" in out
    assert_no_hostile_bytes(out, no_esc=True)


# ---- file names: ingest tables, warnings, the error boundary -------------------------------------------
@pytest.fixture
def hostile_dir(tmp_path) -> Path:
    d = tmp_path / "docs"
    d.mkdir()
    names = ["[link=javascript:alert(1)]click/x.txt", "evil[/]unbalanced.txt", "[bold red]loud.txt",  # "/": a directory
             "esc\x1b]0;PWNED-TITLE\x07name.txt", "csi\x1b[2Jclear.txt", "c1\u009b2Jname.txt"]
    for n in names:
        (d / n).parent.mkdir(exist_ok=True)
        (d / n).write_text("some readable text\n", encoding="utf-8")
    (d / "nl\nrlm: warning: forged by a file name.bin").write_bytes(b"\x00\x01binary\x00" * 50)
    return d


def test_ingest_table_with_markup_and_escapes_in_file_names(cli, hostile_dir, rlm_home):
    r = cli(["ingest", hostile_dir])  # unbalanced markup in a file name used to raise MarkupError
    assert r.exit_code == 0, r.stderr
    assert "evil[/]unbalanced.txt" in r.stdout and "[link=javascript:alert(1)]click/x.txt" in r.stdout
    assert not BAD_CHARS.search(r.stdout)
    code, out = run_pty(["ingest", "docs"], _env(rlm_home), cwd=hostile_dir.parent)  # short names: no wrapping
    assert code == 0, out[-3000:]
    assert b"docs/evil[/]unbalanced.txt" in out and b"docs/[link=javascript:alert(1)]click/x.txt" in out
    assert b"docs/[bold red]loud.txt" in out
    assert_no_hostile_bytes(out)
    code, out = run_pty(["ingest", hostile_dir, "-v", "--json"], _env(rlm_home))
    assert code == 0 and b"forged by a file name" in out
    assert_no_hostile_bytes(out, no_esc=True)
    assert not any(line.startswith(b"rlm: warning: forged") for line in out.replace(b"\r", b"").split(b"\n"))


def test_ask_warning_about_a_file_name_stays_one_line(cli, hostile_dir, script):
    model = script([{"turn": 1, "when": "Question:", "reply": "```repl\nFINAL('ok')\n```"}])
    r = cli(["ask", hostile_dir, "q?", "-m", model])
    assert r.exit_code == 0, r.stderr
    lines = r.stderr.splitlines()
    assert any("binary file" in line and "forged by a file name" in line for line in lines)
    assert not any(line.startswith("rlm: warning: forged") for line in lines)
    assert not BAD_CHARS.search(r.stderr)


def test_error_messages_are_one_clean_line(cli, tmp_path):
    missing = tmp_path / "gone\nrlm: warning: forged\x1b]0;PWNED-TITLE\x07.txt"
    r = cli(["ask", missing, "q?", "-m", "scripted/none.json"])
    assert r.exit_code == 3
    lines = r.stderr.splitlines()
    assert lines[0].startswith("rlm: error: ") and "forged" in lines[0]
    assert not any(line.startswith("rlm: warning:") for line in lines)
    assert not BAD_CHARS.search(r.stderr) and "PWNED-TITLE" not in r.stderr


# ---- config text: profiles ---------------------------------------------------------------------------------
def test_profiles_list_and_show_print_clean_lines(cli, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(
        'model_list:\n  - model_name: "m\\u001b]0;PWNED-TITLE\\u0007"\n    litellm_params: {model: openai/x}\n'
        'rlm:\n  profiles:\n    "p\\nrlm: error: forged":\n      root: "m\\u001b]0;PWNED-TITLE\\u0007"\n'
        '      description: "desc \\u001b[2J\\u009b2J end"\n', encoding="utf-8")
    for args in (["profiles", "list", "--config", config], ["profiles", "show", "p\nrlm: error: forged", "--config", config]):
        r = cli(args)
        assert r.exit_code == 0, r.stderr
        assert not BAD_CHARS.search(r.stdout) and "PWNED-TITLE" not in r.stdout
        assert not any(line.startswith("rlm: error: forged") for line in r.stdout.splitlines())


def test_doctor_render_cleans_details():
    from rlm_cli.commands.doctor import OK, Check, render

    out = render([Check("dirs", OK, "path /tmp/x\x1b]0;PWNED-TITLE\x07\nrlm: error: forged", items=["i\x9b2J"])], 0)
    assert not BAD_CHARS.search(out) and "PWNED-TITLE" not in out
    assert not any(line.startswith("rlm: error: forged") for line in out.splitlines())


# ---- the HTML report escapes every field ---------------------------------------------------------------
def test_html_report_escapes_trajectory_fields(cli, rlm_home, tmp_path):
    evil = '"><script>alert(1)</script><x y="'
    events = [
        {"kind": "run_start", "node": "r", "depth": 0, "t": 0.0, "data": {"run_id": evil, "question": evil,
                                                                          "root_model": evil, "sub_model": evil}},
        {"kind": "node_start", "node": "r", "depth": 0, "t": 0.1, "data": {"question": evil, "context_chars": 5}},
        {"kind": "iteration", "node": "r", "depth": 0, "t": 0.1, "data": {"iteration": 1, "max_iterations": 3}},
        {"kind": "code_start", "node": "r", "depth": 0, "t": 0.2, "data": {"block": 1, "code": evil}},
        {"kind": "subcall_start", "node": "r", "depth": 0, "t": 0.2,
         "data": {"call_id": 1, "fn": evil, "batched": True, "n": 2, "previews": [evil, evil]}},
        {"kind": "subcall_end", "node": "r", "depth": 0, "t": 0.3, "data": {"call_id": 1, "n": 2, "failed": 1,
                                                                            "previews": [evil, "Error: " + evil]}},
        {"kind": "code_end", "node": "r", "depth": 0, "t": 0.3, "data": {"output": evil, "error": evil}},
        {"kind": "node_end", "node": "r", "depth": 0, "t": 0.4, "data": {"status": evil, "error": evil}},
        {"kind": "warning", "node": "r", "depth": 0, "t": 0.4, "data": {"message": evil}},
        {"kind": "run_end", "node": "r", "depth": 0, "t": 0.5, "data": {"status": evil, "error": evil}},
    ]
    path = tmp_path / "evil.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    out = tmp_path / "report.html"
    r = cli(["logs", "show", path, "--html", "-o", out])
    assert r.exit_code == 0, r.stderr
    html = out.read_text(encoding="utf-8")
    tags = Tags()
    tags.feed(html)
    assert tags.names.count("script") == 1  # the page's own script only
    assert "x" not in tags.names and not any(name == "y" for attrs in tags.attrs for name, _ in attrs)
    assert not any("<" in (value or "") or '"' in (value or "") for attrs in tags.attrs for _, value in attrs)
    assert all(c in ("node", "iteration", "subcall", "reply", "answer", "m", "s", "out", "err", "code", "items", "bad",
                     "controls", "warn", "hidden", "unknown", "ok", "error", "answer bad", "meta", "timeout", "limit",
                     "running", "interrupted", "no_answer") for attrs in tags.attrs for k, v in attrs if k == "class"
               for c in ([v] if v == "answer bad" else v.split()))


class Tags(__import__("html.parser", fromlist=["HTMLParser"]).HTMLParser):
    def __init__(self):
        super().__init__()
        self.names, self.attrs = [], []

    def handle_starttag(self, tag, attrs):
        self.names.append(tag)
        self.attrs.append(attrs)


def test_one_line_drops_bidi_and_zero_width_controls_clean_keeps_them():
    name = "invoice\u202egpj.exe\u200b\u2066x\u2069"
    assert sanitize.one_line(name) == "invoicegpj.exex"
    rtl = "\u05e9\u05dc\u05d5\u05dd\u200f world"  # right-to-left prose keeps its marks in answers
    assert sanitize.clean(rtl) == rtl
