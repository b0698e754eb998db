"""The REPL shows the value of every bare expression of a block, as a notebook does: small models write
several `search(...)` lines in one block and expect to see each result."""
from __future__ import annotations

from rlm_cli.sandbox import SandboxOptions, SubprocessSandbox

TEXT = "alpha beta\nThe number for amber-fox-11 is 111.\nThe number for brisk-owl-22 is 222.\n"
SOURCES = [{"name": "d.txt", "kind": "text", "start": 0, "end": len(TEXT), "pages": []}]


def test_every_bare_expression_is_shown_in_order_and_state_carries_between_them():
    with SubprocessSandbox(TEXT, SOURCES, SandboxOptions()) as sb:
        code = ('search("amber-fox-11")\nx = 40\n"a comment-like string"\nx + 2\nprint("printed")\nNone\n'
                'def f():\n    return x * 2\nf()\nsearch("brisk-owl-22")')
        out = sb.execute(code, lambda *a: []).render()
        lines = out.splitlines()
        assert "a comment-like string" not in out
        assert lines.index("42") < lines.index("printed") < lines.index("80")
        assert out.index("search('amber-fox-11')") < out.index("42") < out.index("search('brisk-owl-22')")
        err = sb.execute('y = 1\ny\n1/0\nprint("never")', lambda *a: [])
        assert err.render().splitlines()[0] == "1" and "ZeroDivisionError" in err.render()
        assert "never" not in err.render()
        assert sb.execute('"the last string shows"', lambda *a: []).render().strip() == "'the last string shows'"
