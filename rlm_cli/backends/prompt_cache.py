"""Provider prompt caching: which deployments take explicit cache breakpoints, how a request is marked,
what the provider reports back, and what cached tokens cost.

An RLM's root conversation re-sends the system prompt, the question and every earlier turn on each
iteration. Providers bill a repeated prefix at a discount: Anthropic (also through Bedrock, Vertex AI
and OpenRouter) only up to explicit `cache_control` breakpoints, which LiteLLM passes through and strips
for providers that do not take them; OpenAI, Gemini and DeepSeek cache a long enough prefix on their
own. rlm's messages are append-only (system, question, then turns), so the prefix stays byte-stable
for the automatic caches; this module adds the breakpoints where they are needed.
"""
from __future__ import annotations

from dataclasses import dataclass

BREAKPOINTS = "breakpoints"  # cache_control marks needed (Anthropic-style)
AUTOMATIC = "automatic"  # the provider caches prefixes itself (OpenAI, Gemini, DeepSeek)
OFF = "off"
STYLES = (BREAKPOINTS, AUTOMATIC, OFF)
EPHEMERAL = {"type": "ephemeral"}
MAX_BREAKPOINTS = 4  # Anthropic's limit per request
_CLAUDE_HOSTS = ("bedrock/", "vertex_ai/", "openrouter/anthropic/", "databricks/")


def style(model: str, configured: str | None = None, info: dict | None = None) -> str:
    """How `model` (a LiteLLM model string) caches prompts: `configured` (model_info.prompt_cache) wins,
    then the provider prefix, then litellm's price data (`info`)."""
    if configured in STYLES:
        return configured
    name = model.lower()
    if name.startswith("anthropic/") or (name.startswith(_CLAUDE_HOSTS) and "claude" in name):
        return BREAKPOINTS
    info = info or {}
    if info.get("litellm_provider") == "anthropic":
        return BREAKPOINTS
    if info.get("supports_prompt_caching") or info.get("cache_read_input_token_cost"):
        return AUTOMATIC
    return OFF


def breakpoint_indices(messages: list[dict]) -> list[int]:
    """Where the marks go: the system prompt, the first user message (the question: stable for the
    whole run, even when compaction rewrites later turns), and the last two user messages (the previous
    request's end, which the provider has cached, and this request's end, cached for the next turn)."""
    picks: list[int] = []
    if messages and messages[0].get("role") == "system":
        picks.append(0)
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    for i in users[:1] + users[-2:]:
        if i not in picks:
            picks.append(i)
    return sorted(picks)  # at most MAX_BREAKPOINTS (4)


def mark(messages: list[dict]) -> list[dict]:
    """A copy of `messages` with `cache_control` breakpoints (the caller's list is not changed)."""
    out = list(messages)
    for i in breakpoint_indices(messages):
        out[i] = _marked(messages[i])
    return out


def _marked(message: dict) -> dict:
    content = message.get("content")
    if isinstance(content, list) and content and isinstance(content[-1], dict):
        parts = list(content[:-1]) + [dict(content[-1], cache_control=EPHEMERAL)]
    else:
        parts = [{"type": "text", "text": "" if content is None else str(content), "cache_control": EPHEMERAL}]
    return dict(message, content=parts)


@dataclass(frozen=True)
class CacheCounts:
    """Of a request's prompt tokens: how many were read from and written to the provider's cache."""

    read: int = 0
    write: int = 0


def counts(usage, prompt_tokens: int | None) -> CacheCounts:
    """Cached-token counts from a response's usage (a dict or LiteLLM's Usage object), in every spelling
    seen: OpenAI `prompt_tokens_details.cached_tokens`, Anthropic (and LiteLLM)
    `cache_read_input_tokens` / `cache_creation_input_tokens`, DeepSeek `prompt_cache_hit_tokens`.
    Values from the server are not trusted: non-integers count as 0, and the total never exceeds the
    prompt tokens."""
    if usage is None:
        return CacheCounts()
    get = usage.get if isinstance(usage, dict) else (lambda k: getattr(usage, k, None))
    details = get("prompt_tokens_details")
    dget = details.get if isinstance(details, dict) else (lambda k: getattr(details, k, None))
    read = _count(dget("cached_tokens")) or _count(get("cache_read_input_tokens")) or _count(get("prompt_cache_hit_tokens"))
    write = _count(get("cache_creation_input_tokens")) or _count(dget("cache_creation_tokens"))
    total = prompt_tokens if isinstance(prompt_tokens, int) and prompt_tokens >= 0 else read + write
    read = min(read, total)
    return CacheCounts(read, min(write, total - read))


def _count(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def cost(prompt_tokens: int, completion_tokens: int, cached: CacheCounts, prices: "Prices") -> float:
    """USD for one call: uncached prompt tokens at the input price, cache reads and writes at theirs."""
    plain = max(prompt_tokens - cached.read - cached.write, 0)
    return (plain * prices.input + cached.read * prices.cache_read + cached.write * prices.cache_write
            + completion_tokens * prices.output)


@dataclass
class Prices:
    """USD per token. Cache prices fall back to the input price (no discount assumed)."""

    input: float = 0.0
    output: float = 0.0
    cache_read: float = 0.0
    cache_write: float = 0.0

    @classmethod
    def of(cls, pin, pout, pread=None, pwrite=None) -> "Prices":
        pin = float(pin or 0.0)
        return cls(pin, float(pout or 0.0), pin if pread is None else float(pread), pin if pwrite is None else float(pwrite))
