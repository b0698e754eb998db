"""`rlm mcp` driven by the official SDK's own client over stdio, `rlm mcp` being a real subprocess:
tools listed, `ask` answered (scripted model), a follow-up that keeps the REPL's variables, `ingest`,
paths outside the roots refused (also through a symlink inside a directory), progress notifications,
and a cancelled call that leaves no REPL worker behind."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

anyio = pytest.importorskip("anyio")
pytest.importorskip("mcp")

from test_kill import _workers  # noqa: E402

ANSWER = [
    {"turn": 1, "when": "Question: which colour", "reply": "```repl\ni = context.find('door is ')\ncolour = context[i+8:i+13]\n"
                                                          "FINAL(f'{colour} ({locate(i)})', evidence=[context[i:i+13]])\n```"},
    {"turn": 1, "when": "Question: and again", "reply": "```repl\nFINAL(colour.upper())\n```"},
    {"turn": 1, "when": "Question: sleep", "reply": "```repl\nimport time\nprint('sleeping')\ntime.sleep(120)\n```"},
]


def _server(script, tmp_path, rlm_home, *extra):
    from mcp import StdioServerParameters

    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    env = {"RLM_HOME": str(rlm_home), "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PATH": os.environ.get("PATH", "")}
    args = ["-m", "rlm_cli", "mcp", "--root", str(root), "-m", script(ANSWER), *extra]
    return root, StdioServerParameters(command=sys.executable, args=args, env=env, cwd=str(root))


def _call(params, fn):
    from mcp import Client

    async def main():
        async with Client(params, read_timeout_seconds=60) as client:
            return await fn(client)

    return anyio.run(main)


def _data(result) -> dict:
    if result.structured_content:
        return result.structured_content.get("result", result.structured_content)
    return json.loads(result.content[0].text)


def _error(result) -> str:
    assert result.is_error, result
    return result.content[0].text


def test_lists_tools_and_answers_then_follows_up(script, tmp_path, rlm_home):
    root, params = _server(script, tmp_path, rlm_home)
    (root / "doc.txt").write_text("intro\n" * 50 + "The door is green and old.\n", encoding="utf-8")
    progress: list[str] = []

    async def session(client):
        names = sorted(t.name for t in (await client.list_tools()).tools)

        async def on_progress(step, total, message):
            progress.append(message)

        first = await client.call_tool("ask", {"question": "which colour is the door?", "sources": ["doc.txt"]},
                                       progress_callback=on_progress)
        data = _data(first)
        second = await client.call_tool("ask", {"question": "and again, louder", "conversation": data["conversation"]})
        seen = await client.call_tool("ingest", {"sources": [str(root / "doc.txt")], "preview_chars": 20})
        return names, data, _data(second), _data(seen)

    names, first, second, seen = _call(params, session)
    assert names == ["ask", "ingest"]
    assert first["answer"] == f"green ({root / 'doc.txt'} line 51)" and first["status"] == "ok"
    [cite] = first["citations"]  # the evidence the answer's code attached, verified against the document
    assert cite["verified"] and cite["quote"] == "door is green" and cite["location"].endswith("line 51")
    assert first["run_id"] and first["conversation"] and first["cost_usd"] == 0
    assert second["answer"] == "GREEN" and second["conversation"] == first["conversation"]  # `colour` survived
    assert any(m.startswith("iteration 1/") for m in progress), progress
    assert seen["total"]["chars"] > 300 and seen["sources"][0]["kind"] == "text" and seen["preview"] == ("intro\n" * 4)[:20]


def test_paths_outside_the_roots_are_refused(script, tmp_path, rlm_home):
    root, params = _server(script, tmp_path, rlm_home)
    secret = tmp_path / "secret.txt"
    secret.write_text("the door is red", encoding="utf-8")
    (root / "docs").mkdir()
    (root / "docs" / "ok.txt").write_text("fine", encoding="utf-8")
    (root / "docs" / "sneaky").symlink_to(secret)
    (root / "link.txt").symlink_to(secret)

    async def session(client):
        out = []
        for sources in ([str(secret)], ["../secret.txt"], ["link.txt"], ["docs"], ["-"], ["https://example.com/x"]):
            out.append(_error(await client.call_tool("ask", {"question": "which colour is the door?", "sources": sources})))
        out.append(_error(await client.call_tool("ingest", {"sources": [str(secret)]})))
        return out

    errors = _call(params, session)
    assert all("outside the allowed roots" in e for e in errors[:3] + errors[-1:]), errors
    assert "sneaky is a symlink leading outside the allowed roots" in errors[3]
    assert "stdin carries the protocol" in errors[4] and "--allow-urls" in errors[5]
    assert not any("red" in e for e in errors)


def _server_pid(root: Path) -> int:
    for pid in os.listdir("/proc"):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"mcp" in cmd and str(root).encode() in cmd and b"rlm_cli" in cmd:
            return int(pid)
    raise AssertionError("rlm mcp server process not found")


def test_a_cancelled_call_leaves_no_worker_and_the_server_goes_on(script, tmp_path, rlm_home):
    root, params = _server(script, tmp_path, rlm_home)
    (root / "doc.txt").write_text("The door is green.\n", encoding="utf-8")
    seen: dict = {}

    async def session(client):
        started = anyio.Event()

        async def on_progress(step, total, message):
            if message.startswith("iteration 1/"):
                started.set()

        async def slow():
            await client.call_tool("ask", {"question": "sleep now", "sources": ["doc.txt"]}, progress_callback=on_progress)

        async with anyio.create_task_group() as tg:
            tg.start_soon(slow)
            with anyio.fail_after(60):
                await started.wait()
            pid = _server_pid(root)
            deadline = time.monotonic() + 30
            while not _workers(pid) and time.monotonic() < deadline:  # the REPL is running the sleep
                await anyio.sleep(0.05)
            seen["during"] = _workers(pid)
            await anyio.sleep(0.5)
            tg.cancel_scope.cancel()  # the SDK sends notifications/cancelled
        deadline = time.monotonic() + 30
        while _workers(pid) and time.monotonic() < deadline:
            await anyio.sleep(0.1)
        seen["after"] = _workers(pid)
        seen["next"] = _data(await client.call_tool("ask", {"question": "which colour is the door?", "sources": ["doc.txt"]}))

    _call(params, session)
    assert seen["during"], "the test never saw the run's REPL worker"
    assert not seen["after"], "REPL worker left running after the client cancelled"
    assert seen["next"]["answer"].startswith("green")


def test_spending_cap_and_per_call_budget(tmp_path):
    from rlm_cli.errors import LimitExceeded
    from rlm_cli.mcp_server.jobs import Budget, Spending
    from rlm_cli.runs import RunOptions

    s = Spending(1.0)
    a = s.reserve(0.6)
    b = s.reserve(None)  # what is left
    assert (a, b) == (0.6, pytest.approx(0.4))
    with pytest.raises(LimitExceeded, match="spending cap of \\$1 is used up"):
        s.reserve(0.1)
    s.settle(a, 0.1)
    s.settle(b, 0.0)
    assert s.reserve(5.0) == pytest.approx(0.9)
    server = RunOptions(max_cost=0.5, max_iterations=10)
    assert Budget(max_cost=2.0).within(server).max_cost == 0.5  # a client cannot raise the server's cap
    assert Budget(max_cost=0.1, max_iterations=3).within(server).max_iterations == 3


def test_streamable_http_on_loopback(script, tmp_path, rlm_home):
    import socket
    import subprocess

    from mcp import Client

    root = tmp_path / "root"
    root.mkdir()
    (root / "doc.txt").write_text("The door is green.\n", encoding="utf-8")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, RLM_HOME=str(rlm_home))
    proc = subprocess.Popen([sys.executable, "-m", "rlm_cli", "mcp", "--root", str(root), "-m", script(ANSWER),
                             "--http", str(port)], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)

        async def main():
            async with Client(f"http://127.0.0.1:{port}/mcp", read_timeout_seconds=60) as client:
                names = sorted(t.name for t in (await client.list_tools()).tools)
                data = _data(await client.call_tool("ask", {"question": "which colour is the door?", "sources": ["doc.txt"]}))
                return names, data

        names, data = anyio.run(main)
        assert names == ["ask", "ingest"] and data["answer"].startswith("green")
        listening = [line for line in Path("/proc/net/tcp").read_text().splitlines()[1:] if f":{port:04X} " in line.split()[1] + " "]
        assert listening and all(line.split()[1].startswith("0100007F:") for line in listening)  # 127.0.0.1 only
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert proc.returncode in (0, -15)
