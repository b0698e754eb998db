"""What the root model is told. Never the raw context: only its size and shape."""
from __future__ import annotations

import re
from dataclasses import dataclass

SYSTEM = """You answer a question about a document that is far too large to read at once. The document is \
already loaded as the string variable `context` in a persistent Python REPL. You cannot see it directly: \
you write Python code, the REPL runs it, and you see what it prints.

To run code, reply with one or more fenced blocks marked ```repl (```python also works). Blocks run in \
order; variables persist between turns. Printed output is truncated to {max_output} characters, so print \
slices, counts and summaries, never the whole context.

Available in the REPL:
- `context`: str, the full document ({context_chars:,} characters). It already exists: never assign to it.
- `sources`: list of dicts (name, kind, start, end, pages) for the files the context is made of.
- `documents`: the same sources one by one: `d.name`, `d.kind`, `d.text` (that file's text only), \
`d.start`/`d.end` (its offsets in `context`), `d.locate(i)` for an offset in `d.text`. With one source \
`context` is exactly its text; with several, each is preceded by a line `==> NAME <==` and a blank line \
separates them, so count or search per file over `d.text`.
- `locate(offset)`: where an offset in `context` is ("file p.N", "file ch. 7", "file slide 12", \
"file Sheet1 row 120", "file msg 3", "file § Heading", "file line N"), to cite evidence.
- `llm_query(prompt)`: ask a sub-model (it sees only `prompt`, up to about {sub_window} characters); returns str.
- `llm_query_batched(prompts)`: many llm_query calls in parallel; returns a list of str in the same order \
(a failed prompt gives a string starting with "Error:"). Much faster than a loop of llm_query.
- `rlm_query(question, sub_context)`: a sub-agent like you, with its own REPL over `sub_context`; returns \
its answer (str).{depth_note}
- `rlm_query_batched(questions, sub_contexts)`: several rlm_query in parallel; returns a list of str.
- `FINAL(answer)`: submit your final answer (a value, e.g. a string) and stop. `FINAL_VAR(name)` submits \
the variable with that name. Only FINAL called from code counts: writing an answer in plain text does not.

Work step by step: look at the structure first (length, a few slices, headers), then search with \
`re`/`str.find`, chunk and delegate reading to llm_query / llm_query_batched, aggregate in Python, and \
call FINAL when you are sure. Keep each reply short: a sentence of plan, then code.

Example:
```repl
import re
print(len(context), context[:300])
hits = [m.start() for m in re.finditer(r"(?i)deadline", context)]
print(len(hits), [locate(h) for h in hits[:5]])
```
Later, after reading the output:
```repl
chunks = [context[max(0, h - 1500):h + 1500] for h in hits[:20]]
notes = llm_query_batched([f"Which supplier missed the deadline? Answer briefly.\\n\\n{{c}}" for c in chunks])
answer = llm_query("Combine these notes into one answer:\\n" + "\\n".join(notes))
FINAL(answer)
```"""

FIRST = """Question: {question}

The context is {context_chars:,} characters (about {context_tokens:,} tokens) from {n_sources} source(s):
{source_lines}
{budget}
Turn 1 of {max_iterations}. Start by exploring `context` with code; do not answer from memory."""

NEXT = """{outputs}

Turn {turn} of {max_iterations}.{budget} Continue, or call FINAL(answer) in code when you have the answer."""

NO_CODE = """Your reply had no ```repl code block, so nothing ran. Only code runs here, and only FINAL(...) \
called from code submits an answer. Reply with a ```repl block. Turn {turn} of {max_iterations}."""

LAST_CHANCE = """You are out of turns. Reply now with exactly one ```repl block that calls FINAL(...) with \
your best answer from what you have found so far (say what is uncertain)."""

CHILD_NOTE = " You are a sub-agent (depth {depth}): answer the question for the caller concisely."


@dataclass
class PromptInfo:
    question: str
    context_chars: int
    context_tokens: int
    sources: list[dict]
    max_iterations: int
    max_output: int
    depth: int
    max_depth: int
    sub_window_chars: int


def system_prompt(info: PromptInfo) -> str:
    if info.depth + 1 <= info.max_depth:
        depth_note = ""
    else:
        depth_note = " (At your depth it is answered by a plain sub-model call, like llm_query.)"
    text = SYSTEM.format(max_output=info.max_output, context_chars=info.context_chars,
                         sub_window=info.sub_window_chars, depth_note=depth_note)
    if info.depth > 0:
        text += CHILD_NOTE.format(depth=info.depth)
    return text


def first_message(info: PromptInfo, budget: str = "") -> str:
    return FIRST.format(
        question=info.question, context_chars=info.context_chars, context_tokens=info.context_tokens,
        n_sources=len(info.sources), source_lines=source_lines(info.sources),
        max_iterations=info.max_iterations, budget=f"Budget: {budget}\n" if budget else "",
    )


def source_lines(sources: list[dict], limit: int = 30) -> str:
    lines = []
    for s in sources[:limit]:
        lines.append(f"- {s['name']} ({s.get('kind', 'text')}, {s['end'] - s['start']:,} chars{_parts(s)}) at offsets {s['start']:,}-{s['end']:,}")
    if len(sources) > limit:
        lines.append(f"- ... and {len(sources) - limit:,} more (see `sources` in the REPL)")
    return "\n".join(lines)


def _parts(s: dict) -> str:
    """', 12 pages' / ', 3 slides' / ', 2 sheets' (a sheet's row runs counted once); '' without parts."""
    pages = s.get("pages")
    if isinstance(pages, list):
        n = len({p.get("label") for p in pages}) if s.get("unit") == "sheet" else len(pages)
    else:
        n = int(pages or 0)
    unit = s.get("unit") or "page"
    return f", {n:,} {unit}{'s' if n != 1 else ''}" if n else ""


def outputs_message(results: list[tuple[int, str]], turn: int, max_iterations: int, budget: str = "") -> str:
    body = "\n\n".join(f"REPL output (block {i}):\n{text}" for i, text in results)
    if turn > max_iterations:  # the engine follows with LAST_CHANCE
        return body
    return NEXT.format(outputs=body, turn=turn, max_iterations=max_iterations,
                       budget=f" Budget left: {budget}." if budget else "")


_VOLATILE = re.compile(r"^Budget: [^\n]*\n|(?<=\.) Budget left: [^\n]*?\.(?= Continue)|(?<=characters \()about [\d,]+ tokens(?=\))",
                       re.M)


def without_volatile(text: str) -> str:
    """`text` without what differs between two identical runs: the remaining-budget notes of FIRST and
    NEXT (they change with the clock and the spend) and the context's token count (exact, or estimated
    while the tokenizer loads). The response cache keys on the rest."""
    return _VOLATILE.sub("", text)
