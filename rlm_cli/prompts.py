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
- `search(query, k=5)`: the k passages of `context` that best match the words of `query` (ranked), each a \
hit with `.start`, `.end`, `.where` (file and page/line) and `.text`; print the result to see them. \
`search(pattern, regex=True)`: the matches of a regular expression, in order.
- `tally(pattern)`: how many times each distinct match of a regular expression occurs in `context` (the \
value of its first group, if it has one), most common first; `tally([word, word])` counts each word. Use it \
for how-many, most-often and more-or-less questions: it counts the whole document, search shows only a few hits.
- `read(offset, chars=1500)`: the text of `context` around an offset (or a hit).
- `locate(offset)`: where an offset in `context` is ("file p.N", "file ch. 7", "file slide 12", \
"file Sheet1 row 120", "file msg 3", "file § Heading", "file line N").
- `llm_query(prompt)`: ask a sub-model (it sees only `prompt`, up to about {sub_window} characters); returns str.
- `llm_query_batched(prompts)`: many llm_query calls in parallel; returns a list of str in the same order \
(a failed prompt gives a string starting with "Error:"). Much faster than a loop of llm_query.
- `rlm_query(question, sub_context)`: a sub-agent like you, with its own REPL over `sub_context`; returns \
its answer (str); the evidence it cites is added to yours.{depth_note}
- `rlm_query_batched(questions, sub_contexts)`: several rlm_query in parallel; returns a list of str.
- `FINAL(answer, evidence=[...])`: submit your final answer (a value, e.g. a string) and stop. `evidence`: \
exact quotes copied from `context`, search hits, re matches or (start, end) offsets that show the answer. \
The host checks every item against the document and reports where it is (file and page); items it cannot \
find are reported as unverified. `cite(item)` adds evidence along the way and returns where it is. \
`FINAL_VAR(name)` submits the variable with that name. Only FINAL called from code counts: writing an \
answer in plain text does not.{evidence_note}

How to work: look at the structure first (length, a few slices, headers); find passages with `search` \
(or `re` / `str.find`) and read around them; to count or compare, use `tally` or write Python over the whole \
`context`; chunk and delegate reading to llm_query / llm_query_batched when the answer needs judgement over \
much text; aggregate in Python; call FINAL with evidence when you are sure. Never re-run code that already \
printed what you needed: use its output. Keep each reply short: a sentence of plan, then code."""

EVIDENCE_REQUIRED = " Evidence is required here: an answer without at least one verified item is not accepted."

FIRST = """Question: {question}

