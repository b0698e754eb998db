"""Tests for rlm_cli.testing.stub_server, driven by the real openai SDK and litellm."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

import openai  # noqa: E402

from rlm_cli.testing.stub_server import Reply, StubServer  # noqa: E402

KEY = "sk-test"
MSGS = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is the answer?"}]
PROMPT_TOKENS = len("You are terse." + "What is the answer?") // 4


@pytest.fixture(scope="module")
def litellm():
    import litellm as _litellm

    _litellm.suppress_debug_info = True
    _litellm.telemetry = False
    return _litellm


def client(server: StubServer, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url, api_key=kw.pop("api_key", KEY), **kw)


def raw_post(url: str, body: dict, headers: dict | None = None):
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


# --------------------------------------------------------------------------- openai SDK


def test_openai_non_streaming_format_and_usage():
    seen = []

    def responder(body):
        seen.append(body)
        return "forty-two is it"

    with StubServer(responder, api_key=KEY) as srv:
        assert srv.url.startswith("http://127.0.0.1:") and srv.url.endswith("/v1")
        r = client(srv).chat.completions.create(model="test-model", messages=MSGS, temperature=0)
    assert r.object == "chat.completion"
    assert r.id.startswith("chatcmpl-")
    assert r.model == "test-model"
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content == "forty-two is it"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens == PROMPT_TOKENS
    assert r.usage.completion_tokens == len("forty-two is it") // 4
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert seen[0]["model"] == "test-model" and seen[0]["messages"] == MSGS and seen[0]["temperature"] == 0


def test_reply_token_overrides_and_min_one_token():
    replies = iter([Reply("x", prompt_tokens=1234, completion_tokens=56), "y"])
    with StubServer(lambda body: next(replies)) as srv:
        c = client(srv)
        r1 = c.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        r2 = c.chat.completions.create(model="m", messages=[{"role": "user", "content": ""}])
    assert (r1.usage.prompt_tokens, r1.usage.completion_tokens, r1.usage.total_tokens) == (1234, 56, 1290)
    assert (r2.usage.prompt_tokens, r2.usage.completion_tokens) == (1, 1)


def test_openai_streaming_reassembly_and_usage_chunk():
    text = "The quick brown fox jumps over the lazy dog."
    with StubServer(lambda body: text, api_key=KEY) as srv:
        stream = client(srv).chat.completions.create(
            model="test-model", messages=MSGS, stream=True, stream_options={"include_usage": True}
        )
        chunks = list(stream)
        # without include_usage: no usage chunk
        plain = list(client(srv).chat.completions.create(model="test-model", messages=MSGS, stream=True))
    content = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content) >= 3  # really split into several pieces
    assert "".join(content) == text
    assert all(c.object == "chat.completion.chunk" and c.model == "test-model" for c in chunks)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == PROMPT_TOKENS
    assert chunks[-1].usage.completion_tokens == len(text) // 4
    assert all(getattr(c, "usage", None) is None for c in plain)
    assert "".join(c.choices[0].delta.content or "" for c in plain if c.choices) == text


def test_raw_sse_wire_format():
    with StubServer(lambda body: "abcdefgh") as srv:
        status, headers, raw = raw_post(
            srv.url + "/chat/completions",
            {"model": "m", "messages": MSGS, "stream": True, "stream_options": {"include_usage": True}},
        )
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    events = raw.decode().split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    payloads = [json.loads(e[len("data: "):]) for e in events[:-2]]
    assert all(e.startswith("data: ") for e in events[:-1])
    assert payloads[0]["choices"][0]["delta"]["role"] == "assistant"
    assert payloads[-1]["usage"]["total_tokens"] == PROMPT_TOKENS + 2


def test_auth_401_openai():
    with StubServer(api_key=KEY) as srv:
        with pytest.raises(openai.AuthenticationError) as ei:
            client(srv, api_key="sk-wrong", max_retries=0).chat.completions.create(model="m", messages=MSGS)
        status, _, raw = raw_post(srv.url + "/chat/completions", {"model": "m", "messages": MSGS})
        ok = client(srv).chat.completions.create(model="m", messages=MSGS)
    assert ei.value.status_code == 401
    assert ei.value.code == "invalid_api_key"
    assert status == 401
    err = json.loads(raw)["error"]
    assert err["message"] == "Incorrect API key provided"
    assert err["type"] == "invalid_request_error" and err["code"] == "invalid_api_key"
    assert ok.choices[0].message.content == "stub answer"
    assert [r.status for r in srv.requests] == [401, 401, 200]


def test_fault_429_then_success_with_openai_retries():
    with StubServer(faults=[429, 429], api_key=KEY) as srv:
        status, headers, raw = raw_post(
            srv.url + "/chat/completions", {"model": "m", "messages": MSGS}, {"Authorization": f"Bearer {KEY}"}
        )
        assert status == 429 and headers["Retry-After"] == "0"
        assert json.loads(raw)["error"]["code"] == "rate_limit_exceeded"
        t0 = time.monotonic()
        r = client(srv, max_retries=2).chat.completions.create(model="m", messages=MSGS)
        elapsed = time.monotonic() - t0
        assert r.choices[0].message.content == "stub answer"
        reqs = srv.requests
    assert [q.status for q in reqs] == [429, 429, 200]
    assert [q.headers.get("x-stainless-retry-count") for q in reqs[1:]] == ["0", "1"]
    assert elapsed < 0.4  # retry-after-ms keeps the SDK from its 0.5 s default backoff


def test_fault_without_retries_and_reply_status():
    replies = iter([Reply("", status=500, error="boom"), Reply("", status=400, error="bad thing"), "fine"])
    with StubServer(lambda body: next(replies), faults=[503]) as srv:
        c = client(srv, max_retries=0)
        with pytest.raises(openai.InternalServerError):  # the 503 fault
            c.chat.completions.create(model="m", messages=MSGS)
        with pytest.raises(openai.InternalServerError) as ei:
            c.chat.completions.create(model="m", messages=MSGS)
        assert ei.value.status_code == 500 and "boom" in str(ei.value)
        with pytest.raises(openai.BadRequestError):
            c.chat.completions.create(model="m", messages=MSGS)
        assert c.chat.completions.create(model="m", messages=MSGS).choices[0].message.content == "fine"
        assert srv.faults == []


def test_responder_exception_gives_500_and_server_survives():
    calls = []

    def responder(body):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("kaput")
        return "ok"

    with StubServer(responder) as srv:
        c = client(srv, max_retries=0)
        with pytest.raises(openai.InternalServerError) as ei:
            c.chat.completions.create(model="m", messages=MSGS)
        assert "kaput" in str(ei.value)
        assert c.chat.completions.create(model="m", messages=MSGS).choices[0].message.content == "ok"


# --------------------------------------------------------------------------- litellm


def test_litellm_completion_and_stream(litellm):
    with StubServer(lambda body: "litellm says hello", api_key=KEY) as srv:
        r = litellm.completion(model="openai/test-model", api_base=srv.url, api_key=KEY, messages=MSGS)
        assert r.choices[0].message.content == "litellm says hello"
        assert r.usage.prompt_tokens == PROMPT_TOKENS
        assert r.usage.completion_tokens == len("litellm says hello") // 4
        stream = litellm.completion(
            model="openai/test-model", api_base=srv.url, api_key=KEY, messages=MSGS, stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "litellm says hello"
        usage = [getattr(c, "usage", None) for c in chunks if getattr(c, "usage", None)]
        assert usage and usage[-1].completion_tokens == len("litellm says hello") // 4
        reqs = srv.requests
    assert [q.body["model"] for q in reqs] == ["test-model", "test-model"]
    assert reqs[1].body["stream"] is True
    assert reqs[0].headers["authorization"] == f"Bearer {KEY}"


def test_litellm_auth_error(litellm):
    with StubServer(api_key=KEY) as srv:
        with pytest.raises(litellm.AuthenticationError):
            litellm.completion(model="openai/test-model", api_base=srv.url, api_key="sk-bad", messages=MSGS)


def test_litellm_retries_429(litellm):
    with StubServer(faults=[429], api_key=KEY) as srv:
        r = litellm.completion(model="openai/test-model", api_base=srv.url, api_key=KEY, messages=MSGS)
        assert r.choices[0].message.content == "stub answer"
        assert [q.status for q in srv.requests] == [429, 200]
    with StubServer(faults=[429], api_key=KEY) as srv:
        with pytest.raises(litellm.RateLimitError):
            litellm.completion(
                model="openai/test-model", api_base=srv.url, api_key=KEY, messages=MSGS, max_retries=0
            )


# --------------------------------------------------------------------------- concurrency, timing


def test_concurrency_16_parallel_requests():
    with StubServer(latency=0.5) as srv:
        c = client(srv)
        results: list[str] = []
        errors: list[BaseException] = []

        def work(i: int) -> None:
            try:
                r = c.chat.completions.create(model="m", messages=[{"role": "user", "content": f"q{i}"}])
                results.append(r.choices[0].message.content)
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        assert results == ["stub answer"] * 16
        assert srv.max_in_flight >= 8
        deadline = time.monotonic() + 10  # a handler ends its bookkeeping just after the client has its reply
        while srv.in_flight and time.monotonic() < deadline:
            time.sleep(0.01)
        assert srv.in_flight == 0
        for q in srv.requests:
            assert q.duration is not None and q.duration >= 0.49


def test_64_concurrent_connections_accepted():
    with StubServer(latency=0.3) as srv:
        out: list[int] = []

        def work() -> None:
            out.append(raw_post(srv.url + "/chat/completions", {"model": "m", "messages": MSGS})[0])

        threads = [threading.Thread(target=work) for _ in range(64)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert out == [200] * 64
        assert time.monotonic() - t0 < 2.0
        assert srv.max_in_flight >= 32


def test_latency_per_model_reply_delay_and_tokens_per_second():
    def responder(body):
        if body["messages"][-1]["content"] == "delay":
            return Reply("d", delay=0.0)
        return Reply("x" * 40, completion_tokens=10)

    with StubServer(responder, latency=0.2, latency_per_model={"fast": 0.0}, tokens_per_second=100) as srv:
        c = client(srv)

        def timed(model: str, content: str, **kw) -> float:
            t0 = time.monotonic()
            r = c.chat.completions.create(model=model, messages=[{"role": "user", "content": content}], **kw)
            if kw.get("stream"):
                list(r)
            return time.monotonic() - t0

        assert timed("fast", "delay") < 0.09  # Reply.delay=0 wins; 1 token / 100 tps
        assert 0.095 <= timed("fast", "x") < 0.25  # 10 tokens / 100 tps = 0.1 s
        assert 0.295 <= timed("slow", "x") < 0.55  # 0.2 latency + 0.1 generation
        assert 0.295 <= timed("slow", "x", stream=True) < 0.55


# --------------------------------------------------------------------------- log, models, keep-alive


def test_request_log_reset_and_models_endpoint():
    with StubServer(api_key=KEY) as srv:
        c = client(srv)
        c.chat.completions.create(model="alpha", messages=MSGS, max_tokens=7)
        c.chat.completions.create(model="beta", messages=MSGS)
        models = sorted(m.id for m in c.models.list())
        assert models == ["alpha", "beta"]
        reqs = srv.requests
        assert [(q.method, q.path) for q in reqs] == [
            ("POST", "/v1/chat/completions"),
            ("POST", "/v1/chat/completions"),
            ("GET", "/v1/models"),
        ]
        first = reqs[0]
        assert first.body["max_tokens"] == 7 and first.body["messages"] == MSGS and first.model == "alpha"
        assert first.headers["authorization"] == f"Bearer {KEY}"
        assert first.headers["content-type"] == "application/json"
        assert first.received_at <= first.answered_at <= reqs[1].received_at
        assert len(srv.chat_requests) == 2
        # keep-alive: the SDK reused one connection for all sequential requests
        assert len({q.client_address for q in reqs}) == 1
        srv.reset()
        assert srv.requests == [] and srv.max_in_flight == 0
        assert [m.id for m in c.models.list()] == []


def test_models_allow_list():
    with StubServer(models=["only-this"]) as srv:
        c = client(srv, max_retries=0)
        assert [m.id for m in c.models.list()] == ["only-this"]
        with pytest.raises(openai.NotFoundError):
            c.chat.completions.create(model="other", messages=MSGS)
        assert c.chat.completions.create(model="only-this", messages=MSGS).model == "only-this"


def test_plain_chat_completions_path_and_unknown_path():
    with StubServer() as srv:
        base = srv.url[: -len("/v1")]
        status, headers, raw = raw_post(base + "/chat/completions", {"model": "m", "messages": MSGS})
        assert status == 200 and int(headers["Content-Length"]) == len(raw)
        assert json.loads(raw)["choices"][0]["message"]["content"] == "stub answer"
        assert raw_post(base + "/v1/nope", {})[0] == 404
        req = urllib.request.Request(srv.url + "/chat/completions", data=b"{not json", method="POST")
        with pytest.raises(urllib.error.HTTPError) as ei:
            urllib.request.urlopen(req, timeout=5)
        assert ei.value.code == 400


def test_quiet_and_stop(capfd):
    srv = StubServer().start()
    client(srv).chat.completions.create(model="m", messages=MSGS)
    url = srv.url
    srv.stop()
    srv.stop()  # idempotent
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/models", timeout=2)


def test_cli_serves_and_prints_url():
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rlm_cli.testing.stub_server", "--port", "0", "--api-key", "K", "--reply", "cli hi"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=str(root),
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        r = openai.OpenAI(base_url=url, api_key="K").chat.completions.create(model="m", messages=MSGS)
        assert r.choices[0].message.content == "cli hi"
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=5)
    assert proc.returncode == 0
    assert out == "" and err == ""
