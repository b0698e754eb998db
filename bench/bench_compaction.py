"""Turn times with the local model as the root conversation passes the compaction threshold: the old
compaction (oldest turns stubbed one by one, so the prompt prefix changes at every turn) against the
current one (engine/history.py: stable head, one large drop from the middle).

    python -m bench.bench_compaction [--turns 12] [--output-chars 4000] [--window 8192]

Each turn appends a fixed assistant reply and a REPL output of `--output-chars` characters, compacts
with the policy, and asks the local model for a short reply (max 16 tokens): the time is dominated by
the prompt tokens the model has to process, i.e. by what its prompt cache could not reuse.
"""
from __future__ import annotations

import argparse
import random
import time

from .common import print_grid, write_results

OMITTED_OLD = "[earlier turn omitted to fit the model's context window; the REPL still holds every variable it created]"


def fit_old(messages: list[dict], window: int, count) -> bool:
    """The compaction before issue 15 (kept here to measure against): stub the oldest turns one at a time."""
    budget = int(window * 0.8)
    sizes = [count(m["content"]) for m in messages]
    changed, i = False, 2
    while sum(sizes) > budget and i < len(messages) - 4:
        if not messages[i]["content"].startswith(OMITTED_OLD[:20]):
            messages[i] = {"role": messages[i]["role"], "content": OMITTED_OLD}
            sizes[i] = count(OMITTED_OLD)
            changed = True
        i += 1
    return changed


def conversation_turn(rng: random.Random, i: int, chars: int) -> list[dict]:
    words = "river stone light harbor bridge market orchard lantern meadow quiet record label city".split()
    out = " ".join(rng.choice(words) for _ in range(chars // 6))[:chars]
    return [{"role": "assistant", "content": f"```repl\nprint(search('query number {i}'))\n```"},
            {"role": "user", "content": f"REPL output (block 1):\n{out}\n\nTurn {i + 2} of 30."}]


def run_policy(name: str, fit, turns: int, chars: int, window: int, count, model: str) -> list[dict]:
    from rlm_cli.backends import local
    from rlm_cli.prompts import PromptInfo, first_message, system_prompt

    info = PromptInfo("What is the special magic number for amber-falcon-27?", 400_000, 100_000,
                      [{"name": "doc.txt", "start": 0, "end": 400_000}], 30, 10_000, 0, 0, 32_000)
    messages = [{"role": "system", "content": system_prompt(info)}, {"role": "user", "content": first_message(info)}]
    rng = random.Random(7)
    rows = []
    for t in range(turns):
        messages += conversation_turn(rng, t, chars)
        compacted = fit(messages, window, count)
        t0 = time.perf_counter()
        r = local.chat(model, messages, max_tokens=16)
        took = time.perf_counter() - t0
        usage = r.get("usage") or {}
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
        rows.append({"policy": name, "turn": t + 1, "prompt_tokens": usage.get("prompt_tokens"), "cached_tokens": cached,
                     "compacted": compacted, "seconds": round(took, 2)})
        print(f"  {name:<6} turn {t + 1:>2}: {usage.get('prompt_tokens'):>5} prompt tokens, cached {cached}, "
              f"{'compacted, ' if compacted else ''}{took:6.1f} s", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    from rlm_cli.engine.history import fit_history
    from rlm_cli.tokens import Tiktoken

    p = argparse.ArgumentParser(prog="python -m bench.bench_compaction", description=__doc__.split("\n\n")[0])
    p.add_argument("--turns", type=int, default=12)
    p.add_argument("--output-chars", type=int, default=4000)
    p.add_argument("--window", type=int, default=8192, help="the root window the engine compacts to (tokens)")
    p.add_argument("--model", default="local/qwen2.5-coder-1.5b")
    p.add_argument("--json-out", default=None)
    a = p.parse_args(argv)
    counter = Tiktoken()
    rows = []
    for name, fit in (("old", fit_old), ("new", fit_history)):
        rows += run_policy(name, fit, a.turns, a.output_chars, a.window, counter.count, a.model)
    grid = []
    for name in ("old", "new"):
        mine = [r for r in rows if r["policy"] == name]
        first = next((r["turn"] for r in mine if r["compacted"]), None)
        after = [r for r in mine if first is not None and r["turn"] >= first]
        grid.append([name, str(first or "-"), str(sum(r["compacted"] for r in mine)), f"{sum(r['seconds'] for r in mine):.0f}",
                     f"{sum(r['seconds'] for r in after):.0f}",
                     f"{sum(r['seconds'] for r in after) / max(len(after), 1):.1f}"])
    print_grid(f"compaction with {a.model}: {a.turns} turns of {a.output_chars:,} output chars, window {a.window:,}",
               ["policy", "first compaction at turn", "compactions", "total s", "s from then on", "s/turn from then on"], grid)
    path = write_results("compaction", {"turns": rows, "args": vars(a)}, a.json_out)
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
