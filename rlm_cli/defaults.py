"""Defaults defined once: every front end (CLI, API, chat, batch, MCP) and the engine read them here."""
from __future__ import annotations

CONCURRENCY = 8  # model calls in flight at once over the whole run
MAX_ITERATIONS = 20  # root turns, then one last request for an answer
MAX_DEPTH = 1  # how deep rlm_query may recurse
EXEC_TIMEOUT = 60.0  # seconds for one code block in the REPL
COMPACT_AT = 0.8  # compact the root conversation past this fraction of the root model's window
COMPACT_TO = 0.5  # ... down to this fraction, in one step (engine/history.py: the prompt cache survives)
BATCH_PARALLEL = 4  # rlm batch: tasks run at once
