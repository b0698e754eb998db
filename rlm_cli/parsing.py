"""Extract REPL code blocks from a model reply. Only executed code can submit an answer."""
from __future__ import annotations

import re

LANGS = ("repl", "python", "py", "python3")
_FENCE = re.compile(r"^[ \t]*```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:^[ \t]*```[ \t]*$|\Z)", re.S | re.M)


def code_blocks(reply: str) -> list[str]:
    """The ```repl / ```python blocks of a reply, in order. An unterminated last block counts."""
    blocks = []
    for m in _FENCE.finditer(reply):
        lang, body = m.group(1).lower(), m.group(2)
        if lang in LANGS and body.strip():
            blocks.append(_dedent(body.rstrip()))
    return blocks


def _dedent(code: str) -> str:
    import textwrap

    return textwrap.dedent(code)
