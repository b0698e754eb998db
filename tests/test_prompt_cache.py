"""Provider prompt caching: where the breakpoints go, what the request bodies look like at the stub
(fast path and through LiteLLM's Anthropic provider), cached tokens read back, and the cost arithmetic."""
from __future__ import annotations

import pytest

from conftest import scripted_responder
from rlm_cli.backends import prompt_cache as pc

SONNET = dict(input_cost_per_token=3e-6, output_cost_per_token=1.5e-5, cache_read_input_token_cost=3e-7,
              cache_creation_input_token_cost=3.75e-6)
THREE_TURNS = [
    {"turn": 1, "when": "Question:", "reply": "```repl\nprint(len(context))\n```"},
    {"turn": 2, "when": "Turn 2 of", "reply": "```repl\nx = context.count('needle')\nprint(x)\n```"},
    {"turn": 3, "when": "Turn 3 of", "reply": "```repl\nFINAL(f'{x} needles')\n```"},
]


def _marks(message: dict) -> bool:
    content = message.get("content")
    return isinstance(content, list) and any(isinstance(p, dict) and p.get("cache_control") for p in content)


def test_breakpoints_on_system_question_and_the_last_two_user_turns():
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}]
    for i in range(4):
        msgs += [{"role": "assistant", "content": f"a{i}"}, {"role": "user", "content": f"out{i}"}]
    marked = pc.mark(msgs)
    assert [i for i, m in enumerate(marked) if _marks(m)] == [0, 1, 7, 9]
    assert marked[9]["content"] == [{"type": "text", "text": "out3", "cache_control": {"type": "ephemeral"}}]
    assert msgs[9]["content"] == "out3"  # the engine's own list is not changed
    assert [i for i, m in enumerate(pc.mark(msgs[:2])) if _marks(m)] == [0, 1]  # first turn: two marks, not four


@pytest.mark.parametrize("model,configured,style", [
    ("anthropic/claude-sonnet-4-5", None, "breakpoints"),
    ("bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0", None, "breakpoints"),
    ("openrouter/anthropic/claude-sonnet-4.5", None, "breakpoints"),
    ("claude-sonnet-4-5", None, "breakpoints"),  # bare name: litellm's data says provider anthropic
    ("openai/gpt-4.1", None, "automatic"),
    ("gemini/gemini-2.5-pro", None, "automatic"),  # never explicit marks: LiteLLM would create a paid context cache
    ("hosted_vllm/my-model", None, "off"),
    ("openai/claude-behind-a-proxy", "breakpoints", "breakpoints"),
    ("anthropic/claude-sonnet-4-5", "off", "off"),
])
def test_cache_style_by_provider_and_config(model, configured, style):
    from rlm_cli.backends.router import model_info

    assert pc.style(model, configured, model_info(model)) == style


def test_cached_counts_in_every_spelling_and_never_more_than_the_prompt():
    assert pc.counts({"prompt_tokens_details": {"cached_tokens": 700}}, 1000) == pc.CacheCounts(700, 0)
    assert pc.counts({"cache_read_input_tokens": 600, "cache_creation_input_tokens": 300}, 1000) == pc.CacheCounts(600, 300)
    assert pc.counts({"prompt_cache_hit_tokens": 512}, 1000) == pc.CacheCounts(512, 0)  # DeepSeek
    assert pc.counts({"prompt_tokens_details": {"cached_tokens": 5000}, "cache_creation_input_tokens": 9}, 1000) == pc.CacheCounts(1000, 0)
    assert pc.counts({"prompt_tokens_details": {"cached_tokens": "700"}, "cache_read_input_tokens": -3}, 1000) == pc.CacheCounts(0, 0)
    assert pc.counts({"prompt_tokens_details": {"cached_tokens": True}}, 1000) == pc.CacheCounts(0, 0)


