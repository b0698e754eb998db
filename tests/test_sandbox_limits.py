"""Attack class 7 (limits that hold) and 8 (too much readable) of issue 11, in every configuration.

Threads (the worker's count and the kernel cap), one block's total time with sub-calls from a
background thread, the run's memory budget over parallel workers (also through the engine), the
scratch disk quota, cleanup of what the worker made unreadable, and a project's `.env` beside a venv.
Each test asserts what the host observes outside the sandbox (see tests/test_sandbox_confine.py).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlm_cli.sandbox import SandboxOptions, SubprocessSandbox
from tests.test_sandbox_attacks import CONFIGS, _config_spec, echo, box_factory
from tests.test_sandbox_confine import proc_field, worker_pids

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the confinement layers are Linux only")


@pytest.fixture(params=CONFIGS)
def make_box(request, monkeypatch):
    yield from box_factory(request, monkeypatch)


# ---- class 7: limits that hold ----------------------------------------------------------------------------
THREADS = """
import threading, ctypes
ev = threading.Event()
started = 0
try:
    for i in range(500):
        threading.Thread(target=ev.wait, daemon=True).start()
        started += 1
except RuntimeError as exc:
    print('threading stopped:', exc)
libc = ctypes.CDLL(None, use_errno=True)
attr = ctypes.create_string_buffer(128)
libc.pthread_attr_init(attr)
libc.pthread_attr_setstacksize(attr, ctypes.c_size_t(65536))  # small stacks: RLIMIT_AS would not stop these
raw = 0
for i in range(1000):
    tid = ctypes.c_ulong()
    if libc.pthread_create(ctypes.byref(tid), attr, ctypes.cast(libc.pause, ctypes.c_void_p), None) != 0:
        break
    raw += 1
print('python threads', started, 'ctypes threads', raw)
"""


def test_thread_cap_holds_against_threading_and_ctypes(make_box):
    box = make_box(max_threads=16)
    res = box.execute(THREADS, echo)
    assert "threading stopped: can't start new thread" in res.stdout, res.render()
    counts = [int(proc_field(pid, "Threads") or 0) for pid in worker_pids(box)]
    assert max(counts) <= 2 * (16 + 4), counts  # the host answers each clone; see limits.ThreadSupervisor
    assert box.execute("FINAL('alive')", echo).final == "alive"


@pytest.mark.slow  # a few seconds each (runs in CI's slow pass: .ci/run)
def test_background_sub_calls_do_not_stretch_a_block_forever(make_box):
    """A thread keeps calling llm_query (each answer takes a while) while the main thread spins with SIGALRM
    ignored: the block's total time (exec_wall_timeout) still ends it."""
    box = make_box(exec_wall_timeout=2.0, max_sub_prompts=100_000)
    calls = []

    def slow(fn, args):
        calls.append(1)
        time.sleep(0.05)
        return ["ok"] * len(args["prompts"])

    code = ("import threading, signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
            "def pump():\n    while True:\n        llm_query('again')\n"
            "threading.Thread(target=pump, daemon=True).start()\nwhile True:\n    pass")
    res = box.execute(code, slow)
    assert res.timed_out and res.restarted and "in total, sub-calls included" in res.error, res.render()
    assert calls, "the background thread never made a sub-call"
    assert box.execute("FINAL('alive')", echo).final == "alive"


def _address_space_mb(box: SubprocessSandbox) -> int:
    """The RLIMIT_AS the host sees on the worker (the process running model code)."""
    limits = []
    for pid in worker_pids(box):
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max address space"):
                limits.append(int(line.split()[3]) >> 20)
    return min(limits)


def test_memory_is_bounded_over_all_parallel_workers(tmp_path):
    spec = _config_spec("landlock+seccomp")
    opts = SandboxOptions(confine=spec, memory_mb=512, child_memory_mb=256, run_memory_mb=1024, memory_wait=0.2,
                          exec_timeout=5)
    boxes = [SubprocessSandbox("ctx", None, opts) for _ in range(4)]
    try:
        for b in boxes[:3]:
            b.start()
        assert [_address_space_mb(b) for b in boxes[:3]] == [512, 256, 256]
        with pytest.raises(Exception, match="no memory left for another REPL"):
            boxes[3].start()
        res = boxes[1].execute("b = bytearray(400 << 20)", echo)  # more than a child's share
        assert res.error and "MemoryError" in res.error, res.render()
        boxes[2].close()
        boxes[3].start()  # room again once a sibling closed
        assert _address_space_mb(boxes[3]) == 256
    finally:
        for b in boxes:
            b.close()
    assert opts.pool().free_mb() == 1024


