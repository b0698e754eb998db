"""rlm: Recursive Language Models on the command line. Importing this package is cheap."""
from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
