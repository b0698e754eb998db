"""A follow-up that reuses the REPL's variables versus the same question asked fresh:
`python -m bench.bench_conversation [--latency 0.3] [--chunks 16]`.

Latency stub (every model call takes --latency seconds). Question 1 has the root model summarise
every chunk of the document with one llm_query_batched and keep the notes in a variable; question 2
("which chunks mention invoices?") is asked (a) with `rlm ask -c`, where the root model is told that
`notes` exists and uses it, and (b) fresh, with `rlm ask`, where it has to read every chunk again.
Both through the real CLI, in separate processes, as a user would run them.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

from .common import bench_env, print_grid, rlm_argv, write_results
from .stub import BenchStub, ModelScript

FENCE = "```repl\n{}\n```"
SUMMARISE = ("chunks = [context[i:i + 4000] for i in range(0, len(context), 4000)]\n"
             "notes = llm_query_batched(['Summarise: ' + c for c in chunks])\n")
RULES = [
    ("Question: Summarise", FENCE.format(SUMMARISE + "FINAL(f'{len(notes)} chunks summarised')")),
    ("- notes: list", FENCE.format("hits = [i for i, n in enumerate(notes) if 'invoice' in n]\nFINAL(str(hits))")),
    ("Question: Which chunks", FENCE.format(SUMMARISE + "hits = [i for i, n in enumerate(notes) if 'invoice' in n]\n"
                                            "FINAL(str(hits))")),
]


def sub_reply(body: dict) -> str:
    text = str((body.get("messages") or [{}])[-1].get("content", ""))
    return "mentions an invoice" if "invoice" in text else "nothing of note"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_conversation", description=__doc__.split("\n\n")[0])
    p.add_argument("--latency", type=float, default=0.3, help="seconds per model call")
    p.add_argument("--chunks", type=int, default=16)
    p.add_argument("--json-out", type=Path, default=None)
    a = p.parse_args(argv)
    res = measure(a.latency, a.chunks)
    print_grid(f"follow-up with the REPL kept vs asked fresh (stub: {a.latency:g} s per call, {a.chunks} chunks)",
               ["question 2", "model calls", "tokens", "wall", "answer"],
               [[k, v["calls"], f"{v['tokens']:,}", f"{v['wall_s']:.2f} s", v["answer"]] for k, v in res["rows"].items()])
    print(f"\nresults: {write_results('conversation', res, a.json_out)}")
    return 0


def measure(latency: float, chunks: int) -> dict:
    scripts = {"root": ModelScript(rules=RULES), "sub": ModelScript()}
    with tempfile.TemporaryDirectory() as tmp, BenchStub(scripts, latency=latency) as stub:
        stub.scripts["sub"] = _Sub()
        doc = Path(tmp, "doc.txt")
        doc.write_text("".join(("An invoice was late. " if i % 5 == 0 else "Nothing here. ") * 200 + "\n"
                               for i in range(chunks)), encoding="utf-8")
        env = bench_env(Path(tmp, "home"))
        base = ["-m", "openai/root", "--sub-model", "openai/sub", "--api-base", stub.url, "--json", "-q"]
        first = _ask(env, [str(doc), "Summarise every part", *base])
        rows = {"rlm ask -c (REPL kept)": _ask(env, ["-c", "Which chunks mention invoices?", *base]),
                "rlm ask (fresh)": _ask(env, [str(doc), "Which chunks mention invoices?", *base])}
    return {"latency_s": latency, "chunks": chunks, "question_1": first, "rows": rows}


class _Sub(ModelScript):
    def reply(self, body: dict) -> str:
        return sub_reply(body)


def _ask(env: dict, args: list[str]) -> dict:
    t0 = time.perf_counter()
    out = subprocess.run([*rlm_argv(), "ask", *args], env=env, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - t0
    obj = json.loads(out.stdout) if out.stdout.strip().startswith("{") else {}
    return {"calls": obj.get("calls"), "tokens": obj.get("tokens", 0), "wall_s": wall, "answer": obj.get("answer"),
            "exit_code": out.returncode}


if __name__ == "__main__":
    raise SystemExit(main())