def test_cost_arithmetic_with_cache_prices():
    prices = pc.Prices.of(**{"pin": 3e-6, "pout": 1.5e-5, "pread": 3e-7, "pwrite": 3.75e-6})
    # 10,000 prompt tokens: 6,000 read, 3,000 written, 1,000 plain; 500 out
    got = pc.cost(10_000, 500, pc.CacheCounts(6_000, 3_000), prices)
    assert got == pytest.approx(1_000 * 3e-6 + 6_000 * 3e-7 + 3_000 * 3.75e-6 + 500 * 1.5e-5)  # $0.02655
    assert pc.cost(10_000, 500, pc.CacheCounts(), prices) == pytest.approx(10_000 * 3e-6 + 500 * 1.5e-5)
    unknown = pc.Prices.of(3e-6, 1.5e-5)  # no cache prices known: cached tokens cost the input price
    assert pc.cost(10_000, 0, pc.CacheCounts(6_000, 3_000), unknown) == pytest.approx(10_000 * 3e-6)


def _config(tmp_path, url, model: str, info: dict) -> str:
    import yaml

    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump({"model_list": [{"model_name": "root", "litellm_params": {"model": model, "api_base": url},
                                                    "model_info": info}]}), encoding="utf-8")
    return str(path)


def _doc(tmp_path):
    doc = tmp_path / "doc.txt"
    doc.write_text("hay needle hay " * 400 + "needle\n", encoding="utf-8")
    return doc


def test_fast_path_marks_root_turns_and_counts_cached_tokens(cli, stub_server, tmp_path):
    server = stub_server(scripted_responder(THREE_TURNS), prompt_cache="anthropic", cache_min_tokens=200)
    cfg = _config(tmp_path, server.url, "openai/claude-sonnet-4-5", dict(SONNET, prompt_cache="breakpoints"))
    r = cli(["ask", _doc(tmp_path), "how many needles?", "--config", cfg, "-m", "root", "--json"])
    assert r.exit_code == 0, r.stderr
    out = r.json()
    assert out["answer"] == "401 needles"
    bodies = [q.body for q in server.chat_requests]
    assert len(bodies) == 3
    third = bodies[2]["messages"]
    assert [i for i, m in enumerate(third) if _marks(m)] == [0, 1, 3, 5]  # system, question, last two user turns
    assert [m["role"] for m in third] == ["system", "user", "assistant", "user", "assistant", "user"]
    # the stub's simulated cache: turn 1 writes, later turns read what the turn before wrote
    usage = out["usage"]["root"]
    assert usage["cached_tokens"] > 0 and usage["cache_write_tokens"] > 0 and out["cached_tokens"] == usage["cached_tokens"]
    plain = usage["prompt_tokens"] - usage["cached_tokens"] - usage["cache_write_tokens"]
    expected = (plain * 3e-6 + usage["cached_tokens"] * 3e-7 + usage["cache_write_tokens"] * 3.75e-6
                + usage["completion_tokens"] * 1.5e-5)
    assert out["cost_usd"] == pytest.approx(expected, abs=2e-6)
    uncached = usage["prompt_tokens"] * 3e-6 + usage["completion_tokens"] * 1.5e-5
    assert out["cost_usd"] < uncached


def test_no_prompt_cache_sends_plain_strings(cli, stub_server, tmp_path):
    server = stub_server(scripted_responder(THREE_TURNS), prompt_cache="anthropic", cache_min_tokens=200)
    cfg = _config(tmp_path, server.url, "openai/claude-sonnet-4-5", dict(SONNET, prompt_cache="breakpoints"))
    r = cli(["ask", _doc(tmp_path), "how many needles?", "--config", cfg, "-m", "root", "--json", "--no-prompt-cache"])
    assert r.exit_code == 0, r.stderr
    assert all(isinstance(m["content"], str) for q in server.chat_requests for m in q.body["messages"])
    assert r.json()["usage"]["root"]["cached_tokens"] == 0


