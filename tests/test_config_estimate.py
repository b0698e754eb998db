"""`--estimate` logic (rlm_cli/estimate.py) and offline token counting."""
from __future__ import annotations

import pytest

from rlm_cli import config, estimate, tokens
from rlm_cli.usage import Limits


def test_token_count_is_exact_offline():
    assert tokens.exact()  # cl100k from litellm's bundled copy, no network in tests
    assert tokens.count_tokens("hello world") == 2


def test_range_grows_with_context_and_uses_profile_prices(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-abcdef123456")
    r = config.resolve(profile="openai")
    small = estimate.compute(1_000, 10, 50_000, (2e-6, 8e-6), (4e-7, 1.6e-6), estimate.HOSTED, estimate.HOSTED, 8)
    big = estimate.compute(1_000_000, 10, 50_000, (2e-6, 8e-6), (4e-7, 1.6e-6), estimate.HOSTED, estimate.HOSTED, 8)
    assert small.cost[0] < small.cost[1] < big.cost[1] and big.calls[1] == 10 + 20
    assert big.seconds[0] < big.seconds[1]
    text = estimate.estimate(r, "word " * 200_000, Limits(max_iterations=10, max_cost=0.01))
    assert "gpt-4.1" in text and "cost: $" in text and "--max-cost $0.01 may stop" in text


def test_unknown_prices_say_so(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model_list: [{model_name: m, litellm_params: {model: openai/no-such-model, api_base: 'http://127.0.0.1:9/v1'}}]\n")
    r = config.resolve(config_path=str(cfg))
    assert "cost: unknown" in estimate.estimate(r, "x" * 1000, Limits())


def test_cli_estimate_sends_nothing(cli, stub_server, tmp_path):
    server = stub_server()
    doc = tmp_path / "doc.txt"
    doc.write_text("lorem ipsum " * 20_000)
    r = cli(["ask", doc, "q", "-m", "openai/gpt-4o-mini", "--api-base", server.url, "--estimate"])
    assert r.exit_code == 0, r.stderr
    assert "estimate (nothing sent)" in r.stdout and "model calls:" in r.stdout
    assert server.requests == []


def test_sampled_count_is_close_to_exact_and_flags_itself():
    import random

    rnd = random.Random(3)
    words = ["alpha", "beta", "gamma", "delta", "Ω", "naïve", "1234", "x_y", "\n"]
    text = " ".join(rnd.choice(words) for _ in range(300_000))
    exact = tokens.count_tokens(text)
    n, is_exact = tokens.sampled_count(tokens.count_tokens, text, exact_limit=100_000)
    assert not is_exact and abs(n - exact) / exact < 0.03
    assert tokens.sampled_count(tokens.count_tokens, "short text", exact_limit=100_000) == (tokens.count_tokens("short text"), True)


def test_estimate_counts_the_prompt_cache():
    """20 root turns on Claude Sonnet prices: each turn re-reads the one before at $0.30/M instead of
    $3/M and writes its new part at $3.75/M."""
    ins = [estimate.ROOT_BASE_TOKENS + i * estimate.ROOT_GROWTH_TOKENS for i in range(20)]
    plain = estimate.root_input_cost(ins, 3e-6)
    cached = estimate.root_input_cost(ins, 3e-6, (3e-7, 3.75e-6))
    assert plain == sum(ins) * 3e-6
    expected = ins[0] * 3.75e-6 + sum(ins[i - 1] * 3e-7 + (ins[i] - ins[i - 1]) * 3.75e-6 for i in range(1, 20))
    assert cached == pytest.approx(expected) and cached < plain / 3
    args = (1_000, 20, 50_000, (3e-6, 1.5e-5), (1e-6, 5e-6), estimate.HOSTED, estimate.HOSTED, 8)
    assert estimate.compute(*args, root_cache=(3e-7, 3.75e-6)).cost[1] < estimate.compute(*args).cost[1]


def test_cli_estimate_says_what_caching_saves(cli):
    r = cli(["ask", "-", "q", "-m", "anthropic/claude-sonnet-4-5", "--estimate"], stdin=b"word " * 5000)
    assert r.exit_code == 0, r.stderr
    assert "prompt cache (breakpoints)" in r.stdout and "without it: $" in r.stdout
    r = cli(["ask", "-", "q", "-m", "anthropic/claude-sonnet-4-5", "--estimate", "--no-prompt-cache"], stdin=b"word " * 5000)
    assert "prompt cache" not in r.stdout


def test_estimate_brackets_a_real_scripted_run(cli, script, tmp_path):
    """The printed range of model calls holds the calls a real run makes (search, read, answer)."""
    import re

    doc = tmp_path / "doc.txt"
    doc.write_text("Quarterly notes. " * 3000 + "The supplier that missed was Brightwater. " + "More notes. " * 3000,
                   encoding="utf-8")
    fence = "```repl\n{}\n```"
    model = script([
        {"turn": 1, "when": "Question", "reply": fence.format("i = context.find('missed')\nprint(i)")},
        {"turn": 2, "when": ".", "reply": fence.format(
            "parts = [context[j:j + 20000] for j in range(0, len(context), 20000)]\n"
            "notes = llm_query_batched(['Who missed? ' + p for p in parts])\nprint(notes)")},
        {"turn": 3, "when": ".", "reply": fence.format("FINAL('Brightwater')")},
        {"when": "Who missed", "reply": "Brightwater"},
    ])
    est = cli(["ask", doc, "Which supplier missed?", "-m", model, "--estimate"])
    low, high = map(int, re.search(r"model calls: (\d+)-(\d+)", est.stdout).groups())
    run = cli(["ask", doc, "Which supplier missed?", "-m", model, "--json"])
    assert run.exit_code == 0, run.stderr
    calls = run.json()["calls"]
    assert low <= calls <= high, (low, calls, high)
