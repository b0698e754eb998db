"""The real LiteLLM/HTTP path: the engine through litellm.completion against a local stub server."""
from __future__ import annotations

import pytest

from conftest import scripted_responder
from rlm_cli.context import Context
from rlm_cli.engine import Run, RunConfig
from rlm_cli.backends.router import Endpoint, LLMBackend

RULES = [
    {"when": "colour of the (\\w+)\\?.*The \\1 is (\\w+)", "reply": "{2}"},
    {"turn": 1, "when": "Question:", "reply": "```repl\ni = context.find('The door')\n"
     "FINAL(llm_query('What is the colour of the door?\\n' + context[i:i+40]))\n```"},
]


@pytest.mark.parametrize("stream", [False, True], ids=["non-streaming", "streaming"])
def test_engine_through_litellm_against_stub(stub_server, stream):
    server = stub_server(scripted_responder(RULES), api_key="sk-stub-key-123456")
    endpoints = {
        name: Endpoint(f"hosted_vllm/{name}", api_base=server.url, api_key="sk-stub-key-123456",
                       params={"stream": stream})
        for name in ("root", "sub")
    }
    backend = LLMBackend(endpoints)
    assert not endpoints["root"].uses_fast_path  # this goes through litellm, not the openai SDK
    run = Run(backend, RunConfig("root", "sub"))
    result = run.execute("What colour is the door?", Context.from_text("x" * 5000 + "The door is green. " + "y" * 5000))
    assert result.answer == "green"
    bodies = [r.body for r in server.chat_requests]
    assert [b["model"] for b in bodies] == ["root", "sub"]
    assert all(bool(b.get("stream")) == stream for b in bodies)
    assert all(r.headers.get("authorization") == "Bearer sk-stub-key-123456" for r in server.chat_requests)
    usage = run.usage.as_dict()
    assert usage["root"]["calls"] == 1 and usage["sub"]["calls"] == 1
    assert usage["root"]["prompt_tokens"] > 100 and usage["sub"]["completion_tokens"] >= 1
