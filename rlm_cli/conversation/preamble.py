"""What the root model is told at a follow-up question: the exchange so far (compacted to fit) and
the REPL variables that survive (names, types and sizes; never their content)."""
from __future__ import annotations

ANSWER_CHARS = 1_500  # each earlier answer, at most
DEFAULT_BUDGET_CHARS = 16_000  # the whole exchange; less when the root model's window is small


def preamble(exchanges: list, variables: list, skipped: list[tuple[str, str]], window_tokens: int | None) -> str:
    if not exchanges and not variables:
        return ""
    budget = DEFAULT_BUDGET_CHARS if not window_tokens else min(DEFAULT_BUDGET_CHARS, window_tokens)  # ~25% of it
    lines = [f"This question follows {len(exchanges)} earlier question(s) in the same conversation, about the "
             "same `context`."]
    lines += _exchange_lines(exchanges, budget)
    if variables:
        lines.append("The REPL still holds the variables your code created for earlier questions (use them; do "
                     "not recompute what they already hold):")
        lines += [f"- {v.describe()}" for v in variables[:60]]
        if len(variables) > 60:
            lines.append(f"- ... and {len(variables) - 60} more (print(SHOW_VARS()) lists them)")
    if skipped:
        lines.append("Not kept from earlier questions (re-create them if needed): "
                     + "; ".join(f"{n} ({why})" for n, why in skipped[:20]))
    return "\n".join(lines)


def _exchange_lines(exchanges: list, budget: int) -> list[str]:
    """The latest exchanges that fit in `budget` characters, oldest first; older ones are counted."""
    header = ["Earlier questions and answers, oldest first:"]
    shown: list[str] = []
    used = 0
    for i in range(len(exchanges) - 1, -1, -1):
        e = exchanges[i]
        answer = e.answer if e.answer is not None else f"(no answer: {e.status})"
        if len(answer) > ANSWER_CHARS:
            answer = answer[:ANSWER_CHARS] + f" [... {len(answer) - ANSWER_CHARS:,} more characters]"
        block = f"Q{i + 1}: {e.question}\nA{i + 1}: {answer}"
        if shown and used + len(block) > budget:
            return header + [f"({i + 1} older question(s) omitted.)"] + shown
        shown.insert(0, block)
        used += len(block)
    return header + shown
