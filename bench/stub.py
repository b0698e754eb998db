"""A latency-simulating OpenAI-compatible stub for benchmarks (wraps rlm_cli.testing.stub_server).

Adds to the base stub: per-model scripted replies (regex rules, as the scripted model uses),
per-model latency and tokens/s, fault injection, and a record of when each model request
arrived, so orchestration cost can be measured apart from model time.

    python -m bench.stub --port 8765 --latency sub=1.0 --tokens-per-second 50 \
        --rule 'root=.*=```repl\nFINAL("ok")\n```' --fault 429
"""
from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field

from rlm_cli.testing.stub_server import Reply, StubServer, serve_forever


@dataclass
class ModelScript:
    """Replies for one model: first rule whose regex matches the last user message wins."""

    rules: list[tuple[str, str]] = field(default_factory=list)  # (regex, reply with {1} groups)
    default: str = "stub answer"

    def reply(self, body: dict) -> str:
        messages = body.get("messages") or []
        users = [m for m in messages if m.get("role") == "user"]
        text = str(users[-1].get("content") or "") if users else ""
        for when, reply in self.rules:
            m = re.search(when, text, re.S)
            if m:
                groups = {str(i): g or "" for i, g in enumerate([m.group(0), *m.groups()])}
                return re.sub(r"\{(\d+)\}", lambda g, groups=groups: groups.get(g.group(1), g.group(0)), reply)
        return self.default


class BenchStub:
    """A StubServer whose replies and latencies depend on the requested model."""

    def __init__(self, scripts: dict[str, ModelScript] | None = None, *, latency: float = 0.0,
                 latency_per_model: dict[str, float] | None = None, tokens_per_second: float | None = None,
                 faults: list[int] | None = None):
        self.scripts = dict(scripts or {})
        self.server = StubServer(self._respond, latency=latency, latency_per_model=latency_per_model,
                                 tokens_per_second=tokens_per_second, faults=faults)

    def _respond(self, body: dict) -> str | Reply:
        script = self.scripts.get(str(body.get("model"))) or self.scripts.get("*") or ModelScript()
        return script.reply(body)

    def __enter__(self) -> "BenchStub":
        self.server.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url

    def chat(self, model: str | None = None) -> list:
        reqs = self.server.chat_requests
        return [r for r in reqs if model is None or r.model == model]

    def reset(self) -> None:
        self.server.reset()


def _pairs(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        out[name] = value
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.stub", description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--latency", action="append", default=[], metavar="[MODEL=]SECONDS")
    p.add_argument("--tokens-per-second", type=float, default=None)
    p.add_argument("--rule", action="append", default=[], metavar="MODEL=REGEX=REPLY",
                   help="reply REPLY (\\n = newline, {1} = group) to MODEL when REGEX matches; MODEL * = any")
    p.add_argument("--fault", type=int, action="append", default=None, metavar="STATUS")
    a = p.parse_args(argv)
    default = 0.0
    per_model = {}
    for item in a.latency:
        if "=" in item:
            m, v = item.split("=", 1)
            per_model[m] = float(v)
        else:
            default = float(item)
    scripts: dict[str, ModelScript] = {}
    for rule in a.rule:
        model, when, reply = rule.split("=", 2)
        scripts.setdefault(model, ModelScript()).rules.append((when, reply.replace("\\n", "\n")))
    stub = BenchStub(scripts, latency=default, latency_per_model=per_model, tokens_per_second=a.tokens_per_second,
                     faults=a.fault)
    stub.server.port = a.port
    return serve_forever(stub.server)


if __name__ == "__main__":
    raise SystemExit(main())
