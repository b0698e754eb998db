"""The fast path's OpenAI-compatible transport against the local stub server."""
from __future__ import annotations

import socket

import pytest

from rlm_cli.backends.openai_compat import APIConnectionError, APIError, Client
from rlm_cli.testing.stub_server import Reply


def test_plain_and_streaming_completions_with_usage(stub_server):
    server = stub_server(lambda body: Reply("hello there, world", prompt_tokens=11, completion_tokens=4))
    client = Client(server.url, "sk-test", max_retries=0)
    text, usage = client.chat({"model": "m", "messages": [{"role": "user", "content": "hi"}]}, 5)
    assert (text, usage.prompt, usage.completion, usage.cached.read) == ("hello there, world", 11, 4, 0)
    text, usage = client.chat({"model": "m", "messages": [], "stream": True, "stream_options": {"include_usage": True}}, 5)
    assert text == "hello there, world" and usage[:2] == (11, 4)
    assert server.requests[0].headers["authorization"] == "Bearer sk-test"


def test_retries_retryable_statuses_then_succeeds(stub_server):
    server = stub_server(lambda body: "ok", faults=[429, 503])
    client = Client(server.url, "k", max_retries=2)
    assert client.chat({"model": "m", "messages": []}, 5)[0] == "ok"
    assert len(server.requests) == 3


def test_gives_up_after_max_retries_with_the_status(stub_server):
    server = stub_server(lambda body: "ok", faults=[429, 429, 429])
    with pytest.raises(APIError) as err:
        Client(server.url, "k", max_retries=1).chat({"model": "m", "messages": []}, 5)
    assert err.value.status_code == 429 and len(server.requests) == 2


def test_client_errors_are_not_retried_and_keep_the_message(stub_server):
    server = stub_server(api_key="right")
    with pytest.raises(APIError) as err:
        Client(server.url, "wrong", max_retries=3).chat({"model": "m", "messages": []}, 5)
    assert err.value.status_code == 401 and "Incorrect API key" in err.value.message
    assert len(server.requests) == 1


def test_unreachable_server_is_a_connection_error():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(APIConnectionError):
        Client(f"http://127.0.0.1:{port}/v1", "k", max_retries=0).chat({"model": "m", "messages": []}, 5)
