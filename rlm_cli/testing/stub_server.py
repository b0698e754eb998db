"""A local OpenAI-compatible HTTP stub server (standard library only).

Used by the test-suite and benchmarks to stand in for a real LLM endpoint::

    from rlm_cli.testing.stub_server import StubServer, Reply

    with StubServer(lambda body: "42", latency=0.1, api_key="sk-test") as srv:
        client = openai.OpenAI(base_url=srv.url, api_key="sk-test")
        ...
        assert srv.requests[0].body["model"] == "test-model"

Endpoints
---------
* ``POST /v1/chat/completions`` (also ``/chat/completions``): non-streaming
  ``chat.completion`` JSON, or ``text/event-stream`` SSE chunks when the body has
  ``"stream": true`` (a usage chunk is added when
  ``stream_options.include_usage`` is set, then ``data: [DONE]``).
* ``GET /v1/models`` (also ``/models``): the allowed models plus every model seen.

Command line::

    python -m rlm_cli.testing.stub_server --port 8765 --latency 0.5 [--api-key K] [--reply TEXT]
"""
from __future__ import annotations

import socket
import threading
from typing import Any, Iterable

from .stub_handler import Handler, HTTPServer
from .stub_cache import PromptCacheSim
from .stub_protocol import (RecordedRequest, Reply, Responder)

__all__ = ["Reply", "RecordedRequest", "Responder", "StubServer", "main"]

# --------------------------------------------------------------------------- server


class StubServer:
    """A local OpenAI-compatible chat-completions server running in a background thread.

    Parameters
    ----------
    responder:
        ``f(body) -> str | Reply`` called with the parsed JSON request body; default
        answers ``"stub answer"``.
    latency, latency_per_model:
        Seconds to sleep before answering (per-model value wins; ``Reply.delay`` wins
        over both).
    tokens_per_second:
        Adds ``completion_tokens / tokens_per_second`` seconds (spread across the
        chunks when streaming).
    api_key:
        When set, requests without ``Authorization: Bearer <api_key>`` get a 401.
    faults:
        HTTP status codes returned, in order, for the first ``len(faults)``
        authorised requests (429 carries ``Retry-After: 0``).  Faults are answered
        immediately, without latency.
    models:
        Optional allow-list; chat requests for other models get 404
        ``model_not_found``.  ``GET /v1/models`` lists these plus every model seen.
    prompt_cache, cache_min_tokens:
        Simulate a provider's prompt cache ("anthropic" | "openai", see stub_cache.py).
        ``POST /v1/messages`` answers in Anthropic's Messages format.
    """

    #: value of the ``retry-after-ms`` header sent with 429 responses
    retry_after_ms: int = 10

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        latency: float = 0.0,
        latency_per_model: dict[str, float] | None = None,
        tokens_per_second: float | None = None,
        api_key: str | None = None,
        faults: list[int] | None = None,
        models: Iterable[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        prompt_cache: str | None = None,
        cache_min_tokens: int = 1024,
    ) -> None:
        self.responder = responder
        self.latency = float(latency)
        self.latency_per_model = dict(latency_per_model or {})
        self.tokens_per_second = tokens_per_second
        self.api_key = api_key
        self.models: list[str] | None = list(models) if models is not None else None
        self.host = host
        self.port = port
        self.cache_sim = PromptCacheSim(prompt_cache, cache_min_tokens) if prompt_cache else None
        self._faults: list[int] = list(faults or [])
        self._fault_pos = 0
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._seen_models: list[str] = []
        self._connections: set[socket.socket] = set()
        self._httpd: HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------
    def start(self) -> "StubServer":
        if self._httpd is not None:
            return self
        httpd = HTTPServer((self.host, self.port), Handler)
        httpd.stub = self
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"stub-server:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            conns = list(self._connections)
            self._connections.clear()
        for conn in conns:  # drop idle keep-alive connections so handler threads exit
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "StubServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self.url if self._httpd is not None else "stopped"
        return f"<StubServer {state}>"

    # -- public state ---------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL for OpenAI clients / litellm ``api_base``, e.g. ``http://127.0.0.1:PORT/v1``."""
        if self._httpd is None:
            raise RuntimeError("StubServer is not running (use start() or a with-block)")
        host = self.host if self.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot (copy) of the request log, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.split("?", 1)[0].rstrip("/").endswith("/chat/completions")]

    @property
    def max_in_flight(self) -> int:
        """Highest number of requests being served at the same moment."""
        with self._lock:
            return self._max_in_flight

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    @property
    def faults(self) -> list[int]:
        """Faults not yet delivered."""
        with self._lock:
            return self._faults[self._fault_pos :]

    def reset(self, *, faults: list[int] | None = None) -> None:
        """Clear the request log, ``max_in_flight`` and the models seen.

        Faults already delivered stay consumed; pass ``faults=[...]`` to arm new ones.
        """
        with self._lock:
            self._requests.clear()
            self._max_in_flight = self._in_flight
            self._seen_models.clear()
            if faults is not None:
                self._faults = list(faults)
                self._fault_pos = 0

    # -- internals used by the handler ----------------------------------------------
    def _begin(self, rec: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(rec)
            self._in_flight += 1
            if self._in_flight > self._max_in_flight:
                self._max_in_flight = self._in_flight

    def _end(self, rec: RecordedRequest) -> None:
        with self._lock:
            self._in_flight -= 1

    def _next_fault(self) -> int | None:
        with self._lock:
            if self._fault_pos < len(self._faults):
                self._fault_pos += 1
                return int(self._faults[self._fault_pos - 1])
        return None

    def _saw_model(self, model: str) -> None:
        with self._lock:
            if model not in self._seen_models:
                self._seen_models.append(model)

    def _models_payload(self) -> dict:
        with self._lock:
            names = list(self.models or [])
            names += [m for m in self._seen_models if m not in names]
        return {
            "object": "list",
            "data": [{"id": m, "object": "model", "created": 0, "owned_by": "rlm-stub"} for m in names],
        }

    def _track_connection(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)


def main(argv: list[str] | None = None) -> int:
    from .stub_cli import main as cli_main

    return cli_main(argv)


def serve_forever(server: "StubServer") -> int:
    from .stub_cli import serve_forever as serve

    return serve(server)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
