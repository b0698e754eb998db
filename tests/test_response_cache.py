"""rlm's response cache (--cache): a re-run makes no request and costs nothing; what the key covers;
temperature; the size cap; a damaged entry; `rlm cache clear --responses`; hits in --json, events and
the tree."""
from __future__ import annotations

import os
import sqlite3
import stat

import pytest

from conftest import scripted_responder
from rlm_cli.response_cache import Policy, ResponseCache, Store

RULES = [
    {"turn": 1, "when": "Question:", "reply": "```repl\nn = context.count('needle')\nprint(n)\n```"},
    {"turn": 2, "when": "Turn 2 of", "reply": "```repl\nFINAL(llm_query(f'say {n} needles'))\n```"},
    {"when": "say (\\d+) needles", "reply": "{1} needles found"},
]
PRICED = {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}


def _setup(tmp_path, stub_server, params: dict | None = None):
    import yaml

    server = stub_server(scripted_responder(RULES))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"model_list": [{"model_name": "m", "litellm_params": dict({"model": "openai/m", "api_base": server.url},
                                                                                         **(params or {})),
                                                   "model_info": PRICED}]}), encoding="utf-8")
    doc = tmp_path / "doc.txt"
    doc.write_text("hay needle " * 50, encoding="utf-8")
    return server, ["ask", doc, "how many needles?", "--config", cfg, "-m", "m", "--json"]


def test_a_rerun_with_cache_makes_no_request_and_costs_nothing(cli, stub_server, tmp_path):
    server, args = _setup(tmp_path, stub_server)
    first = cli(args + ["--cache", "--timeout", "300"])  # the budget note in the prompts changes with the clock
    assert first.exit_code == 0, first.stderr
    assert first.json()["answer"] == "50 needles found"
    sent = len(server.chat_requests)
    assert sent == 3 and first.json()["cost_usd"] > 0 and first.json()["cache_hits"] == 0
    second = cli(args + ["--cache", "--timeout", "300"])
    assert second.exit_code == 0, second.stderr
    out = second.json()
    assert len(server.chat_requests) == sent  # ZERO requests to the stub
    assert out["answer"] == "50 needles found"
    assert out["cost_usd"] == 0 and out["calls"] == 0 and out["tokens"] == 0
    assert out["cache_hits"] == 3 and out["usage"]["m"]["cache_hits"] == 3
    # without --cache the cache is neither read nor needed
    third = cli(args)
    assert third.exit_code == 0 and len(server.chat_requests) == sent + 3


def test_cache_is_opt_in_from_the_profile_too(cli, stub_server, tmp_path):
    import yaml

    server, args = _setup(tmp_path, stub_server)
    cfg = args[args.index("--config") + 1]
    data = yaml.safe_load(cfg.read_text())
    data["rlm"] = {"profiles": {"cached": {"root": "m", "cache": True}}}
    cfg.write_text(yaml.safe_dump(data), encoding="utf-8")
    base = [a for a in args if a not in ("-m", "m")]
    assert cli(base + ["-p", "cached"]).exit_code == 0
    assert cli(base + ["-p", "cached"]).json()["cache_hits"] == 3
    assert len(server.chat_requests) == 3


def test_temperature_above_zero_is_not_cached_unless_asked(cli, stub_server, tmp_path):
    server, args = _setup(tmp_path, stub_server, {"temperature": 0.7})
    cli(args + ["--cache"])
    again = cli(args + ["--cache"])
    assert again.json()["cache_hits"] == 0 and len(server.chat_requests) == 6
    assert server.chat_requests[0].body["temperature"] == 0.7
    cli(args + ["--cache-sampled"])
    assert cli(args + ["--cache-sampled"]).json()["cache_hits"] == 3 and len(server.chat_requests) == 9


def test_clear_responses_empties_the_cache(cli, stub_server, tmp_path):
    server, args = _setup(tmp_path, stub_server)
    cli(args + ["--cache"])
    info = cli(["cache", "info", "--json"]).json()["responses"]
    assert info["entries"] == 3 and info["bytes"] > 0
    r = cli(["cache", "clear", "--responses"])
    assert r.exit_code == 0 and "removed 3 cached responses" in r.stdout
    assert cli(args + ["--cache"]).json()["cache_hits"] == 0 and len(server.chat_requests) == 6


class FakeBackend:
    def __init__(self, deployments):
        self.deployments = deployments

    def request_params(self, model):
        return self.deployments


MSGS = [{"role": "system", "content": "S"}, {"role": "user", "content": "Question: q\nBudget: 12 s\nTurn 1 of 5."}]


def test_the_key_covers_model_deployment_parameters_and_messages(tmp_path):
    store = Store(tmp_path / "r.sqlite3")
    base = ResponseCache(FakeBackend([{"model": "openai/a", "api_base": "http://h/v1", "params": {}}]), Policy(True), store)
    k = base.key("m", MSGS)
    variants = [
        ResponseCache(FakeBackend([{"model": "openai/b", "api_base": "http://h/v1", "params": {}}]), Policy(True), store).key("m", MSGS),
        ResponseCache(FakeBackend([{"model": "openai/a", "api_base": "http://other/v1", "params": {}}]), Policy(True), store).key("m", MSGS),
        ResponseCache(FakeBackend([{"model": "openai/a", "api_base": "http://h/v1", "params": {"max_tokens": 5}}]), Policy(True), store).key("m", MSGS),
        base.key("m2", MSGS),
        base.key("m", MSGS[:1] + [{"role": "user", "content": "Question: other\nTurn 1 of 5."}]),
        base.key("m", [{"role": "user", "content": "S"}] + MSGS[1:]),  # same text, another role
    ]
    assert len({k, *variants}) == len(variants) + 1
    # the remaining-budget note is not part of it; marks for the provider's prompt cache neither
    assert base.key("m", [MSGS[0], {"role": "user", "content": "Question: q\nBudget: 3 s\nTurn 1 of 5."}]) == k
    assert base.key("m", [{"role": "system", "content": [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}]},
                          MSGS[1]]) == k


