"""The RLM engine: one `Run` owns a question from RUN_START to exactly one terminal event and returns a
complete `RunResult`; each `Node` is one RLM (root or child) with its own REPL and loop.

Front ends (CLI, API, chat, batch, MCP) only configure a run (rlm_cli/runs.py) and consume its events.
"""
from .node import Node
from .run import Cancelled, NoAnswer, Run, RunConfig, RunResult

__all__ = ["Cancelled", "NoAnswer", "Node", "Run", "RunConfig", "RunResult"]
