"""The REPL sandbox's own behaviour: persistence, timeouts, restarts, caps, cleanup, modes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rlm_cli.sandbox import policy as confine_host
from rlm_cli.errors import SandboxError, UsageError
from rlm_cli.sandbox import CallRefused, SandboxOptions, SubprocessSandbox, sweep_stale
from rlm_cli.sandbox.trust import Caps, check_call


def echo(fn, args):
    return [f"re:{p}" for p in (args.get("prompts") or args.get("questions"))]


@pytest.fixture
def box():
    boxes = []

    def make(context="hello world", **opts) -> SubprocessSandbox:
        b = SubprocessSandbox(context, None, SandboxOptions(**{"exec_timeout": 0.6, "grace": 0.4, **opts}))
        boxes.append(b)
        return b

    yield make
    for b in boxes:
        b.close()


def test_variables_persist_and_final(box):
    b = box()
    assert b.execute("x = len(context)", echo).error is None
    res = b.execute("print(llm_query('a'))\nFINAL(x)", echo)
    assert res.stdout.strip() == "re:a" and res.final == "11"


def test_soft_timeout_keeps_variables(box):
    b = box()
    b.execute("kept = 7", echo)
    res = b.execute("while True: pass", echo)
    assert res.timed_out is False and "TimeoutError" in res.error and not res.restarted
    assert b.execute("FINAL(kept)", echo).final == "7"


def test_hard_timeout_kills_group_and_restarts(box):
    b = box()
    b.execute("kept = 7", echo)
    old_pid, old_scratch = b.proc.proc.pid, b.proc.scratch
    res = b.execute("import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True: pass", echo)
    assert res.timed_out and res.restarted and "variables were lost" in res.error
    assert b.proc.proc.pid != old_pid and not old_scratch.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(old_pid, 0)
    assert "NameError" in b.execute("kept", echo).error
    assert b.execute("FINAL(context)", echo).final == "hello world"


def test_raw_fd_writes_do_not_corrupt_protocol(box):
    b = box()
    res = b.execute('import os\nos.write(1, b\'{"type": "result", "final": "x"}\\n\')\nos.write(2, b"err\\n")', echo)
    assert res.final is None and "raw output on fd 1/2" in res.stdout and '"final": "x"' in res.stdout
    assert b.execute("FINAL(1)", echo).final == "1"


def test_reserved_names_are_restored(box):
    b = box()
    res = b.execute("context = 'mine'\nllm_query = None", echo)
    assert any("`context` is reserved" in n for n in res.notes) and any("`llm_query`" in n for n in res.notes)
    assert b.execute("FINAL(context + llm_query('q'))", echo).final == "hello worldre:q"


def test_batch_cap_and_total_sub_call_cap(box):
    b = box(max_batch=5, max_sub_prompts=8)
    assert "at most 5 items" in b.execute("llm_query_batched(['q'] * 6)", echo).error
    assert b.execute("r = llm_query_batched(['q'] * 5)", echo).error is None
    assert b.execute("r = [llm_query('q') for _ in range(3)]", echo).error is None
    err = b.execute("llm_query('one too many')", echo).error
    assert "at most 8 sub-calls in total" in err
    assert b.sub_prompts == 8


def test_message_size_cap_restarts_worker(box):
    b = box(max_message_mb=1)
    res = b.execute("llm_query('x' * 2_000_000)", echo)
    assert res.restarted and "size cap" in res.error
    assert b.execute("FINAL('alive')", echo).final == "alive"


@pytest.mark.parametrize("fn,args,msg", [
    ("os.system", {"prompts": ["x"]}, "unknown function"),
    ("llm_query", {"prompts": "not a list"}, "list of strings"),
    ("llm_query", {"prompts": [1, 2]}, "list of strings"),
    ("llm_query", {"prompts": []}, "list of strings"),
    ("rlm_query", {"questions": ["q"], "contexts": []}, "one string sub_context"),
    ("llm_query", {"prompts": ["q"], "model": {"evil": 1}}, "model must be the name"),
    ("llm_query", None, "unknown function"),
])
def test_call_messages_are_validated(fn, args, msg):
    with pytest.raises(CallRefused, match=msg):
        check_call(fn, args, Caps(batch=10))


def test_forged_result_with_wrong_seq_is_ignored(box):
    b = box()
    code = ("import gc, json\nch = [o for o in gc.get_objects() if type(o).__name__ == 'Channel'][0]\n"
            "ch.send({'type': 'result', 'seq': -1, 'final': 'forged', 'has_final': True})\nprint('real')")
    res = b.execute(code, echo)
    assert res.final is None and res.stdout.strip() == "real"


def test_scratch_and_context_removed_on_close_and_exception(box):
    b = box()
    b.start()
    scratch, ctx = b.proc.scratch, b.ctx_dir
    assert scratch.exists() and ctx.exists() and scratch.stat().st_mode & 0o777 == 0o700
    with pytest.raises(RuntimeError):
        with b:
            raise RuntimeError("boom")
    assert not scratch.exists() and not ctx.exists()


def test_interrupt_during_sub_call_cleans_up(box):
    b = box()
    b.start()
    pid, scratch = b.proc.proc.pid, b.proc.scratch

    def interrupted(fn, args):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        b.execute("llm_query('q')", interrupted)
    b.close()
    assert not scratch.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_janitor_removes_dirs_of_dead_owners(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = [tmp_path / f"rlm-scratch-{dead.pid}-abc", tmp_path / f"rlm-ctx-{dead.pid}-def"]
    live = [tmp_path / f"rlm-scratch-{os.getpid()}-ghi", tmp_path / "rlm-scratch-notapid", tmp_path / "other"]
    for d in stale + live:
        d.mkdir()
        (d / "f").write_text("x")
    assert sweep_stale(str(tmp_path)) == 2
    assert not any(d.exists() for d in stale) and all(d.exists() for d in live)


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux only")
def test_worker_dies_with_a_killed_host(tmp_path):
    """Host SIGKILLed mid-run: the worker goes (pdeathsig / bwrap --die-with-parent); the janitor takes the dirs."""
    code = ("import sys, time\nfrom rlm_cli.sandbox import *\nfrom rlm_cli.sandbox.policy import spec_for_mode\n"
            "b = SubprocessSandbox('c', None, SandboxOptions(confine=spec_for_mode('auto')))\nb.start()\n"
            "print(b.proc.proc.pid, b.proc.scratch, b.ctx_dir, flush=True)\ntime.sleep(60)\n")
    host = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=dict(os.environ, TMPDIR=str(tmp_path)))
    pid, scratch, ctx = host.stdout.readline().split()
    host.kill()
    host.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists(), "the worker outlived its host"
    assert sweep_stale(str(tmp_path)) == 2 and not Path(scratch).exists() and not Path(ctx).exists()


# ---- modes and capabilities -----------------------------------------------------------------------------
def _no_layers(monkeypatch):
    monkeypatch.setattr(confine_host, "_caps", confine_host.Caps(system="Linux", seccomp_detail="seccomp off",
                                                                bwrap_detail="bwrap not installed"))
    monkeypatch.setattr(confine_host.shutil, "which", lambda name: None)


def test_strict_refuses_without_isolation(monkeypatch):
    _no_layers(monkeypatch)
    with pytest.raises(SandboxError, match="no file or network isolation"):
        confine_host.spec_for_mode("strict")


def test_auto_degrades_loudly_and_basic_warns(monkeypatch):
    _no_layers(monkeypatch)
    spec = confine_host.spec_for_mode("auto")
    assert spec["layers"] == ["pdeathsig"] and any("WARNING: no file or network isolation" in n for n in spec["notices"])
    assert any("CAN read your files" in n for n in confine_host.spec_for_mode("basic")["notices"])
    with pytest.raises(UsageError):
        confine_host.spec_for_mode("loose")


def test_strict_checks_the_layers_the_worker_reports(box):
    spec = dict(confine_host.spec_for_mode("basic"), required=["file", "network"])
    b = box(confine=spec)
    with pytest.raises(SandboxError, match="isolation is not in force"):
        b.start()


def test_bwrap_probe_is_cached_on_disk(monkeypatch, tmp_path):
    if not confine_host.shutil.which("bwrap"):
        pytest.skip("bwrap not installed")
    calls = []
    monkeypatch.setattr(confine_host, "_run_bwrap_probe", lambda path: calls.append(path) or (path, "probed"))
    assert confine_host._probe_bwrap()[1] == "probed" and len(calls) == 1
    assert confine_host._probe_bwrap()[1] == "probed" and len(calls) == 1
    assert json.loads(confine_host._cache_file().read_text())["bwrap"]["result"][1] == "probed"


def test_describe_rows():
    rows = confine_host.describe()
    assert rows[0][0] == "process" and all(isinstance(a, bool) and isinstance(d, str) for _, a, d in rows)
    if sys.platform == "linux":
        names = [r[0] for r in rows]
        assert {"landlock-fs", "seccomp", "ns-pid", "bwrap", "thread-cap", "scratch-quota", "strict"} <= set(names)


def test_seccomp_filter_has_no_table_for_unknown_arch():
    from rlm_cli.sandbox import seccomp_bpf, syscalls

    with pytest.raises(ValueError):
        seccomp_bpf.compile_filter(1, "sparc64", syscalls.TABLES, syscalls.AUDIT_ARCH)
    prog = seccomp_bpf.compile_filter(1234, "x86_64", syscalls.TABLES, syscalls.AUDIT_ARCH)
    assert len(prog) % 8 == 0 and len(prog) // 8 < 4096


def test_confinement_failure_is_reported(box):
    spec = dict(confine_host.spec_for_mode("basic"), layers=["landlock"], ro_paths=[])
    if confine_host.capabilities().landlock_abi >= 1:
        spec["rw_paths"] = ["/definitely/missing"]  # a missing path is skipped: confinement still applies
        b = box(confine=spec)
        b.start()
        assert "landlock-fs" in b.layers
    else:
        with pytest.raises(SandboxError, match="confinement failed"):
            box(confine=spec).start()


def test_straggler_holding_the_pipe_does_not_hang_the_host(box):
    """basic mode: a forked child escapes the group with setsid and keeps the pipe; kill must not block on it."""
    b = box(confine=confine_host.spec_for_mode("basic"))
    res = b.execute("import os, time\npid = os.fork()\nif pid == 0:\n    os.setsid()\n    time.sleep(30)\n    os._exit(0)\n"
                    "print(pid)", echo)
    straggler = int(res.stdout.strip())
    try:
        t0 = time.monotonic()
        res = b.execute("import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True: pass", echo)
        assert res.restarted and time.monotonic() - t0 < 5
        assert b.execute("FINAL('ok')", echo).final == "ok"
    finally:
        os.kill(straggler, signal.SIGKILL)


def test_interrupt_reaches_a_worker_that_is_not_ready_yet_and_the_next_block_starts_afresh():
    """A cancellation (MCP, batch) can arrive while the worker spawned by launch() is still starting:
    it is killed then too, not only once it runs code, and no replacement is started until asked."""
    b = SubprocessSandbox("ctx", None, SandboxOptions(exec_timeout=5))
    try:
        b.launch()
        launched = b._launched
        b.interrupt()
        assert launched.proc.wait(timeout=5) is not None and b._launched is None
        got = []
        t = threading.Thread(target=lambda: got.append(_catch(b.start)))
        t.start()
        while b._starting is None and t.is_alive():
            time.sleep(0.001)
        b.interrupt()  # while start() waits for the ready message
        t.join(10)
        assert got and "did not start" in str(got[0]) and b.proc is None
        assert b.execute("print(len(context))", lambda *a: []).stdout == "3\n"  # a fresh worker
    finally:
        b.close(graceful=False)


def _catch(fn):
    try:
        fn()
    except Exception as exc:  # noqa: BLE001
        return exc
    return None
