"""Secret redaction: known secret values never reach stderr, tracebacks, logs or trajectory files."""
from __future__ import annotations

import os
import re
import threading

_SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH)", re.I)
# Masked or raw key shapes that providers echo back in error messages ("sk-abc***xyz").
_KEY_SHAPES = re.compile(r"\b(sk|pk|rk|sess|key|api|gsk|xai|ghp|hf)[-_][A-Za-z0-9_\-*]{6,}")
_lock = threading.Lock()
_values: set[str] = set()
_longest_first: tuple[str, ...] = ()  # _values sorted once per change, read without the lock


def register(value: str | None) -> None:
    global _longest_first
    if value and len(value) >= 6:
        with _lock:
            if value not in _values:
                _values.add(value)
                _longest_first = tuple(sorted(_values, key=len, reverse=True))


def register_environment(environ=None) -> None:
    for name, value in (environ or os.environ).items():
        if _SECRET_ENV.search(name):
            register(value)


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_ENV.search(name))


def redact(text: str) -> str:
    """Known secret values and key-shaped strings masked (for messages, logs and trajectories)."""
    if not text:
        return text
    text = redact_known(text)
    return _KEY_SHAPES.sub(lambda m: m.group(1) + "-[REDACTED]", text)


def redact_known(text: str) -> str:
    """Only the known secret values masked: for text shown to a model (REPL output, sub-call prompts),
    where the key-shape pattern would also mangle ordinary document words ("key_management")."""
    if not text:
        return text
    for v in _longest_first:
        if v in text:
            text = text.replace(v, "[REDACTED]")
    return text


def redact_obj(obj):
    """Redact every string inside a JSON-like structure."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {k: redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_obj(v) for v in obj]
    return obj
