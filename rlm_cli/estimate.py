"""`rlm ask --estimate`: a cost/time range for a question before anything is sent.

Low end: the root model finds the answer with one search and FINAL (two short turns, no reading).
High end: every root turn is used and the sub model reads the whole context once, in window-sized
chunks. The local model reuses its prompt cache between turns, so each turn costs only its new tokens,
plus loading the model once (measured in docs/benchmarks.md).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from . import defaults

ROOT_BASE_TOKENS = 1_500  # system prompt + first message
ROOT_GROWTH_TOKENS = 900  # each turn adds the reply and its (truncated) REPL output
ROOT_OUT_TOKENS = 250
SUB_OUT_TOKENS = 200
SUB_CHUNK_CAP = 100_000  # tokens per sub-call at most, whatever the window
LOW_TURNS = 2  # search(), then FINAL with the hit as evidence
LOW_GROWTH_TOKENS = 300  # a search turn: a one-line reply and five hits
LOW_OUT_TOKENS = 40


@dataclass
class Speed:
    latency_s: float  # per call, before the first token
    prompt_tps: float
    gen_tps: float
    base_tokens: int = ROOT_BASE_TOKENS  # the first root request (system prompt + question)
    prefix_cache: bool = False  # only new tokens are processed at each turn
    start_s: float = 0.0  # once per run (loading a local model)


HOSTED = Speed(0.8, 5_000.0, 80.0)
# measured on 2 cores: Qwen2.5-Coder-1.5B Q4_K_M, 42-70 prompt tokens/s, 25-28 generated tokens/s, its
# short system prompt ~400 tokens, 3-5 s to load (bench.bench_quickstart: 2 turns, 21 s, idle machine)
LOCAL = Speed(0.0, 55.0, 25.0, base_tokens=400, prefix_cache=True, start_s=4.0)


@dataclass
class Range:
    calls: tuple[int, int]
    tokens: tuple[int, int]
    cost: tuple[float, float] | None
    seconds: tuple[float, float]


def estimate(resolved, context, limits, prompt_cache: bool = True) -> str:
    """The text `rlm ask --estimate` prints (to stdout); nothing is sent to any model. With
    `prompt_cache`, root turns after the first read the earlier ones from the provider's cache."""
    from .backends.router import context_window, prices

    backend = resolved.backend
    root_ep, sub_ep = backend.endpoint(resolved.root_model), backend.endpoint(resolved.sub_model)
    text = getattr(context, "text", context)
    ctx_tokens = context_tokens(text)
    window = context_window(sub_ep) or 128_000
    chunk = max(1_000, min(SUB_CHUNK_CAP, window // 2))
    cache, style = _cache_prices(root_ep) if prompt_cache else (None, "off")
    args = (ctx_tokens, limits.max_iterations, chunk, prices(root_ep), prices(sub_ep), _speed(root_ep), _speed(sub_ep),
            max(1, getattr(resolved, "concurrency", None) or defaults.CONCURRENCY))
    r, plain = compute(*args, root_cache=cache), compute(*args)
    lines = [
        f"estimate (nothing sent): root {resolved.root_model}, sub {resolved.sub_model}"
        + (f", profile {resolved.profile}" if resolved.profile else ""),
        f"  context: {len(text):,} chars, about {ctx_tokens:,} tokens; sub-calls of up to {chunk:,} tokens",
        f"  model calls: {r.calls[0]}-{r.calls[1]}   tokens: {_k(r.tokens[0])}-{_k(r.tokens[1])}",
        "  cost: " + (f"${r.cost[0]:.4f}-${r.cost[1]:.4f}" if r.cost else "unknown (no price data for a model: add model_info prices)"),
        f"  time: {_dur(r.seconds[0])}-{_dur(r.seconds[1])}",
    ]
    if cache is not None and r.cost and plain.cost:
        lines.append(f"  prompt cache ({style}): root turns re-read earlier ones at the cached price; "
                     f"without it: ${plain.cost[0]:.4f}-${plain.cost[1]:.4f}")
    if limits.max_cost is not None and r.cost and r.cost[1] > limits.max_cost:
        lines.append(f"  note: --max-cost ${limits.max_cost:g} may stop the run before an answer")
    lines.append("  (low: one search, then the answer; high: every turn used and the whole context read once)")
    return "\n".join(lines) + "\n"


def compute(ctx_tokens, max_iterations, chunk, root_price, sub_price, root_speed, sub_speed, concurrency,
            root_cache: tuple[float, float] | None = None) -> Range:
    """`root_cache`: (read, write) USD per token when root turns use the provider's prompt cache."""
    def root(turns, growth=ROOT_GROWTH_TOKENS, out=ROOT_OUT_TOKENS):
        ins = [root_speed.base_tokens + i * growth for i in range(turns)]
        return ins, turns * out

    def processed(turns, ins, growth=ROOT_GROWTH_TOKENS):  # what the root reads (a prefix cache: new tokens only)
        return root_speed.base_tokens + (turns - 1) * growth if root_speed.prefix_cache else ins

    hi_turns = max(max_iterations, 1)
    lo_turns = min(LOW_TURNS, hi_turns)
    (lo_ins, lo_out), (hi_ins, hi_out) = root(lo_turns, LOW_GROWTH_TOKENS, LOW_OUT_TOKENS), root(hi_turns)
    lo_in, hi_in = sum(lo_ins), sum(hi_ins)
    n_sub = math.ceil(ctx_tokens / chunk) if ctx_tokens else 0
    sub_in, sub_out = ctx_tokens + n_sub * 50, n_sub * SUB_OUT_TOKENS
    cost = None
    if None not in (*root_price, *sub_price):
        cost = (root_input_cost(lo_ins, root_price[0], root_cache) + lo_out * root_price[1],
                root_input_cost(hi_ins, root_price[0], root_cache) + hi_out * root_price[1]
                + sub_in * sub_price[0] + sub_out * sub_price[1])
    t = lambda s, i, o, n: n * s.latency_s + i / s.prompt_tps + o / s.gen_tps  # noqa: E731
    waves = math.ceil(n_sub / concurrency) if n_sub else 0
    sub_time = waves * t(sub_speed, min(ctx_tokens, chunk), SUB_OUT_TOKENS, 1)
    start = root_speed.start_s
    return Range((lo_turns, hi_turns + n_sub), (lo_in + lo_out, hi_in + hi_out + sub_in + sub_out), cost,
                 (start + t(root_speed, processed(lo_turns, lo_in, LOW_GROWTH_TOKENS), lo_out, lo_turns),
                  start + t(root_speed, processed(hi_turns, hi_in), hi_out, hi_turns) + sub_time))


def root_input_cost(inputs: list[int], price_in: float, cache: tuple[float, float] | None = None) -> float:
    """USD for the root's prompts (`inputs`: tokens per turn). With a prompt cache, each turn reads the
    previous turn's whole prompt at the cached price and writes only what it added."""
    if cache is None:
        return sum(inputs) * price_in
    read, write = cache
    cost, prev = 0.0, 0
    for n in inputs:
        cost += prev * read + max(n - prev, 0) * write
        prev = n
    return cost


def _cache_prices(ep) -> tuple[tuple[float, float] | None, str]:
    """(read, write) prices when the root deployment caches prompts (writes cost the input price where the
    provider charges nothing extra), and the caching style."""
    from .backends.router import all_prices, cache_style, prices

    style = cache_style(ep)
    if style == "off" or prices(ep)[0] is None:
        return None, style
    p = all_prices(ep)
    return (p.cache_read, p.cache_write if style == "breakpoints" else p.input), style


def context_tokens(text: str) -> int:
    """cl100k tokens; for big texts, measured on a sample and scaled (fast on 100 MB)."""
    from .tokens import count_tokens

    if len(text) <= 2_000_000:
        return count_tokens(text)
    step = len(text) // 20
    sample = "".join(text[i:i + 50_000] for i in range(0, len(text), step))
    return int(count_tokens(sample) * len(text) / max(len(sample), 1))


def _speed(ep) -> Speed:
    return LOCAL if ep.model.startswith("local/") else HOSTED


def _k(n: int) -> str:
    return f"{n / 1000:,.0f}k" if n >= 10_000 else f"{n:,}"


def _dur(s: float) -> str:
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"