def test_backend_params_leave_keys_out(tmp_path):
    from rlm_cli.backends.router import Endpoint, LLMBackend

    ep = Endpoint("openai/x", api_base="http://h/v1", api_key="sk-secret", params={"temperature": 0, "aws_secret_access_key": "s",
                                                                                    "timeout": 5, "max_tokens": 100})
    params = LLMBackend({"x": ep}).request_params("x")
    assert params == [{"name": "x", "model": "openai/x", "api_base": "http://h/v1", "params": {"max_tokens": 100, "temperature": 0}}]


def test_size_cap_drops_least_recently_used(tmp_path):
    store = Store(tmp_path / "r.sqlite3", max_bytes=5_000)
    for i in range(10):
        store.put(f"k{i}", "m", "x" * 800)
        if i >= 1:
            assert store.get("k0") is not None or i > 6  # k0 kept fresh while it fits
    info = store.info()
    assert info["bytes"] <= 5_000 and info["entries"] < 10
    assert store.get("k9") is not None
    store.put("huge", "m", "y" * 10_000)  # larger than the cap: not kept
    assert store.get("huge") is None


def test_private_file_and_damaged_entries_are_misses(tmp_path):
    path = tmp_path / "c" / "r.sqlite3"
    store = Store(path)
    store.put("good", "m", "fine")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    db = sqlite3.connect(path)
    db.execute("INSERT INTO responses VALUES ('bad', 'm', ?, 10, 0, 0)", (b"\x80\x04pickled",))
    db.commit()
    db.close()
    assert store.get("bad") is None and store.get("good") == "fine"
    assert store.get("bad") is None  # and it was dropped


def test_an_unusable_cache_is_a_miss_and_a_warning(tmp_path):
    from rlm_cli.backends.scripted import ScriptedModel
    from rlm_cli.context import Context
    from rlm_cli.engine import Run, RunConfig

    (tmp_path / "dir").mkdir()
    model = ScriptedModel.from_dict({"rules": [{"when": "Question", "reply": "```repl\nFINAL('x')\n```"}]})
    cache = ResponseCache(model, Policy(True), Store(tmp_path / "dir"))  # a directory, not a database
    result = Run(model, RunConfig("scripted/m", responses=cache)).execute("q", Context.from_text("abc"))
    assert result.answer == "x" and any("response cache unavailable" in w for w in result.warnings)


def test_hits_in_events_schema_and_tree(tmp_path):
    from rlm_cli import events as ev
    from rlm_cli.backends.scripted import ScriptedModel
    from rlm_cli.context import Context
    from rlm_cli.engine import Run, RunConfig
    from rlm_cli.ui.tree import RenderOptions, TreeState
    from test_render import draw

    model = ScriptedModel.from_dict({"rules": RULES})
    cache = ResponseCache(model, Policy(True), Store(tmp_path / "r.sqlite3"))
    for _ in range(2):
        events: list[ev.Event] = []
        run = Run(model, RunConfig("scripted/m", responses=cache))
        run.bus.add(events.append)
        result = run.execute("how many needles?", Context.from_text("needle " * 7))
    assert result.answer == "7 needles found" and result.usage.cache_hits == 3 and result.usage.calls == 0
    ends = [e for e in events if e.kind == ev.MODEL_END]
    assert len(ends) == 3 and all(e.data["cached"] is True and e.data["cost_usd"] == 0 for e in ends)
    for e in events:
        required, optional = ev.SCHEMA[e.kind]
        assert set(required) <= set(e.data) <= set(required) | set(optional), e.kind
    text = draw(TreeState.from_events(events, RenderOptions(show_timings=False)))
    assert "cached answer" in text and "3 cached" in text and "0 calls" in text


@pytest.mark.parametrize("value", ["always", 3])
def test_profile_cache_setting_is_checked(tmp_path, value):
    from rlm_cli import profiles
    from rlm_cli.errors import ConfigError

    text = f"model_list: [{{model_name: m, litellm_params: {{model: openai/m}}}}]\nrlm: {{profiles: {{p: {{root: m, cache: {value}}}}}}}\n"
    with pytest.raises(ConfigError, match="cache must be true, false or sampled"):
        profiles.parse(text, tmp_path / "c.yaml")


def test_python_api_cache_argument(stub_server, tmp_path):
    from rlm_cli import RLM

    server = stub_server(scripted_responder(RULES))
    kwargs = {"model_name": "m", "api_base": server.url}
    for _ in range(2):
        result = RLM("openai", kwargs, cache=True).completion("how many needles?", "needle " * 4)
    assert result.response == "4 needles found" and len(server.chat_requests) == 3
