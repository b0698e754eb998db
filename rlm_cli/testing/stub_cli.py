"""`python -m rlm_cli.testing.stub_server`: serve the stub until Ctrl-C or SIGTERM."""
from __future__ import annotations

import argparse
import time
from typing import Any

from .stub_protocol import DEFAULT_REPLY
from .stub_server import StubServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rlm_cli.testing.stub_server",
        description="Serve a local OpenAI-compatible chat-completions stub until Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port (default 8765)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds to wait before each answer")
    parser.add_argument("--tokens-per-second", type=float, default=None)
    parser.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY'")
    parser.add_argument("--reply", default=DEFAULT_REPLY, help="text of every answer")
    parser.add_argument(
        "--fault", type=int, action="append", default=None, metavar="STATUS",
        help="answer the next request with this HTTP status (repeatable, in order)",
    )
    args = parser.parse_args(argv)

    text = args.reply
    server = StubServer(
        lambda body: text,
        latency=args.latency,
        tokens_per_second=args.tokens_per_second,
        api_key=args.api_key,
        faults=args.fault,
        host=args.host,
        port=args.port,
    )
    return serve_forever(server)


def serve_forever(server: "StubServer") -> int:
    """Start `server`, print its URL once, serve until Ctrl-C or SIGTERM, stop cleanly (exit 0)."""
    import signal

    def _term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, _term)
    except (ValueError, OSError):  # not in main thread / unsupported
        pass
    server.start()
    print(server.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
