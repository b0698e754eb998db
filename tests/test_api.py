"""The Python API (`from rlm_cli import RLM`): same engine as the CLI, scripted model, no network."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import scripted_responder

NEEDLE_CODE = (
    "```repl\ni = context.find('vault code')\nsnippet = context[max(0, i - 100):i + 100]\n"
    "ans = llm_query('What is the vault code? Reply with it only.\\n' + snippet)\nFINAL(ans)\n```"
)
RULES = [
    {"turn": 1, "when": "Question:", "reply": NEEDLE_CODE},
    {"when": r"vault code is (\d+)", "reply": "{1}"},
]


def _text(code: str) -> str:
    filler = "".join(f"Line {i}: nothing to see here.\n" for i in range(2000))
    return filler + f"The vault code is {code}.\n" + filler


def test_package_import_is_cheap_and_rlm_is_lazy():
    code = ("import sys, rlm_cli; assert 'rlm_cli.api' not in sys.modules; "
            "from rlm_cli import RLM; assert 'rlm_cli.api' in sys.modules; "
            "bad = [m for m in ('litellm', 'openai', 'pypdf', 'docx') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_completion_answers_from_text_with_usage_and_trajectory(script):
    from rlm_cli import RLM

    rlm = RLM(backend="scripted", backend_kwargs={"model_name": script(RULES)})
    result = rlm.completion(query="What is the vault code?", context=_text("4721"))
    assert result.response == "4721"
    assert result.status == "ok"
    (model, usage), = result.usage.items()
    assert model.startswith("scripted/") and usage["calls"] == 2  # one root turn + one llm_query
    assert usage["prompt_tokens"] > 0 and result.tokens == usage["prompt_tokens"] + usage["completion_tokens"]
    assert result.cost == 0.0
    kinds = [e["kind"] for e in result.trajectory]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end" and "subcall_start" in kinds
    saved = [json.loads(line)["kind"] for line in Path(result.trajectory_path).read_text().splitlines()]
    assert saved == kinds
    assert result.run_id in result.trajectory_path


def test_completion_reads_paths_like_the_cli(script, tmp_path):
    from rlm_cli import RLM

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("alpha\n" * 100)
    (tmp_path / "docs" / "b.md").write_text(_text("9090"))
    model = script([{"turn": 1, "when": "Question:", "reply": "```repl\nFINAL(str(len(sources)) + ' ' + "
                     "str('vault code is 9090' in context))\n```"}])
    rlm = RLM(backend="scripted", backend_kwargs={"model_name": model}, save_trajectory=False)
    assert rlm.completion("q?", context=tmp_path / "docs").response == "2 True"
    assert rlm.completion("q?", context=[tmp_path / "docs" / "a.txt", str(tmp_path / "docs" / "b.md")]).response == "2 True"
    assert rlm.completion("q?", context=str(tmp_path / "docs")).response == "1 False"  # a str is the text itself


def test_missing_file_raises_input_error(script, tmp_path):
    from rlm_cli import RLM
    from rlm_cli.errors import ExitStatus, InputError

    rlm = RLM(backend="scripted", backend_kwargs={"model_name": script(RULES)})
    with pytest.raises(InputError) as info:
        rlm.completion("q", context=tmp_path / "nope.txt")
    assert info.value.exit_status == ExitStatus.INPUT and "nope.txt" in str(info.value)


def test_limit_gives_status_limit_not_an_exception(script):
    from rlm_cli import RLM

    model = script([], default="```repl\nprint('still looking')\n```")
    result = RLM(backend="scripted", backend_kwargs={"model_name": model}, max_iterations=2).completion("q", "text")
    assert result.response is None and result.status == "limit" and "iterations" in result.error
    assert result.exit_status == 5


def test_acompletion_runs_concurrently(script):
    from rlm_cli import RLM

    slow = script([{"turn": 1, "when": "Question: (\\w+)", "reply": "```repl\nFINAL('{1} done')\n```", "delay": 0.5}])
    rlm = RLM(backend="scripted", backend_kwargs={"model_name": slow}, save_trajectory=False)

    async def main():
        import time

        t0 = time.monotonic()
        results = await asyncio.gather(*(rlm.acompletion(f"q{i}", context="x") for i in range(4)))
        return results, time.monotonic() - t0

    results, elapsed = asyncio.run(main())
    assert [r.response for r in results] == ["q0 done", "q1 done", "q2 done", "q3 done"]
    assert elapsed < 1.8  # four 0.5 s replies, in parallel threads


def test_openai_backend_against_stub_server(stub_server):
    from rlm_cli import RLM

    server = stub_server(scripted_responder(RULES), api_key="sk-test-123456")
    rlm = RLM(backend="openai", backend_kwargs={"model_name": "root-model", "base_url": server.url,
                                                "api_key": "sk-test-123456"},
              sub_backend_kwargs={"model_name": "sub-model", "api_base": server.url, "api_key": "sk-test-123456"})
    result = rlm.completion(query="What is the vault code?", context=_text("1234"))
    assert result.response == "1234"
    assert set(result.usage) == {"openai/root-model", "openai/sub-model"}
    assert [r.body["model"] for r in server.requests] == ["root-model", "sub-model"]
    assert "sk-test-123456" not in json.dumps(result.trajectory)


def test_bad_arguments_are_usage_errors():
    from rlm_cli import RLM
    from rlm_cli.errors import UsageError

    with pytest.raises(UsageError):
        RLM(backend="nope", backend_kwargs={"model_name": "x"})
    with pytest.raises(UsageError):
        RLM(backend="openai", backend_kwargs={})
    rlm = RLM(backend="scripted", backend_kwargs={"model_name": "scripted/x.json"})
    with pytest.raises(UsageError):
        rlm.completion("q", context=42)


def test_python_m_rlm_cli_version():
    out = subprocess.run([sys.executable, "-m", "rlm_cli", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("rlm ")


def test_completion_returns_verified_citations_and_labels(script):
    from rlm_cli import RLM
    from rlm_cli.errors import ExitStatus, UsageError

    code = "```repl\ni = context.find('The vault code')\nFINAL('4417', evidence=[(i, i + 23), 'invented line'])\n```"
    rlm = RLM(backend="scripted", backend_kwargs={"model_name": script([{"turn": 1, "when": "Question:", "reply": code}])})
    r = rlm.completion("What is the vault code?", _text("4417"))
    assert r.response == "4417" and (r.supported, r.forced, r.confidence) == (True, False, "verified")
    assert [c["verified"] for c in r.citations] == [True, False]
    assert r.citations[0]["quote"] == "The vault code is 4417." and r.citations[0]["location"] == "line 2001"
    strict = RLM(backend="scripted", evidence="required",
                 backend_kwargs={"model_name": script([{"when": "Question:|evidence", "reply": "```repl\nFINAL('x')\n```"}])})
    bad = strict.completion("q?", "text")
    assert (bad.status, bad.exit_status, bad.supported) == ("unsupported", ExitStatus.UNSUPPORTED, False)
    with pytest.raises(UsageError):
        RLM(backend="scripted", backend_kwargs={"model_name": "x"}, evidence="maybe")
