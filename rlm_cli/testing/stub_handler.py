"""The stub server's HTTP side: one request handler (routing, chat completions, SSE streaming, the
Anthropic-style messages endpoint) over a threading HTTP server."""
from __future__ import annotations

import json
import socket
import time
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from .stub_cache import anthropic_payload, anthropic_style, as_openai_body, cache_counts, openai_usage
from .stub_protocol import (DEFAULT_REPLY, RecordedRequest, Reply, completion_id, completion_payload,
                            error_body, estimate_tokens, prompt_text, split_text, stream_events)


# --------------------------------------------------------------------------- server

if TYPE_CHECKING:
    from .stub_server import StubServer


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    stub: "StubServer"

    def handle_error(self, request, client_address):  # noqa: D401 - quiet
        pass  # clients disconnecting mid-response etc.: not interesting


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "rlm-stub/1.0"

    def version_string(self) -> str:
        return self.server_version
    timeout = 60  # idle keep-alive connections are closed after this many seconds
    server: HTTPServer

    # -- plumbing -------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.stub._track_connection(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.stub._track_connection(self.connection, False)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        stub = self.server.stub
        received = time.time()
        body, bad_json, size = self._read_body()
        rec = RecordedRequest(method=method, path=self.path, headers={k.lower(): v for k, v in self.headers.items()},
                              body=body, received_at=received,
                              client_address=tuple(self.client_address) if self.client_address else None, size=size)
        stub._begin(rec)
        try:
            self._route(stub, rec, bad_json)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # responder bug etc. -> 500, keep serving
            if rec.status is not None:  # response already started: cannot send another
                self.close_connection = True
            else:
                try:
                    self._send_error(500, f"stub server error: {type(exc).__name__}: {exc}", rec)
                except OSError:
                    self.close_connection = True
        finally:
            rec.answered_at = time.time()
            stub._end(rec)

    def _read_body(self) -> tuple[Any, bool, int]:
        """(parsed JSON or None, whether a body was there but was not JSON, its size in bytes)."""
        raw = b""
        length = self.headers.get("Content-Length")
        if length:
            try:
                raw = self.rfile.read(int(length))
            except (ValueError, OSError):
                self.close_connection = True
        elif self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raw = self._read_chunked()
        if not raw:
            return None, False, 0
        try:
            return json.loads(raw), False, len(raw)
        except ValueError:
            return None, True, len(raw)

    def _read_chunked(self) -> bytes:
        data = bytearray()
        while True:
            line = self.rfile.readline(65537)
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(data)
            data += self.rfile.read(size)
            self.rfile.readline(65537)

    # -- responses ------------------------------------------------------------------
    def _send_json(self, status: int, payload: Any, rec: RecordedRequest, extra: dict | None = None) -> None:
        data = json.dumps(payload).encode("utf-8")
        rec.status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", "req_" + os.urandom(12).hex())
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        # headers and body in ONE write: a second small write would wait for the client's delayed ACK
        # (~40 ms per request on Linux), and the stub would measure itself instead of rlm
        self._headers_buffer.append(b"\r\n" + data)
        self.flush_headers()

    def _send_error(self, status: int, message: str | None, rec: RecordedRequest) -> None:
        extra = {}
        if status == 429:
            # Retry-After: 0 is ignored by the openai SDK (it then backs off ~0.5 s);
            # retry-after-ms (checked first) keeps client retries fast.
            extra = {"Retry-After": "0", "retry-after-ms": str(self.server.stub.retry_after_ms)}
        self._send_json(status, error_body(status, message), rec, extra)

    # -- routing --------------------------------------------------------------------
    def _route(self, stub: "StubServer", rec: RecordedRequest, bad_json: bool) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if stub.api_key is not None:
            auth = self.headers.get("Authorization", "")
            if auth != f"Bearer {stub.api_key}":
                self._send_error(401, "Incorrect API key provided", rec)
                return
        fault = stub._next_fault()
        if fault is not None:
            self._send_error(fault, None, rec)
            return
        if path in ("/v1/models", "/models") and rec.method == "GET":
            self._send_json(200, stub._models_payload(), rec)
            return
        if path in ("/v1/chat/completions", "/chat/completions", "/v1/messages", "/messages"):
            if rec.method != "POST":
                self._send_error(405, "Method not allowed", rec)
                return
            if bad_json or not isinstance(rec.body, dict):
                self._send_error(400, "We could not parse the JSON body of your request.", rec)
                return
            self._chat(stub, rec, anthropic=path.endswith("/messages"))
            return
        self._send_error(404, f"Unknown path {self.path}", rec)

    def _chat(self, stub: "StubServer", rec: RecordedRequest, anthropic: bool = False) -> None:
        body: dict = as_openai_body(rec.body) if anthropic else rec.body
        model = str(body.get("model") or "")
        if not model:
            self._send_error(400, "you must provide a model parameter", rec)
            return
        if stub.models is not None and model not in stub.models:
            self._send_error(404, f"The model `{model}` does not exist", rec)
            return
        stub._saw_model(model)
        result = stub.responder(body) if stub.responder is not None else DEFAULT_REPLY
        reply = result if isinstance(result, Reply) else Reply(text="" if result is None else str(result))
        delay = reply.delay if reply.delay is not None else stub.latency_per_model.get(model, stub.latency)
        completion = reply.completion_tokens if reply.completion_tokens is not None else estimate_tokens(reply.text)
        prompt = reply.prompt_tokens if reply.prompt_tokens is not None else estimate_tokens(prompt_text(body))
        gen_time = completion / stub.tokens_per_second if stub.tokens_per_second else 0.0
        if delay and delay > 0:
            time.sleep(delay)
        if reply.status != 200:
            self._send_error(reply.status, reply.error, rec)
            return
        read, write = cache_counts(stub.cache_sim, rec.body, reply)
        if anthropic:
            time.sleep(gen_time)
            self._send_json(200, anthropic_payload(model, reply.text, prompt, completion, read or 0, write or 0), rec)
            return
        usage = openai_usage(prompt, completion, read, write, anthropic_style(stub.cache_sim, reply))
        if not body.get("stream"):
            time.sleep(gen_time)
            self._send_json(200, completion_payload(completion_id(), model, reply.text, usage), rec)
            return
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        self._stream(model, reply.text, usage if include_usage else None, gen_time, rec)

    def _stream(self, model: str, text: str, usage: dict | None, gen_time: float, rec: RecordedRequest) -> None:
        pieces = split_text(text)
        events = stream_events(completion_id(), model, pieces, usage)
        rec.status = 200
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", "req_" + os.urandom(12).hex())
        self.end_headers()
        per_piece = gen_time / max(1, len(pieces))
        for i, ev in enumerate(events):
            if per_piece > 0 and 1 <= i <= len(pieces):
                time.sleep(per_piece)
            self._write_chunk(b"data: " + json.dumps(ev).encode("utf-8") + b"\n\n")
        self._write_chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode("ascii") + data + b"\r\n")
        self.wfile.flush()
