"""rlm: Recursive Language Models on the command line. Importing this package is cheap."""
from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__", "RLM"]


def __getattr__(name: str):
    if name in ("RLM", "RLMResult"):  # the Python API, imported on first use only
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
