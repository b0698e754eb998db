"""Token counting offline: tiktoken's cl100k_base from the copy litellm ships (no network), chars/4 otherwise.

tiktoken downloads encodings on first use unless TIKTOKEN_CACHE_DIR holds them; litellm bundles
cl100k_base under litellm/litellm_core_utils/tokenizers (file named by the sha1 of its URL).
"""
from __future__ import annotations

import functools
import importlib.util
import os
import threading
from typing import Protocol

CL100K_FILE = "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"  # sha1 of tiktoken's cl100k_base URL
_env_lock = threading.Lock()


def bundled_dir() -> str | None:
    try:
        spec = importlib.util.find_spec("litellm")
    except (ImportError, ValueError):
        return None
    if not spec or not spec.origin:
        return None
    d = os.path.join(os.path.dirname(spec.origin), "litellm_core_utils", "tokenizers")
    return d if os.path.isfile(os.path.join(d, CL100K_FILE)) else None


@functools.lru_cache(maxsize=1)
def encoding():
    """cl100k_base, or None when tiktoken cannot load it offline."""
    try:
        import tiktoken
    except ImportError:
        return None
    with _env_lock:
        saved = os.environ.get("TIKTOKEN_CACHE_DIR")
        try:
            if saved is None and bundled_dir():
                os.environ["TIKTOKEN_CACHE_DIR"] = bundled_dir()
            return tiktoken.get_encoding("cl100k_base")
        except Exception:
            return None
        finally:
            if saved is None:
                os.environ.pop("TIKTOKEN_CACHE_DIR", None)


def count_tokens(text: str) -> int:
    """Tokens in `text` (cl100k_base; an estimate of chars/4 when no tokenizer is available)."""
    enc = encoding()
    if enc is None:
        return max(1, (len(text) + 3) // 4)
    return len(enc.encode_ordinary(text))


def exact() -> bool:
    return encoding() is not None


def sampled_count(counter, text: str, exact_limit: int = 400_000, samples: int = 8) -> tuple[int, bool]:
    """(tokens, exact): `counter(text)` up to `exact_limit` chars; beyond, extrapolated from `samples`
    evenly spread slices of exact_limit/samples chars (exact counts of a 100 MB text take ~30 s and
    GBs of memory; the sampled estimate is within a few percent on real text)."""
    if len(text) <= exact_limit:
        return counter(text), True
    size = exact_limit // samples
    step = (len(text) - size) // (samples - 1)
    sampled = sum(counter(text[i * step:i * step + size]) for i in range(samples))
    return int(sampled * len(text) / (samples * size)), False


def ready() -> bool:
    """True once the tokenizer is loaded (loading it takes ~0.1 s: keep that off the first request)."""
    return encoding.cache_info().currsize > 0


def prefetch() -> None:
    """Load the tokenizer in a background thread."""
    if not ready():
        from .threads import start_daemon

        start_daemon(encoding, name="rlm-tokenizer")


class TokenCounter(Protocol):
    """What the engine counts tokens with. `ready()`: exact counts are cheap now (else the engine
    estimates and calls `prefetch()` to load the tokenizer in the background)."""

    def count(self, text: str) -> int: ...
    def ready(self) -> bool: ...
    def prefetch(self) -> None: ...


class Approx:
    """chars/4: no tokenizer needed."""

    def count(self, text: str) -> int:
        return max(1, len(text) // 4)

    def ready(self) -> bool:
        return True

    def prefetch(self) -> None:
        pass


class Tiktoken:
    """cl100k_base, loaded offline from litellm's copy (chars/4 if it cannot be loaded)."""

    def count(self, text: str) -> int:
        return count_tokens(text)

    def ready(self) -> bool:
        return ready()

    def prefetch(self) -> None:
        prefetch()


def count_large(counter: TokenCounter, text: str, exact_limit: int = 400_000) -> int:
    """Tokens in `text`: exact up to `exact_limit` chars, else extrapolated from samples."""
    return sampled_count(counter.count, text, exact_limit)[0]