FILL_BYTES = """
import os, time
n = 0
try:
    for i in range(200):  # 1 MB every 0.1 s: the host's watcher (every 0.5 s) has seconds to notice, even under load
        with open(f'fill{i}', 'wb') as f:
            f.write(b'x' * (1 << 20))
        n += 1
        time.sleep(0.1)
except OSError as exc:
    print('stopped after', n, 'MB:', exc)
"""
FILL_FILES = """
import os, time
n = 0
try:
    for i in range(4000):
        open(f'e{i}', 'w').close()
        n += 1
        if i % 50 == 0:
            time.sleep(0.1)
except OSError as exc:
    print('stopped after', n, 'files:', exc)
"""


@pytest.mark.parametrize("attack,limit", [(FILL_BYTES, "MB"), (FILL_FILES, "files")])
def test_scratch_quota_holds(make_box, attack, limit):
    box = make_box(scratch_mb=8, max_files=500, file_mb=4, exec_timeout=60, exec_wall_timeout=120)
    res = box.execute(attack, echo)
    if make_box.config == "namespaces":  # a size- and inode-capped tmpfs: the writes fail in place
        assert "No space left on device" in res.stdout, res.render()
    else:  # the host's watcher kills the worker
        assert res.restarted and "grew past its quota" in res.error, res.render()
    assert box.execute("FINAL('alive')", echo).final == "alive"


def test_cleanup_removes_what_the_worker_made_unreadable(make_box):
    box = make_box()
    root = box.proc.root
    res = box.execute("import os\nos.makedirs('a/b')\nopen('a/b/doc.txt', 'w').write('copy of the document')\n"
                      "os.mkdir('locked', 0o300)\nos.rename('a', 'locked/a')\nos.mkdir('zero', 0)\n"
                      "os.umask(0o777)\nos.mkdir('masked')\nprint('made')", echo)
    assert "made" in res.stdout, res.render()
    box.close()
    assert not root.exists()


