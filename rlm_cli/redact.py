"""Secret redaction: known secret values never reach stderr, tracebacks, logs or trajectory files."""
from __future__ import annotations

import json
import os
import re
import threading

_SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH)", re.I)
# Masked or raw key shapes that providers echo back in error messages ("sk-abc***xyz").
_KEY_SHAPES = re.compile(r"\b(sk|pk|rk|sess|key|api|gsk|xai|ghp|hf)[-_][A-Za-z0-9_\-*]{6,}")
_lock = threading.Lock()
_values: set[str] = set()
_pattern: re.Pattern | None = None  # every known value, and its JSON-escaped form, longest first
_longest_first: tuple[str, ...] = ()  # the raw values, longest first (redact_known: plain substring search)


def register(value: str | None) -> None:
    global _pattern, _longest_first
    if value and len(value) >= 6 and value not in _values:
        with _lock:
            _values.add(value)
            forms = {v for x in _values for v in (x, json.dumps(x, ensure_ascii=False)[1:-1], json.dumps(x)[1:-1])}
            _pattern = re.compile("|".join(re.escape(v) for v in sorted(forms, key=len, reverse=True)))
            _longest_first = tuple(sorted(_values, key=len, reverse=True))


def register_environment(environ=None) -> None:
    for name, value in (environ or os.environ).items():
        if _SECRET_ENV.search(name):
            register(value)


def redact(text: str) -> str:
    """Known secret values (raw or JSON-escaped, so a serialised line can be redacted in one pass) and
    key-shaped strings replaced by [REDACTED]."""
    if not text:
        return text
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub("[REDACTED]", text)
    return _KEY_SHAPES.sub(_mask, text)


def _mask(m: re.Match) -> str:
    return m.group(1) + "-[REDACTED]"


def redact_known(text: str) -> str:
    """Only the known secret values masked: for text shown to a model (REPL output, sub-call prompts,
    the answer), where the key-shape pattern would also mangle ordinary document words ("key_management").
    Substring search per value: fast on a large sub-context that holds none of them."""
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
