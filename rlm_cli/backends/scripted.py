"""The deterministic scripted model shipped for tests and demos: regex rules -> replies."""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from .base import Completion, Model, approx_tokens  # noqa: E402,F401  (re-exported)


@dataclass
class Rule:
    """Reply `reply` when `when` (a regex) matches. `{1}`, `{name}` in reply are the match's groups.

    `target`: what the regex is matched against: "last" (last user message, default), "all" (all
    messages joined), "system". `turn`: only on that assistant turn (1-based) of a conversation.
    """

    when: str = ""
    reply: str = ""
    target: str = "last"
    turn: int | None = None
    delay: float = 0.0

    def match(self, messages: list[dict]) -> str | None:
        turn = sum(1 for m in messages if m.get("role") == "assistant") + 1
        if self.turn is not None and self.turn != turn:
            return None
        if self.target == "all":
            text = "\n".join(_content(m) for m in messages)
        elif self.target == "system":
            text = "\n".join(_content(m) for m in messages if m.get("role") == "system")
        else:
            users = [m for m in messages if m.get("role") == "user"]
            text = _content(users[-1]) if users else ""
        m = re.search(self.when, text, re.S) if self.when else None
        if self.when and not m:
            return None
        if m is None:
            return self.reply
        groups = {str(i): g or "" for i, g in enumerate([m.group(0), *m.groups()])}
        groups.update({k: v or "" for k, v in m.groupdict().items()})
        return re.sub(r"\{(\w+)\}", lambda g: groups.get(g.group(1), g.group(0)), self.reply)


def _content(message: dict) -> str:
    c = message.get("content") or ""
    if isinstance(c, list):  # OpenAI content parts
        return "".join(p.get("text", "") for p in c if isinstance(p, dict))
    return str(c)


@dataclass
class ScriptedModel:
    """A deterministic fake model: the first matching rule answers. Ships with rlm for tests and demos.

    Select it on the command line with `-m scripted/PATH.json` (a file {"rules": [...], "default": str}).
    """

    rules: list[Rule] = field(default_factory=list)
    default: str = "I cannot answer that."
    calls: list[dict] = field(default_factory=list)
    windows: dict[str, int] = field(default_factory=dict)  # model name -> context window (tokens)

    @classmethod
    def from_file(cls, path: str | Path) -> "ScriptedModel":
        from ..errors import ConfigError

        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read scripted model file ({exc.strerror})") from None
        except ValueError as exc:
            raise ConfigError(f"{path}: invalid JSON in scripted model file ({exc})") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict) -> "ScriptedModel":
        rules = [Rule(**r) for r in data.get("rules", [])]
        return cls(rules, data.get("default", cls.default))

    def reply(self, messages: list[dict]) -> tuple[str, float]:
        for rule in self.rules:
            text = rule.match(messages)
            if text is not None:
                return text, rule.delay
        return self.default, 0.0

    def request_params(self, model: str) -> list[dict]:
        """The rules themselves (for the response cache's key: an edited script is another model)."""
        rules = [vars(r) for r in self.rules]
        return [{"scripted": json.dumps({"rules": rules, "default": self.default}, sort_keys=True)}]

    def window(self, model: str) -> int | None:
        return self.windows.get(model)

    def complete(self, model: str, messages: list[dict], *, timeout: float | None = None,
                 prompt_cache: bool = False) -> Completion:
        t0 = time.monotonic()
        text, delay = self.reply(messages)
        self.calls.append({"model": model, "messages": messages})
        if delay:
            time.sleep(delay)
        prompt = sum(approx_tokens(_content(m)) for m in messages)
        return Completion(text, model, prompt, approx_tokens(text), 0.0, time.monotonic() - t0)