def test_force_rmtree_as_an_unprivileged_user():
    """The same cleanup run as a non-root user (as root, permissions never stop rmtree)."""
    if os.getuid() != 0:
        uid_cmd = []
    elif subprocess.run(["which", "setpriv"], capture_output=True).returncode == 0:
        uid_cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    else:
        pytest.skip("running as root without setpriv: cannot test as an unprivileged user")
    import shutil
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="rlm-test-rmtree-"))
    os.chmod(base, 0o777)
    script = ("import os, sys\nfrom rlm_cli.sandbox.limits import force_rmtree\nroot = sys.argv[1]\n"
              "os.makedirs(root + '/w/a/b')\nopen(root + '/w/a/b/doc', 'w').write('x')\n"
              "os.mkdir(root + '/w/locked', 0o300)\nos.rename(root + '/w/a', root + '/w/locked/a')\n"
              "os.mkdir(root + '/w/zero', 0)\nos.symlink('/etc', root + '/w/link')\nos.chmod(root + '/w', 0o500)\n"
              "force_rmtree(root + '/w')\nprint('gone' if not os.path.lexists(root + '/w') else 'left')")
    # A copy of the package the other user can read (a clean clone may sit in a 0700 directory).
    pkg = base / "pkg"
    shutil.copytree(Path(__file__).resolve().parent.parent / "rlm_cli", pkg / "rlm_cli",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for d, _, files in os.walk(pkg):
        os.chmod(d, 0o755)
        for f in files:
            os.chmod(os.path.join(d, f), 0o644)
    try:
        out = subprocess.run(uid_cmd + [sys.executable, "-c", script, str(base)], capture_output=True,
                             text=True, env=dict(os.environ, PYTHONPATH=str(pkg)), timeout=60, cwd="/")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    assert out.stdout.strip() == "gone", out.stderr
    assert os.path.isdir("/etc")


# ---- class 8: too much readable ------------------------------------------------------------------------------
@pytest.mark.parametrize("config", CONFIGS)
def test_project_env_beside_a_venv_is_not_readable(config, tmp_path):
    """A venv inside a project (even the project dir itself): the worker may read the stdlib, not the project."""
    _config_spec(config)  # skips where the configuration is unavailable
    project = tmp_path / "project"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(project)], check=True, timeout=120)
    (project / ".env").write_text("OPENAI_API_KEY=sk-project-secret\n")
    (project / ".venv-note").write_text("x")
    code = ("import os, json\nout = {}\nfor p in ['.env', 'pyvenv.cfg', 'lib']:\n    try:\n"
            f"        open({str(project)!r} + '/' + p).read() if p != 'lib' else os.listdir({str(project)!r} + '/lib')\n"
            "        out[p] = 'READ'\n    except OSError as exc:\n        out[p] = type(exc).__name__\nprint(json.dumps(out))")
    script = ("import json, sys\nfrom rlm_cli.sandbox import SandboxOptions, SubprocessSandbox\n"
              "from rlm_cli.sandbox.policy import spec_for_mode\n"
              "spec = spec_for_mode('strict')\nspec['layers'] = [x for x in spec['layers'] if x != 'namespaces']\n"
              f"if {config!r} != 'all':\n    spec['bwrap'] = None\n"
              f"if {config!r} == 'namespaces':\n    spec['layers'].append('namespaces')\n"
              "box = SubprocessSandbox('c', None, SandboxOptions(confine=spec))\n"
              "print(box.execute(sys.argv[1], lambda f, a: []).stdout)\nbox.close()")
    repo = str(Path(__file__).resolve().parent.parent)
    site = [p for p in sys.path if p.endswith("site-packages")]
    out = subprocess.run([str(project / "bin" / "python"), "-c", script, code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join([repo] + site)), timeout=120)
    got = json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else out.stderr
    denied = "FileNotFoundError" if config == "all" else "PermissionError"  # bwrap: not even there
    assert got == {".env": denied, "pyvenv.cfg": denied, "lib": denied}, got


def test_a_child_without_room_in_the_memory_budget_is_an_error_the_root_sees():
    """Through the engine: the root's REPL holds the whole budget, so each child RLM's REPL is refused; the
    root gets one 'Error: ...' per child (not a crash) and still answers."""
    from rlm_cli.backends.scripted import ScriptedModel
    from rlm_cli.context import Context
    from rlm_cli.engine import Run, RunConfig
    from rlm_cli.usage import Limits

    rules = [{"turn": 1, "when": "Question: root", "reply": "```repl\nr = rlm_query_batched(['a', 'b'], ['x', 'y'])\n"
              "FINAL(' | '.join(r))\n```"},
             {"turn": 1, "reply": "```repl\nFINAL('child answered')\n```"}]
    model = ScriptedModel.from_dict({"rules": rules, "default": "```repl\nFINAL('child answered')\n```"})
    opts = SandboxOptions(exec_timeout=10, memory_mb=512, child_memory_mb=256, run_memory_mb=512, memory_wait=0.2)
    run = Run(model, RunConfig("scripted/root", "scripted/sub", Limits(max_depth=1), sandbox=opts))
    result = run.execute("root", Context.from_text("some text"))
    parts = result.answer.split(" | ")
    assert len(parts) == 2 and all(p.startswith("Error:") and "no memory left for another REPL" in p for p in parts), parts
    assert opts.pool().free_mb() == 512


def test_conversation_state_survives_every_configuration(make_box, tmp_path):
    """The worker's pickled variables must reach the host also when scratch is a tmpfs only the worker sees."""
    from rlm_cli.sandbox import state

    box = make_box()
    box.execute("x = 41\ndef f(v):\n    return v + 1", echo)
    report = state.save(box, tmp_path / "state.pkl")
    assert report.error is None and {"x", "f"} <= set(report.saved), report
    fresh = make_box()
    loaded = state.load(fresh, tmp_path / "state.pkl")
    assert loaded.error is None, loaded
    assert fresh.execute("FINAL(f(x))", echo).final == "42"
    again = state.save(box, tmp_path / "state2.pkl")  # a second save from the same worker
    assert again.error is None and (tmp_path / "state2.pkl").stat().st_size > 0, again