def test_automatic_cache_unmarked_but_priced(cli, stub_server, tmp_path):
    """OpenAI-style: no marks in the body (the prefix is already stable); cached tokens billed at the
    cached price from litellm's table (gpt-4.1: $2/M in, $0.50/M cached, $8/M out)."""
    server = stub_server(scripted_responder(THREE_TURNS), prompt_cache="openai", cache_min_tokens=256)
    cfg = _config(tmp_path, server.url, "openai/gpt-4.1", {})
    r = cli(["ask", _doc(tmp_path), "how many needles?", "--config", cfg, "-m", "root", "--json"])
    assert r.exit_code == 0, r.stderr
    assert all(isinstance(m["content"], str) for q in server.chat_requests for m in q.body["messages"])
    u = r.json()["usage"]["root"]
    assert u["cached_tokens"] > 0 and u["cache_write_tokens"] == 0
    expected = (u["prompt_tokens"] - u["cached_tokens"]) * 2e-6 + u["cached_tokens"] * 5e-7 + u["completion_tokens"] * 8e-6
    assert r.json()["cost_usd"] == pytest.approx(expected, abs=2e-6)


def test_sub_calls_are_not_marked(stub_server):
    from rlm_cli.backends.router import Endpoint, LLMBackend
    from rlm_cli.context import Context
    from rlm_cli.engine import Run, RunConfig

    rules = [{"turn": 1, "when": "Question:", "reply": "```repl\nFINAL(llm_query('say hi'))\n```"},
             {"when": "say hi", "reply": "hi"}]
    server = stub_server(scripted_responder(rules))
    ep = Endpoint("openai/claude-x", api_base=server.url, prompt_cache="breakpoints")
    run = Run(LLMBackend({"m": ep}), RunConfig("m", prompt_cache=True))
    assert run.execute("q", Context.from_text("abc")).answer == "hi"
    root, sub = [q.body["messages"] for q in server.chat_requests]
    assert _marks(root[0]) and _marks(root[1])
    assert sub == [{"role": "user", "content": "say hi"}]


def test_through_litellm_anthropic_provider(stub_server):
    """The Router path: LiteLLM's Anthropic provider turns the marked messages into Messages API blocks
    with cache_control (checked at the stub), and its usage carries the cache reads and writes back."""
    from rlm_cli.backends.router import Endpoint, LLMBackend
    from rlm_cli.context import Context
    from rlm_cli.engine import Run, RunConfig

    server = stub_server(scripted_responder(THREE_TURNS), prompt_cache="anthropic", cache_min_tokens=200)
    ep = Endpoint("anthropic/claude-sonnet-4-5", api_base=server.url.removesuffix("/v1"), api_key="sk-ant-test")
    run = Run(LLMBackend({"claude": ep}), RunConfig("claude", prompt_cache=True))
    result = run.execute("how many needles?", Context.from_text("hay needle hay " * 400 + "needle\n"))
    assert result.answer == "401 needles", result.error
    reqs = [q for q in server.requests if q.path.endswith("/messages")]
    assert len(reqs) == 3
    last = reqs[2].body
    system_marked = any(isinstance(b, dict) and b.get("cache_control") for b in (last["system"] if isinstance(last["system"], list) else []))
    marked_msgs = [i for i, m in enumerate(last["messages"]) if _marks(m)]
    assert system_marked and marked_msgs == [0, 2, 4]  # question, last two user turns (system is separate)
    u = run.usage.by_model["claude"]
    assert u.cached_tokens > 0 and u.cache_write_tokens > 0
    plain = u.prompt_tokens - u.cached_tokens - u.cache_write_tokens
    expected = plain * 3e-6 + u.cached_tokens * 3e-7 + u.cache_write_tokens * 3.75e-6 + u.completion_tokens * 1.5e-5
    assert u.cost_usd == pytest.approx(expected, rel=1e-6)  # litellm's price table for claude-sonnet-4-5
