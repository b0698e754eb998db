"""Print a Markdown table of real-document runs side by side: one column per results file of
bench/real_docs/run.sh (same questions, same order), a ✓/✗ per question (with the answer's flag:
unverified, disputed, reread or forced), the right count, and how many wrong answers carried no flag.
Usage: python bench/real_docs/compare.py QUESTIONS.tsv NAME=RESULTS.tsv [NAME=RESULTS.tsv ...]"""
from __future__ import annotations

import sys
from pathlib import Path


def rows(path: str) -> list[list[str]]:
    return [line.split("\t") for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def cell(result: list[str] | None) -> str:
    if result is None:
        return "not run"
    mark = "✓" if result[1] == "RIGHT" else "✗"
    words = result[4].split() if len(result) > 4 else []
    if len(words) >= 2 and words[-2] != "ok":  # no answer: the run ended with "limit" or an error (exit != 0)
        return f"{mark} (no answer: {words[-2]})"
    flag = words[-3] if len(words) >= 3 else ""
    return f"{mark} ({flag})" if flag in ("unverified", "forced", "disputed", "reread") else mark


def plain_wrong(result: list[str]) -> bool:
    """A wrong answer reported as a plain verified one (not flagged)."""
    return result[1] != "RIGHT" and "(" not in cell(result)


def main(argv: list[str]) -> None:
    questions = rows(argv[0])
    runs = [(arg.split("=", 1)[0], rows(arg.split("=", 1)[1])) for arg in argv[1:]]
    print("| document | question | expected | " + " | ".join(name for name, _ in runs) + " |")
    print("|---" * (3 + len(runs)) + "|")
    for i, (doc, question, expected) in enumerate(questions):
        cells = [cell(r[i] if i < len(r) else None) for _, r in runs]
        print(f"| {doc} | {question} | {expected} | " + " | ".join(cells) + " |")
    totals = [f"**{sum(x[1] == 'RIGHT' for x in r)}/{len(questions)}**" for _, r in runs]
    print("| | | right | " + " | ".join(totals) + " |")
    unflagged = [f"{sum(plain_wrong(x) for x in r)}" for _, r in runs]
    print("| | | wrong and not flagged | " + " | ".join(unflagged) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
