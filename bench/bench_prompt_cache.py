"""Root input tokens and cost of a 20-turn run with and without provider prompt caching.

    python -m bench.bench_prompt_cache [--turns 20] [--output-chars 2000] [--json]

The run goes through rlm's real path for Anthropic models: the engine, the LiteLLM Router and
LiteLLM's Anthropic provider (`anthropic/claude-sonnet-4-5`), against the stub server's Anthropic
Messages endpoint. The stub simulates Anthropic's documented cache (prefixes up to `cache_control`
breakpoints, at least 1,024 tokens, reads of the longest cached breakpoint prefix, writes up to the
last one) and counts 4 characters per token. Prices are Claude Sonnet 4.5's from LiteLLM's price table
($3/M input, $0.30/M cache read, $3.75/M cache write, $15/M output). The scripted root model prints
`--output-chars` characters of the document each turn (a typical REPL output) and answers on the last.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

MODEL = "anthropic/claude-sonnet-4-5"


def script(turns: int, chars: int) -> dict:
    rules = [{"turn": t, "when": "", "reply": f"Reading part {t}.\n```repl\nprint(context[{(t - 1) * chars}:{t * chars}])\n```"}
             for t in range(1, turns)]
    rules.append({"turn": turns, "when": "", "reply": "```repl\nFINAL('done')\n```"})
    return {"rules": rules}


def one_run(turns: int, chars: int, prompt_cache: bool) -> dict:
    from rlm_cli.backends.router import Endpoint, LLMBackend
    from rlm_cli.backends.scripted import ScriptedModel
    from rlm_cli.context import Context
    from rlm_cli.engine import Run, RunConfig
    from rlm_cli.testing.stub_server import StubServer
    from rlm_cli.usage import Limits

    model = ScriptedModel.from_dict(script(turns, chars))
    with StubServer(lambda body: model.reply(body["messages"])[0], prompt_cache="anthropic") as stub:
        ep = Endpoint(MODEL, api_base=stub.url.removesuffix("/v1"), api_key="sk-ant-bench")
        cfg = RunConfig("claude", limits=Limits(max_iterations=turns), prompt_cache=prompt_cache)
        text = "".join(f"line {i}: the quick brown fox jumps over the lazy dog\n" for i in range(turns * chars // 50 + 10))
        result = Run(LLMBackend({"claude": ep}), cfg).execute("What does the document say?", Context.from_text(text))
    u = result.usage.by_model["claude"]
    return {"prompt_cache": prompt_cache, "answer": result.answer, "turns": u.calls, "input_tokens": u.prompt_tokens,
            "cached_tokens": u.cached_tokens, "cache_write_tokens": u.cache_write_tokens,
            "output_tokens": u.completion_tokens, "cost_usd": round(u.cost_usd, 6)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_prompt_cache", description=__doc__.split("\n\n")[0])
    p.add_argument("--turns", type=int, default=20)
    p.add_argument("--output-chars", type=int, default=2000)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    rows = [one_run(a.turns, a.output_chars, False), one_run(a.turns, a.output_chars, True)]
    if a.json:
        json.dump({"model": MODEL, "turns": a.turns, "output_chars": a.output_chars, "runs": rows}, sys.stdout, indent=2)
        print()
        return 0
    base = rows[0]["cost_usd"]
    print(f"{a.turns}-turn root conversation, {MODEL} prices (LiteLLM's table), stub-simulated Anthropic cache\n")
    print("| prompt caching | root calls | input tokens | of which cache reads | cache writes | output tokens | cost | vs off |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {'on' if r['prompt_cache'] else 'off'} | {r['turns']} | {r['input_tokens']:,} | {r['cached_tokens']:,} | "
              f"{r['cache_write_tokens']:,} | {r['output_tokens']:,} | ${r['cost_usd']:.4f} | {r['cost_usd'] / base:.0%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
