"""The one sanitiser for text on its way to a terminal (docs/output.md, "What reaches a terminal").

Text that came from a model, a document, a trajectory or a file name may hold escape sequences
(OSC 52 clipboard writes, OSC 8 links, window titles, clear screen, cursor moves), other C0/C1
control characters (CR rewrites a line, BS erases it), lone surrogates (no encoding can print them)
and Rich markup (`[link=...]`, an unbalanced `[/]` that raises). Every such text goes through
`clean` (multi-line: answers, code, REPL output), `one_line` (messages, table cells, file names)
or `markup` (text spliced into a Rich markup string) before it is written.

Standard library only and cheap to import: the error boundary uses it.
"""
from __future__ import annotations

import json
import re

# Whole escape sequences first (so that no "]52;c;..." residue stays on the screen), then any other
# C0 (except \t and \n), DEL and C1 code point. 8-bit forms (U+009B CSI, U+009D OSC...) included.
_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"  # CSI ... final byte
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"  # OSC/DCS/SOS/PM/APC ... BEL|ST
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]?"  # ESC [intermediates] final (charset, keypad, reset...)
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_DIRTY = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_WHITESPACE = re.compile(r"[\n\t]+")
_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2066-\u2069]")  # zero-width and bidi controls
_C1_OR_LINESEP = re.compile(r"[\x7f-\x9f\u2028\u2029]")
REPLACEMENT = "\ufffd"


def clean(text) -> str:
    """`text` without escape sequences and control characters (newline and tab kept); lone
    surrogates become U+FFFD. Already clean text is returned as is (one regex search)."""
    text = text if isinstance(text, str) else str(text if text is not None else "")
    if not _DIRTY.search(text):
        return text
    text = _SEQUENCE.sub("", text)
    text = _CONTROL.sub("", text)
    return _SURROGATE.sub(REPLACEMENT, text)


def one_line(text) -> str:
    """`clean(text)` on one line: newlines and tabs become a space (a file name with a newline
    cannot forge an `rlm: warning:` line); zero-width characters and bidi embedding/override/isolate
    controls are dropped too (a label cannot display reordered). Multi-line text (answers) keeps them:
    right-to-left prose uses them."""
    text = clean(text)
    if not text.isascii():
        text = _INVISIBLE.sub("", text)
    return _WHITESPACE.sub(" ", text) if ("\n" in text or "\t" in text) else text


def markup(text, *, multiline: bool = False) -> str:
    """Clean text escaped for a Rich markup string (table cells, `console.print(markup=True)`)."""
    from rich.markup import escape

    return escape(clean(text) if multiline else one_line(text))


def clean_obj(obj):
    """`clean` every string inside a JSON-like structure (dict keys included); other values as is."""
    if isinstance(obj, str):
        return clean(obj)
    if isinstance(obj, dict):
        return {clean(k) if isinstance(k, str) else k: clean_obj(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_obj(v) for v in obj]
    return obj


def fix_unicode(text: str) -> str:
    """Lone surrogates (invalid Unicode: no encoder can write them) replaced by U+FFFD."""
    if text.isascii() or not _SURROGATE.search(text):  # isascii() is a flag check: most text costs nothing
        return text
    return _SURROGATE.sub(REPLACEMENT, text)


def terminal_json(text: str) -> str:
    """JSON text made safe for a terminal without changing its value: C0 controls are already
    escaped by json.dumps; DEL, C1 and the JS line separators become \\uXXXX escapes, lone
    surrogates become U+FFFD (they can only appear inside JSON strings)."""
    text = fix_unicode(text)
    return _C1_OR_LINESEP.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def dumps_for_terminal(obj, **kw) -> str:
    return terminal_json(json.dumps(obj, ensure_ascii=False, **kw))