The context is {context_chars:,} characters (about {context_tokens:,} tokens) from {n_sources} source(s):
{source_lines}
{budget}
Turn 1 of {max_iterations}. Reply with a ```repl block that searches `context` for words of the question \
(search(...), tally(...) to count, or your own code) and prints what it finds; do not answer from memory."""

NEXT = """{outputs}

Turn {turn} of {max_iterations}.{budget} If this output shows the answer to "{question}", reply with a ```repl \
block that calls FINAL("<the answer itself: the value, name or fact asked for>", evidence=["<the printed line \
that shows it>"]). Otherwise run different code."""
ANSWER_PLACEHOLDER = "<the answer itself"  # in NEXT; an answer containing it was copied, not found

NO_CODE = """Your reply had no ```repl code block, so nothing ran. Only code runs here, and only FINAL(...) \
called from code submits an answer. Reply with a ```repl block. Turn {turn} of {max_iterations}."""

LAST_CHANCE = """You are out of turns. Reply now with exactly one ```repl block that calls \
FINAL(answer, evidence=[...]) with your best answer from what you have found so far (say what is uncertain)."""

NO_EVIDENCE = """Your answer was not accepted: evidence is required and {problem}. Call FINAL(answer, \
evidence=[...]) again with an exact quote copied from text the REPL printed, or a search hit. \
Turn {turn} of {max_iterations}."""

ECHO = """Not accepted: your FINAL only repeats words of the question "{question}" instead of answering it.{quote}\
{reading} Call FINAL again with what the text says the answer is (a value, a name, a date...), not the \
question's words. Turn {turn} of {max_iterations}."""

ECHO_READING = """ A second reader, given only the question and the text around your evidence, answered \
"{reading}": if that answers the question, call FINAL again with "{reading}" as the answer and the same \
evidence."""

NOTHING = """Check this before it is accepted: a second reader, given only the question and the text around \
your evidence, found no answer to the question in it, so your evidence may be about something else. Search \
for the text that states the answer, print it, and quote it in FINAL. If your evidence does state "{answer}", \
call FINAL again with it. Turn {turn} of {max_iterations}."""

UNVERIFIED = """Not accepted yet: none of your evidence is in the document ({problems}), so your answer looks \
like a guess. Find the text that answers "{question}": search other words, or read around a hit, and print \
it. Then call FINAL(answer, evidence=[...]) with a quote copied exactly from what the REPL printed. \
Turn {turn} of {max_iterations}."""

NUMBERS = """Check this before it is accepted: your answer "{answer}" says {numbers}, but the evidence you gave \
does not: "{quote}". If the evidence shows a different value, answer with that value. If you computed the \
value from the document, call FINAL again with the same answer. Turn {turn} of {max_iterations}."""

ABSENT = """Check this before it is accepted: your answer "{answer}" is not in the evidence you gave: \
"{quote}". Evidence must show the answer. If that text leads to the answer in another place, search for it and \
print it; if the evidence shows a different answer, answer with that. Then call FINAL(answer, evidence=[...]) \
with a quote that contains the answer. Turn {turn} of {max_iterations}."""

KIND = """Check this before it is accepted: the question asks which {want}, but your evidence calls \
"{answer}" a {kind}: "{quote}". If that {kind} leads to the {want}, find the text that says so (for \
example search("{answer}")) and answer with the {want}. If "{answer}" is the {want}, call FINAL again \
with it. Turn {turn} of {max_iterations}."""

ITEMS = """Check this before it is accepted: the question asks about each of {items}, but your answer \
"{answer}" does not mention {missing}. Look each one up, for example:
```repl
for item in {listed}:
    print(item, search(item, k=1))
