"""The built-in local model (needs the [local] extra; slow: loads a 1.1 GB GGUF on the CPU)."""
from __future__ import annotations

import hashlib

import pytest

from rlm_cli.backends import local as local_model

pytestmark = pytest.mark.slow


def test_assemble_verifies_hash_and_is_atomic(tmp_path):
    parts = []
    for i, data in enumerate([b"abc" * 1000, b"def" * 7]):
        p = tmp_path / f"part{i}.bin"
        p.write_bytes(data)
        parts.append(p)
    whole = b"abc" * 1000 + b"def" * 7
    dest = tmp_path / "m.gguf"
    local_model.assemble(parts, dest, sha256=hashlib.sha256(whole).hexdigest(), size=len(whole))
    assert dest.read_bytes() == whole
    bad = tmp_path / "bad.gguf"
    with pytest.raises(local_model.BackendError, match="corrupt"):
        local_model.assemble(parts, bad, sha256="0" * 64, size=len(whole))
    assert not bad.exists() and not list(tmp_path.glob(".*tmp"))


@pytest.mark.skipif(not local_model.available(), reason="pip install 'rlm-cli[local]'")
@pytest.mark.timeout(900)  # a few model turns at ~50 prompt tokens/s on 2 cores; more when the machine is shared
def test_local_model_finds_a_needle_in_50kb(cli, tmp_path):
    from bench.bench_backends import NEEDLE_A, NEEDLE_Q, needle_text

    doc = tmp_path / "doc.txt"
    doc.write_text(needle_text(50_000))
    r = cli(["ask", doc, NEEDLE_Q, "-p", "local", "--json", "--timeout", "900"])
    assert r.exit_code == 0, r.stderr
    assert NEEDLE_A in r.json()["answer"]


@pytest.mark.skipif(not local_model.available(), reason="pip install 'rlm-cli[local]'")
@pytest.mark.timeout(600)
def test_ctrl_c_during_a_local_generation_exits_at_once(tmp_path, rlm_home):
    """The generation is a C call that never looks at signals: it runs in a helper thread, and the
    main thread, waiting in slices, honours Ctrl-C at once (it took 11-16 s before)."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    doc = tmp_path / "doc.txt"
    doc.write_text("The gate code is 4417. " * 400, encoding="utf-8")
    env = dict(os.environ, RLM_HOME=str(rlm_home))
    proc = subprocess.Popen([sys.executable, "-m", "rlm_cli", "ask", str(doc), "What is the gate code?", "-p", "local", "-v"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    runs = rlm_home / "logs" / "runs"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        files = list(runs.glob("*.jsonl")) if runs.is_dir() else []
        if files and '"model_start"' in files[0].read_text(encoding="utf-8"):
            break
        time.sleep(0.1)
    time.sleep(2)  # inside the generation (the first root call takes 10 s or more on 2 cores)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 130, err.decode()
    assert elapsed < 8, f"Ctrl-C took {elapsed:.1f} s"
    events = [json.loads(line) for line in files[0].read_text(encoding="utf-8").splitlines()]
    assert events[-1]["kind"] == "interrupted"
    ends = [e for e in events if e["kind"] == "model_end"]
    assert ends and ends[-1]["data"]["status"] == "interrupted"  # drawn as stopped, not as a finished call
