"""The evidence under an answer: terminal lines (the answer panel), Markdown footnotes, and the
labels (forced / no verified evidence) shared by every view. Citations come as dicts (events and
trajectories) or evidence.Citation objects."""
from __future__ import annotations

from .sanitize import one_line

QUOTE_SHOWN = 110  # characters of a quote on a terminal line


def as_dict(c) -> dict:
    return c if isinstance(c, dict) else c.as_event()


def clean(text) -> str:
    """One line of text from a model, a document or a file name: sanitised (ui/sanitize.py), whitespace
    collapsed."""
    return " ".join(one_line(text if text is not None else "").split())


def cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def place(c: dict) -> str:
    """ "doc.pdf p.3" for a verified citation (plus "via r.1" when a child RLM found it)."""
    where = " ".join(x for x in (clean(c.get("source")), clean(c.get("location"))) if x)
    return where + (f" (via {clean(c['via'])})" if c.get("via") else "")


def caution(labels: dict) -> str | None:
    """What the answer's title says about it, or None when it is a verified, unforced answer."""
    if not labels:
        return None
    if labels.get("forced"):
        return "forced at the iteration limit: a best guess"
    if labels.get("confidence") == "reread":
        return "from a second reading of its evidence, not the model's own answer"
    if labels.get("confidence") == "disputed":
        return "disputed: its evidence does not bear it out"
    if labels.get("supported") is False:
        return "no verified evidence"
    return None


def evidence_text(citations: list):
    """Rich Text: 'Evidence' then one line per citation (✓ verified, ✗ not)."""
    from rich.text import Text

    text = Text("Evidence", style="bold")
    for i, c in enumerate(map(as_dict, citations), 1):
        ok = c.get("verified") is True
        text.append("\n")
        text.append("✓ " if ok else "✗ ", style="green" if ok else "red")
        text.append(f"[{i}] ")
        if ok:
            text.append(place(c), style="bold")
        else:
            text.append(f"not verified ({clean(c.get('reason')) or 'unknown'})", style="red")
        text.append(f": “{cut(clean(c.get('quote')), QUOTE_SHOWN)}”", style="" if ok else "dim")
    return text


def footnotes(answer: str, citations: list) -> str:
    """The answer with Markdown footnote marks and one footnote per citation."""
    cites = [as_dict(c) for c in citations]
    if not cites:
        return answer
    marks = "".join(f"[^{i}]" for i in range(1, len(cites) + 1))
    notes = []
    for i, c in enumerate(cites, 1):
        quote = clean(c.get("quote")).replace("[", "\\[")
        if c.get("verified") is True:
            notes.append(f"[^{i}]: {place(c)}: “{quote}”")
        else:
            notes.append(f"[^{i}]: not verified ({clean(c.get('reason')) or 'unknown'}): “{quote}”")
    return f"{answer.rstrip()}{marks}\n\n" + "\n".join(notes) + "\n"