```
then answer for all of them, in the form the question asks. If your answer already covers them, call FINAL \
again with it. Turn {turn} of {max_iterations}."""

UNGROUNDED = """Check this before it is accepted: most of your answer is not in the text around your evidence, \
so it looks written from memory. Answer from the document: print the passage that answers the question, \
then call FINAL with what it says and a quote from it. If your answer is in the document, call FINAL again \
with it. Turn {turn} of {max_iterations}."""

REREAD = """Check this before it is accepted: a second reader, given only the question and the text your \
answer comes from (the text around your evidence, or the output you printed), answered "{reading}", not \
"{answer}". Print that text again and read it. If "{reading}" is right, call FINAL with it; if your answer \
is right, call FINAL again with it. Turn {turn} of {max_iterations}."""

REPEATED = """Note: this is the same code you ran in turn {turn}, and it printed the same output. Running it \
again tells you nothing new. Change course: search other words, read around an offset you found, ask \
llm_query about a passage, or, if the output already answers the question, call FINAL(answer, evidence=[...])."""

REPEATED_AGAIN = """ You have now repeated yourself {count} times: do something different in your next reply."""

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
    evidence_required: bool = False


def system_prompt(info: PromptInfo) -> str:
    if info.depth + 1 <= info.max_depth:
        depth_note = ""
    else:
        depth_note = " (At your depth it is answered by a plain sub-model call, like llm_query.)"
    text = SYSTEM.format(max_output=info.max_output, context_chars=info.context_chars,
                         sub_window=info.sub_window_chars, depth_note=depth_note,
                         evidence_note=EVIDENCE_REQUIRED if info.evidence_required else "")
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


def outputs_message(results: list[tuple[int, str]], turn: int, max_iterations: int, budget: str = "",
                    question: str = "") -> str:
    """The REPL's output, then the turn count and the question again (small models lose it and FINAL
    their own search words)."""
    body = "\n\n".join(f"REPL output (block {i}):\n{text}" for i, text in results)
    if turn > max_iterations:  # the engine follows with LAST_CHANCE
        return body
    return NEXT.format(outputs=body, turn=turn, max_iterations=max_iterations, question=_short(question),
                       budget=f" Budget left: {budget}." if budget else "")


def echo(question: str, quotes: list[str], turn: int, max_iterations: int, reading: str | None = None) -> str:
    """What the model is told when its FINAL only repeats the question: the question, the evidence it gave
    (the answer is usually in it), and what a second reading of that evidence answered."""
    quote = f' Your evidence says: "{_short(quotes[0], 400)}"' if quotes else ""
    read = ECHO_READING.format(reading=_short(reading, 200).replace('"', "'")) if reading else ""
    return ECHO.format(question=_short(question), quote=quote, reading=read, turn=turn,
                       max_iterations=max_iterations)


def nothing(answer: str, turn: int, max_iterations: int) -> str:
    """What the model is told when a second reading of its evidence finds no answer in it."""
    return NOTHING.format(answer=_short(answer, 200), turn=turn, max_iterations=max_iterations)


def unverified(question: str, citations: list, turn: int, max_iterations: int) -> str:
    """What the model is told when none of the evidence of its FINAL is found in the document."""
    problems = "; ".join(f'"{_short(c.quote, 80)}": {c.reason or "not found"}' for c in citations[:2])
    return UNVERIFIED.format(problems=problems, question=_short(question), turn=turn, max_iterations=max_iterations)


def numbers(answer: str, missing: list[str], quotes: list[str], turn: int, max_iterations: int) -> str:
    """What the model is told when no number of its answer is in the evidence it gave."""
    return NUMBERS.format(answer=_short(answer, 200), numbers=", ".join(missing[:5]), quote=_short(quotes[0], 400),
                          turn=turn, max_iterations=max_iterations)


def absent(answer: str, quotes: list[str], turn: int, max_iterations: int) -> str:
    """What the model is told when no word of its short answer is in the evidence it gave."""
    return ABSENT.format(answer=_short(answer, 200), quote=_short(quotes[0], 400), turn=turn,
                         max_iterations=max_iterations)


def kind(answer: str, want: str, kind: str, quotes: list[str], turn: int, max_iterations: int) -> str:
    """What the model is told when its evidence calls the answer another kind of thing than the question
    asks for (a city for "which country")."""
    return KIND.format(want=want, kind=kind, answer=_short(answer, 100), quote=_short(quotes[0], 300), turn=turn,
                       max_iterations=max_iterations)


def items(answer: str, asked: list[str], missing: list[str], turn: int, max_iterations: int) -> str:
    """What the model is told when its answer leaves out items the question lists: which, and a loop that
    looks up every item the question lists (so the next answer can cover them all)."""
    import json

    return ITEMS.format(items="the items it lists", answer=_short(answer, 200),
                        missing=", ".join(missing[:8]) + (" …" if len(missing) > 8 else ""),
                        listed=json.dumps([_short(m, 80) for m in asked[:12]], ensure_ascii=False),
                        turn=turn, max_iterations=max_iterations)


def ungrounded(answer: str, turn: int, max_iterations: int) -> str:
    """What the model is told when most of a long answer is not in the text around its evidence."""
    return UNGROUNDED.format(turn=turn, max_iterations=max_iterations)


def reread(answer: str, reading: str, turn: int, max_iterations: int) -> str:
    """What the model is told when a second reading of its evidence names another answer."""
    return REREAD.format(answer=_short(answer, 200), reading=_short(reading, 200), turn=turn,
                         max_iterations=max_iterations)


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def repeated(turn: int, count: int) -> str:
    """What the model is told when a code block repeats one it ran before with the same output."""
    return REPEATED.format(turn=turn) + (REPEATED_AGAIN.format(count=count) if count > 1 else "")


def no_evidence(citations: list, turn: int, max_iterations: int) -> str:
    """The corrective message when --evidence required and none of the answer's evidence verified."""
    if not citations:
        problem = "your FINAL carried none"
    else:
        reasons = "; ".join(f"{c.quote[:60]!r}: {c.reason}" for c in citations[:3])
        problem = f"none of it could be verified ({reasons})"
    return NO_EVIDENCE.format(problem=problem, turn=turn, max_iterations=max_iterations)


_VOLATILE = re.compile(r"^Budget: [^\n]*\n|(?<=\.) Budget left: [^\n]*?\.(?= If this output)|(?<=characters \()about [\d,]+ tokens(?=\))",
                       re.M)


def without_volatile(text: str) -> str:
    """`text` without what differs between two identical runs: the remaining-budget notes of FIRST and
    NEXT (they change with the clock and the spend) and the context's token count (exact, or estimated
    while the tokenizer loads). The response cache keys on the rest."""
    return _VOLATILE.sub("", text)
